// Analytics: rollups on request, and the KPI endpoints, which read rollups only.

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/time.hpp"
#include "mq/store/rollups.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

/// A YYYY-MM-DD date that exists; nullopt otherwise.
std::optional<sys_time> parse_day(const std::string& text) {
  if (text.size() != 10) return std::nullopt;
  return parse_rfc3339(text);
}

std::string day_of(sys_time t) { return format_rfc3339(t).substr(0, 10); }

void request_rollup(services& s, const call_ptr& c) {
  auto doc = read_body(c, "requests/analytics_rollup");
  if (!doc) return;
  // Without a bound, the range reaches to the end of time on that side.
  const auto given_from = json::get_string(*doc, "from"), given_to = json::get_string(*doc, "to");
  const auto from = given_from.value_or("0001-01-01");
  const auto to = given_to.value_or("9999-12-31");
  for (const auto& [name, value] : {std::pair{"from", given_from}, std::pair{"to", given_to}})
    if (value && !parse_day(*value)) {
      auto e = make_error(errc::validation_failed, std::string(name) + " must be a date (YYYY-MM-DD)");
      e.details = "{\"field\":" + json::quote(std::string("/") + name) + "}";
      return c->fail(e);
    }
  if (from > to) return c->fail(make_error(errc::validation_failed, "from must not be after to"));
  const bool full = json::get_bool(*doc, "full").value_or(false);
  s.with_db(c, [&s, c, from, to, full](store::pg_session& db) {
    auto r = store::enqueue_rollup(db, c->tenant, from, to, full, false);
    if (!r) return c->fail(r.err());
    log::info("api", "rollup queued", {c->request_id, r->task.id, c->tenant}, {{"from", from}, {"to", to}});
    json::writer w;
    w.begin_object();
    w.kv("task_id", r->task.id);
    w.kv("rollup_id", static_cast<long long>(r->request_id));
    w.kv("from", from);
    w.kv("to", to);
    w.kv("full", full);
    w.kv("status", "queued");
    w.end_object();
    auto body = w.take();
    const auto location = "/api/v1/tasks/" + r->task.id;
    publish_then_accept(s, c, {r->task}, r->outbox_id, [c, body, location] {
      c->reply(202, body, {{"Location", location}});
    });
  });
}

/// The range and grouping of a KPI request: from and to (YYYY-MM-DD, default the year up
/// to today), group_by (day, week, month) and limit (1 to 1000).
std::optional<store::kpi_query> read_query(const call_ptr& c) {
  store::kpi_query q;
  const auto today = system_now();
  std::string from, to, group, limit;
  c->req.query_param("from", from);
  c->req.query_param("to", to);
  if (to.empty()) to = day_of(today);
  auto t = parse_day(to);
  if (!t) return c->fail(bad_parameter("to", "to must be a date (YYYY-MM-DD)")), std::nullopt;
  if (from.empty()) from = day_of(*t - std::chrono::hours(24 * 364));
  auto f = parse_day(from);
  if (!f) return c->fail(bad_parameter("from", "from must be a date (YYYY-MM-DD)")), std::nullopt;
  if (*f > *t) return c->fail(bad_parameter("from", "from must not be after to")), std::nullopt;
  if (*t - *f > std::chrono::hours(24 * 3660))
    return c->fail(bad_parameter("from", "a KPI range spans at most ten years")), std::nullopt;
  q.from = from;
  q.to = to;
  if (c->req.query_param("group_by", group)) {
    if (group != "day" && group != "week" && group != "month")
      return c->fail(bad_parameter("group_by", "group_by must be day, week or month")), std::nullopt;
    q.group_by = group;
  }
  if (c->req.query_param("limit", limit)) {
    if (limit.empty() || limit.size() > 4 || limit.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(limit) < 1 || std::stoi(limit) > 1000)
      return c->fail(bad_parameter("limit", "limit must be an integer from 1 to 1000")), std::nullopt;
    q.limit = std::stoi(limit);
  }
  return q;
}

using kpi_fn = result<std::string> (*)(store::pg_session&, const std::string&, const store::kpi_query&);

/// A KPI route: the query read and checked, then `fn` over the rollups.
handler_fn kpi(kpi_fn fn) {
  return [fn](services& s, const call_ptr& c) {
    auto q = read_query(c);
    if (!q) return;
    s.with_db(c, [c, fn, q = *q](store::pg_session& db) {
      auto r = fn(db, c->tenant, q);
      if (!r) return c->fail(r.err());
      c->reply(200, std::move(*r));
    });
  };
}

}  // namespace

void add_analytics_routes(router& r) {
  r.add("POST", "/api/v1/analytics/rollups", request_rollup);
  r.add("GET", "/api/v1/kpis", kpi(store::kpis_summary));
  r.add("GET", "/api/v1/kpis/overview", kpi(store::kpis_overview));
  r.add("GET", "/api/v1/kpis/sellers/performance", kpi(store::kpis_sellers));
  r.add("GET", "/api/v1/kpis/meetings/trends", kpi(store::kpis_trends));
  r.add("GET", "/api/v1/kpis/clients/engagement", kpi(store::kpis_engagement));
  r.add("GET", "/api/v1/kpis/clients/analysis", kpi(store::kpis_clients));
}

}  // namespace mq::api
