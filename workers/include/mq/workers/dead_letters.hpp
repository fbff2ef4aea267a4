#pragma once

#include <caf/stateful_actor.hpp>
#include <memory>

#include "mq/workers/job.hpp"

namespace mq::workers {

/// Why a message was dead-lettered (`reason` as x-first-death-reason names it), in words.
std::string dead_letter_reason_text(const std::string& reason);

/// What a dead letter's headers say about how it died.
store::dead_letter read_dead_letter(const queues::delivery& d);

/// State of one dead letter's recording.
struct recorder_state : delivery_owner {
  store::dead_letter letter;
  static inline const char* name = "dead_letter_recorder";
};

/// One delivery from the dead-letter queue: records it once in Postgres (moving the task
/// it names to dead), refreshes that task's cache entry, then acks. Holds the delivery
/// while Postgres is unavailable, so a dead letter is never dropped unrecorded.
caf::behavior dead_letter_recorder(caf::stateful_actor<recorder_state>* self, std::shared_ptr<const job_context> ctx,
                                   actors::dispatcher_actor dispatcher, queues::delivery d, std::uint64_t generation);

}  // namespace mq::workers
