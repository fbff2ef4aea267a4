// The rollup_analytics handler and the rollup schedule.

#include <caf/all.hpp>

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/workers/job.hpp"
#include "mq/workers/rollup_schedule.hpp"

namespace mq::workers {

void rollup_analytics(job_pointer self, const store::claim_result& claim, completion_fn done) {
  self->request(self->state.ctx->analytics, caf::infinite, actors::rollup_atom::value, claim.task.subject_id)
      .then(
          [self, done](actors::rollup_reply& r) {
            if (!r) {
              if (r.err().code == errc::unavailable)
                return defer(self, std::chrono::milliseconds(2000), schemas::task_status::retrying, &r.err());
              return done(completion_for(self, schemas::task_status::failed, &r.err()));
            }
            if (!*r) {
              auto gone = make_error(errc::not_found, "the rollup request no longer exists");
              return done(completion_for(self, schemas::task_status::failed, &gone));
            }
            const auto& o = **r;
            auto c = completion_for(self, schemas::task_status::succeeded);
            json::writer w;
            w.begin_object();
            w.kv("days_recomputed", o.days);
            w.kv("rows_written", o.rows);
            w.kv("days_left_dirty", o.left_dirty);
            w.kv("full", o.full);
            w.end_object();
            c.result_json = w.take();
            done(std::move(c));
          },
          [self, done](caf::error&) {
            auto err = make_error(errc::internal, "the analytics actor failed");
            done(completion_for(self, schemas::task_status::failed, &err));
          });
}

namespace {

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

caf::behavior rollup_schedule(caf::stateful_actor<rollup_schedule_state>* self, std::shared_ptr<const job_context> ctx,
                              int every_seconds) {
  // Each replica tries every slot once; the first to take it queues the rollups.
  const auto tick = std::chrono::seconds(std::max(1, std::min(every_seconds / 4, 30)));
  self->send(self, actors::tick_atom::value);
  return {
      [=](actors::tick_atom) {
        self->delayed_send(self, tick, actors::tick_atom::value);
        const std::int64_t slot = unix_seconds() / every_seconds;
        if (slot == self->state.last_slot) return;
        self->state.last_slot = slot;
        self->request(ctx->analytics, caf::infinite, actors::slot_atom::value, slot)
            .then(
                [=](actors::slot_reply& r) {
                  if (!r) {
                    log::warn("analytics", "could not take the rollup slot", {}, {{"error", r.err().message}});
                    self->state.last_slot = -1;  // try again next tick
                    return;
                  }
                  if (r->empty()) return;  // another replica runs this slot
                  log::info("analytics", "scheduled rollups queued", {},
                            {{"slot", std::to_string(slot)}, {"tenants", std::to_string(r->size())}});
                  std::vector<queues::outgoing> msgs;
                  for (const auto& e : *r) msgs.push_back(queues::job_message(e.task));
                  auto analytics = ctx->analytics;
                  auto outbox = r->front().outbox_id;
                  ctx->publisher->publish(std::move(msgs), [analytics, outbox](status st) {
                    if (st) caf::anon_send(analytics, actors::published_atom::value, outbox);
                  });
                },
                [=](caf::error&) { self->state.last_slot = -1; });
      },
  };
}

}  // namespace mq::workers
