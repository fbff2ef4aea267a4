#include "mq/workers/dispatcher.hpp"

#include <caf/all.hpp>

#include "mq/core/log.hpp"
#include "mq/core/metrics.hpp"
#include "mq/workers/bulk.hpp"
#include "mq/workers/dead_letters.hpp"

namespace mq::workers {
namespace {

using actors::job_end;
using actors::settle;
using dispatcher_pointer = actors::dispatcher_actor::stateful_pointer<dispatcher_state>;

void settle_delivery(dispatcher_pointer self, std::uint64_t tag, std::uint64_t generation, settle s) {
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
    case job_end::split: return "split";
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
  if (end == job_end::split) return;  // it ran no task: its tasks are counted as they run
  ++st.processed;
  switch (end) {
    case job_end::succeeded: ++st.succeeded; break;
    case job_end::failed: ++st.failed; break;
    case job_end::deferred: ++st.deferred; break;
    case job_end::skipped: ++st.skipped; break;
    case job_end::poison: ++st.poison; break;
    case job_end::returned: ++st.returned; break;
    case job_end::recorded: ++st.recorded; break;
    case job_end::split: break;
  }
}

/// Settles the delivery `tag`, or when it is a bulk message one of its tasks: the
/// message is settled with its last task.
void settle_part(dispatcher_pointer self, std::uint64_t tag, std::uint64_t generation, settle s) {
  auto& groups = self->state.groups;
  auto g = groups.find({generation, tag});
  if (g == groups.end()) return settle_delivery(self, tag, generation, s);
  if (s != settle::ack) g->second.settle = settle::requeue;
  if (--g->second.left > 0) return;
  settle_delivery(self, tag, generation, g->second.settle);
  groups.erase(g);
}

template <class Behavior, class... Ts>
void spawn_for(dispatcher_pointer self, std::uint64_t tag, std::uint64_t generation, std::string kind,
               std::string task_id, Behavior fn, Ts&&... xs) {
  job_in_flight entry{tag, generation, std::move(kind), std::chrono::steady_clock::now(), std::move(task_id)};
  auto me = caf::actor_cast<actors::dispatcher_actor>(self);
  auto j = self->spawn<caf::monitored>(fn, self->state.ctx, me, std::forward<Ts>(xs)...);
  self->state.jobs.emplace(j.address(), std::move(entry));
}

/// Spawns the job of a delivery of `task`.
void spawn_job(dispatcher_pointer self, std::string task, held_job h) {
  const auto tag = h.delivery.tag;
  spawn_for(self, tag, h.generation, std::move(h.kind), std::move(task), job, std::move(h.delivery), h.generation,
            std::move(h.envelope));
}

/// Starts a job for a delivery of a task (its envelope decoded already or not), or holds
/// the delivery while another job of this replica runs the task. A single task's message
/// carries the task id as its message id.
void run_task(dispatcher_pointer self, held_job h) {
  std::string task = h.envelope ? h.envelope->task_id : h.delivery.message_id;
  if (!task.empty()) {
    auto [it, fresh] = self->state.tasks.try_emplace(task);
    if (!fresh) {
      log::info("dispatcher", "a delivery of a task that runs here waits for it", {{}, task, {}},
                {{"held", std::to_string(it->second.size() + 1)}});
      it->second.push_back(std::move(h));
      return;
    }
  }
  spawn_job(self, std::move(task), std::move(h));
}

/// After a job of `task` ended: the next delivery held for it starts.
void release_task(dispatcher_pointer self, const std::string& task) {
  if (task.empty()) return;
  auto it = self->state.tasks.find(task);
  if (it == self->state.tasks.end()) return;
  if (it->second.empty()) {
    self->state.tasks.erase(it);
    return;
  }
  auto next = std::move(it->second.front());
  it->second.pop_front();
  spawn_job(self, task, std::move(next));
}

/// A job ended (`it`): counts how, forgets it and starts what waited for its task.
void end_job(dispatcher_pointer self, std::unordered_map<caf::actor_addr, job_in_flight>::iterator it, job_end end) {
  count(self->state.stats, it->second, end);
  const auto task = std::move(it->second.task_id);
  self->state.jobs.erase(it);
  release_task(self, task);
}

/// Starts the work of one delivery: a job, a dead letter's recording, or for a bulk
/// message one of those per task (or its split).
void start(dispatcher_pointer self, queues::delivery d, std::uint64_t generation) {
  const auto& topo = self->state.ctx->topology;
  const bool dead = d.queue == topo.dead_queue();
  auto kind = dead ? std::string("dead_letter") : topo.kind_of(d.queue);
  if (queues::topology::is_bulk(dead ? d.routing_key : d.queue)) {
    // An unreadable one goes to a single job (or recorder), which dead-letters it whole.
    if (auto group = schemas::decode_group(d.body)) {
      if (!dead && (d.redelivered || group->size() > static_cast<std::size_t>(self->state.ctx->prefetch)))
        return spawn_for(self, d.tag, generation, kind, "", bulk_splitter, d, generation, std::move(*group));
      self->state.groups[{generation, d.tag}] = group_in_flight{group->size()};
      for (const auto& e : *group) {
        if (dead) spawn_for(self, d.tag, generation, kind, "", dead_letter_recorder, part_of(d, e), generation);
        else run_task(self, {part_of(d, e, false), generation, kind, e});
      }
      return;
    }
  }
  if (dead) {
    const auto tag = d.tag;
    spawn_for(self, tag, generation, kind, "", dead_letter_recorder, std::move(d), generation);
  }
  else run_task(self, {std::move(d), generation, std::move(kind), std::nullopt});
}

}  // namespace

void declare_job_metrics() {
  auto& m = metrics::global();
  m.counter("mq_jobs_total", "Deliveries this replica finished, by job kind and outcome (succeeded, failed, "
                             "deferred for a retry or a rate limit, skipped, poison, returned, recorded; split: a bulk message "
                             "published again task by task).");
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
    settle_part(self, it->second.tag, it->second.generation, settle::requeue);
    end_job(self, it, job_end::returned);
    metrics::global().set("mq_jobs_in_flight", static_cast<double>(self->state.jobs.size()));
  });
  return {
      [self](queues::delivery& d, std::uint64_t generation) {
        self->state.consumer = caf::actor_cast<actors::consumer_actor>(self->current_sender());
        start(self, std::move(d), generation);
        metrics::global().set("mq_jobs_in_flight", static_cast<double>(self->state.jobs.size()));
      },
      [self](actors::done_atom, std::uint64_t tag, std::uint64_t generation, settle s, job_end end) {
        auto it = self->state.jobs.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
        settle_part(self, tag, generation, s);
        if (it != self->state.jobs.end()) end_job(self, it, end);
        metrics::global().set("mq_jobs_in_flight", static_cast<double>(self->state.jobs.size()));
      },
      [self](actors::stats_atom) -> actors::worker_stats {
        auto st = self->state.stats;
        st.in_flight = self->state.jobs.size();
        for (const auto& [task, held] : self->state.tasks) st.in_flight += held.size();
        return st;
      },
  };
}

}  // namespace mq::workers
