// Dead letters: recorded once from the dead-letter queue, listed per tenant, replayed.

#include <map>
#include <set>

#include "mq/core/ids.hpp"
#include "mq/core/utf8.hpp"
#include "mq/store/repositories.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

constexpr std::size_t preview_bytes = 4096;

/// The first bytes of a message body as valid, NUL-free UTF-8 (anything else becomes
/// U+FFFD), so that any body can be shown and stored as text.
std::string printable_preview(const std::string& body) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  const std::size_t n = std::min(body.size(), preview_bytes);
  for (std::size_t i = 0; i < n;) {
    if (const auto len = utf8::sequence_length(p + i, n - i)) {
      out.append(body, i, len);
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

#define MQ_DEAD_LETTER_COLUMNS                                                                     \
  "d.id, d.tenant_id, d.task_id, d.kind, d.queue, d.reason, d.error_code, d.error, d.deliveries, " \
  "d.history::text, d.body_preview, d.body_bytes, d.request_id, " MQ_TS("d.created_at") ", "       \
  MQ_TS("d.replayed_at") ", d.replays, t.status"

const char* dead_letter_from = " FROM dead_letters d LEFT JOIN tasks t ON t.id = d.task_id ";

schemas::dead_letter_record dead_letter_from_row(const pqxx::row& r) {
  schemas::dead_letter_record d;
  d.id = r[0].c_str();
  d.tenant_id = opt(r[1]);
  d.task_id = opt(r[2]);
  d.kind = opt(r[3]);
  d.queue = r[4].c_str();
  d.reason = r[5].c_str();
  d.error_code = r[6].c_str();
  d.error = r[7].c_str();
  d.deliveries = r[8].as<int>();
  d.history_json = r[9].c_str();
  d.body_preview = r[10].c_str();
  d.body_bytes = r[11].as<int>();
  d.request_id = opt(r[12]);
  d.created_at = r[13].c_str();
  d.replayed_at = opt(r[14]);
  d.replays = r[15].as<int>();
  d.task_status = opt(r[16]);
  return d;
}

}  // namespace

result<std::optional<schemas::task_record>> record_dead_letter(pg_session& s, const dead_letter& d) {
  using out = std::optional<schemas::task_record>;
  std::string task, tenant, kind, request_id;
  if (d.envelope && is_uuid(d.envelope->task_id) && is_uuid(d.envelope->tenant_id)) {
    task = d.envelope->task_id;
    tenant = d.envelope->tenant_id;
    kind = d.envelope->kind;
    request_id = d.envelope->request_id;
  }
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    // Owner fields only when the task exists for that tenant: a forged tenant id names nobody.
    auto ins = tx.exec_params(
        "WITH t AS (SELECT id, tenant_id, kind FROM tasks "
        "WHERE id = NULLIF($3, '')::uuid AND tenant_id = NULLIF($4, '')::uuid) "
        "INSERT INTO dead_letters (id, dedup_key, tenant_id, task_id, kind, queue, reason, error_code, error, "
        "deliveries, history, body_preview, body_bytes, request_id) "
        "SELECT $1, md5($2), (SELECT tenant_id FROM t), (SELECT id FROM t), "
        "COALESCE((SELECT kind FROM t), NULLIF($5, '')), $6, $7, $8, $9, $10, $11::jsonb, $12, $13, NULLIF($14, '') "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING task_id",
        new_uuid(), d.dedup_key, task, tenant, kind, d.queue, d.reason, d.error_code, d.error, d.deliveries,
        d.history_json, printable_preview(d.body), static_cast<long long>(d.body.size()), request_id);
    if (ins.empty() || ins[0][0].is_null()) {
      tx.commit();
      return out{};
    }
    auto rows = tx.exec_params(
        "WITH x AS (UPDATE tasks t SET status = 'dead', error_code = $2, error = $3, finished_at = now(), "
        "next_attempt_at = NULL, updated_at = now() "
        "WHERE t.id = $1 AND t.status IN ('queued', 'running', 'retrying') RETURNING t.*) "
        "SELECT " MQ_TASK_COLUMNS " FROM x t",
        std::string(ins[0][0].c_str()), d.error_code, d.error);
    tx.commit();
    if (rows.empty()) return out{};
    return out{task_from_row(rows[0])};
  });
}

result<page<schemas::dead_letter_record>> list_dead_letters(pg_session& s, const std::string& tenant,
                                                            std::optional<bool> replayed, page_request p) {
  return guarded(s, [&](pqxx::connection& c) -> result<page<schemas::dead_letter_record>> {
    pqxx::work tx(c);
    const std::string filter =
        " WHERE d.tenant_id = $1 AND (NULLIF($2, '')::boolean IS NULL OR "
        "(d.replayed_at IS NOT NULL) = $2::boolean)";
    return read_page<schemas::dead_letter_record>(
        tx, "SELECT count(*) FROM dead_letters d" + filter,
        "SELECT " MQ_DEAD_LETTER_COLUMNS + std::string(dead_letter_from) + filter + " ORDER BY d.created_at DESC, d.id",
        p, dead_letter_from_row, tenant, flag_param(replayed));
  });
}

result<std::optional<schemas::dead_letter_record>> get_dead_letter(pg_session& s, const std::string& tenant,
                                                                   const std::string& id) {
  using out = std::optional<schemas::dead_letter_record>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params("SELECT " MQ_DEAD_LETTER_COLUMNS + std::string(dead_letter_from) +
                                   "WHERE d.tenant_id = $1 AND d.id = $2",
                               tenant, id);
    if (rows.empty()) return out{};
    return out{dead_letter_from_row(rows[0])};
  });
}

result<replay_outcome> replay_dead_letters(pg_session& s, const std::string& tenant,
                                           const std::vector<std::string>& ids, int limit) {
  return guarded(s, [&](pqxx::connection& c) -> result<replay_outcome> {
    pqxx::work tx(c);
    replay_outcome out;
    const bool all = ids.empty();
    auto letters = tx.exec_params(
        "SELECT d.id, d.task_id, t.status, t.kind, t.subject_id FROM dead_letters d "
        "LEFT JOIN tasks t ON t.id = d.task_id "
        "WHERE d.tenant_id = $1 AND (CASE WHEN $2 THEN d.replayed_at IS NULL ELSE d.id = ANY($3::uuid[]) END) "
        "ORDER BY d.created_at, d.id LIMIT $4 FOR UPDATE OF d",
        tenant, all, array_literal(ids), limit);
    // One dead task per subject at most: two queued at once would break the one
    // unfinished task per subject rule.
    std::map<std::string, std::vector<std::string>> letters_of_task;
    std::set<std::pair<std::string, std::string>> subjects;
    std::set<std::string> found;
    for (const auto& r : letters) {
      const std::string id = r[0].c_str();
      found.insert(id);
      if (r[1].is_null()) {
        out.skipped.emplace_back(id, "the task no longer exists");
      } else if (r[2].is_null() || std::string(r[2].c_str()) != "dead") {
        out.skipped.emplace_back(id, std::string("the task is ") + r[2].c_str() + ", not dead");
      } else if (letters_of_task.count(r[1].c_str()) ||
                 subjects.emplace(r[3].c_str(), r[4].c_str()).second) {
        letters_of_task[r[1].c_str()].push_back(id);
      } else {
        out.skipped.emplace_back(id, "another dead letter of the same subject is replayed");
      }
    }
    for (const auto& id : ids)
      if (!found.count(id)) out.skipped.emplace_back(id, "not found");
    if (letters_of_task.empty()) {
      tx.commit();
      return out;
    }
    std::vector<std::string> task_ids;
    for (const auto& [task, _] : letters_of_task) task_ids.push_back(task);
    for (const auto& r : tx.exec_params(
             "WITH x AS (UPDATE tasks t SET status = 'queued', error_code = NULL, error = NULL, "
             "finished_at = NULL, next_attempt_at = NULL, updated_at = now() "
             "WHERE t.id = ANY($1::uuid[]) AND t.status = 'dead' AND NOT EXISTS (SELECT 1 FROM tasks o "
             "WHERE o.tenant_id = t.tenant_id AND o.kind = t.kind AND o.subject_id = t.subject_id "
             "AND o.status IN ('queued', 'running', 'retrying')) RETURNING t.*) "
             "SELECT " MQ_TASK_COLUMNS " FROM x t",
             array_literal(task_ids)))
      out.requeued.push_back(task_from_row(r));
    std::set<std::string> requeued;
    for (const auto& t : out.requeued) requeued.insert(t.id);
    std::vector<std::string> replayed;
    for (const auto& [task, letter_ids] : letters_of_task) {
      for (const auto& id : letter_ids) {
        if (requeued.count(task))
          replayed.push_back(id);
        else
          out.skipped.emplace_back(id, "another task of the same subject is unfinished");
      }
    }
    tx.exec_params("UPDATE dead_letters SET replayed_at = now(), replays = replays + 1 WHERE id = ANY($1::uuid[])",
                   array_literal(replayed));
    out.outbox_id = record_outbox(tx, out.requeued);
    tx.commit();
    return out;
  });
}

}  // namespace mq::store
