// LLM usage and estimated cost of the caller's tenant over a time range.

#include <map>
#include <tuple>

#include "mq/core/json.hpp"
#include "mq/store/repositories.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

struct sums {
  long long calls = 0, tokens_in = 0, tokens_out = 0;
  double cost = 0;
  void add(const store::usage_row& r) {
    calls += r.calls;
    tokens_in += r.tokens_in;
    tokens_out += r.tokens_out;
    cost += r.cost_usd;
  }
  void write(json::writer& w) const {
    w.kv("llm_calls", calls);
    w.kv("tokens_in", tokens_in);
    w.kv("tokens_out", tokens_out);
    w.kv("cost_usd", cost);
  }
};

/// A date (the whole day) or an instant; `end` makes a date mean the end of that day.
std::optional<sys_time> read_time(const call_ptr& c, const char* name, bool end) {
  std::string v;
  if (!c->req.query_param(name, v)) return std::nullopt;
  auto t = parse_rfc3339(v);
  if (!t) return sys_time::min();
  if (end && v.size() == 10) *t += std::chrono::hours(24);
  return t;
}

void usage(services& s, const call_ptr& c) {
  auto to = read_time(c, "to", true).value_or(system_now());
  auto from = read_time(c, "from", false).value_or(to - std::chrono::hours(24 * 30));
  if (to == sys_time::min() || from == sys_time::min())
    return c->fail(make_error(errc::invalid_parameter, "from and to must be dates (YYYY-MM-DD) or RFC 3339 times"));
  if (from >= to) return c->fail(make_error(errc::invalid_parameter, "from must be before to"));
  if (to - from > std::chrono::hours(24 * 400))
    return c->fail(make_error(errc::invalid_parameter, "the range may span at most 400 days"));
  const auto from_text = format_rfc3339(from), to_text = format_rfc3339(to);
  s.with_db(c, [c, from_text, to_text](store::pg_session& db) {
    auto rows = store::usage_between(db, c->tenant, from_text, to_text);
    if (!rows) return c->fail(rows.err());
    sums total;
    std::map<std::string, sums> by_day, by_kind;
    std::map<std::pair<std::string, std::string>, sums> by_model;
    for (const auto& r : *rows) {
      total.add(r);
      by_day[r.day].add(r);
      by_kind[r.kind].add(r);
      by_model[{r.provider, r.model}].add(r);
    }
    json::writer w;
    w.begin_object();
    w.kv("from", from_text);
    w.kv("to", to_text);
    w.key("totals");
    w.begin_object();
    total.write(w);
    w.end_object();
    auto list = [&w](const char* name, const auto& groups, auto label) {
      w.key(name);
      w.begin_array();
      for (const auto& [k, v] : groups) {
        w.begin_object();
        label(k);
        v.write(w);
        w.end_object();
      }
      w.end_array();
    };
    list("by_day", by_day, [&w](const std::string& d) { w.kv("day", d); });
    list("by_kind", by_kind, [&w](const std::string& k) { w.kv("kind", k); });
    list("by_model", by_model, [&w](const std::pair<std::string, std::string>& m) {
      w.kv("provider", m.first);
      w.kv("model", m.second);
    });
    w.end_object();
    c->reply(200, w.take());
  });
}

}  // namespace

void add_usage_routes(router& r) { r.add("GET", "/api/v1/usage", usage); }

}  // namespace mq::api
