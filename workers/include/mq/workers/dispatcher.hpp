#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "mq/actors/actors.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {

/// A delivery being worked on.
struct job_in_flight {
  std::uint64_t tag = 0;
  std::uint64_t generation = 0;
  std::string kind;  ///< Its queue's job kind ("dead_letter" for the dead-letter queue).
  std::chrono::steady_clock::time_point started;
  std::string task_id;  ///< The task a job runs ("" for other work).
};

/// A delivery of a task that another delivery runs in this replica: it starts once that
/// one ends.
struct held_job {
  queues::delivery delivery;
  std::uint64_t generation = 0;
  std::string kind;
  std::optional<schemas::envelope> envelope;  ///< Decoded already (a bulk message's task).
};

/// A bulk message whose tasks run as jobs of their own: settled once all of them are.
struct group_in_flight {
  std::size_t left = 0;                           ///< Tasks not yet settled.
  actors::settle settle = actors::settle::ack;  ///< requeue once any task was not acked.
};

/// State of the dispatcher: the consumer to settle with, jobs in flight, counters.
struct dispatcher_state {
  std::shared_ptr<const job_context> ctx;
  actors::consumer_actor consumer;
  /// Job actor -> its delivery until the job reports done.
  std::unordered_map<caf::actor_addr, job_in_flight> jobs;
  /// Bulk messages in flight by (generation, tag).
  std::map<std::pair<std::uint64_t, std::uint64_t>, group_in_flight> groups;
  /// Task id -> the deliveries of it held back; present while a job runs the task.
  std::unordered_map<std::string, std::deque<held_job>> tasks;
  actors::worker_stats stats;
  static inline const char* name = "dispatcher";
};

/// Declares the job metrics the dispatcher records (mq_jobs_total, mq_job_duration_seconds,
/// mq_jobs_in_flight, mq_dead_letters_total).
void declare_job_metrics();

/// Dispatcher behavior: spawns a monitored job actor per delivery and relays how each
/// delivery is settled. A job that terminates without reporting (a bug, an exception)
/// gets its delivery requeued, bounded by the queue's delivery limit.
///
/// A bulk message runs one job per task and is acked once every one of them acked; if
/// any did not, it is requeued once all are settled, and comes back to be split. A bulk
/// message delivered before (or carrying more tasks than worker.prefetch) is split:
/// each task is published as its own message and the bulk message acked, so a task that
/// keeps killing its worker ends in the dead-letter queue alone. A dead-lettered bulk
/// message is recorded task by task.
///
/// One job at a time runs a task in a replica: a delivery of a task that a job here runs
/// already (a copy the broker redelivered after the channel closed, a split of a bulk
/// message that came back) waits for that job to end, then starts and finds the task
/// finished, or runs it if it is not. Without this, the copy would take the task over
/// while the first job still runs: the same work twice, LLM calls included.
actors::dispatcher_actor::behavior_type dispatcher(
    actors::dispatcher_actor::stateful_pointer<dispatcher_state> self,
    std::shared_ptr<const job_context> ctx);

}  // namespace mq::workers
