// Liveness, readiness, and the worker replicas' stats and health (from their heartbeats
// in Redis and the queues in RabbitMQ).

#include <algorithm>
#include <atomic>
#include <functional>

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

std::vector<std::string> job_queues(const services& s) { return queues::topology{s.cfg.amqp.prefix}.consumed_queues(); }

/// The heartbeats of the live replicas, ordered by id, to `done` on a cache thread.
/// Replicas whose heartbeat expired are dropped from the set as they are found. Without
/// Redis the list is empty (the queues still tell whether anything consumes).
void with_replicas(services& s, const call_ptr& c, std::function<void(const std::vector<rapidjson::Document>&)> done) {
  auto keys = s.keys;
  s.with_cache(
      c,
      [keys, done](store::result_cache& cache) {
        std::vector<rapidjson::Document> live;
        if (auto beats = store::live_heartbeats(cache, keys))
          for (const auto& b : *beats)
            if (auto doc = json::parse(b); doc && doc->IsObject()) live.push_back(std::move(*doc));
        done(live);
      },
      [c] { c->fail(make_error(errc::unavailable, "server busy; retry later", "cache queue full")); });
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
    s.publisher.inspect(job_queues(s), [&s, c](result<std::vector<queues::queue_stats>> st) {
      if (!st) return c->fail(st.err());
      with_replicas(s, c, [c, queues = std::move(*st)](const std::vector<rapidjson::Document>& replicas) {
        json::writer w;
        w.begin_object();
        w.key("queues");
        w.begin_array();
        long long depth = 0;
        for (const auto& q : queues) {
          w.begin_object();
          w.kv("name", q.name);
          w.kv("messages", q.messages);
          w.kv("consumers", q.consumers);
          w.end_object();
          depth += q.messages;
        }
        w.end_array();
        w.kv("total_messages", depth);
        w.kv("replicas", static_cast<long long>(replicas.size()));
        w.key("workers");
        w.begin_array();
        for (const auto& r : replicas) w.value(r);
        w.end_array();
        // Sums over the live replicas; throughput from each one's last minute.
        const auto total = [&replicas](const char* field) {
          long long sum = 0;
          for (const auto& r : replicas)
            if (r.HasMember(field) && r[field].IsInt64()) sum += r[field].GetInt64();
          return sum;
        };
        w.key("totals");
        w.begin_object();
        for (const char* field : {"in_flight", "processed", "succeeded", "failed", "retried", "dead_letters",
                                  "llm_in_flight", "processed_last_minute"})
          w.kv(field, total(field));
        w.end_object();
        w.kv("jobs_per_second_last_minute", static_cast<double>(total("processed_last_minute")) / 60.0);
        w.end_object();
        c->reply(200, w.take());
      });
    });
  });

  r.add("GET", "/api/v1/workers/health", [](services& s, const call_ptr& c) {
    s.publisher.inspect(job_queues(s), [&s, c](result<std::vector<queues::queue_stats>> st) {
      if (!st) return c->fail(st.err());
      std::uint32_t consumers = 0;
      for (const auto& q : *st)
        if (q.name.size() < 5 || q.name.compare(q.name.size() - 5, 5, ".dead") != 0) consumers += q.consumers;
      with_replicas(s, c, [c, consumers](const std::vector<rapidjson::Document>& replicas) {
        json::writer w;
        w.begin_object();
        long long running = 0;
        w.key("replicas");
        w.begin_array();
        for (const auto& r : replicas) {
          w.begin_object();
          for (const char* field : {"id", "host", "state", "beat_at"})
            if (r.HasMember(field) && r[field].IsString()) w.kv(field, r[field].GetString());
          if (r.HasMember("pid") && r["pid"].IsInt64()) w.kv("pid", r["pid"].GetInt64());
          w.end_object();
          if (r.HasMember("state") && r["state"] == "running") ++running;
        }
        w.end_array();
        w.kv("alive", static_cast<long long>(replicas.size()));
        w.kv("running", running);
        w.kv("consumers", static_cast<long long>(consumers));
        w.end_object();
        auto body = w.take();
        if (consumers == 0 && running == 0) {
          auto e = make_error(errc::unavailable, "no worker is consuming");
          e.details = body;
          return c->fail(e);
        }
        c->reply(200, "{\"status\":\"healthy\"," + body.substr(1));
      });
    });
  });
}

}  // namespace mq::api
