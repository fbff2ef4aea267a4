// The campaign jobs' reads and writes: fan-out and the delivery ledger; and the row
// mapping of campaigns and ledger rows.

#include <map>
#include <set>

#include "campaign_rows.hpp"
#include "mq/store/campaigns.hpp"
#include "rows.hpp"

namespace mq::store {

schemas::campaign_record campaign_from_row(const pqxx::row& r, int o) {
  schemas::campaign_record c;
  c.id = r[o].as<std::int64_t>();
  c.tenant_id = r[o + 1].c_str();
  c.name = r[o + 2].c_str();
  c.channel = r[o + 3].c_str();
  c.subject = opt(r[o + 4]);
  c.template_text = r[o + 5].c_str();
  c.personalization_prompt = opt(r[o + 6]);
  c.schedule_at = opt(r[o + 7]);
  if (!r[o + 8].is_null()) c.rate_per_minute = r[o + 8].as<int>();
  c.status = r[o + 9].c_str();
  c.batch_id = opt(r[o + 10]);
  c.start_task_id = opt(r[o + 11]);
  c.created_at = r[o + 12].c_str();
  c.updated_at = r[o + 13].c_str();
  c.started_at = opt(r[o + 14]);
  c.cancelled_at = opt(r[o + 15]);
  return c;
}

schemas::recipient_record recipient_from_row(const pqxx::row& r, int o) {
  schemas::recipient_record x;
  x.id = r[o].as<std::int64_t>();
  x.campaign_id = r[o + 1].as<std::int64_t>();
  x.address = r[o + 2].c_str();
  x.attributes_json = r[o + 3].c_str();
  x.state = r[o + 4].c_str();
  x.idempotency_key = r[o + 5].c_str();
  x.task_id = opt(r[o + 6]);
  x.subject = opt(r[o + 7]);
  x.message = opt(r[o + 8]);
  x.attempts = r[o + 9].as<int>();
  if (!r[o + 10].is_null()) x.response_code = r[o + 10].as<int>();
  x.error_code = opt(r[o + 11]);
  x.error = opt(r[o + 12]);
  x.tokens_in = r[o + 13].as<int>();
  x.tokens_out = r[o + 14].as<int>();
  x.created_at = r[o + 15].c_str();
  x.updated_at = r[o + 16].c_str();
  x.sending_at = opt(r[o + 17]);
  x.finished_at = opt(r[o + 18]);
  return x;
}

void add_counts(pqxx::transaction_base& tx, std::vector<schemas::campaign_record>& campaigns) {
  if (campaigns.empty()) return;
  std::vector<std::int64_t> ids;
  for (const auto& c : campaigns) ids.push_back(c.id);
  std::map<std::int64_t, std::pair<schemas::delivery_counts, std::optional<std::string>>> found;
  for (const auto& r : tx.exec_params(
           "SELECT campaign_id, count(*), count(*) FILTER (WHERE state = 'pending'), "
           "count(*) FILTER (WHERE state = 'sending'), count(*) FILTER (WHERE state = 'sent'), "
           "count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state = 'unknown'), "
           "count(*) FILTER (WHERE state = 'cancelled'), sum(tokens_in), sum(tokens_out), "
           MQ_TS("max(finished_at)") " FROM campaign_recipients WHERE campaign_id = ANY($1::bigint[]) "
           "GROUP BY campaign_id",
           array_literal(ids))) {
    schemas::delivery_counts n;
    n.total = r[1].as<long long>();
    n.pending = r[2].as<long long>();
    n.sending = r[3].as<long long>();
    n.sent = r[4].as<long long>();
    n.failed = r[5].as<long long>();
    n.unknown = r[6].as<long long>();
    n.cancelled = r[7].as<long long>();
    n.tokens_in = r[8].as<long long>();
    n.tokens_out = r[9].as<long long>();
    found[r[0].as<std::int64_t>()] = {n, opt(r[10])};
  }
  for (auto& c : campaigns) {
    auto it = found.find(c.id);
    if (it == found.end()) continue;
    c.counts = it->second.first;
    if (c.status == "sending" && c.counts.settled()) {
      c.status = "completed";
      c.finished_at = it->second.second;
    }
  }
}

result<fan_out> fan_out_campaign(pg_session& s, std::int64_t campaign_id) {
  return guarded(s, [&](pqxx::connection& c) -> result<fan_out> {
    pqxx::work tx(c);
    fan_out out;
    auto rows = tx.exec_params(
        "SELECT tenant_id, status, batch_id, "
        "greatest(0, ceil(extract(epoch FROM schedule_at - now()) * 1000))::bigint "
        "FROM campaigns WHERE id = $1 FOR UPDATE",
        static_cast<long long>(campaign_id));
    if (rows.empty()) return out;
    const std::string tenant = rows[0][0].c_str();
    const std::string status = rows[0][1].c_str();
    const auto batch_id = opt(rows[0][2]);
    const auto wait_ms = rows[0][3].is_null() ? 0 : rows[0][3].as<std::int64_t>();
    if ((status != "scheduled" && status != "sending") || !batch_id) {
      out.what = fan_out::outcome::cancelled;
      return out;
    }
    if (wait_ms > 0) {
      out.what = fan_out::outcome::not_yet;
      out.wait_ms = wait_ms;
      return out;
    }
    out.what = fan_out::outcome::started;
    std::vector<std::int64_t> pending;
    for (const auto& r : tx.exec_params(
             "SELECT id FROM campaign_recipients WHERE campaign_id = $1 AND state = 'pending' AND task_id IS NULL "
             "ORDER BY id",
             static_cast<long long>(campaign_id)))
      pending.push_back(r[0].as<std::int64_t>());
    auto created = insert_tasks(tx, tenant, schemas::kinds::send_message, pending, *batch_id, "");
    if (!created.empty()) {
      std::vector<std::int64_t> subjects;
      std::vector<std::string> task_ids;
      for (const auto& t : created) {
        subjects.push_back(t.subject_id);
        task_ids.push_back(t.id);
      }
      tx.exec_params(
          "UPDATE campaign_recipients r SET task_id = u.task_id, updated_at = now() "
          "FROM unnest($1::bigint[], $2::uuid[]) AS u(id, task_id) WHERE r.id = u.id",
          array_literal(subjects), array_literal(task_ids));
      out.outbox_id = record_outbox(tx, created);
    }
    out.deliveries = tx.exec_params("SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND task_id IS NOT NULL",
                                    static_cast<long long>(campaign_id))[0][0]
                         .as<long long>();
    tx.exec_params(
        "UPDATE campaigns SET status = 'sending', started_at = coalesce(started_at, now()), updated_at = now() "
        "WHERE id = $1",
        static_cast<long long>(campaign_id));
    tx.exec_params("UPDATE batches SET total = $2 WHERE id = $1", *batch_id, out.deliveries);
    // Run again after a crash, this also hands back what the first run may not have published.
    for (const auto& r : tx.exec_params("SELECT " MQ_TASK_COLUMNS " FROM tasks t WHERE t.batch_id = $1 AND "
                                        "t.status = 'queued' ORDER BY t.id",
                                        *batch_id))
      out.tasks.push_back(task_from_row(r));
    tx.commit();
    return out;
  });
}

result<std::vector<std::optional<delivery_work>>> load_deliveries(pg_session& s, const std::vector<std::int64_t>& ids) {
  using out = std::vector<std::optional<delivery_work>>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::nontransaction tx(c);
    std::map<std::int64_t, delivery_work> found;
    for (const auto& r : tx.exec_params("SELECT " MQ_RECIPIENT_COLUMNS ", " MQ_CAMPAIGN_COLUMNS
                                        " FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id "
                                        "WHERE r.id = ANY($1::bigint[])",
                                        array_literal(ids))) {
      delivery_work w{recipient_from_row(r), campaign_from_row(r, recipient_columns)};
      found.emplace(w.recipient.id, std::move(w));
    }
    out result;
    for (auto id : ids) {
      auto it = found.find(id);
      result.push_back(it == found.end() ? std::nullopt : std::optional<delivery_work>(it->second));
    }
    return result;
  });
}

/// Joins `u` (task_id, attempt) to the task only while that attempt runs it.
constexpr const char* owned_task = "JOIN tasks t ON t.id = u.task_id AND t.attempts = u.attempt AND t.status = 'running' ";

result<std::vector<sending_mark>> mark_sending(pg_session& s, const std::vector<sending_request>& messages) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::vector<sending_mark>> {
    std::vector<std::int64_t> ids;
    std::vector<std::string> subjects, texts, tasks, seen;
    std::vector<std::int64_t> attempts;
    for (const auto& m : messages) {
      ids.push_back(m.recipient_id);
      subjects.push_back(m.subject.value_or(""));
      texts.push_back(m.message);
      tasks.push_back(m.task_id);
      attempts.push_back(m.attempt);
      seen.push_back(m.seen);
    }
    pqxx::work tx(c);
    // The task is read, not locked. A later delivery that takes it over commits its claim
    // before it reads the row: it finds a mark made before that or, having read the row
    // first, finds it moved when it marks, and reads it again.
    std::set<std::pair<std::int64_t, std::int64_t>> marked;
    for (const auto& r : tx.exec_params(
             "UPDATE campaign_recipients r SET state = 'sending', subject = NULLIF(u.subject, ''), message = u.message, "
             "attempts = r.attempts + 1, sending_at = now(), updated_at = now() "
             "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::uuid[], $5::bigint[], $6::text[]) "
             "AS u(id, subject, message, task_id, attempt, seen) " + std::string(owned_task) +
             "WHERE r.id = ANY($1::bigint[]) AND r.id = u.id AND r.task_id = u.task_id AND r.state = u.seen "
             "AND (r.state = 'sending' OR EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.campaign_id "
             "AND c.status <> 'cancelled')) RETURNING r.id, u.attempt::bigint",
             array_literal(ids), array_literal(subjects), array_literal(texts), array_literal(tasks),
             array_literal(attempts), array_literal(seen)))
      marked.emplace(r[0].as<std::int64_t>(), r[1].as<std::int64_t>());
    // Of the rest, the ones whose attempt still owns the task and whose row is pending or
    // sending, but not as that attempt read it.
    std::set<std::int64_t> moved;
    if (marked.size() < messages.size())
      for (const auto& r : tx.exec_params(
               "SELECT u.ord FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::text[]) WITH ORDINALITY "
               "AS u(id, task_id, attempt, seen, ord) " + std::string(owned_task) +
               "JOIN campaign_recipients r ON r.id = u.id AND r.task_id = u.task_id "
               "AND r.state IN ('pending', 'sending') AND r.state <> u.seen",
               array_literal(ids), array_literal(tasks), array_literal(attempts), array_literal(seen)))
        moved.insert(r[0].as<std::int64_t>() - 1);
    tx.commit();
    std::vector<sending_mark> out;
    for (std::size_t i = 0; i < messages.size(); ++i)
      out.push_back(marked.erase({messages[i].recipient_id, messages[i].attempt}) ? sending_mark::marked
                    : moved.count(static_cast<std::int64_t>(i))                      ? sending_mark::moved
                                                                                     : sending_mark::refused);
    return out;
  });
}

status mark_pending(pg_session& s, const sending_request& m) {
  return guarded(s, [&](pqxx::connection& c) -> status {
    pqxx::work tx(c);
    // Rows before tasks, as a cancel locks them. The task is read, as mark_sending does.
    tx.exec_params(
        "WITH r AS (UPDATE campaign_recipients r SET state = CASE WHEN c.status = 'cancelled' THEN 'cancelled' "
        "ELSE 'pending' END, error_code = CASE WHEN c.status = 'cancelled' THEN 'CANCELLED' END, "
        "error = CASE WHEN c.status = 'cancelled' THEN 'the campaign was cancelled' END, "
        "finished_at = CASE WHEN c.status = 'cancelled' THEN now() END, updated_at = now() "
        "FROM campaigns c WHERE r.id = $1 AND r.state = 'sending' AND c.id = r.campaign_id AND r.task_id = $2 "
        "AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = $2 AND t.attempts = $3 AND t.status = 'running') "
        "RETURNING r.state, r.task_id) "
        "UPDATE tasks t SET status = 'cancelled', finished_at = now(), updated_at = now(), next_attempt_at = NULL, "
        "error_code = 'cancelled', error = 'the campaign was cancelled' FROM r "
        "WHERE r.state = 'cancelled' AND t.id = r.task_id AND t.status IN ('queued', 'running', 'retrying')",
        static_cast<long long>(m.recipient_id), m.task_id, m.attempt);
    tx.commit();
    return ok_status();
  });
}

}  // namespace mq::store
