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

result<std::optional<cancel_outcome>> cancel_task(pg_session& s, const std::string& tenant, const std::string& id) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::optional<cancel_outcome>> {
    pqxx::work tx(c);
    auto rows = tx.exec_params(cancel_sql("t.id = $1 AND t.tenant_id = $2"), id, tenant);
    const bool changed = !rows.empty();
    if (changed) cancel_deliveries(tx, {task_from_row(rows[0])}, "cancelled on request");
    if (!changed)
      rows = tx.exec_params("SELECT " MQ_TASK_COLUMNS " FROM tasks t WHERE t.id = $1 AND t.tenant_id = $2", id,
                            tenant);
    tx.commit();
    if (rows.empty()) return std::optional<cancel_outcome>{};
    return std::optional<cancel_outcome>{cancel_outcome{task_from_row(rows[0]), changed}};
  });
}

result<std::optional<std::vector<schemas::task_record>>> cancel_batch(pg_session& s, const std::string& tenant,
                                                                       const std::string& id) {
  using out = std::optional<std::vector<schemas::task_record>>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    if (tx.exec_params("SELECT 1 FROM batches WHERE id = $1 AND tenant_id = $2", id, tenant).empty()) return out{};
    std::vector<schemas::task_record> cancelled;
    for (const auto& r : tx.exec_params(cancel_sql("t.batch_id = $1 AND t.tenant_id = $2"), id, tenant))
      cancelled.push_back(task_from_row(r));
    cancel_deliveries(tx, cancelled, "cancelled on request");
    tx.commit();
    return out{std::move(cancelled)};
  });
}

}  // namespace mq::store
