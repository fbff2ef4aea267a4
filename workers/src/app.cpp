#include "mq/workers/app.hpp"

#include <signal.h>

#include <caf/all.hpp>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "mq/actors/consumer.hpp"
#include "mq/actors/llm.hpp"
#include "mq/actors/writers.hpp"
#include "mq/core/log.hpp"
#include "mq/schemas/validator.hpp"
#include "mq/core/process.hpp"
#include "mq/store/rate_limiter.hpp"
#include "mq/workers/rollup_schedule.hpp"
#include "mq/queues/topology.hpp"
#include "mq/store/pg_session.hpp"
#include "mq/workers/dispatcher.hpp"
#include "mq/workers/replica.hpp"

namespace mq::workers {
namespace {

/// Blocks SIGTERM and SIGINT in this thread and every thread it starts afterwards, so
/// the signal is taken only by sigwait() in main.
sigset_t block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

bool migrate(const config::app_config& cfg) {
  store::pg_session s(cfg.postgres.conninfo());
  for (int attempt = 1;; ++attempt) {
    auto st = s.migrate(cfg.postgres.schema);
    if (st) return true;
    if (st.err().code != errc::unavailable || attempt >= 30) {
      log::error("worker", "migration failed", {}, {{"error", st.err().internal}});
      return false;
    }
    log::warn("worker", "database unavailable; retrying migration", {});
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

/// After the drain, stopping the actors takes moments; one stuck in a blocking call to a
/// dependency that stopped answering must not keep the process alive, and a second
/// signal means now.
void exit_if_stuck(sigset_t signals, std::chrono::seconds limit) {
  std::thread([signals, limit] {
    timespec ts{static_cast<time_t>(limit.count()), 0};
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    log::warn("worker", sig > 0 ? "second signal while stopping; exiting now" : "stopping took too long; exiting now",
              {});
    std::_Exit(0);
  }).detach();
}

}  // namespace

int run(const config::app_config& cfg) {
  auto signals = block_signals();
  if (!lower_cpu_priority(cfg.worker.nice))
    log::warn("worker", "could not lower the CPU priority", {},
              {{"nice", std::to_string(cfg.worker.nice)}, {"error", std::strerror(errno)}});
  raise_fd_limit();  // thousands of LLM connections in flight
  if (cfg.postgres.migrate_on_start && !migrate(cfg)) return 1;
  schemas::compile_schemas();

  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", static_cast<std::size_t>(cfg.worker.threads));
  sys_cfg.set("scheduler.policy", caf::atom_from_string(cfg.worker.scheduler));
  caf::actor_system sys{sys_cfg};
  declare_job_metrics();
  actors::declare_llm_metrics();
  declare_replica_metrics();

  auto ctx = std::make_shared<job_context>();
  const auto conninfo = cfg.postgres.conninfo();
  for (int i = 0; i < cfg.worker.pg_connections; ++i)
    ctx->pg.push_back(sys.spawn<caf::detached>(actors::pg_writer, [conninfo] {
      return store::make_pg_job_store(conninfo);
    }));
  auto redis_cfg = cfg.redis;
  ctx->cache = sys.spawn<caf::detached>(actors::cache_writer, [redis_cfg] {
    return store::make_redis_cache(redis_cfg);
  });
  std::shared_ptr<llm::llm_client> client = llm::make_client(cfg.llm);
  ctx->provider = client->provider();
  ctx->model = client->model();
  ctx->llm = sys.spawn(actors::llm_caller, client, static_cast<std::size_t>(cfg.llm.max_in_flight));
  // Remote providers answer 429s that every replica must respect; the offline one never does.
  if (ctx->provider != "offline" || cfg.llm.rate_limited()) {
    auto scope = ctx->provider + ":" + ctx->model;
    if (!cfg.llm.rate_limited()) ctx->hold = std::make_shared<std::atomic<std::int64_t>>(0);
    ctx->limiter = sys.spawn<caf::detached>(actors::limiter, [redis_cfg, llm_cfg = cfg.llm, scope] {
      return store::make_redis_rate_limiter(redis_cfg, llm_cfg, scope);
    }, ctx->hold);
  }
  ctx->publisher = std::make_shared<queues::publisher>(cfg.amqp, queues::topology{cfg.amqp.prefix});
  ctx->topology = queues::topology{cfg.amqp.prefix};
  ctx->prefetch = cfg.worker.prefetch;
  ctx->group_size = cfg.amqp.group_size;
  ctx->delivery_limit = cfg.amqp.delivery_limit;
  ctx->keys = store::cache_keys{cfg.redis.key_prefix};
  ctx->llm_cfg = cfg.llm;
  ctx->documents_cfg = cfg.documents;
  ctx->documents = sys.spawn<caf::detached>(actors::documents_writer, conninfo);
  ctx->prices = cfg.prices;
  ctx->campaigns_cfg = cfg.campaigns;
  ctx->campaigns = sys.spawn<caf::detached>(actors::campaigns_writer, conninfo);
  ctx->send_limits = sys.spawn<caf::detached>(actors::send_limiter, [redis_cfg] {
    return store::make_redis_send_limiter(redis_cfg);
  });
  if (cfg.campaigns.configured("webhook")) ctx->webhook = campaigns::make_webhook_channel(cfg.campaigns);
  if (cfg.campaigns.configured("smtp")) ctx->smtp = campaigns::make_smtp_channel(cfg.campaigns);
  ctx->analytics = sys.spawn<caf::detached>(actors::analytics_writer, conninfo);
  ctx->marks = std::make_shared<running_marks>();
  auto marker = sys.spawn(running_marker, std::shared_ptr<const job_context>(ctx),
                          std::chrono::milliseconds(cfg.worker.running_after_ms));
  auto disp = sys.spawn(dispatcher, std::shared_ptr<const job_context>(ctx));
  // The dead-letter queue too: its messages are recorded into Postgres, where the API lists them.
  const auto queue_names = queues::topology{cfg.amqp.prefix}.consumed_queues();
  auto cons = sys.spawn<caf::detached>(actors::consumer, cfg.amqp, queue_names, cfg.worker.prefetch, disp);
  ops_port ops(cfg, sys, disp);
  auto who = make_identity(queue_names);
  who.metrics_port = ops.port();
  const auto replica_id = who.id;
  auto beats = spawn_heartbeat(sys, cfg, std::move(who), disp);
  std::optional<caf::actor> schedule;
  if (cfg.analytics.rollup_every_seconds > 0)
    schedule = sys.spawn(rollup_schedule, std::shared_ptr<const job_context>(ctx), cfg.analytics.rollup_every_seconds);
  log::info("worker", "started", {},
            {{"id", replica_id}, {"provider", ctx->provider}, {"model", ctx->model},
             {"prefetch", std::to_string(cfg.worker.prefetch)}, {"metrics_port", std::to_string(ops.port())}});
  if (cfg.worker.prefetch < cfg.amqp.group_size)
    log::warn("worker", "worker.prefetch is below amqp.group_size: every full bulk message is split on delivery "
                        "and published again task by task", {},
              {{"prefetch", std::to_string(cfg.worker.prefetch)}, {"group_size", std::to_string(cfg.amqp.group_size)}});

  int sig = 0;
  sigwait(&signals, &sig);
  log::info("worker", "draining", {}, {{"signal", std::to_string(sig)}});

  caf::scoped_actor self{sys};
  ops.draining();
  self->send(beats, beat_drain_atom::value);
  self->request(cons, std::chrono::seconds(5), actors::drain_atom::value)
      .receive([](bool) {}, [](caf::error&) {});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.worker.drain_seconds);
  for (;;) {
    std::uint64_t in_flight = 0;
    self->request(disp, std::chrono::seconds(5), actors::stats_atom::value)
        .receive([&](const actors::worker_stats& st) { in_flight = st.in_flight; },
                 [](caf::error&) {});
    if (in_flight == 0 || std::chrono::steady_clock::now() >= deadline) {
      if (in_flight > 0)
        log::warn("worker", "drain deadline reached; returning jobs to the queue", {},
                  {{"in_flight", std::to_string(in_flight)}});
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  exit_if_stuck(signals, std::chrono::seconds(10));
  // Gone from the replica list at once, not after the heartbeat's time to live.
  self->request(beats, std::chrono::seconds(3), beat_leave_atom::value).receive([](bool) {}, [](caf::error&) {});
  self->send_exit(beats, caf::exit_reason::user_shutdown);
  // Closing the consumer's connection returns unsettled deliveries to their queues.
  self->send_exit(cons, caf::exit_reason::user_shutdown);
  self->send_exit(disp, caf::exit_reason::user_shutdown);
  self->send_exit(marker, caf::exit_reason::user_shutdown);
  self->send_exit(ctx->llm, caf::exit_reason::user_shutdown);
  self->send_exit(ctx->cache, caf::exit_reason::user_shutdown);
  self->send_exit(ctx->documents, caf::exit_reason::user_shutdown);
  self->send_exit(ctx->campaigns, caf::exit_reason::user_shutdown);
  self->send_exit(ctx->send_limits, caf::exit_reason::user_shutdown);
  self->send_exit(ctx->analytics, caf::exit_reason::user_shutdown);
  if (schedule) self->send_exit(*schedule, caf::exit_reason::user_shutdown);
  if (ctx->limiter) self->send_exit(*ctx->limiter, caf::exit_reason::user_shutdown);
  for (auto& pg : ctx->pg) self->send_exit(pg, caf::exit_reason::user_shutdown);
  ctx.reset();
  log::info("worker", "stopped", {});
  return 0;
}

}  // namespace mq::workers
