// Liveness, readiness, and the seed's worker stats and health.

#include <atomic>

#include "mq/core/json.hpp"
#include "mq/queues/topology.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

/// Readiness: Postgres, Redis and RabbitMQ checked in parallel; answered when all three
/// have reported.
struct readiness {
  call_ptr c;
  std::mutex mu;
  std::map<std::string, std::string> checks;  // name -> "ok" or the failure
  void report(const std::string& name, const status& st) {
    std::lock_guard<std::mutex> lock(mu);
    checks[name] = st ? "ok" : "down: " + st.err().message;
    if (checks.size() < 3) return;
    json::writer details;
    details.begin_object();
    details.key("checks");
    details.begin_object();
    std::string down;
    for (const auto& [k, v] : checks) {
      details.kv(k, v);
      if (v != "ok") down += (down.empty() ? "" : ", ") + k;
    }
    details.end_object();
    details.end_object();
    if (down.empty()) {
      c->reply(200, "{\"status\":\"ready\"," + details.take().substr(1));
    } else {
      auto e = make_error(errc::unavailable, "not ready: " + down + " unavailable");
      e.details = details.take();
      c->fail(e);
    }
  }
};

std::vector<std::string> job_queues(const services& s) {
  queues::topology topo{s.cfg.amqp.prefix};
  std::vector<std::string> names;
  for (const auto& k : queues::topology::kinds()) names.push_back(topo.queue(k));
  names.push_back(topo.dead_queue());
  return names;
}

}  // namespace

void add_ops_routes(router& r) {
  r.add("GET", "/health", [](services&, const call_ptr& c) {
    c->reply(200, "{\"status\":\"ok\",\"service\":\"mq-api\"}");
  }, false);

  r.add("GET", "/ready", [](services& s, const call_ptr& c) {
    auto state = std::make_shared<readiness>();
    state->c = c;
    if (!s.db.submit([state](store::pg_session& db) { state->report("postgres", db.ping()); }))
      state->report("postgres", make_error(errc::unavailable, "busy"));
    if (!s.cache.submit([state](store::result_cache& cache) { state->report("redis", cache.ping()); }))
      state->report("redis", make_error(errc::unavailable, "busy"));
    s.publisher.inspect({}, [state](result<std::vector<queues::queue_stats>> st) {
      state->report("rabbitmq", st ? ok_status() : status(st.err()));
    });
  }, false);

  r.add("GET", "/api/v1/workers/stats", [](services& s, const call_ptr& c) {
    s.publisher.inspect(job_queues(s), [c](result<std::vector<queues::queue_stats>> st) {
      if (!st) return c->fail(st.err());
      json::writer w;
      w.begin_object();
      w.key("queues");
      w.begin_array();
      long long depth = 0;
      for (const auto& q : *st) {
        w.begin_object();
        w.kv("name", q.name);
        w.kv("messages", q.messages);
        w.kv("consumers", q.consumers);
        w.end_object();
        depth += q.messages;
      }
      w.end_array();
      w.kv("total_messages", depth);
      w.end_object();
      c->reply(200, w.take());
    });
  });

  r.add("GET", "/api/v1/workers/health", [](services& s, const call_ptr& c) {
    s.publisher.inspect(job_queues(s), [c](result<std::vector<queues::queue_stats>> st) {
      if (!st) return c->fail(st.err());
      std::uint32_t consumers = 0;
      for (const auto& q : *st)
        if (q.name.size() < 5 || q.name.compare(q.name.size() - 5, 5, ".dead") != 0) consumers += q.consumers;
      if (consumers == 0) {
        auto e = make_error(errc::unavailable, "no worker is consuming");
        e.details = "{\"consumers\":0}";
        return c->fail(e);
      }
      c->reply(200, "{\"status\":\"healthy\",\"consumers\":" + std::to_string(consumers) + "}");
    });
  });
}

}  // namespace mq::api
