// The operations dashboard: static HTML, script and style compiled into mq-api (no build
// step), and the one endpoint it needs besides stats and dead letters: the caller's
// recent tasks and batches.

#include <map>
#include <string>

#include "mq/store/overview.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api::dashboard {
const std::map<std::string, std::string>& embedded_files();
}  // namespace mq::api::dashboard

namespace mq::api {
namespace {

/// Sends an embedded file of the dashboard, or 404.
void serve(const call_ptr& c, const std::string& name) {
  static const std::map<std::string, std::string> types{{".html", "text/html; charset=utf-8"},
                                                        {".js", "text/javascript; charset=utf-8"},
                                                        {".css", "text/css; charset=utf-8"}};
  const auto& files = dashboard::embedded_files();
  auto it = files.find("dashboard/" + name);
  const auto dot = name.rfind('.');
  if (it == files.end() || dot == std::string::npos || !types.count(name.substr(dot)))
    return c->fail(make_error(errc::not_found, "no dashboard file " + name));
  c->reply_as(200, it->second, types.at(name.substr(dot)));
}

void recent(services& s, const call_ptr& c) {
  std::string text;
  int limit = 20;
  if (c->req.query_param("limit", text)) {
    auto n = parse_id(text);
    if (!n || *n > 100) return c->fail(bad_parameter("limit", "limit must be an integer from 1 to 100"));
    limit = static_cast<int>(*n);
  }
  s.with_db(c, [c, limit](store::pg_session& db) {
    auto r = store::recent_work(db, c->tenant, limit);
    if (!r) return c->fail(r.err());
    c->reply(200, *r);
  });
}

}  // namespace

void add_dashboard_routes(router& r) {
  r.add("GET", "/dashboard", [](services&, const call_ptr& c) { serve(c, "index.html"); }, false);
  r.add("GET", "/dashboard/:file", [](services&, const call_ptr& c) { serve(c, c->params["file"]); }, false);
  r.add("GET", "/api/v1/overview", recent);
}

}  // namespace mq::api
