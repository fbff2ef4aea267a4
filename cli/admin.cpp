#include "admin.hpp"

#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <thread>

#include "mq/core/json.hpp"
#include "mq/queues/amqp.hpp"
#include "mq/store/repositories.hpp"
#include "mq/store/result_cache.hpp"

namespace mq::cli {
namespace {

using clock = std::chrono::steady_clock;

/// A subcommand's verb and tenant (`<verb> --tenant NAME ...`), both taken from `args`.
struct scoped {
  std::string verb;
  std::string tenant;  ///< The tenant's id.
};

/// The verb and tenant, or nullopt with `code` set when they are missing (usage) or the
/// tenant does not exist (reported).
std::optional<scoped> verb_and_tenant(store::pg_session& db, std::vector<std::string>& args, const std::string& usage,
                                      int& code) {
  const auto name = take_flag(args, "--tenant");
  if (name.empty() || args.empty()) return code = usage_error(usage), std::nullopt;
  const auto verb = args.front();
  args.erase(args.begin());
  auto id = store::tenant_id_by_name(db, name);
  if (!id) return code = report(id.err()), std::nullopt;
  if (!*id) return code = report(make_error(errc::not_found, "no tenant named " + name)), std::nullopt;
  return scoped{verb, **id};
}

/// Draws `done` of `total` as a bar on stderr: redrawn in place on a terminal, one line
/// per call otherwise (callers draw when something changed).
void draw_progress(long long done, long long total, const std::string& detail, clock::time_point started) {
  const int width = 30;
  const int filled = total > 0 ? static_cast<int>(width * std::min(done, total) / total) : width;
  const double secs = std::chrono::duration<double>(clock::now() - started).count();
  char line[256];
  std::snprintf(line, sizeof line, "[%s%s] %lld/%lld %s %.1f s", std::string(filled, '#').c_str(),
                std::string(width - filled, '.').c_str(), done, total, detail.c_str(), secs);
  if (isatty(STDERR_FILENO))
    std::cerr << "\r" << line << "\033[K" << std::flush;
  else
    std::cerr << line << "\n";
}

/// Polls `state` (done, total, detail) until done reaches total, drawing progress.
template <class State>
int wait_with_progress(State state) {
  const auto started = clock::now();
  long long shown = -1;
  for (;;) {
    long long done = 0, total = 0;
    std::string detail;
    if (auto st = state(done, total, detail); !st) return report(st.err());
    if (done != shown) draw_progress(done, total, detail, started), shown = done;
    if (done >= total) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (isatty(STDERR_FILENO)) std::cerr << "\n";
  return 0;
}

/// Publishes the tasks with confirms, marks their outbox group and shows them queued in
/// the cache (as the API does after accepting work).
status publish(const config::app_config& cfg, store::pg_session& db, const std::vector<schemas::task_record>& tasks,
               const std::string& outbox_id) {
  std::vector<queues::outgoing> msgs;
  std::vector<store::result_cache::entry> states;
  const store::cache_keys keys{cfg.redis.key_prefix};
  for (const auto& t : tasks) {
    msgs.push_back(queues::job_message(t));
    states.push_back({keys.task(t.tenant_id, t.id), schemas::to_json(t), store::result_cache::write_mode::first});
  }
  std::promise<status> confirmed;
  {
    queues::publisher publisher(cfg.amqp, queues::topology{cfg.amqp.prefix});
    publisher.publish(std::move(msgs), [&confirmed](status st) { confirmed.set_value(st); });
    auto st = confirmed.get_future().get();
    publisher.stop();
    if (!st) return st;  // the outbox keeps them; the API's relay publishes them later
  }
  if (!outbox_id.empty()) (void)store::mark_published(db, {outbox_id});
  (void)store::make_redis_cache(cfg.redis)->put(states);
  return ok_status();
}

int queue_stats(const config::app_config& cfg) {
  const queues::topology topo{cfg.amqp.prefix};
  queues::connection amqp(cfg.amqp, topo);
  if (auto st = amqp.open(); !st) return report(st.err());
  std::printf("%-40s %10s %10s\n", "queue", "messages", "consumers");
  for (const auto& n : topo.consumed_queues()) {
    auto s = amqp.stats(n);
    if (!s) return report(s.err());
    std::printf("%-40s %10llu %10u\n", n.c_str(), static_cast<unsigned long long>(s->messages), s->consumers);
  }
  // Replicas from their heartbeats (none listed without Redis).
  auto beats = store::live_heartbeats(*store::make_redis_cache(cfg.redis), store::cache_keys{cfg.redis.key_prefix});
  std::printf("\n%-40s %-9s %9s %10s %8s\n", "replica", "state", "in flight", "processed", "failed");
  int alive = 0;
  if (beats)
    for (const auto& b : *beats) {
      auto doc = json::parse(b);
      if (!doc || !doc->IsObject()) continue;
      ++alive;
      std::printf("%-40s %-9s %9lld %10lld %8lld\n", (*doc)["id"].GetString(), (*doc)["state"].GetString(),
                  static_cast<long long>((*doc)["in_flight"].GetInt64()), static_cast<long long>((*doc)["processed"].GetInt64()),
                  static_cast<long long>((*doc)["failed"].GetInt64()));
    }
  std::printf("%d replica%s alive\n", alive, alive == 1 ? "" : "s");
  return 0;
}

int dead_letters(const config::app_config& cfg, store::pg_session& db, std::vector<std::string> args) {
  const std::string usage = "dead-letters list --tenant NAME [--all] | dead-letters replay --tenant NAME "
                            "(ID... | --all [--limit N]) [--wait]";
  int code = 0;
  const auto cmd = verb_and_tenant(db, args, usage, code);
  if (!cmd) return code;
  const auto& tenant = cmd->tenant;
  if (cmd->verb == "list") {
    const bool all = take_switch(args, "--all");
    if (!args.empty()) return usage_error(usage);
    auto page = store::list_dead_letters(db, tenant, all ? std::nullopt : std::optional<bool>(false), {1, 100});
    if (!page) return report(page.err());
    std::printf("%-36s %-36s %-15s %-18s %-10s %s\n", "dead letter", "task", "reason", "error", "task now", "at");
    for (const auto& d : page->items)
      std::printf("%-36s %-36s %-15s %-18s %-10s %s\n", d.id.c_str(), d.task_id.value_or("-").c_str(), d.reason.c_str(),
                  d.error_code.c_str(), d.task_status.value_or("-").c_str(), d.created_at.c_str());
    std::printf("%lld %s\n", static_cast<long long>(page->total), all ? "in all" : "waiting for a replay");
    return 0;
  }
  if (cmd->verb != "replay") return usage_error(usage);
  const bool wait = take_switch(args, "--wait");
  const bool all = take_switch(args, "--all");
  int limit = 1000;
  if (auto l = take_flag(args, "--limit"); !l.empty()) {
    try {
      limit = std::stoi(l);
    } catch (const std::exception&) {
      return usage_error(usage);
    }
  }
  if (all == !args.empty() || limit < 1) return usage_error(usage);
  auto r = store::replay_dead_letters(db, tenant, args, limit);
  if (!r) return report(r.err());
  for (const auto& [id, why] : r->skipped) std::cout << "skipped " << id << ": " << why << "\n";
  if (auto st = publish(cfg, db, r->requeued, r->outbox_id); !st) return report(st.err());
  std::cout << "requeued " << r->requeued.size() << "\n";
  if (!wait || r->requeued.empty()) return r->requeued.empty() && !r->skipped.empty() ? 1 : 0;
  const auto tasks = r->requeued;
  return wait_with_progress([&](long long& done, long long& total, std::string& detail) -> status {
    long long ok = 0, bad = 0;
    for (const auto& t : tasks) {
      auto now = store::get_task(db, tenant, t.id);
      if (!now) return now.err();
      if (!*now) continue;
      const auto s = (*now)->status;
      ok += s == schemas::task_status::succeeded;
      bad += s == schemas::task_status::failed || s == schemas::task_status::dead || s == schemas::task_status::cancelled;
    }
    done = ok + bad;
    total = static_cast<long long>(tasks.size());
    detail = std::to_string(ok) + " succeeded, " + std::to_string(bad) + " not";
    return ok_status();
  });
}

int batches(store::pg_session& db, std::vector<std::string> args) {
  const std::string usage = "batch (show | wait | cancel) --tenant NAME BATCH_ID";
  int code = 0;
  const auto cmd = verb_and_tenant(db, args, usage, code);
  if (!cmd) return code;
  const auto& tenant = cmd->tenant;
  if (args.size() != 1) return usage_error(usage);
  const auto id = args.front();
  if (cmd->verb == "cancel") {
    auto r = store::cancel_batch(db, tenant, id);
    if (!r) return report(r.err());
    if (!*r) return report(make_error(errc::not_found, "no batch " + id));
    std::cout << "cancelled " << (*r)->size() << " unfinished tasks of batch " << id << "\n";
    return 0;
  }
  auto read = [&](std::optional<schemas::batch_record>& out) -> status {
    auto b = store::get_batch(db, tenant, id);
    if (!b) return b.err();
    if (!*b) return make_error(errc::not_found, "no batch " + id);
    out = std::move(*b);
    return ok_status();
  };
  if (cmd->verb == "show") {
    std::optional<schemas::batch_record> b;
    if (auto st = read(b); !st) return report(st.err());
    std::cout << schemas::to_json(*b) << "\n";
    return 0;
  }
  if (cmd->verb != "wait") return usage_error(usage);
  return wait_with_progress([&](long long& done, long long& total, std::string& detail) -> status {
    std::optional<schemas::batch_record> b;
    if (auto st = read(b); !st) return st;
    total = b->total;
    done = b->succeeded + b->failed + b->dead + b->cancelled;
    detail = std::to_string(b->succeeded) + " succeeded, " + std::to_string(b->failed + b->dead) + " failed, " +
             std::to_string(b->cancelled) + " cancelled";
    return ok_status();
  });
}

int tasks(store::pg_session& db, std::vector<std::string> args) {
  const std::string usage = "task show --tenant NAME TASK_ID";
  int code = 0;
  const auto cmd = verb_and_tenant(db, args, usage, code);
  if (!cmd) return code;
  const auto& tenant = cmd->tenant;
  if (cmd->verb != "show" || args.size() != 1) return usage_error(usage);
  auto t = store::get_task(db, tenant, args.front());
  if (!t) return report(t.err());
  if (!*t) return report(make_error(errc::not_found, "no task " + args.front()));
  std::cout << schemas::to_json(**t) << "\n";
  return 0;
}

}  // namespace

std::optional<int> run_admin(const config::app_config& cfg, const std::vector<std::string>& args) {
  if (args.size() == 1 && args[0] == "queues") return queue_stats(cfg);
  if (args.empty() || (args[0] != "dead-letters" && args[0] != "batch" && args[0] != "task")) return std::nullopt;
  store::pg_session db(cfg.postgres.conninfo());
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "dead-letters") return dead_letters(cfg, db, rest);
  if (args[0] == "batch") return batches(db, rest);
  return tasks(db, rest);
}

}  // namespace mq::cli
