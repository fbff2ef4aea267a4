#include "mq/workers/dispatcher.hpp"

#include <caf/all.hpp>

#include "mq/core/log.hpp"
#include "mq/core/metrics.hpp"
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

const char* outcome_name(job_end end) {
  switch (end) {
    case job_end::succeeded: return "succeeded";
    case job_end::failed: return "failed";
    case job_end::deferred: return "deferred";
    case job_end::skipped: return "skipped";
    case job_end::poison: return "poison";
    case job_end::returned: return "returned";
    case job_end::recorded: return "recorded";
  }
  return "unknown";
}

/// Counts how a job ended, in the replica's stats and its metrics.
void count(actors::worker_stats& st, const job_in_flight& job, job_end end) {
  auto& m = metrics::global();
  m.inc("mq_jobs_total", {{"kind", job.kind}, {"outcome", outcome_name(end)}});
  m.observe("mq_job_duration_seconds", {{"kind", job.kind}},
            std::chrono::duration<double>(std::chrono::steady_clock::now() - job.started).count());
  if (end == job_end::recorded) m.inc("mq_dead_letters_total");
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

void declare_job_metrics() {
  auto& m = metrics::global();
  m.counter("mq_jobs_total", "Deliveries this replica finished, by job kind and outcome (succeeded, failed, "
                             "deferred for a retry or a rate limit, skipped, poison, returned, recorded).");
  m.histogram("mq_job_duration_seconds", "Time from delivery to settlement, by job kind.");
  m.gauge("mq_jobs_in_flight", "Deliveries this replica is working on.");
  m.counter("mq_dead_letters_total", "Dead letters this replica recorded in Postgres.");
}

actors::dispatcher_actor::behavior_type dispatcher(
    actors::dispatcher_actor::stateful_pointer<dispatcher_state> self,
    std::shared_ptr<const job_context> ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto it = self->state.jobs.find(dm.source);
    if (it == self->state.jobs.end()) return;
    log::error("dispatcher", "job died without settling; requeued", {},
               {{"reason", self->system().render(dm.reason)}});
    settle_delivery(self, it->second.tag, it->second.generation, settle::requeue);
    count(self->state.stats, it->second, job_end::returned);
    self->state.jobs.erase(it);
    metrics::global().set("mq_jobs_in_flight", static_cast<double>(self->state.jobs.size()));
  });
  return {
      [self](queues::delivery& d, std::uint64_t generation) {
        self->state.consumer = caf::actor_cast<actors::consumer_actor>(self->current_sender());
        const auto& topo = self->state.ctx->topology;
        const bool dead = d.queue == topo.dead_queue();
        job_in_flight entry{d.tag, generation,
                            dead ? "dead_letter" : d.queue.substr(std::min(d.queue.size(), topo.prefix.size() + 1)),
                            std::chrono::steady_clock::now()};
        auto me = caf::actor_cast<actors::dispatcher_actor>(self);
        auto j = dead ? self->spawn<caf::monitored>(dead_letter_recorder, self->state.ctx, me, std::move(d), generation)
                      : self->spawn<caf::monitored>(job, self->state.ctx, me, std::move(d), generation);
        self->state.jobs.emplace(j.address(), std::move(entry));
        metrics::global().set("mq_jobs_in_flight", static_cast<double>(self->state.jobs.size()));
      },
      [self](actors::done_atom, std::uint64_t tag, std::uint64_t generation, settle s, job_end end) {
        auto it = self->state.jobs.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
        settle_delivery(self, tag, generation, s);
        if (it != self->state.jobs.end()) {
          count(self->state.stats, it->second, end);
          self->state.jobs.erase(it);
        }
        metrics::global().set("mq_jobs_in_flight", static_cast<double>(self->state.jobs.size()));
      },
      [self](actors::stats_atom) -> actors::worker_stats {
        auto st = self->state.stats;
        st.in_flight = self->state.jobs.size();
        return st;
      },
  };
}

}  // namespace mq::workers
