// Cancellation of tasks and batches: a terminal state written over unfinished tasks.

#include "mq/store/repositories.hpp"
#include "rows.hpp"

namespace mq::store {

std::string cancel_sql(const char* where, const char* reason) {
  // A message a running task has handed to its channel (its ledger row is `sending`) is
  // past stopping: the task finishes and records what the channel said.
  return std::string("WITH c AS (UPDATE tasks t SET status = 'cancelled', finished_at = now(), updated_at = now(), "
                     "next_attempt_at = NULL, error_code = 'cancelled', error = '") + reason + "' "
                     "WHERE " + where + " AND t.status IN ('queued', 'running', 'retrying') "
                     "AND NOT (t.status = 'running' AND t.kind = 'send_message' AND EXISTS (SELECT 1 FROM "
                     "campaign_recipients r WHERE r.id = t.subject_id AND r.state = 'sending')) RETURNING t.*) "
                     "SELECT " MQ_TASK_COLUMNS " FROM c t";
}

void cancel_deliveries(pqxx::work& tx, const std::vector<schemas::task_record>& cancelled, const char* reason) {
  std::vector<std::string> ids;
  for (const auto& t : cancelled)
    if (t.kind == schemas::kinds::send_message) ids.push_back(t.id);
  if (ids.empty()) return;
  tx.exec_params(
      "UPDATE campaign_recipients SET state = CASE state WHEN 'pending' THEN 'cancelled' ELSE 'unknown' END, "
      "error_code = CASE state WHEN 'pending' THEN 'CANCELLED' ELSE 'DELIVERY_UNKNOWN' END, "
      "error = CASE state WHEN 'pending' THEN $2 ELSE $2 || ' after an attempt that may have sent it' END, "
      "finished_at = now(), updated_at = now() WHERE task_id = ANY($1::uuid[]) AND state IN ('pending', 'sending')",
      array_literal(ids), std::string(reason));
}

namespace {

/// Cancels on request the unfinished tasks `where` selects (alias t, with `a` and `b` as
/// $1 and $2) and settles their campaign messages; returns the tasks it cancelled.
/// Pending messages are cancelled first, as a campaign cancel does, and their row locks
/// order this against a worker marking one `sending`: the worker goes first (the row is
/// then `sending`, and cancel_sql leaves its task to finish) or waits for this commit and
/// finds the row cancelled. Read after the tasks, a mark committed in between went
/// unseen: the task was cancelled while its message went out, recorded as `unknown`.
std::vector<schemas::task_record> cancel_requested(pqxx::work& tx, const std::string& where, const std::string& a,
                                                   const std::string& b) {
  const std::string reason = "cancelled on request";
  tx.exec_params("UPDATE campaign_recipients r SET state = 'cancelled', error_code = 'CANCELLED', error = $3, "
                 "finished_at = now(), updated_at = now() FROM tasks t WHERE " + where +
                     " AND t.kind = 'send_message' AND t.status IN ('queued', 'running', 'retrying') "
                     "AND r.id = t.subject_id AND r.task_id = t.id AND r.state = 'pending'",
                 a, b, reason);
  std::vector<schemas::task_record> cancelled;
  for (const auto& r : tx.exec_params(cancel_sql(where.c_str(), reason.c_str()), a, b))
    cancelled.push_back(task_from_row(r));
  cancel_deliveries(tx, cancelled, reason.c_str());
  return cancelled;
}

}  // namespace

result<std::optional<cancel_outcome>> cancel_task(pg_session& s, const std::string& tenant, const std::string& id) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::optional<cancel_outcome>> {
    pqxx::work tx(c);
    auto cancelled = cancel_requested(tx, "t.id = $1 AND t.tenant_id = $2", id, tenant);
    if (!cancelled.empty()) {
      tx.commit();
      return std::optional<cancel_outcome>{cancel_outcome{std::move(cancelled.front()), true}};
    }
    auto rows =
        tx.exec_params("SELECT " MQ_TASK_COLUMNS " FROM tasks t WHERE t.id = $1 AND t.tenant_id = $2", id, tenant);
    tx.commit();
    if (rows.empty()) return std::optional<cancel_outcome>{};
    return std::optional<cancel_outcome>{cancel_outcome{task_from_row(rows[0]), false}};
  });
}

result<std::optional<std::vector<schemas::task_record>>> cancel_batch(pg_session& s, const std::string& tenant,
                                                                       const std::string& id) {
  using out = std::optional<std::vector<schemas::task_record>>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    if (tx.exec_params("SELECT 1 FROM batches WHERE id = $1 AND tenant_id = $2", id, tenant).empty()) return out{};
    auto cancelled = cancel_requested(tx, "t.batch_id = $1 AND t.tenant_id = $2", id, tenant);
    tx.commit();
    return out{std::move(cancelled)};
  });
}

}  // namespace mq::store
