#pragma once

// Row <-> record mapping shared by the repositories and the job store.

#include <string>

#include "mq/schemas/types.hpp"
#include "mq/store/repositories.hpp"
#include "pg_internal.hpp"

namespace mq::store {

/// One page of a list: `count` counts the matching rows, `select` reads them in order
/// (LIMIT and OFFSET are added as the parameters after `args`), `row` maps each.
template <class T, class RowFn, class... Args>
page<T> read_page(pqxx::work& tx, const std::string& count, const std::string& select, page_request p, RowFn row,
                  const Args&... args) {
  page<T> out;
  out.page_number = p.page;
  out.page_size = p.page_size;
  out.total = tx.exec_params(count, args...)[0][0].template as<std::int64_t>();
  const auto n = sizeof...(Args);
  for (const auto& r : tx.exec_params(select + " LIMIT $" + std::to_string(n + 1) + " OFFSET $" + std::to_string(n + 2),
                                      args..., p.page_size, static_cast<long long>(p.page - 1) * p.page_size))
    out.items.push_back(row(r));
  return out;
}

/// An optional boolean filter as a text parameter: "" (no filter), "true" or "false";
/// the SQL reads it as NULLIF($n, '')::boolean.
inline std::string flag_param(std::optional<bool> flag) { return flag ? (*flag ? "true" : "false") : ""; }

/// Columns of a task, in the order task_from_row() reads them, with `result` (SQL text)
/// as the task's result.
#define MQ_TASK_COLUMNS_WITH(result)                                                  \
  "t.id, t.tenant_id, t.kind, t.subject_id, t.batch_id, t.status, t.attempts, "      \
  "t.error_code, t.error, " result ", t.request_id, " MQ_TS_TEXT("t.next_attempt_at") ", " \
  MQ_TS_TEXT("t.created_at") ", " MQ_TS_TEXT("t.updated_at") ", " MQ_TS_TEXT("t.started_at") ", "   \
  MQ_TS_TEXT("t.finished_at") ", t.llm_calls, t.tokens_in, t.tokens_out, t.cost_usd::float8"

/// A task's result: a classification's is its classification row (the task keeps no
/// copy), as long as that row is still this task's; every other kind's is the task's own.
#define MQ_TASK_RESULT                                                                  \
  "coalesce(t.result, CASE WHEN t.kind = 'classify_meeting' AND t.status = 'succeeded' " \
  "THEN (SELECT k.result FROM classifications k WHERE k.meeting_id = t.subject_id "       \
  "AND k.task_id = t.id) END)::text"

/// Columns of a task, in the order task_from_row() reads them.
#define MQ_TASK_COLUMNS MQ_TASK_COLUMNS_WITH(MQ_TASK_RESULT)

/// How many columns MQ_TASK_COLUMNS has.
constexpr int task_columns = 20;

schemas::task_record task_from_row(const pqxx::row& r, int offset = 0);

/// Columns of a classification, in the order classification_from_row() reads them.
#define MQ_CLASSIFICATION_COLUMNS                                                         \
  "k.meeting_id, k.tenant_id, k.task_id, k.result::text, k.provider, k.model, "          \
  "k.prompt_version, k.taxonomy_version, k.tokens_in, k.tokens_out, k.latency_ms, "      \
  "k.attempts, " MQ_TS("k.created_at") ", " MQ_TS("k.updated_at")

schemas::classification_record classification_from_row(const pqxx::row& r);


/// Moves the unfinished tasks `where` selects (alias t) to cancelled with `reason` (a
/// trusted literal without quotes); returns them as MQ_TASK_COLUMNS.
/// A running send_message task whose message is in its channel's hands is left to finish.
std::string cancel_sql(const char* where, const char* reason = "cancelled on request");

/// Settles the ledger rows of the campaign messages among `cancelled` (tasks cancel_sql
/// returned): a row still `pending` is `cancelled`; one left `sending` by an earlier
/// attempt that may have sent it is `unknown`.
void cancel_deliveries(pqxx::work& tx, const std::vector<schemas::task_record>& cancelled, const char* reason);

/// Records the outbox group of `created` (one row, whatever their number); returns its
/// id, or "" when nothing was created.
std::string record_outbox(pqxx::work& tx, const std::vector<schemas::task_record>& created);

/// Inserts queued tasks for `subjects` into batch `batch_id` ("" for none), skipping
/// subjects with an unfinished task. Returns the created tasks.
std::vector<schemas::task_record> insert_tasks(pqxx::work& tx, const std::string& tenant, std::string_view kind,
                                               const std::vector<std::int64_t>& subjects,
                                               const std::string& batch_id, const std::string& request_id);

}  // namespace mq::store
