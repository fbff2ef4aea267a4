#pragma once

#include <caf/stateful_actor.hpp>
#include <memory>

#include "mq/workers/job.hpp"

namespace mq::workers {

/// State of the rollup schedule: the last slot this replica tried.
struct rollup_schedule_state {
  std::int64_t last_slot = -1;
  static inline const char* name = "rollup_schedule";
};

/// Every analytics.rollup_every_seconds (a slot), tries to take the slot in Postgres; the
/// replica that takes it queues a rollup of every tenant, so each scheduled rollup runs
/// once however many replicas there are.
caf::behavior rollup_schedule(caf::stateful_actor<rollup_schedule_state>* self, std::shared_ptr<const job_context> ctx,
                              int every_seconds);

}  // namespace mq::workers
