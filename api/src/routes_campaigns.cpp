// Campaigns: create, read, change and delete them; add recipients; send (now or at
// schedule_at), cancel, and read the delivery ledger and its analytics.

#include <set>

#include "mq/campaigns/email.hpp"
#include "mq/campaigns/message_template.hpp"
#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/time.hpp"
#include "mq/schemas/campaigns.hpp"
#include "mq/store/campaigns.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

const std::string campaigns_path = "/api/v1/campaigns/";

error invalid(const std::string& field, const std::string& message) {
  auto e = make_error(errc::validation_failed, message);
  e.details = "{\"field\":" + json::quote("/" + field) + "}";
  return e;
}

/// Reads an optional text member: absent (nullopt), null (a present nullopt) or text.
std::optional<std::optional<std::string>> nullable_text(const rapidjson::Value& doc, const char* key) {
  auto it = doc.FindMember(key);
  if (it == doc.MemberEnd()) return std::nullopt;
  if (it->value.IsNull()) return std::optional<std::string>{};
  return std::optional<std::string>(std::string(it->value.GetString(), it->value.GetStringLength()));
}

/// The placeholders of the template and subject that a recipient must have a value for;
/// an error naming the field when either is not a valid template.
result<std::vector<std::string>> required_attributes(const std::string& template_text,
                                                     const std::optional<std::string>& subject) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (auto [field, text] : {std::pair<const char*, const std::string*>{"template", &template_text},
                             {"subject", subject ? &*subject : nullptr}}) {
    if (!text) continue;
    auto ps = campaigns::parse_template(*text);
    if (!ps) return invalid(field, ps.err().message);
    for (const auto& p : *ps)
      if (!p.fallback && seen.insert(p.name).second) out.push_back(p.name);
  }
  return out;
}

/// The fields of a create or update body, checked beyond the schema; replies and
/// returns nullopt when they are not acceptable.
std::optional<store::campaign_fields> read_fields(services& s, const call_ptr& c, const rapidjson::Value& doc) {
  store::campaign_fields f;
  f.name = json::get_string(doc, "name");
  f.channel = json::get_string(doc, "channel");
  f.template_text = json::get_string(doc, "template");
  f.subject = nullable_text(doc, "subject");
  f.personalization_prompt = nullable_text(doc, "personalization_prompt");
  f.schedule_at = nullable_text(doc, "schedule_at");
  if (auto it = doc.FindMember("rate_per_minute"); it != doc.MemberEnd())
    f.rate_per_minute = it->value.IsNull() ? std::optional<int>{} : std::optional<int>(it->value.GetInt());
  if (f.channel && !s.cfg.campaigns.configured(*f.channel)) {
    c->fail(invalid("channel", "the " + *f.channel + " channel is not configured on this system (campaigns." +
                                   (*f.channel == "smtp" ? "smtp_url and campaigns.smtp_from" : "webhook_url") + ")"));
    return std::nullopt;
  }
  if (f.schedule_at && *f.schedule_at) {
    auto t = parse_rfc3339(**f.schedule_at);
    if (!t) {
      c->fail(invalid("schedule_at", "schedule_at must be an RFC 3339 time, such as 2026-12-01T09:00:00Z"));
      return std::nullopt;
    }
    *f.schedule_at = format_rfc3339(*t);
  }
  if (f.subject && *f.subject && (*f.subject)->empty()) *f.subject = std::nullopt;
  if (f.personalization_prompt && *f.personalization_prompt && (*f.personalization_prompt)->empty())
    *f.personalization_prompt = std::nullopt;
  return f;
}

std::optional<std::int64_t> campaign_id(const call_ptr& c) {
  auto id = parse_id(c->params["id"]);
  if (!id) c->fail(make_error(errc::not_found, "campaign not found"));
  return id;
}

error no_campaign(std::int64_t id) { return make_error(errc::not_found, "campaign " + std::to_string(id) + " not found"); }

/// Publishes a change's start task (if any), then replies with `status` and `body`.
void publish_change(services& s, const call_ptr& c, const store::campaign_change& ch, int status, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
  if (!ch.start_task) return c->reply(status, std::move(body), std::move(headers));
  publish_then_accept(s, c, {*ch.start_task}, ch.outbox_id,
                      [c, status, body = std::move(body), headers = std::move(headers)]() mutable {
                        c->reply(status, std::move(body), std::move(headers));
                      });
}

void create(services& s, const call_ptr& c) {
  auto doc = read_body(c, "requests/campaign");
  if (!doc) return;
  auto f = read_fields(s, c, *doc);
  if (!f) return;
  if (auto req = required_attributes(*f->template_text, f->subject.value_or(std::nullopt)); !req)
    return c->fail(req.err());
  s.with_db(c, [c, f = std::move(*f)](store::pg_session& db) {
    auto r = store::create_campaign(db, c->tenant, f);
    if (!r) return c->fail(r.err());
    log::info("api", "campaign created", {c->request_id, {}, c->tenant}, {{"campaign_id", std::to_string(r->id)}});
    c->reply(201, schemas::to_json(*r), {{"Location", campaigns_path + std::to_string(r->id)}});
  });
}

void list(services& s, const call_ptr& c) {
  auto page = read_page(s, c);
  if (!page) return;
  s.with_db(c, [c, page = *page](store::pg_session& db) {
    reply_page(c, store::list_campaigns(db, c->tenant, {page.first, page.second}));
  });
}

/// Reads the campaign and replies with `render(campaign)`.
void read_one(services& s, const call_ptr& c, std::string (*render)(const schemas::campaign_record&)) {
  auto id = campaign_id(c);
  if (!id) return;
  s.with_db(c, [c, id = *id, render](store::pg_session& db) {
    auto r = store::get_campaign(db, c->tenant, id);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(no_campaign(id));
    c->reply(200, render(**r));
  });
}

void get_one(services& s, const call_ptr& c) {
  read_one(s, c, [](const schemas::campaign_record& r) { return schemas::to_json(r); });
}

void analytics(services& s, const call_ptr& c) { read_one(s, c, schemas::analytics_json); }

void update(services& s, const call_ptr& c) {
  auto id = campaign_id(c);
  if (!id) return;
  auto doc = read_body(c, "requests/campaign_update");
  if (!doc) return;
  auto f = read_fields(s, c, *doc);
  if (!f) return;
  s.with_db(c, [&s, c, id = *id, f = std::move(*f)](store::pg_session& db) {
    auto before = store::get_campaign(db, c->tenant, id, false);
    if (!before) return c->fail(before.err());
    if (!*before) return c->fail(no_campaign(id));
    // A new template or subject must fit every recipient already added.
    std::vector<std::string> required;
    if (f.template_text || f.subject) {
      auto req = required_attributes(f.template_text.value_or((*before)->template_text),
                                     f.subject ? *f.subject : (*before)->subject);
      if (!req) return c->fail(req.err());
      required = std::move(*req);
    }
    auto r = store::update_campaign(db, c->tenant, id, f, required);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(no_campaign(id));
    publish_change(s, c, **r, 200, schemas::to_json((*r)->campaign));
  });
}

void remove(services& s, const call_ptr& c) {
  auto id = campaign_id(c);
  if (!id) return;
  s.with_db(c, [c, id = *id](store::pg_session& db) {
    auto gone = store::delete_campaign(db, c->tenant, id);
    if (!gone) return c->fail(gone.err());
    if (!*gone) return c->fail(no_campaign(id));
    c->no_content();
  });
}

/// One recipient of a request, checked: its address for the channel (e-mail addresses
/// are compared in lower case) and its attributes against the placeholders.
struct checked_recipient {
  store::recipient_input input;
  std::string problem;  ///< Empty when it is acceptable.
};

checked_recipient check_recipient(const rapidjson::Value& item, const std::string& channel,
                                  const std::vector<campaigns::placeholder>& placeholders) {
  checked_recipient out;
  std::string address = json::get_string(item, "address").value_or("");
  while (!address.empty() && std::isspace(static_cast<unsigned char>(address.back()))) address.pop_back();
  while (!address.empty() && std::isspace(static_cast<unsigned char>(address.front()))) address.erase(0, 1);
  if (channel == "smtp") {
    for (auto& ch : address) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!campaigns::valid_email(address)) out.problem = "\"" + address + "\" is not an e-mail address";
  } else if (address.empty()) {
    out.problem = "the address is empty";
  }
  out.input.address = address;
  static const rapidjson::Value no_attributes(rapidjson::kObjectType);
  auto attrs = item.FindMember("attributes");
  const auto& a = attrs != item.MemberEnd() ? attrs->value : no_attributes;
  out.input.attributes_json = json::stringify(a);
  if (out.problem.empty()) {
    auto missing = campaigns::missing_attributes(placeholders, a);
    if (!missing.empty()) {
      out.problem = "no value for the template's placeholder";
      out.problem += missing.size() > 1 ? "s " : " ";
      for (std::size_t i = 0; i < missing.size(); ++i) out.problem += (i ? ", " : "") + missing[i];
    }
  }
  return out;
}

void add_recipients(services& s, const call_ptr& c) {
  auto id = campaign_id(c);
  if (!id) return;
  auto doc = read_body(c, "requests/campaign_recipients");
  if (!doc) return;
  s.with_db(c, [&s, c, id = *id, doc = std::make_shared<rapidjson::Document>(std::move(*doc))](store::pg_session& db) {
    auto found = store::get_campaign(db, c->tenant, id, false);
    if (!found) return c->fail(found.err());
    if (!*found) return c->fail(no_campaign(id));
    const auto& campaign = **found;
    auto required = required_attributes(campaign.template_text, campaign.subject);
    if (!required) return c->fail(required.err());
    std::vector<campaigns::placeholder> placeholders;
    for (auto& name : *required) placeholders.push_back({std::move(name), std::nullopt});
    std::vector<store::recipient_input> inputs;
    json::writer problems;
    problems.begin_array();
    int bad = 0;
    const auto& items = (*doc)["recipients"].GetArray();
    for (rapidjson::SizeType i = 0; i < items.Size(); ++i) {
      auto r = check_recipient(items[i], campaign.channel, placeholders);
      if (!r.problem.empty()) {
        if (++bad <= 20) {
          problems.begin_object();
          problems.kv("index", static_cast<int>(i));
          problems.kv("address", r.input.address);
          problems.kv("error", r.problem);
          problems.end_object();
        }
        continue;
      }
      inputs.push_back(std::move(r.input));
    }
    problems.end_array();
    if (bad > 0) {
      auto e = make_error(errc::validation_failed, std::to_string(bad) + " of " + std::to_string(items.Size()) +
                                                       " recipients cannot be added; none were");
      e.details = "{\"recipients\":" + problems.take() + "}";
      return c->fail(e);
    }
    auto r = store::add_recipients(db, c->tenant, id, inputs, s.cfg.campaigns.max_recipients);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(no_campaign(id));
    json::writer w;
    w.begin_object();
    w.kv("campaign_id", static_cast<long long>(id));
    w.kv("added", (*r)->added);
    w.key("duplicates");
    w.begin_array();
    for (const auto& d : (*r)->duplicates) w.value(d);
    w.end_array();
    w.kv("recipients", (*r)->total);
    w.end_object();
    c->reply((*r)->added > 0 ? 201 : 200, w.take());
  });
}

void list_recipients(services& s, const call_ptr& c) {
  auto id = campaign_id(c);
  if (!id) return;
  auto page = read_page(s, c);
  if (!page) return;
  std::optional<std::string> state;
  if (std::string v; c->req.query_param("state", v)) {
    static const std::set<std::string> states{"pending", "sending", "sent", "failed", "unknown", "cancelled"};
    if (!states.count(v))
      return c->fail(make_error(errc::invalid_parameter,
                                "state must be one of pending, sending, sent, failed, unknown, cancelled"));
    state = v;
  }
  s.with_db(c, [c, id = *id, page = *page, state](store::pg_session& db) {
    auto rows = store::list_recipients(db, c->tenant, id, state, {page.first, page.second});
    if (!rows) return c->fail(rows.err());
    if (!*rows) return c->fail(no_campaign(id));
    reply_page(c, result<store::page<schemas::recipient_record>>(std::move(**rows)));
  });
}

void send(services& s, const call_ptr& c) {
  auto id = campaign_id(c);
  if (!id) return;
  s.with_db(c, [&s, c, id = *id](store::pg_session& db) {
    auto found = store::get_campaign(db, c->tenant, id, false);
    if (!found) return c->fail(found.err());
    if (!*found) return c->fail(no_campaign(id));
    if (!s.cfg.campaigns.configured((*found)->channel))
      return c->fail(make_error(errc::conflict, "the " + (*found)->channel + " channel is not configured on this "
                                                "system; the campaign cannot be sent"));
    auto r = store::send_campaign(db, c->tenant, id, c->request_id);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(no_campaign(id));
    const auto& ch = **r;
    log::info("api", "campaign sent", {c->request_id, ch.start_task->id, c->tenant},
              {{"campaign_id", std::to_string(id)}, {"recipients", std::to_string(ch.campaign.counts.total)}});
    json::writer w;
    w.begin_object();
    w.kv("campaign_id", static_cast<long long>(id));
    w.kv("batch_id", ch.campaign.batch_id);
    w.kv("task_id", ch.start_task->id);
    w.kv("status", ch.campaign.status);
    w.kv("schedule_at", ch.campaign.schedule_at);
    w.kv("recipients", ch.campaign.counts.total);
    w.kv("status_url", campaigns_path + std::to_string(id) + "/analytics");
    w.end_object();
    publish_change(s, c, ch, 202, w.take(), {{"Location", "/api/v1/batches/" + ch.campaign.batch_id.value_or("")}});
  });
}

void cancel(services& s, const call_ptr& c) {
  auto id = campaign_id(c);
  if (!id) return;
  s.with_db(c, [c, id = *id](store::pg_session& db) {
    auto r = store::cancel_campaign(db, c->tenant, id);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(no_campaign(id));
    log::info("api", "campaign cancelled", {c->request_id, {}, c->tenant},
              {{"campaign_id", std::to_string(id)}, {"cancelled", std::to_string((*r)->cancelled)},
               {"in_flight", std::to_string((*r)->in_flight)}});
    // {"cancelled_now": n, "in_flight": m, ...the campaign}
    c->reply(200, "{\"cancelled_now\":" + std::to_string((*r)->cancelled) +
                      ",\"in_flight\":" + std::to_string((*r)->in_flight) + "," +
                      schemas::to_json((*r)->campaign).substr(1));
  });
}

}  // namespace

void add_campaign_routes(router& r) {
  r.add("POST", "/api/v1/campaigns", create);
  r.add("GET", "/api/v1/campaigns", list);
  r.add("GET", "/api/v1/campaigns/:id", get_one);
  r.add("PUT", "/api/v1/campaigns/:id", update);
  r.add("DELETE", "/api/v1/campaigns/:id", remove);
  r.add("POST", "/api/v1/campaigns/:id/recipients", add_recipients);
  r.add("GET", "/api/v1/campaigns/:id/recipients", list_recipients);
  r.add("POST", "/api/v1/campaigns/:id/send", send);
  r.add("POST", "/api/v1/campaigns/:id/cancel", cancel);
  r.add("GET", "/api/v1/campaigns/:id/analytics", analytics);
}

}  // namespace mq::api
