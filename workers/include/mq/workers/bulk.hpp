#pragma once

#include <caf/stateful_actor.hpp>
#include <memory>
#include <vector>

#include "mq/workers/job.hpp"

namespace mq::workers {

/// The delivery of one task of the bulk message `d`: the same tag (the message is
/// settled once, for all its tasks), the task's own envelope as body and its id as
/// message id, its own request id, routed by its kind. Without `with_body` the body is
/// left empty for a job that has the envelope already (it writes one only to bury it).
queues::delivery part_of(const queues::delivery& d, const schemas::envelope& task, bool with_body = true);

/// State of a bulk message's split.
struct splitter_state : delivery_owner {
  static inline const char* name = "bulk_splitter";
};

/// Publishes each task of the bulk message `d` as its own message, then acks `d`; requeues
/// it when the broker does not confirm them. When `d` was delivered before, each carries
/// its deliveries: a worker that died may have left the task running, and the delivery
/// limit counts them.
caf::behavior bulk_splitter(caf::stateful_actor<splitter_state>* self, std::shared_ptr<const job_context> ctx,
                            actors::dispatcher_actor dispatcher, queues::delivery d, std::uint64_t generation,
                            std::vector<schemas::envelope> group);

}  // namespace mq::workers
