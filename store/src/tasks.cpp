#include <algorithm>
#include <set>

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/store/repositories.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

/// The table holding the subjects of a job kind (tenant-scoped ids).
const char* subject_table(std::string_view kind) {
  if (kind == schemas::kinds::classify_meeting) return "meetings";
  return nullptr;
}

const char* task_select = "SELECT " MQ_TASK_COLUMNS " FROM tasks t ";

/// Inserts queued tasks for `subjects` into batch `batch_id` ("" for none), skipping
/// subjects with an unfinished task. Returns the created tasks.
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

std::vector<schemas::task_record> active_tasks(pqxx::work& tx, const std::string& tenant,
                                               std::string_view kind,
                                               const std::vector<std::int64_t>& subjects) {
  std::vector<schemas::task_record> out;
  if (subjects.empty()) return out;
  for (const auto& r : tx.exec_params(std::string(task_select) +
                                          "WHERE t.tenant_id = $1 AND t.kind = $2 AND "
                                          "t.subject_id = ANY($3::bigint[]) AND t.active"
                                          " ORDER BY t.subject_id",
                                      tenant, std::string(kind), array_literal(subjects)))
    out.push_back(task_from_row(r));
  return out;
}

/// Drops just-created tasks whose meeting got classified after the candidates were read.
/// A task that finished between that read and the insert no longer blocks the insert, but
/// by then it has committed (the insert waits for it), so this statement's fresh snapshot
/// sees its classification.
void drop_newly_classified(pqxx::work& tx, std::vector<schemas::task_record>& created) {
  if (created.empty()) return;
  std::vector<std::string> ids;
  for (const auto& t : created) ids.push_back(t.id);
  std::set<std::string> dropped;
  for (const auto& r : tx.exec_params(
           "DELETE FROM tasks t WHERE t.id = ANY($1::uuid[]) AND EXISTS "
           "(SELECT 1 FROM classifications k WHERE k.meeting_id = t.subject_id) RETURNING t.id",
           array_literal(ids)))
    dropped.insert(r[0].c_str());
  if (dropped.empty()) return;
  created.erase(std::remove_if(created.begin(), created.end(),
                               [&](const schemas::task_record& t) { return dropped.count(t.id) > 0; }),
                created.end());
}

/// Creates the batch for `subjects`; the batch row is dropped again if nothing was new.
/// With `only_unclassified`, meetings classified meanwhile are left out.
enqueued_batch make_batch(pqxx::work& tx, const std::string& tenant, std::string_view kind,
                          const std::vector<std::int64_t>& subjects,
                          const std::string& request_id, bool only_unclassified = false) {
  enqueued_batch out;
  const std::string batch_id = new_uuid();
  tx.exec_params(
      "INSERT INTO batches (id, tenant_id, kind, total, request_id) "
      "VALUES ($1, $2, $3, 0, NULLIF($4, ''))",
      batch_id, tenant, std::string(kind), request_id);
  out.created = insert_tasks(tx, tenant, kind, subjects, batch_id, request_id);
  if (only_unclassified) drop_newly_classified(tx, out.created);
  std::set<std::int64_t> created_subjects;
  for (const auto& t : out.created) created_subjects.insert(t.subject_id);
  std::vector<std::int64_t> skipped;
  for (auto id : subjects)
    if (!created_subjects.count(id)) skipped.push_back(id);
  out.already_active = active_tasks(tx, tenant, kind, skipped);
  if (out.created.empty()) {
    tx.exec_params("DELETE FROM batches WHERE id = $1", batch_id);
    return out;
  }
  auto r = tx.exec_params("UPDATE batches SET total = $2 WHERE id = $1 RETURNING " MQ_TS("created_at"),
                          batch_id, static_cast<int>(out.created.size()));
  schemas::batch_record b;
  b.id = batch_id;
  b.tenant_id = tenant;
  b.kind = std::string(kind);
  b.total = static_cast<int>(out.created.size());
  b.queued = b.total;
  if (!request_id.empty()) b.request_id = request_id;
  b.created_at = r[0][0].c_str();
  out.batch = std::move(b);
  return out;
}

}  // namespace

result<enqueued_task> enqueue_task(pg_session& s, const std::string& tenant,
                                   std::string_view kind, std::int64_t subject_id,
                                   const std::string& request_id) {
  return guarded(s, [&](pqxx::connection& c) -> result<enqueued_task> {
    const char* table = subject_table(kind);
    if (!table) return make_error(errc::internal, "unknown job kind", std::string(kind));
    // Two rounds at most: the unfinished task we collided with may finish in between.
    for (int round = 0; round < 2; ++round) {
      pqxx::work tx(c);
      if (tx.exec_params(std::string("SELECT 1 FROM ") + table + " WHERE id = $1 AND tenant_id = $2",
                         static_cast<long long>(subject_id), tenant)
              .empty())
        return make_error(errc::not_found, "meeting " + std::to_string(subject_id) + " not found");
      auto created = insert_tasks(tx, tenant, kind, {subject_id}, "", request_id);
      if (!created.empty()) {
        tx.commit();
        return enqueued_task{std::move(created.front()), true};
      }
      auto existing = active_tasks(tx, tenant, kind, {subject_id});
      tx.commit();
      if (!existing.empty()) return enqueued_task{std::move(existing.front()), false};
    }
    return make_error(errc::conflict, "the meeting's task changed state; try again");
  });
}

result<enqueued_batch> enqueue_batch(pg_session& s, const std::string& tenant,
                                     std::string_view kind,
                                     const std::vector<std::int64_t>& subject_ids,
                                     const std::string& request_id) {
  return guarded(s, [&](pqxx::connection& c) -> result<enqueued_batch> {
    const char* table = subject_table(kind);
    if (!table) return make_error(errc::internal, "unknown job kind", std::string(kind));
    pqxx::work tx(c);
    std::set<std::int64_t> found;
    for (const auto& r : tx.exec_params(std::string("SELECT id FROM ") + table +
                                            " WHERE tenant_id = $1 AND id = ANY($2::bigint[])",
                                        tenant, array_literal(subject_ids)))
      found.insert(r[0].as<std::int64_t>());
    std::vector<std::int64_t> missing;
    for (auto id : subject_ids)
      if (!found.count(id)) missing.push_back(id);
    if (!missing.empty()) {
      json::writer w;
      w.begin_object();
      w.key("missing_ids");
      w.begin_array();
      for (auto id : missing) w.value(static_cast<long long>(id));
      w.end_array();
      w.end_object();
      auto err = make_error(errc::not_found,
                            std::to_string(missing.size()) + " meeting(s) not found; nothing queued");
      err.details = w.take();
      return err;
    }
    auto out = make_batch(tx, tenant, kind, subject_ids, request_id);
    tx.commit();
    return out;
  });
}

result<enqueued_batch> queue_unclassified(pg_session& s, const std::string& tenant,
                                          const std::string& request_id) {
  return guarded(s, [&](pqxx::connection& c) -> result<enqueued_batch> {
    pqxx::work tx(c);
    std::vector<std::int64_t> candidates;
    for (const auto& r : tx.exec_params(
             "SELECT m.id FROM meetings m WHERE m.tenant_id = $1 "
             "AND NOT EXISTS (SELECT 1 FROM classifications k WHERE k.meeting_id = m.id) "
             "ORDER BY m.id",
             tenant))
      candidates.push_back(r[0].as<std::int64_t>());
    auto out = make_batch(tx, tenant, schemas::kinds::classify_meeting, candidates, request_id, true);
    tx.commit();
    return out;
  });
}

result<std::optional<schemas::task_record>> get_task(pg_session& s, const std::string& tenant,
                                                     const std::string& id) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::optional<schemas::task_record>> {
    pqxx::nontransaction tx(c);
    auto rows =
        tx.exec_params(std::string(task_select) + "WHERE t.id = $1 AND t.tenant_id = $2", id, tenant);
    if (rows.empty()) return std::optional<schemas::task_record>{};
    return std::optional<schemas::task_record>{task_from_row(rows[0])};
  });
}

result<std::optional<schemas::batch_record>> get_batch(pg_session& s, const std::string& tenant,
                                                       const std::string& id, bool by_state) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::optional<schemas::batch_record>> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params(
        "SELECT b.id, b.kind, b.total, b.request_id, " MQ_TS("b.created_at") ", "
        "coalesce(sum(p.succeeded), 0), coalesce(sum(p.failed), 0), coalesce(sum(p.dead), 0), "
        "coalesce(sum(p.cancelled), 0), coalesce(sum(p.llm_calls), 0), coalesce(sum(p.tokens_in), 0), "
        "coalesce(sum(p.tokens_out), 0), coalesce(sum(p.cost_usd), 0)::float8 "
        "FROM batches b LEFT JOIN batch_progress p ON p.batch_id = b.id "
        "WHERE b.id = $1 AND b.tenant_id = $2 GROUP BY b.id",
        id, tenant);
    if (rows.empty()) return std::optional<schemas::batch_record>{};
    const auto& r = rows[0];
    schemas::batch_record b;
    b.id = r[0].c_str();
    b.tenant_id = tenant;
    b.kind = r[1].c_str();
    b.total = r[2].as<int>();
    b.request_id = opt(r[3]);
    b.created_at = r[4].c_str();
    b.succeeded = r[5].as<int>();
    b.failed = r[6].as<int>();
    b.dead = r[7].as<int>();
    b.cancelled = r[8].as<int>();
    b.llm_calls = r[9].as<int>();
    b.tokens_in = r[10].as<long long>();
    b.tokens_out = r[11].as<long long>();
    b.cost_usd = r[12].as<double>();
    b.queued = b.total - b.succeeded - b.failed - b.dead - b.cancelled;  // unfinished, split below
    if (by_state && b.queued > 0) {
      auto split = tx.exec_params(
          "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'), "
          "count(*) FILTER (WHERE status = 'retrying') FROM tasks WHERE batch_id = $1",
          id);
      b.queued = split[0][0].as<int>();
      b.running = split[0][1].as<int>();
      b.retrying = split[0][2].as<int>();
    }
    return std::optional<schemas::batch_record>{std::move(b)};
  });
}

status mark_published(pg_session& s, const std::vector<std::string>& task_ids,
                      const std::vector<std::string>& batch_ids) {
  if (task_ids.empty() && batch_ids.empty()) return ok_status();
  return guarded(s, [&](pqxx::connection& c) -> status {
    pqxx::nontransaction tx(c);
    if (!batch_ids.empty())
      tx.exec_params("UPDATE batches SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL",
                     array_literal(batch_ids));
    // Rows a worker is claiming are skipped: the claim sets published_at itself. Slices
    // keep each statement's row locks few and short.
    constexpr std::size_t slice = 500;
    for (std::size_t at = 0; at < task_ids.size(); at += slice) {
      std::vector<std::string> part(task_ids.begin() + static_cast<long>(at),
                                    task_ids.begin() + static_cast<long>(std::min(task_ids.size(), at + slice)));
      tx.exec_params(
          "WITH l AS (SELECT id FROM tasks WHERE id = ANY($1::uuid[]) AND published_at IS NULL "
          "ORDER BY id FOR UPDATE SKIP LOCKED) "
          "UPDATE tasks t SET published_at = now() FROM l WHERE t.id = l.id",
          array_literal(part));
    }
    return ok_status();
  });
}

namespace {

schemas::envelope envelope_from_row(const pqxx::row& r) {
  schemas::envelope e;
  e.task_id = r[0].c_str();
  e.tenant_id = r[1].c_str();
  e.kind = r[2].c_str();
  e.subject_id = r[3].as<std::int64_t>();
  e.batch_id = opt(r[4]).value_or("");
  e.request_id = opt(r[5]).value_or("");
  return e;
}

}  // namespace

result<unpublished> unpublished_tasks(pg_session& s, int grace_seconds, int limit) {
  return guarded(s, [&](pqxx::connection& c) -> result<unpublished> {
    pqxx::nontransaction tx(c);
    unpublished out;
    for (const auto& r : tx.exec_params(
             "SELECT id, tenant_id, kind, subject_id, batch_id, request_id FROM tasks "
             "WHERE published_at IS NULL AND batch_id IS NULL AND status = 'queued' "
             "AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
             grace_seconds, limit))
      out.tasks.push_back(envelope_from_row(r));
    for (const auto& b : tx.exec_params(
             "SELECT id FROM batches WHERE published_at IS NULL "
             "AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT 5",
             grace_seconds)) {
      out.batch_ids.push_back(b[0].c_str());
      for (const auto& r : tx.exec_params(
               "SELECT id, tenant_id, kind, subject_id, batch_id, request_id FROM tasks "
               "WHERE batch_id = $1 AND status = 'queued' AND published_at IS NULL",
               std::string(b[0].c_str())))
        out.tasks.push_back(envelope_from_row(r));
    }
    return out;
  });
}

}  // namespace mq::store
