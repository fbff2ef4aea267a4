#pragma once

#include <memory>
#include <unordered_map>

#include "mq/actors/actors.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {

/// State of the dispatcher: the consumer to settle with, jobs in flight, counters.
struct dispatcher_state {
  std::shared_ptr<const job_context> ctx;
  actors::consumer_actor consumer;
  /// Job actor -> (delivery tag, generation) until the job reports done.
  std::unordered_map<caf::actor_addr, std::pair<std::uint64_t, std::uint64_t>> jobs;
  actors::worker_stats stats;
  static inline const char* name = "dispatcher";
};

/// Dispatcher behavior: spawns a monitored job actor per delivery and relays how each
/// delivery is settled. A job that terminates without reporting (a bug, an exception)
/// gets its delivery requeued, bounded by the queue's delivery limit.
actors::dispatcher_actor::behavior_type dispatcher(
    actors::dispatcher_actor::stateful_pointer<dispatcher_state> self,
    std::shared_ptr<const job_context> ctx);

}  // namespace mq::workers
