// Meetings: create one or many, list, get.

#include "mq/core/json.hpp"
#include "mq/store/repositories.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

/// Converts a schema-valid meeting object; an impossible date (2024-02-30) is a 422.
std::optional<store::meeting_input> to_input(const call_ptr& c, const rapidjson::Value& v,
                                             const std::string& where) {
  store::meeting_input m;
  m.transcript = *json::get_string(v, "transcript");
  m.client_name = json::get_string(v, "client_name");
  m.client_email = json::get_string(v, "client_email");
  m.seller_name = json::get_string(v, "seller_name");
  m.closed = json::get_bool(v, "closed").value_or(false);
  if (auto date = json::get_string(v, "meeting_date")) {
    auto t = parse_rfc3339(*date);
    if (!t) {
      auto e = make_error(errc::validation_failed, where + "/meeting_date is not a valid date");
      e.details = "{\"field\":" + json::quote(where + "/meeting_date") + ",\"rule\":\"format\"}";
      c->fail(e);
      return std::nullopt;
    }
    m.meeting_date = format_rfc3339(*t).substr(0, 10);
  }
  return m;
}

void create_meetings(services& s, const call_ptr& c) {
  auto doc = parse_body(c);
  if (!doc) return;
  const bool many = doc->IsObject() && doc->HasMember("meetings");
  std::vector<store::meeting_input> inputs;
  if (many) {
    if (!check_schema(c, "requests/meetings", *doc)) return;
    const auto& items = (*doc)["meetings"];
    if (items.Size() > static_cast<rapidjson::SizeType>(s.cfg.api.max_batch_items))
      return c->fail(make_error(errc::payload_too_large,
                                "at most " + std::to_string(s.cfg.api.max_batch_items) +
                                    " meetings per request"));
    for (rapidjson::SizeType i = 0; i < items.Size(); ++i) {
      const std::string where = "/meetings/" + std::to_string(i);
      if (!check_schema(c, "requests/meeting", items[i], where)) return;
      auto m = to_input(c, items[i], where);
      if (!m) return;
      inputs.push_back(std::move(*m));
    }
  } else {
    if (!check_schema(c, "requests/meeting", *doc)) return;
    auto m = to_input(c, *doc, "");
    if (!m) return;
    inputs.push_back(std::move(*m));
  }
  s.with_db(c, [c, many, inputs = std::move(inputs)](store::pg_session& db) {
    auto stored = store::insert_meetings(db, c->tenant, inputs);
    if (!stored) return c->fail(stored.err());
    if (!many)
      return c->reply(201, schemas::to_json(stored->front()),
                      {{"Location", "/api/v1/meetings/" + std::to_string(stored->front().id)}});
    json::writer w;
    w.begin_object();
    w.key("meetings");
    w.begin_array();
    for (const auto& m : *stored) w.raw(schemas::to_json(m));
    w.end_array();
    w.end_object();
    c->reply(201, w.take());
  });
}

void list_meetings(services& s, const call_ptr& c) {
  auto page = read_page(s, c);
  if (!page) return;
  std::optional<bool> classified;
  if (!read_flag(c, "classified", classified)) return;
  s.with_db(c, [c, page = *page, classified](store::pg_session& db) {
    reply_page(c, store::list_meetings(db, c->tenant, classified, {page.first, page.second}));
  });
}

void get_meeting(services& s, const call_ptr& c) {
  auto id = parse_id(c->params["id"]);
  if (!id) return c->fail(make_error(errc::not_found, "meeting not found"));
  s.with_db(c, [c, id = *id](store::pg_session& db) {
    auto m = store::get_meeting(db, c->tenant, id);
    if (!m) return c->fail(m.err());
    if (!*m) return c->fail(make_error(errc::not_found, "meeting " + std::to_string(id) + " not found"));
    c->reply(200, schemas::to_json(**m));
  });
}

}  // namespace

void add_meeting_routes(router& r) {
  r.add("POST", "/api/v1/meetings", create_meetings);
  r.add("GET", "/api/v1/meetings", list_meetings);
  r.add("GET", "/api/v1/meetings/:id", get_meeting);
}

}  // namespace mq::api
