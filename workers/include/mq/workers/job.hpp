#pragma once

#include <caf/event_based_actor.hpp>
#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "mq/actors/actors.hpp"
#include "mq/actors/writers.hpp"
#include "mq/campaigns/channel.hpp"
#include "mq/config/config.hpp"
#include "mq/queues/amqp.hpp"
#include "mq/store/result_cache.hpp"
#include "mq/workers/running_marks.hpp"

namespace mq::workers {

/// What every job actor of a replica shares (read-only after start).
struct job_context {
  std::vector<actors::pg_actor> pg;  ///< Postgres writers; a task always uses the same one.
  actors::cache_actor cache;
  actors::llm_actor llm;
  actors::documents_actor documents;
  actors::campaigns_actor campaigns;
  actors::send_limiter_actor send_limits;
  actors::analytics_actor analytics;
  std::shared_ptr<campaigns::channel> webhook;  ///< Absent when campaigns.webhook_url is not set.
  std::shared_ptr<campaigns::channel> smtp;     ///< Absent when campaigns.smtp_url is not set.
  std::optional<actors::limiter_actor> limiter;  ///< Absent when nothing is rate limited.
  actors::shared_hold hold;  ///< Set when only provider 429s hold calls (no limits configured).
  std::shared_ptr<queues::publisher> publisher;  ///< Delayed retries.
  queues::topology topology;
  store::cache_keys keys;
  config::llm_config llm_cfg;
  config::documents_config documents_cfg;
  config::campaigns_config campaigns_cfg;
  config::prices_config prices;
  int prefetch = 0;      ///< worker.prefetch: a bulk message with more tasks is split.
  int group_size = 0;    ///< amqp.group_size, for the tasks a job publishes.
  int delivery_limit = 0;  ///< amqp.delivery_limit, also for the tasks split from a bulk message.
  std::string provider;  ///< Recorded with results.
  std::string model;
  std::shared_ptr<running_marks> marks;  ///< Lazily claimed tasks not yet recorded running.

  /// The connection for `task_id`'s claim (and its other reads and writes). With two
  /// connections or more, claims keep to the first half and completions (complete_for)
  /// to the second: the two statements run side by side instead of one after the other.
  const actors::pg_actor& pg_for(const std::string& task_id) const;
  const actors::pg_actor& complete_for(const std::string& task_id) const;
};

/// What every actor that owns one delivery holds (a job, a dead letter's recording).
struct delivery_owner {
  std::shared_ptr<const job_context> ctx;
  actors::dispatcher_actor dispatcher;
  queues::delivery delivery;
  std::uint64_t generation = 0;
  int outage_retries = 0;  ///< Consecutive waits for Postgres to come back.
};

/// Tells the dispatcher how to settle the owner's delivery and how the work ended, then
/// ends the actor.
template <class State>
void settle_and_quit(caf::stateful_actor<State>* self, actors::settle s, actors::job_end end) {
  self->send(self->state.dispatcher, actors::done_atom::value, self->state.delivery.tag, self->state.generation, s,
             end);
  self->quit();
}

/// The next wait for Postgres to come back, 100 ms doubling to 6.4 s; counts the wait.
std::chrono::milliseconds outage_backoff(delivery_owner& owner);

/// State of one job: the delivery it settles, what the claim returned, and what its LLM
/// calls cost so far.
struct job_state : delivery_owner {
  schemas::envelope envelope;
  store::claim_result claim;
  std::int64_t claimed_ms = 0;       ///< When the claim answered (Unix ms): the attempt's start.
  bool recording = false;            ///< The outcome is on its way: no running entry after it.
  int failed_calls = 0;              ///< Failed LLM calls over all attempts (the retry budget spent).
  schemas::llm_usage usage;          ///< Calls and tokens of this attempt.
  std::function<void()> on_retry;    ///< What the next retry message runs.
  std::function<void()> on_resume;   ///< What a resume message (from outside the actors) runs.
  static inline const char* name = "job";
};

using job_pointer = caf::stateful_actor<job_state>*;

/// One delivery's life: decode the envelope (poison -> dead letter), wait out its
/// not-before time, claim the task, run its kind's handler, record the outcome, refresh
/// the cache, then tell the dispatcher how to settle the delivery. Waits out Postgres
/// outages while holding the delivery (so a dead database pauses consumption instead of
/// dead-lettering work). A task of a bulk message comes with its envelope `decoded`
/// already and `d` without a body.
caf::behavior job(job_pointer self, std::shared_ptr<const job_context> ctx,
                  actors::dispatcher_actor dispatcher, queues::delivery d, std::uint64_t generation,
                  std::optional<schemas::envelope> decoded);

/// Handlers report the outcome of a claimed task through this; usage and cost are
/// filled in from the job's state.
using completion_fn = std::function<void(store::completion)>;

/// Runs `go` unless the task was cancelled meanwhile; then the job ends instead (its
/// delivery acked, nothing recorded). A failed read runs `go`: recording checks again.
void unless_cancelled(job_pointer self, std::function<void()> go);

/// Jitter source for backoff; one per scheduler thread (seeding one per job costs a syscall).
std::mt19937& jitter();

/// Runs `fn` after `delay` on the job.
void retry_later(job_pointer self, std::chrono::milliseconds delay, std::function<void()> fn);

/// Waits `wait` before running `again`: holding the delivery when the wait is at most
/// llm.hold_max_ms, otherwise deferring the job by `wait` as `status` (queued when our
/// own rate limit holds it, retrying after a fault `last`).
void hold_or_defer(job_pointer self, std::chrono::milliseconds wait, std::function<void()> again,
                   schemas::task_status status, const error* last);

/// Ends the attempt without an outcome: records the task as `status` (retrying after a
/// fault, with `last`; queued when our own rate limit deferred it) due in `delay`, sends
/// the job through the delay queues, refreshes the cache and acks the delivery.
void defer(job_pointer self, std::chrono::milliseconds delay, schemas::task_status status,
           const error* last);

/// A completion of the current attempt with `status` and, for failures, `err`.
store::completion completion_for(job_pointer self, schemas::task_status status, const error* err = nullptr);

/// Waits for the shared rate limits (provider and tenant; a provider's 429 holds every
/// replica) for a call of `estimate` tokens, then runs `go`: a short wait holds the
/// delivery, a long one defers the job (as queued) instead. Fails open without Redis.
void after_limits(job_pointer self, std::int64_t estimate, std::function<void()> go);

/// Tells the shared limits what a call used (`used` tokens, 0 when it failed) and, after
/// a provider 429, to hold every replica back for its Retry-After.
void settle_limits(job_pointer self, std::int64_t estimate, std::int64_t used, long http_status,
                   std::optional<std::chrono::milliseconds> retry_after);

/// After a retryable failed LLM call, the `failed`-th of the job: how long to wait before
/// the next call (backoff with full jitter, never sooner than `retry_after`), or nullopt
/// when llm.max_attempts failed calls are spent (then `err` says how many).
std::optional<std::chrono::milliseconds> next_call_in(job_pointer self, int failed, error& err,
                                                      std::optional<std::chrono::milliseconds> retry_after);

/// One LLM call, under the system's policy, for an answer that must satisfy JSON Schema
/// `req.schema_name`: waits for the shared rate limits (holding the delivery for short
/// waits, deferring the job for long ones without spending an attempt); retries
/// retryable faults with exponential backoff and full jitter, honouring Retry-After, up
/// to llm.max_attempts failed calls in all (long waits defer the job); counts tokens. A
/// truncated, unparseable or invalid answer gets one repair request quoting the problem.
/// `done` gets the validated JSON text or the final error, unless the job was deferred.
void call_llm_json(job_pointer self, llm::chat_request req, std::function<void(result<std::string>)> done);

/// The classify_meeting handler: asks the LLM for the taxonomy and reports succeeded with
/// the validated answer, or failed with the reason.
void classify_meeting(job_pointer self, const store::claim_result& claim, completion_fn done);

/// The process_document handler: extracts, chunks and embeds the document, stores its
/// chunks in one transaction and reports succeeded; or marks the document failed with
/// the reason (bad upload, embeddings failing past llm.max_attempts) and fails the task.
void process_document(job_pointer self, const store::claim_result& claim, completion_fn done);

/// Runs `then` in the job once `start`, an operation outside the actor system, calls
/// the callback it is given (from any thread) with its result.
template <class T>
void resume_with(job_pointer self, std::function<void(std::function<void(T)>)> start, std::function<void(T)> then) {
  auto slot = std::make_shared<std::optional<T>>();
  self->state.on_resume = [slot, then = std::move(then)] { then(std::move(**slot)); };
  auto me = caf::actor_cast<caf::actor>(self);
  start([me, slot](T value) {
    *slot = std::move(value);
    caf::anon_send(me, actors::resume_atom::value);
  });
}

/// The start_campaign handler: when the campaign is due, creates one send_message task
/// per recipient and publishes them (a campaign not due yet defers the task to its time;
/// a cancelled one starts nothing).
void start_campaign(job_pointer self, const store::claim_result& claim, completion_fn done);

/// The send_message handler: renders the recipient's message (personalised by the LLM
/// when the campaign asks), waits for the campaign's and channel's send rates, commits
/// the ledger row as sending, sends it, and settles the row with the task: sent, failed,
/// or unknown when it may have arrived and the channel cannot dedupe a resend.
void send_message(job_pointer self, const store::claim_result& claim, completion_fn done);

/// The rollup_analytics handler: recomputes the tenant's rollups for the request's days
/// and reports how many days and rows it wrote.
void rollup_analytics(job_pointer self, const store::claim_result& claim, completion_fn done);

}  // namespace mq::workers
