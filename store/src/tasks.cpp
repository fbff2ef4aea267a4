#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/store/repositories.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

/// The table holding the subjects of a job kind (tenant-scoped ids).
const char* subject_table(std::string_view kind) {
  if (kind == schemas::kinds::classify_meeting) return "meetings";
  if (kind == schemas::kinds::process_document) return "documents";
  if (kind == schemas::kinds::start_campaign) return "campaigns";
  if (kind == schemas::kinds::send_message) return "campaign_recipients";
  if (kind == schemas::kinds::rollup_analytics) return "rollup_requests";
  return nullptr;
}

const char* task_select = "SELECT " MQ_TASK_COLUMNS " FROM tasks t ";

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

/// Queues `subjects` into batch `batch_id` (whose row count_into_batch writes): the new
/// tasks with their outbox group, and the tasks of subjects that had one unfinished. With
/// `only_unclassified`, meetings classified meanwhile are left out.
enqueued_batch queue_part(pqxx::work& tx, const std::string& tenant, std::string_view kind,
                          const std::vector<std::int64_t>& subjects, const std::string& batch_id,
                          const std::string& request_id, bool only_unclassified) {
  enqueued_batch out;
  out.created = insert_tasks(tx, tenant, kind, subjects, batch_id, request_id);
  if (only_unclassified) drop_newly_classified(tx, out.created);
  out.outbox_id = record_outbox(tx, out.created);
  std::set<std::int64_t> created_subjects;
  for (const auto& t : out.created) created_subjects.insert(t.subject_id);
  std::vector<std::int64_t> skipped;
  for (auto id : subjects)
    if (!created_subjects.count(id)) skipped.push_back(id);
  out.already_active = active_tasks(tx, tenant, kind, skipped);
  return out;
}

/// Adds `added` new tasks to batch `batch_id`, writing its row with the first ones.
schemas::batch_record count_into_batch(pqxx::work& tx, const std::string& tenant, std::string_view kind,
                                       const std::string& batch_id, const std::string& request_id,
                                       std::size_t added) {
  auto r = tx.exec_params(
      "INSERT INTO batches AS b (id, tenant_id, kind, total, request_id) VALUES ($1, $2, $3, $4, NULLIF($5, '')) "
      "ON CONFLICT (id) DO UPDATE SET total = b.total + EXCLUDED.total RETURNING b.total, " MQ_TS("b.created_at"),
      batch_id, tenant, std::string(kind), static_cast<int>(added), request_id);
  schemas::batch_record b;
  b.id = batch_id;
  b.tenant_id = tenant;
  b.kind = std::string(kind);
  b.total = r[0][0].as<int>();
  b.queued = b.total;
  if (!request_id.empty()) b.request_id = request_id;
  b.created_at = r[0][1].c_str();
  return b;
}

/// The error of a chunk of queue-unclassified that failed after earlier chunks committed:
/// theirs run, and the answer says so.
error after_committed_chunks(error e, const enqueued_batch& done) {
  if (done.created.empty() || !done.batch) return e;
  e.message += "; " + std::to_string(done.created.size()) + " meeting(s) were queued before this in batch " +
               done.batch->id + " and run: calling again queues the rest";
  json::writer w;
  w.begin_object();
  w.kv("batch_id", done.batch->id);
  w.kv("queued", static_cast<unsigned long>(done.created.size()));
  w.kv("status_url", "/api/v1/batches/" + done.batch->id);
  w.end_object();
  e.details = w.take();
  return e;
}

}  // namespace

result<enqueued_group> enqueue_tasks(pg_session& s, std::string_view kind,
                                     const std::vector<enqueue_request>& requests) {
  const char* table = subject_table(kind);
  if (!table) return make_error(errc::internal, "unknown job kind", std::string(kind));
  // The hot path of single submissions: one prepared statement (neither parsed nor
  // planned again) that inserts the tasks and their outbox group and commits on its own,
  // so a group costs Postgres one round trip instead of four (BEGIN, tasks, outbox,
  // COMMIT). A second round of the same group adds its tasks to the same outbox row.
  const std::string insert_name = "mq_enqueue_" + std::string(kind);
  const std::string insert_sql =
      std::string("WITH t AS (INSERT INTO tasks (id, tenant_id, kind, subject_id, request_id) "
                  "SELECT u.id, u.tenant_id, '") + std::string(kind) + "', u.subject_id, NULLIF(u.request_id, '') "
      "FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[]) WITH ORDINALITY "
      "AS u(id, tenant_id, subject_id, request_id, ord) "
      "WHERE EXISTS (SELECT 1 FROM " + table + " m WHERE m.id = u.subject_id AND m.tenant_id = u.tenant_id) "
      "ORDER BY u.ord ON CONFLICT (tenant_id, kind, subject_id) WHERE active DO NOTHING RETURNING *), "
      "o AS (INSERT INTO outbox AS o (id, task_ids) SELECT $5, array_agg(t.id) FROM t HAVING count(*) > 0 "
      "ON CONFLICT (id) DO UPDATE SET task_ids = o.task_ids || EXCLUDED.task_ids) "
      "SELECT " MQ_TASK_COLUMNS " FROM t";
  const std::string active_name = "mq_active_" + std::string(kind);
  const std::string active_sql =
      "SELECT " MQ_TASK_COLUMNS " FROM tasks t JOIN unnest($1::uuid[], $2::bigint[]) AS u(tenant_id, subject_id) "
      "ON t.tenant_id = u.tenant_id AND t.subject_id = u.subject_id WHERE t.kind = '" + std::string(kind) +
      "' AND t.active";
  enqueued_group out;
  out.outcomes.assign(requests.size(), make_error(errc::not_found, "not found"));
  const std::string outbox_id = new_uuid();
  bool created_any = false;
  // Requests in (tenant, subject) order: concurrent group inserts then take the unique
  // index's locks in one order and cannot deadlock on each other.
  std::vector<std::size_t> pending(requests.size());
  for (std::size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  std::sort(pending.begin(), pending.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(requests[a].tenant, requests[a].subject_id) < std::tie(requests[b].tenant, requests[b].subject_id);
  });
  // Two rounds at most: a task we collided with may finish in between. Each statement
  // stands alone, so a failure after the first round leaves what it created queued (with
  // its outbox group) and fails only the requests still open.
  for (int round = 0; round < 2 && !pending.empty(); ++round) {
    std::vector<std::string> ids, tenants, request_ids;
    std::vector<std::int64_t> subjects;
    std::map<std::string, std::size_t> by_id;
    for (auto i : pending) {
      ids.push_back(new_uuid());
      by_id.emplace(ids.back(), i);
      tenants.push_back(requests[i].tenant);
      subjects.push_back(requests[i].subject_id);
      request_ids.push_back(requests[i].request_id);
    }
    auto inserted = guarded(s, [&](pqxx::connection& c) -> result<std::vector<schemas::task_record>> {
      prepare(c, insert_name, insert_sql);
      pqxx::nontransaction tx(c);
      std::vector<schemas::task_record> created;
      for (const auto& r : tx.exec_prepared(insert_name, array_literal(ids), array_literal(tenants),
                                            array_literal(subjects), array_literal(request_ids), outbox_id))
        created.push_back(task_from_row(r));
      return created;
    });
    if (!inserted) {
      for (auto i : pending) out.outcomes[i] = inserted.err();
      pending.clear();
      break;
    }
    for (auto& t : *inserted) {
      const auto i = by_id.at(t.id);
      out.outcomes[i] = enqueued_task{std::move(t), true};
      created_any = true;
    }
    // The rest: an unfinished task already exists (deduplicated), or no such subject.
    std::vector<std::size_t> rest;
    for (auto i : pending)
      if (!out.outcomes[i]) rest.push_back(i);
    pending.clear();
    if (rest.empty()) break;
    auto retry = guarded(s, [&](pqxx::connection& c) -> result<std::vector<std::size_t>> {
      prepare(c, active_name, active_sql);
      std::vector<std::string> rest_tenants;
      std::vector<std::int64_t> rest_subjects;
      for (auto i : rest) {
        rest_tenants.push_back(requests[i].tenant);
        rest_subjects.push_back(requests[i].subject_id);
      }
      pqxx::nontransaction tx(c);
      std::map<std::pair<std::string, std::int64_t>, schemas::task_record> active;
      for (const auto& r : tx.exec_prepared(active_name, array_literal(rest_tenants), array_literal(rest_subjects))) {
        auto task = task_from_row(r);
        active.emplace(std::make_pair(task.tenant_id, task.subject_id), std::move(task));
      }
      std::vector<std::size_t> missing;
      std::vector<std::int64_t> missing_subjects;
      std::vector<std::string> missing_tenants;
      for (auto i : rest) {
        auto it = active.find({requests[i].tenant, requests[i].subject_id});
        if (it != active.end()) {
          out.outcomes[i] = enqueued_task{it->second, false};
        } else {
          missing.push_back(i);  // finished meanwhile, or not the tenant's
          missing_subjects.push_back(requests[i].subject_id);
          missing_tenants.push_back(requests[i].tenant);
        }
      }
      if (missing.empty()) return missing;
      // Only requests whose subject exists are worth another round.
      std::set<std::pair<std::string, std::int64_t>> exists;
      for (const auto& r : tx.exec_params(std::string("SELECT m.tenant_id, m.id FROM ") + table +
                                              " m JOIN unnest($1::uuid[], $2::bigint[]) AS u(tenant_id, id) "
                                              "ON m.id = u.id AND m.tenant_id = u.tenant_id",
                                          array_literal(missing_tenants), array_literal(missing_subjects)))
        exists.emplace(r[0].c_str(), r[1].as<std::int64_t>());
      std::vector<std::size_t> again;
      for (auto i : missing) {
        if (exists.count({requests[i].tenant, requests[i].subject_id}))
          again.push_back(i);
        else
          out.outcomes[i] =
              make_error(errc::not_found, "meeting " + std::to_string(requests[i].subject_id) + " not found");
      }
      return again;
    });
    if (!retry) {
      for (auto i : rest) out.outcomes[i] = retry.err();
      break;
    }
    pending = std::move(*retry);
  }
  for (auto i : pending)
    out.outcomes[i] = make_error(errc::conflict, "the meeting's task changed state; try again");
  if (created_any) out.outbox_id = outbox_id;
  return out;
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
    const auto batch_id = new_uuid();
    auto out = queue_part(tx, tenant, kind, subject_ids, batch_id, request_id, false);
    if (!out.created.empty()) out.batch = count_into_batch(tx, tenant, kind, batch_id, request_id, out.created.size());
    tx.commit();
    return out;
  });
}

result<enqueued_batch> queue_unclassified(pg_session& s, const std::string& tenant,
                                          const std::string& request_id, std::size_t chunk,
                                          const chunk_committed& committed) {
  auto candidates = guarded(s, [&](pqxx::connection& c) -> result<std::vector<std::int64_t>> {
    pqxx::nontransaction tx(c);
    std::vector<std::int64_t> out;
    for (const auto& r : tx.exec_params(
             "SELECT m.id FROM meetings m WHERE m.tenant_id = $1 "
             "AND NOT EXISTS (SELECT 1 FROM classifications k WHERE k.meeting_id = m.id) "
             "ORDER BY m.id",
             tenant))
      out.push_back(r[0].as<std::int64_t>());
    return out;
  });
  if (!candidates) return candidates.err();
  const std::string batch_id = new_uuid();
  const auto kind = schemas::kinds::classify_meeting;
  chunk = std::max<std::size_t>(chunk, 1);
  enqueued_batch out;
  for (std::size_t at = 0; at < candidates->size(); at += chunk) {
    const auto first = candidates->begin() + static_cast<std::ptrdiff_t>(at);
    const std::vector<std::int64_t> subjects(first, first + static_cast<std::ptrdiff_t>(
                                                                std::min(chunk, candidates->size() - at)));
    auto part = guarded(s, [&](pqxx::connection& c) -> result<enqueued_batch> {
      pqxx::work tx(c);
      auto p = queue_part(tx, tenant, kind, subjects, batch_id, request_id, true);
      if (!p.created.empty()) p.batch = count_into_batch(tx, tenant, kind, batch_id, request_id, p.created.size());
      tx.commit();
      return p;
    });
    if (!part) return after_committed_chunks(part.err(), out);
    if (!part->created.empty() && committed) committed(part->created, part->outbox_id);
    std::move(part->created.begin(), part->created.end(), std::back_inserter(out.created));
    std::move(part->already_active.begin(), part->already_active.end(), std::back_inserter(out.already_active));
    if (part->batch) out.batch = std::move(part->batch);
  }
  return out;
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
    b.cost_usd = double_of(r[12]);
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

status mark_published(pg_session& s, const std::vector<std::string>& outbox_ids) {
  if (outbox_ids.empty()) return ok_status();
  return guarded(s, [&](pqxx::connection& c) -> status {
    // Losing this delete in a crash only makes the relay publish the group again, which
    // workers dedupe; so it does not wait for its WAL flush. Both statements go as one
    // query string: Postgres runs it as one transaction (rolled back whole on an error),
    // one round trip instead of four (BEGIN, SET, DELETE, COMMIT).
    pqxx::nontransaction tx(c);
    tx.exec("SET LOCAL synchronous_commit = off; DELETE FROM outbox WHERE id = ANY(" +
            tx.quote(array_literal(outbox_ids)) + "::uuid[])");
    return ok_status();
  });
}

result<std::vector<outbox_group>> unpublished_groups(pg_session& s, int grace_seconds, int limit) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::vector<outbox_group>> {
    pqxx::nontransaction tx(c);
    std::vector<outbox_group> out;
    for (const auto& g : tx.exec_params(
             "SELECT id, task_ids::text FROM outbox "
             "WHERE created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
             grace_seconds, limit)) {
      outbox_group group;
      group.id = g[0].c_str();
      // Only what is still waiting to run needs a message again.
      for (const auto& r : tx.exec_params(
               "SELECT id, tenant_id, kind, subject_id, batch_id, request_id, "
               "coalesce((extract(epoch FROM next_attempt_at) * 1000)::bigint, 0) FROM tasks "
               "WHERE id = ANY($1::uuid[]) AND status = 'queued'",
               std::string(g[1].c_str()))) {
        schemas::envelope e;
        e.task_id = r[0].c_str();
        e.tenant_id = r[1].c_str();
        e.kind = r[2].c_str();
        e.subject_id = r[3].as<std::int64_t>();
        e.batch_id = opt(r[4]).value_or("");
        e.request_id = opt(r[5]).value_or("");
        e.not_before = r[6].as<std::int64_t>();
        group.tasks.push_back(std::move(e));
      }
      out.push_back(std::move(group));
    }
    return out;
  });
}

}  // namespace mq::store
