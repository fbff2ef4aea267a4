#pragma once

// Every atom of the worker's actors (CAF 0.17: at most 10 characters each) and the
// message types that travel between them.

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <cstdint>
#include <vector>

#include "mq/llm/client.hpp"
#include "mq/queues/amqp.hpp"
#include "mq/schemas/types.hpp"
#include "mq/store/campaigns.hpp"
#include "mq/store/documents.hpp"
#include "mq/store/job_store.hpp"
#include "mq/store/rate_limiter.hpp"
#include "mq/store/rollups.hpp"
#include "mq/store/result_cache.hpp"

namespace mq::actors {

using poll_atom = caf::atom_constant<caf::atom("poll")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using nack_atom = caf::atom_constant<caf::atom("nack")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using claim_atom = caf::atom_constant<caf::atom("claim")>;
using complete_atom = caf::atom_constant<caf::atom("complete")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using chat_atom = caf::atom_constant<caf::atom("chat")>;
using chat_done_atom = caf::atom_constant<caf::atom("chatdone")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using settle_atom = caf::atom_constant<caf::atom("settle")>;
using penalize_atom = caf::atom_constant<caf::atom("penalize")>;
using published_atom = caf::atom_constant<caf::atom("published")>;
using bury_atom = caf::atom_constant<caf::atom("bury")>;
using state_atom = caf::atom_constant<caf::atom("state")>;
using embed_atom = caf::atom_constant<caf::atom("embed")>;
using embed_done_atom = caf::atom_constant<caf::atom("embeddone")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using save_atom = caf::atom_constant<caf::atom("save")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using fanout_atom = caf::atom_constant<caf::atom("fanout")>;
using sending_atom = caf::atom_constant<caf::atom("sending")>;
using pending_atom = caf::atom_constant<caf::atom("pending")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using rollup_atom = caf::atom_constant<caf::atom("rollup")>;
using slot_atom = caf::atom_constant<caf::atom("slot")>;
using mark_atom = caf::atom_constant<caf::atom("mark")>;
using running_atom = caf::atom_constant<caf::atom("running")>;

/// What to tell the broker about a delivery once its job ends.
enum class settle { ack, requeue, reject };

/// How a job ended, for counters.
enum class job_end { succeeded, failed, deferred, skipped, poison, returned, recorded, split };

/// Counters of one worker replica.
struct worker_stats {
  std::uint64_t in_flight = 0;
  std::uint64_t processed = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t deferred = 0;  ///< Sent through the delay queues (retry or rate limit).
  std::uint64_t skipped = 0;
  std::uint64_t poison = 0;
  std::uint64_t returned = 0;
  std::uint64_t recorded = 0;  ///< Dead letters recorded in Postgres.
};

using claim_reply = mq::result<store::claim_result>;
using complete_reply = mq::result<store::completed>;
using running_marks = std::vector<store::running_mark>;
using mark_reply = mq::result<std::vector<schemas::task_record>>;
using bury_reply = mq::result<std::optional<schemas::task_record>>;
using state_reply = mq::result<std::optional<schemas::task_status>>;
using document_reply = mq::result<std::optional<store::document_work>>;
using cache_entries = std::vector<store::result_cache::entry>;
using fan_out_reply = mq::result<store::fan_out>;
using delivery_reply = mq::result<std::optional<store::delivery_work>>;
using sending_reply = mq::result<store::sending_mark>;
using send_limits = std::vector<store::send_limit>;
using rollup_reply = mq::result<std::optional<store::rollup_outcome>>;
using slot_reply = mq::result<std::vector<store::rollup_enqueued>>;

}  // namespace mq::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::queues::delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::schemas::envelope)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::store::claim_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::store::completion)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::claim_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::complete_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::running_marks)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::mark_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::schemas::task_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::store::dead_letter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::bury_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::state_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::cache_entries)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::llm::chat_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const mq::llm::chat_request>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::llm::chat_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::llm::embed_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::document_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<mq::store::embedded_chunk>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::fan_out_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::delivery_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::sending_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::store::sending_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::send_limits)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::rollup_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::slot_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::settle)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::job_end)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mq::actors::worker_stats)
