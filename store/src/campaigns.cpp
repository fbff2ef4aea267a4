// Campaigns: create, read, change, delete, audiences, send and cancel.

#include <map>
#include <set>

#include "campaign_rows.hpp"
#include "mq/core/ids.hpp"
#include "mq/store/campaigns.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

using campaign = schemas::campaign_record;

/// The tenant's campaign with its counts (locked for a change with `lock`; without counts,
/// and so without the derived `completed`, unless `counts`); nullopt when the tenant has
/// none by that id.
std::optional<campaign> read_campaign(pqxx::transaction_base& tx, const std::string& tenant, std::int64_t id,
                                      bool lock = false, bool counts = true) {
  auto rows = tx.exec_params(std::string("SELECT " MQ_CAMPAIGN_COLUMNS " FROM campaigns c WHERE c.tenant_id = $1 "
                                         "AND c.id = $2") + (lock ? " FOR UPDATE" : ""),
                             tenant, static_cast<long long>(id));
  if (rows.empty()) return std::nullopt;
  std::vector<campaign> one{campaign_from_row(rows[0])};
  if (counts) add_counts(tx, one);
  return one[0];
}

std::optional<campaign> lock_campaign(pqxx::work& tx, const std::string& tenant, std::int64_t id) {
  return read_campaign(tx, tenant, id, true);
}

/// "" for an absent or cleared optional text, which the SQL reads as NULLIF($n, '').
std::string text_or_empty(const std::optional<std::string>& v) { return v.value_or(""); }

/// A start_campaign task for campaign `id`, due at its schedule (now when none or past),
/// with its outbox group.
campaign_change start_task(pqxx::work& tx, const std::string& tenant, std::int64_t id, const std::string& request_id) {
  campaign_change out;
  auto tasks = insert_tasks(tx, tenant, schemas::kinds::start_campaign, {id}, "", request_id);
  if (tasks.empty()) throw std::logic_error("a start task of this campaign is still active");
  auto due = tx.exec_params(
      "UPDATE tasks t SET next_attempt_at = c.schedule_at FROM campaigns c WHERE t.id = $1 AND c.id = $2 "
      "AND c.schedule_at > now() RETURNING " MQ_TS("t.next_attempt_at"),
      tasks[0].id, static_cast<long long>(id));
  if (!due.empty()) tasks[0].next_attempt_at = due[0][0].c_str();
  out.start_task = tasks[0];
  out.outbox_id = record_outbox(tx, tasks);
  return out;
}

/// A campaign stopped before all its messages had tasks: its batch counts the tasks it
/// has, so its progress can finish.
void settle_batch_total(pqxx::work& tx, const std::string& batch_id) {
  tx.exec_params("UPDATE batches SET total = (SELECT count(*) FROM tasks WHERE batch_id = $1) WHERE id = $1", batch_id);
}

/// validation_failed naming up to five recipients without a value for one of `required`.
status check_audience(pqxx::work& tx, std::int64_t id, const std::vector<std::string>& required) {
  if (required.empty()) return ok_status();
  auto rows = tx.exec_params(
      "SELECT r.address, n FROM campaign_recipients r, unnest($2::text[]) AS n "
      "WHERE r.campaign_id = $1 AND coalesce(r.attributes->n, 'null'::jsonb) = 'null'::jsonb ORDER BY r.id LIMIT 5",
      static_cast<long long>(id), array_literal(required));
  if (rows.empty()) return ok_status();
  std::string which;
  for (const auto& r : rows)
    which += (which.empty() ? "" : ", ") + std::string(r[0].c_str()) + " (" + r[1].c_str() + ")";
  return make_error(errc::validation_failed,
                    "recipients of this campaign have no value for the template's placeholders: " + which);
}

}  // namespace

result<campaign> create_campaign(pg_session& s, const std::string& tenant, const campaign_fields& f) {
  return guarded(s, [&](pqxx::connection& c) -> result<campaign> {
    pqxx::work tx(c);
    auto rows = tx.exec_params(
        "WITH c AS (INSERT INTO campaigns (tenant_id, name, channel, subject, template, personalization_prompt, "
        "schedule_at, rate_per_minute) VALUES ($1, $2, $3, NULLIF($4, ''), $5, NULLIF($6, ''), "
        "NULLIF($7, '')::timestamptz, NULLIF($8, 0)) RETURNING *) SELECT " MQ_CAMPAIGN_COLUMNS " FROM c",
        tenant, f.name.value_or(""), f.channel.value_or(""), text_or_empty(f.subject.value_or(std::nullopt)),
        f.template_text.value_or(""), text_or_empty(f.personalization_prompt.value_or(std::nullopt)),
        text_or_empty(f.schedule_at.value_or(std::nullopt)), f.rate_per_minute.value_or(std::nullopt).value_or(0));
    tx.commit();
    return campaign_from_row(rows[0]);
  });
}

result<std::optional<campaign>> get_campaign(pg_session& s, const std::string& tenant, std::int64_t id,
                                             bool counts) {
  using out = std::optional<campaign>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    return read_campaign(tx, tenant, id, false, counts);
  });
}

result<page<campaign>> list_campaigns(pg_session& s, const std::string& tenant, page_request p) {
  return guarded(s, [&](pqxx::connection& c) -> result<page<campaign>> {
    pqxx::work tx(c);
    auto out = read_page<campaign>(tx, "SELECT count(*) FROM campaigns WHERE tenant_id = $1",
                                   "SELECT " MQ_CAMPAIGN_COLUMNS " FROM campaigns c WHERE c.tenant_id = $1 "
                                   "ORDER BY c.id DESC",
                                   p, [](const pqxx::row& r) { return campaign_from_row(r); }, tenant);
    add_counts(tx, out.items);
    return out;
  });
}

result<std::optional<campaign_change>> update_campaign(pg_session& s, const std::string& tenant, std::int64_t id,
                                                       const campaign_fields& f,
                                                       const std::vector<std::string>& required) {
  using out = std::optional<campaign_change>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    auto before = lock_campaign(tx, tenant, id);
    if (!before) return out{};
    if (before->status != "draft" && before->status != "scheduled")
      return make_error(errc::conflict, "the campaign is " + before->status + "; only a draft or scheduled campaign "
                                        "can be changed");
    if (auto st = check_audience(tx, id, required); !st) return st.err();
    // Each column: $n_set says whether the client sent it, $n its new value.
    auto flag = [](bool set) { return std::string(set ? "t" : "f"); };
    tx.exec_params(
        "UPDATE campaigns SET "
        "name = CASE WHEN $2::boolean THEN $3 ELSE name END, "
        "channel = CASE WHEN $4::boolean THEN $5 ELSE channel END, "
        "subject = CASE WHEN $6::boolean THEN NULLIF($7, '') ELSE subject END, "
        "template = CASE WHEN $8::boolean THEN $9 ELSE template END, "
        "personalization_prompt = CASE WHEN $10::boolean THEN NULLIF($11, '') ELSE personalization_prompt END, "
        "schedule_at = CASE WHEN $12::boolean THEN NULLIF($13, '')::timestamptz ELSE schedule_at END, "
        "rate_per_minute = CASE WHEN $14::boolean THEN NULLIF($15, 0) ELSE rate_per_minute END, "
        "updated_at = now() WHERE id = $1",
        static_cast<long long>(id), flag(f.name.has_value()), f.name.value_or(""), flag(f.channel.has_value()),
        f.channel.value_or(""), flag(f.subject.has_value()), text_or_empty(f.subject.value_or(std::nullopt)),
        flag(f.template_text.has_value()), f.template_text.value_or(""), flag(f.personalization_prompt.has_value()),
        text_or_empty(f.personalization_prompt.value_or(std::nullopt)), flag(f.schedule_at.has_value()),
        text_or_empty(f.schedule_at.value_or(std::nullopt)), flag(f.rate_per_minute.has_value()),
        f.rate_per_minute.value_or(std::nullopt).value_or(0));
    campaign_change change;
    if (before->status == "scheduled" && f.schedule_at && *f.schedule_at != before->schedule_at) {
      // The old start task would fire at the old time: a new one replaces it.
      if (before->start_task_id)
        tx.exec_params(cancel_sql("t.id = $1", "the campaign was rescheduled"), *before->start_task_id);
      change = start_task(tx, tenant, id, "");
      tx.exec_params(
          "UPDATE campaigns SET start_task_id = $2, status = CASE WHEN schedule_at > now() THEN 'scheduled' "
          "ELSE 'sending' END WHERE id = $1",
          static_cast<long long>(id), change.start_task->id);
    }
    change.campaign = *read_campaign(tx, tenant, id);
    tx.commit();
    return out{std::move(change)};
  });
}

result<bool> delete_campaign(pg_session& s, const std::string& tenant, std::int64_t id) {
  return guarded(s, [&](pqxx::connection& c) -> result<bool> {
    pqxx::work tx(c);
    auto found = lock_campaign(tx, tenant, id);
    if (!found) return false;
    if (found->status == "sending")
      return make_error(errc::conflict, "the campaign is sending; cancel it before deleting it");
    if (found->start_task_id)
      tx.exec_params(cancel_sql("t.id = $1", "the campaign was deleted"), *found->start_task_id);
    if (found->batch_id) settle_batch_total(tx, *found->batch_id);
    tx.exec_params("DELETE FROM campaigns WHERE id = $1", static_cast<long long>(id));
    tx.commit();
    return true;
  });
}

result<std::optional<recipients_added>> add_recipients(pg_session& s, const std::string& tenant, std::int64_t id,
                                                       const std::vector<recipient_input>& recipients,
                                                       long long max_total) {
  using out = std::optional<recipients_added>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    auto found = lock_campaign(tx, tenant, id);
    if (!found) return out{};
    if (found->status != "draft" && found->status != "scheduled")
      return make_error(errc::conflict, "the campaign is " + found->status + "; recipients can only be added to a "
                                        "draft or scheduled campaign");
    std::vector<std::string> addresses, attributes;
    for (const auto& r : recipients) {
      addresses.push_back(r.address);
      attributes.push_back(r.attributes_json);
    }
    std::set<std::string> added;
    for (const auto& r : tx.exec_params(
             "INSERT INTO campaign_recipients (campaign_id, tenant_id, address, attributes, idempotency_key) "
             "SELECT $1, $2, u.address, u.attributes::jsonb, gen_random_uuid()::text "
             "FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(address, attributes, ord) ORDER BY u.ord "
             "ON CONFLICT (campaign_id, address) DO NOTHING RETURNING address",
             static_cast<long long>(id), tenant, array_literal(addresses), array_literal(attributes)))
      added.insert(r[0].c_str());
    recipients_added result;
    result.added = static_cast<int>(added.size());
    result.total = found->counts.total + result.added;
    if (result.total > max_total)
      return make_error(errc::validation_failed, "a campaign has at most " + std::to_string(max_total) +
                                                     " recipients; this one would have " +
                                                     std::to_string(result.total));
    // The first occurrence of an added address is the one added; any other is a duplicate.
    std::set<std::string> claimed, reported;
    for (const auto& a : addresses) {
      if (added.count(a) && claimed.insert(a).second) continue;
      if (reported.insert(a).second) result.duplicates.push_back(a);
    }
    tx.commit();
    return out{std::move(result)};
  });
}

result<std::optional<page<schemas::recipient_record>>> list_recipients(pg_session& s, const std::string& tenant,
                                                                       std::int64_t id,
                                                                       const std::optional<std::string>& state,
                                                                       page_request p) {
  using out = std::optional<page<schemas::recipient_record>>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    if (tx.exec_params("SELECT 1 FROM campaigns WHERE tenant_id = $1 AND id = $2", tenant, static_cast<long long>(id))
            .empty())
      return out{};
    return out{read_page<schemas::recipient_record>(
        tx, "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND (state = $2 OR $2 = '')",
        "SELECT " MQ_RECIPIENT_COLUMNS " FROM campaign_recipients r WHERE r.campaign_id = $1 "
        "AND (r.state = $2 OR $2 = '') ORDER BY r.id",
        p, [](const pqxx::row& r) { return recipient_from_row(r); }, static_cast<long long>(id),
        state.value_or(""))};
  });
}

result<std::optional<campaign_change>> send_campaign(pg_session& s, const std::string& tenant, std::int64_t id,
                                                     const std::string& request_id) {
  using out = std::optional<campaign_change>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    auto found = lock_campaign(tx, tenant, id);
    if (!found) return out{};
    if (found->status != "draft")
      return make_error(errc::conflict, "the campaign is " + found->status + "; only a draft can be sent");
    if (found->counts.total == 0) return make_error(errc::validation_failed, "the campaign has no recipients");
    const std::string batch_id = new_uuid();
    tx.exec_params("INSERT INTO batches (id, tenant_id, kind, total, request_id) VALUES ($1, $2, $3, $4, NULLIF($5, ''))",
                   batch_id, tenant, std::string(schemas::kinds::send_message), found->counts.total, request_id);
    auto change = start_task(tx, tenant, id, request_id);
    tx.exec_params(
        "UPDATE campaigns SET batch_id = $2, start_task_id = $3, updated_at = now(), "
        "status = CASE WHEN schedule_at > now() THEN 'scheduled' ELSE 'sending' END WHERE id = $1",
        static_cast<long long>(id), batch_id, change.start_task->id);
    change.campaign = *read_campaign(tx, tenant, id);
    tx.commit();
    return out{std::move(change)};
  });
}

result<std::optional<campaign_cancelled>> cancel_campaign(pg_session& s, const std::string& tenant, std::int64_t id) {
  using out = std::optional<campaign_cancelled>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    auto found = lock_campaign(tx, tenant, id);
    if (!found) return out{};
    campaign_cancelled r;
    if (found->status == "completed") return make_error(errc::conflict, "the campaign already completed");
    if (found->status != "cancelled") {
      r.changed = true;
      tx.exec_params("UPDATE campaigns SET status = 'cancelled', cancelled_at = now(), updated_at = now() WHERE id = $1",
                     static_cast<long long>(id));
      r.cancelled = tx.exec_params(
                          "UPDATE campaign_recipients SET state = 'cancelled', updated_at = now(), finished_at = now(), "
                          "error_code = 'CANCELLED', error = 'the campaign was cancelled' "
                          "WHERE campaign_id = $1 AND state = 'pending'",
                          static_cast<long long>(id))
                        .affected_rows();
      if (found->start_task_id)
        tx.exec_params(cancel_sql("t.id = $1", "the campaign was cancelled"), *found->start_task_id);
      if (found->batch_id) {
        std::vector<schemas::task_record> sends;
        for (const auto& row : tx.exec_params(cancel_sql("t.batch_id = $1", "the campaign was cancelled"),
                                              *found->batch_id))
          sends.push_back(task_from_row(row));
        cancel_deliveries(tx, sends, "the campaign was cancelled");
        settle_batch_total(tx, *found->batch_id);
      }
    }
    r.campaign = *read_campaign(tx, tenant, id);
    r.in_flight = r.campaign.counts.sending;
    tx.commit();
    return out{std::move(r)};
  });
}

}  // namespace mq::store
