#include "mq/workers/dispatcher.hpp"

#include <caf/all.hpp>

#include "mq/core/log.hpp"
#include "mq/workers/dead_letters.hpp"

namespace mq::workers {
namespace {

using actors::job_end;
using actors::settle;

void settle_delivery(actors::dispatcher_actor::stateful_pointer<dispatcher_state> self,
                     std::uint64_t tag, std::uint64_t generation, settle s) {
  auto& consumer = self->state.consumer;
  switch (s) {
    case settle::ack:
      self->send(consumer, actors::ack_atom::value, tag, generation);
      break;
    case settle::requeue:
      self->send(consumer, actors::nack_atom::value, tag, generation, true);
      break;
    case settle::reject:
      self->send(consumer, actors::nack_atom::value, tag, generation, false);
      break;
  }
}

void count(actors::worker_stats& st, job_end end) {
  ++st.processed;
  switch (end) {
    case job_end::succeeded: ++st.succeeded; break;
    case job_end::failed: ++st.failed; break;
    case job_end::deferred: ++st.deferred; break;
    case job_end::skipped: ++st.skipped; break;
    case job_end::poison: ++st.poison; break;
    case job_end::returned: ++st.returned; break;
    case job_end::recorded: ++st.recorded; break;
  }
}

}  // namespace

actors::dispatcher_actor::behavior_type dispatcher(
    actors::dispatcher_actor::stateful_pointer<dispatcher_state> self,
    std::shared_ptr<const job_context> ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto it = self->state.jobs.find(dm.source);
    if (it == self->state.jobs.end()) return;
    log::error("dispatcher", "job died without settling; requeued", {},
               {{"reason", self->system().render(dm.reason)}});
    settle_delivery(self, it->second.first, it->second.second, settle::requeue);
    self->state.jobs.erase(it);
    count(self->state.stats, job_end::returned);
  });
  return {
      [self](queues::delivery& d, std::uint64_t generation) {
        self->state.consumer = caf::actor_cast<actors::consumer_actor>(self->current_sender());
        const auto tag = d.tag;
        auto me = caf::actor_cast<actors::dispatcher_actor>(self);
        auto j = d.queue == self->state.ctx->topology.dead_queue()
                     ? self->spawn<caf::monitored>(dead_letter_recorder, self->state.ctx, me, std::move(d), generation)
                     : self->spawn<caf::monitored>(job, self->state.ctx, me, std::move(d), generation);
        self->state.jobs.emplace(j.address(), std::make_pair(tag, generation));
      },
      [self](actors::done_atom, std::uint64_t tag, std::uint64_t generation, settle s, job_end end) {
        self->state.jobs.erase(caf::actor_cast<caf::actor_addr>(self->current_sender()));
        settle_delivery(self, tag, generation, s);
        count(self->state.stats, end);
      },
      [self](actors::stats_atom) -> actors::worker_stats {
        auto st = self->state.stats;
        st.in_flight = self->state.jobs.size();
        return st;
      },
  };
}

}  // namespace mq::workers
