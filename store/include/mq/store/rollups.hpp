#pragma once

// Analytics rollups: daily aggregates per tenant that the KPI endpoints read, kept by a
// rollup job that recomputes only the days whose source rows changed.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"
#include "mq/schemas/types.hpp"
#include "mq/store/pg_session.hpp"

namespace mq::store {

/// What one rollup run did.
struct rollup_outcome {
  long long days = 0;         ///< Days recomputed.
  long long rows = 0;         ///< Rollup rows written.
  long long left_dirty = 0;   ///< Changed days outside the run's range, kept for a later run.
  bool full = false;
};

/// Recomputes the tenant's rollups for the days in [from, to] (YYYY-MM-DD) whose source
/// rows changed since the last run, or for every day of the range with data or rollups
/// when `full`. One transaction, serialised per tenant; running it again changes nothing.
result<rollup_outcome> run_rollup(pg_session& s, const std::string& tenant, const std::string& from,
                                  const std::string& to, bool full);

/// A rollup asked for (by the API or the schedule): its request row and its task, with
/// the task's outbox group.
struct rollup_enqueued {
  std::int64_t request_id = 0;
  schemas::task_record task;
  std::string outbox_id;
};

/// Queues a rollup of the tenant for [from, to].
result<rollup_enqueued> enqueue_rollup(pg_session& s, const std::string& tenant, const std::string& from,
                                       const std::string& to, bool full, bool scheduled);

/// What a rollup task runs: its request.
struct rollup_request {
  std::string tenant;
  std::string from, to;
  bool full = false;
};
result<std::optional<rollup_request>> load_rollup_request(pg_session& s, std::int64_t id);

/// Takes schedule slot `slot` if no replica took it yet; then queues a rollup of every
/// tenant (every changed day). Returns the rollups queued (none when the slot was taken).
result<std::vector<rollup_enqueued>> take_rollup_slot(pg_session& s, std::int64_t slot);

// ---- KPIs (rollups only) ----

/// A date range and, where it applies, how to group and how many rows to return.
struct kpi_query {
  std::string from, to;  ///< YYYY-MM-DD, inclusive.
  std::string group_by = "day";  ///< day, week or month (trends).
  int limit = 20;
};

/// The JSON answers of the KPI endpoints, built in SQL from the rollup tables.
result<std::string> kpis_summary(pg_session& s, const std::string& tenant, const kpi_query& q);
result<std::string> kpis_overview(pg_session& s, const std::string& tenant, const kpi_query& q);
result<std::string> kpis_sellers(pg_session& s, const std::string& tenant, const kpi_query& q);
result<std::string> kpis_trends(pg_session& s, const std::string& tenant, const kpi_query& q);
result<std::string> kpis_engagement(pg_session& s, const std::string& tenant, const kpi_query& q);
result<std::string> kpis_clients(pg_session& s, const std::string& tenant, const kpi_query& q);

}  // namespace mq::store
