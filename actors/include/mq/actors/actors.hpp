#pragma once

// Every actor interface of a worker replica, one `///` line each. Blocking clients
// (rabbitmq-c, libpqxx, hiredis) live only in detached actors, each owning its
// connection; everything else is cooperative and never blocks.

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include "mq/actors/atoms.hpp"

namespace mq::actors {

/// AMQP consumer (detached; owns the consuming connection). Forwards each delivery with
/// its connection generation to the dispatcher and settles deliveries on request.
/// Settlements of an older generation are dropped: the broker already requeued those.
/// `drain` cancels the consumers so no new deliveries arrive; settling continues.
using consumer_actor = caf::typed_actor<
    caf::reacts_to<poll_atom>,
    caf::reacts_to<tick_atom>,
    caf::reacts_to<ack_atom, std::uint64_t, std::uint64_t>,          // tag, generation
    caf::reacts_to<nack_atom, std::uint64_t, std::uint64_t, bool>,   // tag, generation, requeue
    caf::replies_to<drain_atom>::with<bool>>;

/// Postgres writer (detached; owns one connection). Claims and completions queued in its
/// mailbox are written together, one statement per kind of request; dead letters and
/// state reads (rare) one by one.
using pg_actor = caf::typed_actor<
    caf::replies_to<claim_atom, store::claim_request>::with<claim_reply>,
    caf::replies_to<complete_atom, store::completion>::with<complete_reply>,
    caf::replies_to<mark_atom, running_marks>::with<mark_reply>,
    caf::replies_to<bury_atom, store::dead_letter>::with<bury_reply>,
    caf::replies_to<state_atom, std::string>::with<state_reply>,
    caf::reacts_to<flush_atom>>;

/// Redis cache writer (detached; owns one connection). Replies true when written, false
/// when Redis is unavailable (callers go on: the cache is optional).
using cache_actor = caf::typed_actor<
    caf::replies_to<put_atom, cache_entries>::with<bool>,
    caf::reacts_to<flush_atom>>;

/// LLM client: holds many calls in flight without a thread each (the client's own I/O
/// thread runs them); calls beyond the configured cap wait in order.
using llm_actor = caf::typed_actor<
    caf::replies_to<chat_atom, llm::shared_request>::with<llm::chat_outcome>,
    caf::reacts_to<chat_done_atom, std::uint64_t, llm::chat_outcome>,
    caf::replies_to<embed_atom, std::vector<std::string>>::with<llm::embed_outcome>,
    caf::reacts_to<embed_done_atom, std::uint64_t, llm::embed_outcome>>;

/// Documents in Postgres for the document job (detached; owns one connection): load the
/// bytes (marking it processing), record progress, save the chunks, or mark it failed.
/// Rare and large, so one request at a time.
using documents_actor = caf::typed_actor<
    caf::replies_to<load_atom, std::int64_t>::with<document_reply>,
    caf::reacts_to<progress_atom, std::int64_t, int, int>,
    caf::replies_to<save_atom, std::int64_t, std::vector<store::embedded_chunk>>::with<mq::status>,
    caf::replies_to<fail_atom, std::int64_t, std::string>::with<mq::status>>;

/// Campaigns in Postgres for the campaign jobs (detached; owns one connection): fan a
/// campaign out into its delivery tasks, load a delivery, commit it as sending or back
/// to pending, and delete an outbox group once its publish is confirmed. Loads and
/// sending marks queued together are written in one statement each, like pg_actor.
using campaigns_actor = caf::typed_actor<
    caf::replies_to<fanout_atom, std::int64_t>::with<fan_out_reply>,
    caf::replies_to<load_atom, std::int64_t>::with<delivery_reply>,
    caf::replies_to<sending_atom, store::sending_request>::with<sending_reply>,
    caf::reacts_to<flush_atom>,
    caf::replies_to<pending_atom, store::sending_request>::with<mq::status>,
    caf::reacts_to<published_atom, std::string>>;

/// Analytics rollups (detached; owns one connection): run a rollup request, take a
/// schedule slot (queueing every tenant's rollup when this replica is the first to take
/// it), delete an outbox group once published. Long and rare, so one at a time.
using analytics_actor = caf::typed_actor<
    caf::replies_to<rollup_atom, std::int64_t>::with<rollup_reply>,
    caf::replies_to<slot_atom, std::int64_t>::with<slot_reply>,
    caf::reacts_to<published_atom, std::string>>;

/// Campaign send limiter (detached; owns a Redis connection): how long a message must wait
/// for the campaign's and the channel's rates (0: send now, its slot taken). Fails open.
using send_limiter_actor = caf::typed_actor<
    caf::replies_to<acquire_atom, send_limits>::with<std::int64_t>>;

/// Rate limiter (detached; owns a Redis connection). Answers how long an LLM call must
/// wait (0: go now, its cost taken); acquisitions queued together are checked in one
/// pipelined round trip. Settles token estimates and applies provider 429 penalties.
/// Fails open: with Redis down every call may go.
using limiter_actor = caf::typed_actor<
    caf::replies_to<acquire_atom, std::string, std::int64_t>::with<std::int64_t>,  // tenant, tokens -> wait ms
    caf::reacts_to<settle_atom, std::string, std::int64_t, std::int64_t>,           // tenant, estimate, actual
    caf::reacts_to<penalize_atom, std::int64_t>,                                    // retry-after ms
    caf::reacts_to<tick_atom>,
    caf::reacts_to<flush_atom>>;

/// Dispatcher: one job actor per delivery, monitored; relays each job's settlement to
/// the consumer and keeps the replica's counters. A job that dies settles as requeue.
using dispatcher_actor = caf::typed_actor<
    caf::reacts_to<queues::delivery, std::uint64_t>,                             // delivery, generation
    caf::reacts_to<done_atom, std::uint64_t, std::uint64_t, settle, job_end>,    // tag, generation
    caf::replies_to<stats_atom>::with<worker_stats>>;

}  // namespace mq::actors
