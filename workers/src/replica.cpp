#include "mq/workers/replica.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <deque>
#include <fstream>
#include <random>
#include <thread>

#include "mq/core/http_server.hpp"
#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/metrics.hpp"
#include "mq/core/process.hpp"
#include "mq/core/time.hpp"
#include "mq/store/result_cache.hpp"

namespace mq::workers {
namespace {

using beat_atom = caf::atom_constant<caf::atom("beat")>;
using clock = std::chrono::steady_clock;

struct heartbeat_state {
  replica_identity who;
  actors::dispatcher_actor dispatcher;
  std::unique_ptr<store::result_cache> redis;
  store::cache_keys keys;
  std::chrono::seconds every{5};
  int ttl_seconds = 15;
  bool draining = false;
  bool left = false;
  std::deque<std::pair<clock::time_point, std::uint64_t>> processed;  ///< Samples of the last minute and one before.
  static inline const char* name = "heartbeat";
};

/// Resident memory and CPU time of this process, for the process_* metrics.
void record_process_metrics() {
  auto& m = metrics::global();
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  if (statm >> pages >> resident)
    m.set("process_resident_memory_bytes", static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) == 0) {
    const double cpu = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                       static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    m.set("process_cpu_seconds", cpu);
  }
}

std::string heartbeat_json(heartbeat_state& st, const actors::worker_stats& s) {
  const auto now = clock::now();
  // Keep the newest sample a minute old or older (or the first one): the count since it
  // covers the whole last minute.
  st.processed.emplace_back(now, s.processed);
  while (st.processed.size() > 1 && now - st.processed[1].first >= std::chrono::seconds(60)) st.processed.pop_front();
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - st.who.started);
  auto& m = metrics::global();
  json::writer w;
  w.begin_object();
  w.kv("id", st.who.id);
  w.kv("host", st.who.host);
  w.kv("pid", static_cast<long long>(st.who.pid));
  w.kv("version", version());
  w.kv("state", st.draining ? "draining" : "running");
  w.key("queues");
  w.begin_array();
  for (const auto& q : st.who.queues) w.value(q);
  w.end_array();
  w.kv("in_flight", static_cast<long long>(s.in_flight));
  w.kv("processed", static_cast<long long>(s.processed));
  w.kv("succeeded", static_cast<long long>(s.succeeded));
  w.kv("failed", static_cast<long long>(s.failed));
  w.kv("retried", static_cast<long long>(s.deferred));
  w.kv("dead_letters", static_cast<long long>(s.recorded));
  w.kv("llm_in_flight", static_cast<long long>(m.value("mq_llm_calls_in_flight")));
  w.kv("processed_last_minute", static_cast<long long>(s.processed - st.processed.front().second));
  w.kv("uptime_seconds", static_cast<long long>(uptime.count()));
  w.kv("started_at", format_rfc3339(st.who.started));
  w.kv("beat_at", format_rfc3339(system_now()));
  w.kv("metrics_port", static_cast<long long>(st.who.metrics_port));
  w.end_object();
  return w.take();
}

caf::behavior heartbeat(caf::stateful_actor<heartbeat_state>* self, replica_identity who,
                        actors::dispatcher_actor dispatcher, config::redis_config redis, int every, int ttl) {
  auto& st = self->state;
  st.who = std::move(who);
  st.dispatcher = std::move(dispatcher);
  st.redis = store::make_redis_cache(redis);
  st.keys = store::cache_keys{redis.key_prefix};
  st.every = std::chrono::seconds(every);
  st.ttl_seconds = ttl;
  self->send(self, beat_atom::value);
  auto beat = [self] {
    self->request(self->state.dispatcher, std::chrono::seconds(5), actors::stats_atom::value)
        .then(
            [self](const actors::worker_stats& s) {
              auto& st = self->state;
              if (st.left) return;
              auto status = st.redis->beat(st.keys.workers(), st.who.id, st.keys.worker(st.who.id),
                                           heartbeat_json(st, s), st.ttl_seconds);
              if (!status) log::warn("worker", "heartbeat not written", {}, {{"error", status.err().internal}});
            },
            [](caf::error&) {});
  };
  return {
      [self, beat](beat_atom) {
        beat();
        record_process_metrics();
        metrics::global().set("mq_worker_uptime_seconds",
                              std::chrono::duration<double>(std::chrono::system_clock::now() - self->state.who.started)
                                  .count());
        self->delayed_send(self, self->state.every, beat_atom::value);
      },
      [self, beat](beat_drain_atom) {
        self->state.draining = true;
        beat();
      },
      [self](beat_leave_atom) {
        auto& st = self->state;
        st.left = true;
        st.redis->del({st.keys.worker(st.who.id)});
        st.redis->forget(st.keys.workers(), {st.who.id});
        return true;
      },
  };
}

}  // namespace

replica_identity make_identity(std::vector<std::string> queues) {
  replica_identity who;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  who.host = host;
  who.pid = static_cast<int>(getpid());
  std::random_device rd;
  char tail[9];
  std::snprintf(tail, sizeof tail, "%08x", rd());
  who.id = who.host + "-" + std::to_string(who.pid) + "-" + tail;
  who.queues = std::move(queues);
  return who;
}

void declare_replica_metrics() {
  auto& m = metrics::global();
  m.gauge("mq_worker_info", "Always 1, labelled with the replica's id, host and version.");
  m.gauge("mq_worker_uptime_seconds", "Seconds since the replica started.");
  m.gauge("process_resident_memory_bytes", "Resident memory of the process.");
  m.gauge("process_cpu_seconds", "User and system CPU time of the process.");
}

caf::actor spawn_heartbeat(caf::actor_system& sys, const config::app_config& cfg, replica_identity who,
                           actors::dispatcher_actor dispatcher) {
  metrics::global().set("mq_worker_info", {{"id", who.id}, {"host", who.host}, {"version", version()}}, 1);
  return sys.spawn<caf::detached>(heartbeat, std::move(who), std::move(dispatcher), cfg.redis,
                                  cfg.worker.heartbeat_seconds, cfg.worker.heartbeat_ttl_seconds);
}

struct ops_port::impl {
  boost::asio::io_context io{1};
  std::unique_ptr<http::server> server;
  std::thread thread;
  std::atomic<bool> draining{false};
};

ops_port::ops_port(const config::app_config& cfg, caf::actor_system& sys, actors::dispatcher_actor dispatcher)
    : impl_(std::make_unique<impl>()) {
  if (cfg.worker.metrics_port < 0) return;
  http::server_options opts;
  opts.host = cfg.worker.metrics_host;
  opts.port = static_cast<std::uint16_t>(cfg.worker.metrics_port);
  auto* state = impl_.get();
  // One thread answers; asking the dispatcher blocks it for at most two seconds.
  impl_->server = std::make_unique<http::server>(
      impl_->io, opts, [state, &sys, dispatcher](http::request&& req, http::responder respond) {
        http::response r;
        const auto alive = [&] {
          caf::scoped_actor self{sys};
          bool answered = false;
          self->request(dispatcher, std::chrono::seconds(2), actors::stats_atom::value)
              .receive([&](const actors::worker_stats&) { answered = true; }, [](caf::error&) {});
          return answered;
        };
        if (req.method != "GET") {
          r.status = 405;
          r.body = R"({"status":"method not allowed"})";
        } else if (req.path == "/metrics") {
          record_process_metrics();
          r.body = metrics::global().render();
          r.content_type = metrics::content_type;
        } else if (req.path == "/health") {
          const bool ok = alive();
          r.status = ok ? 200 : 503;
          r.body = ok ? R"({"status":"ok"})" : R"({"status":"stuck"})";
        } else if (req.path == "/ready") {
          const bool ok = alive(), ready = ok && !state->draining;
          r.status = ready ? 200 : 503;
          r.body = ready ? R"({"status":"ready"})" : (ok ? R"({"status":"draining"})" : R"({"status":"stuck"})");
        } else {
          r.status = 404;
          r.body = R"({"status":"not found"})";
        }
        respond(std::move(r));
      });
  try {
    impl_->server->start();
  } catch (const std::exception& e) {
    log::error("worker", "metrics port not opened", {},
               {{"error", e.what()}, {"port", std::to_string(cfg.worker.metrics_port)}});
    impl_->server.reset();
    return;
  }
  impl_->thread = std::thread([state] { state->io.run(); });
}

ops_port::~ops_port() {
  if (!impl_->server) return;
  impl_->server->stop();
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t ops_port::port() const { return impl_->server ? impl_->server->port() : 0; }

void ops_port::draining() { impl_->draining = true; }

}  // namespace mq::workers
