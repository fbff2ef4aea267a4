#include "rows.hpp"

#include "mq/core/ids.hpp"

namespace mq::store {

schemas::task_record task_from_row(const pqxx::row& r, int o) {
  schemas::task_record t;
  t.id = r[o + 0].c_str();
  t.tenant_id = r[o + 1].c_str();
  t.kind = r[o + 2].c_str();
  t.subject_id = r[o + 3].as<std::int64_t>();
  t.batch_id = opt(r[o + 4]);
  t.status = schemas::parse_task_status(r[o + 5].c_str()).value_or(schemas::task_status::queued);
  t.attempts = r[o + 6].as<int>();
  t.error_code = opt(r[o + 7]);
  t.error = opt(r[o + 8]);
  t.result_json = opt(r[o + 9]);
  t.request_id = opt(r[o + 10]);
  t.next_attempt_at = timestamp_of(r[o + 11]);
  t.created_at = timestamp_of(r[o + 12]).value_or("");
  t.updated_at = timestamp_of(r[o + 13]).value_or("");
  t.started_at = timestamp_of(r[o + 14]);
  t.finished_at = timestamp_of(r[o + 15]);
  t.llm_calls = r[o + 16].as<int>();
  t.tokens_in = r[o + 17].as<long long>();
  t.tokens_out = r[o + 18].as<long long>();
  t.cost_usd = double_of(r[o + 19]);
  return t;
}

schemas::classification_record classification_from_row(const pqxx::row& r) {
  schemas::classification_record c;
  c.meeting_id = r[0].as<std::int64_t>();
  c.tenant_id = r[1].c_str();
  c.task_id = r[2].c_str();
  c.result_json = r[3].c_str();
  c.usage.provider = r[4].c_str();
  c.usage.model = r[5].c_str();
  c.usage.prompt_version = r[6].c_str();
  c.usage.taxonomy_version = r[7].c_str();
  c.usage.tokens_in = r[8].as<int>();
  c.usage.tokens_out = r[9].as<int>();
  c.usage.latency_ms = r[10].as<int>();
  c.usage.calls = r[11].as<int>();
  c.created_at = r[12].c_str();
  c.updated_at = r[13].c_str();
  return c;
}

std::string record_outbox(pqxx::work& tx, const std::vector<schemas::task_record>& created) {
  if (created.empty()) return {};
  std::vector<std::string> ids;
  ids.reserve(created.size());
  for (const auto& t : created) ids.push_back(t.id);
  std::string id = new_uuid();
  prepare(tx.conn(), "mq_outbox", "INSERT INTO outbox (id, task_ids) VALUES ($1, $2::uuid[])");
  tx.exec_prepared("mq_outbox", id, array_literal(ids));
  return id;
}

std::vector<schemas::task_record> insert_tasks(pqxx::work& tx, const std::string& tenant,
                                               std::string_view kind,
                                               const std::vector<std::int64_t>& subjects,
                                               const std::string& batch_id,
                                               const std::string& request_id) {
  std::vector<std::string> ids;
  ids.reserve(subjects.size());
  for (std::size_t i = 0; i < subjects.size(); ++i) ids.push_back(new_uuid());
  auto rows = tx.exec_params(
      "WITH t AS (INSERT INTO tasks (id, tenant_id, kind, subject_id, batch_id, request_id) "
      "SELECT u.id, $1, $2, u.subject_id, NULLIF($5, '')::uuid, NULLIF($6, '') "
      "FROM unnest($3::uuid[], $4::bigint[]) AS u(id, subject_id) "
      "ON CONFLICT (tenant_id, kind, subject_id) WHERE active DO NOTHING RETURNING *) SELECT " MQ_TASK_COLUMNS " FROM t ORDER BY t.id",
      tenant, std::string(kind), array_literal(ids), array_literal(subjects), batch_id,
      request_id);
  std::vector<schemas::task_record> out;
  for (const auto& r : rows) out.push_back(task_from_row(r));
  return out;
}

}  // namespace mq::store
