#include "router.hpp"

#include "mq/core/ids.hpp"
#include "mq/core/log.hpp"
#include "openapi.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();  // trailing slash
  return out;
}

bool match(const route& r, const std::vector<std::string>& parts, std::map<std::string, std::string>& params) {
  if (r.segments.size() != parts.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& seg = r.segments[i];
    if (!seg.empty() && seg[0] == ':')
      params[seg.substr(1)] = http::url_decode(parts[i]);
    else if (seg != parts[i])
      return false;
  }
  return true;
}

bool valid_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char ch : id)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' || ch == ':'))
      return false;
  return true;
}

}  // namespace

void router::add(std::string method, std::string pattern, handler_fn h, bool authenticated) {
  route r{std::move(method), std::move(pattern), authenticated, std::move(h), {}};
  r.segments = split(r.pattern);
  routes_.push_back(std::move(r));
}

void router::dispatch(services& s, http::request&& req, http::responder respond) const {
  auto c = std::make_shared<call>();
  c->req = std::move(req);
  c->responder = std::move(respond);
  c->json_limit = static_cast<std::size_t>(s.cfg.http.body_limit_bytes);
  c->documents_limit = static_cast<std::size_t>(s.cfg.documents.max_bytes);
  auto given = c->req.header("x-request-id");
  c->request_id = valid_request_id(given) ? given : new_uuid();
  const auto parts = split(c->req.path);
  std::string allow;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> params;
    if (!match(r, parts, params)) continue;
    if (r.method != c->req.method) {
      allow += (allow.empty() ? "" : ", ") + r.method;
      continue;
    }
    c->params = std::move(params);
    c->route = r.pattern;
    try {
      if (!r.authenticated) return r.handle(s, c);
      const auto& handle = r.handle;
      return authenticate(s, c, [&s, c, &handle] {
        try {
          handle(s, c);
        } catch (const std::exception& e) {
          c->fail(make_error(errc::internal, "internal error", e.what()));
        }
      });
    } catch (const std::exception& e) {
      return c->fail(make_error(errc::internal, "internal error", e.what()));
    }
  }
  if (!allow.empty()) {
    auto e = make_error(errc::invalid_parameter, "method " + c->req.method + " is not allowed here");
    c->reply(405, error_body(e, c->request_id), {{"Allow", allow}});
    return;
  }
  c->fail(make_error(errc::not_found, "no route for " + c->req.method + " " + c->req.path));
}

void add_all_routes(router& r) {
  add_ops_routes(r);
  add_meeting_routes(r);
  add_task_routes(r);
  add_dead_letter_routes(r);
  add_document_routes(r);
  add_campaign_routes(r);
  add_analytics_routes(r);
  add_classification_routes(r);
  add_usage_routes(r);
  add_metrics_routes(r);
  add_dashboard_routes(r);
  add_openapi_route(r);  // last: it describes every route before it
}

}  // namespace mq::api
