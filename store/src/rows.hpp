#pragma once

// Row <-> record mapping shared by the repositories and the job store.

#include "mq/schemas/types.hpp"
#include "pg_internal.hpp"

namespace mq::store {

/// Columns of a task, in the order task_from_row() reads them.
#define MQ_TASK_COLUMNS                                                                    \
  "t.id, t.tenant_id, t.kind, t.subject_id, t.batch_id, t.status, t.attempts, "           \
  "t.error_code, t.error, t.result::text, t.request_id, " MQ_TS("t.next_attempt_at") ", " \
  MQ_TS("t.created_at") ", " MQ_TS("t.updated_at") ", " MQ_TS("t.started_at") ", "        \
  MQ_TS("t.finished_at") ", t.llm_calls, t.tokens_in, t.tokens_out, t.cost_usd::float8"

/// How many columns MQ_TASK_COLUMNS has.
constexpr int task_columns = 20;

schemas::task_record task_from_row(const pqxx::row& r, int offset = 0);

/// Columns of a classification, in the order classification_from_row() reads them.
#define MQ_CLASSIFICATION_COLUMNS                                                         \
  "k.meeting_id, k.tenant_id, k.task_id, k.result::text, k.provider, k.model, "          \
  "k.prompt_version, k.taxonomy_version, k.tokens_in, k.tokens_out, k.latency_ms, "      \
  "k.attempts, " MQ_TS("k.created_at") ", " MQ_TS("k.updated_at")

schemas::classification_record classification_from_row(const pqxx::row& r);


/// Records the outbox group of `created` (one row, whatever their number); returns its
/// id, or "" when nothing was created.
std::string record_outbox(pqxx::work& tx, const std::vector<schemas::task_record>& created);

/// Inserts queued tasks for `subjects` into batch `batch_id` ("" for none), skipping
/// subjects with an unfinished task. Returns the created tasks.
std::vector<schemas::task_record> insert_tasks(pqxx::work& tx, const std::string& tenant, std::string_view kind,
                                               const std::vector<std::int64_t>& subjects,
                                               const std::string& batch_id, const std::string& request_id);

}  // namespace mq::store
