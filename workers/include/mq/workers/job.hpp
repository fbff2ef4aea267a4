#pragma once

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "mq/actors/actors.hpp"
#include "mq/config/config.hpp"
#include "mq/store/result_cache.hpp"

namespace mq::workers {

/// What every job actor of a replica shares (read-only).
struct job_context {
  std::vector<actors::pg_actor> pg;  ///< Postgres writers; a task always uses the same one.
  actors::cache_actor cache;
  actors::llm_actor llm;
  store::cache_keys keys;
  config::llm_config llm_cfg;
  std::string provider;  ///< Recorded with results.
  std::string model;

  const actors::pg_actor& pg_for(const std::string& task_id) const;
};

/// State of one job: the delivery it settles and what the claim returned.
struct job_state {
  std::shared_ptr<const job_context> ctx;
  actors::dispatcher_actor dispatcher;
  queues::delivery delivery;
  std::uint64_t generation = 0;
  schemas::envelope envelope;
  store::claim_result claim;
  int outage_retries = 0;            ///< Consecutive waits for Postgres to come back.
  std::function<void()> on_retry;    ///< What the next retry message runs.
  std::mt19937 rng{std::random_device{}()};
  static inline const char* name = "job";
};

using job_pointer = caf::stateful_actor<job_state>*;

/// One delivery's life: decode the envelope (poison -> dead letter), claim the task,
/// run its kind's handler, record the outcome, refresh the cache, then tell the
/// dispatcher how to settle the delivery. Waits out Postgres outages while holding the
/// delivery (so a dead database pauses consumption instead of dead-lettering work).
caf::behavior job(job_pointer self, std::shared_ptr<const job_context> ctx,
                  actors::dispatcher_actor dispatcher, queues::delivery d, std::uint64_t generation);

/// Handlers report the outcome of a claimed task through this.
using completion_fn = std::function<void(store::completion)>;

/// Runs `delay` later on the job (retries of any kind).
void retry_later(job_pointer self, std::chrono::milliseconds delay, std::function<void()> fn);

/// The classify_meeting handler: asks the LLM, validates the answer against the
/// taxonomy, retries retryable faults with backoff, and reports succeeded or failed.
void classify_meeting(job_pointer self, const store::claim_result& claim, completion_fn done);

}  // namespace mq::workers
