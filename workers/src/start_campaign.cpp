// The start_campaign handler: one send_message task per recipient, published from here
// with confirms (the outbox relay publishes them should this worker die first).

#include <caf/all.hpp>

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {
namespace {

using std::chrono::milliseconds;

store::completion started(job_pointer self, std::int64_t campaign_id, bool began, long long deliveries) {
  auto c = completion_for(self, schemas::task_status::succeeded);
  json::writer w;
  w.begin_object();
  w.kv("campaign_id", static_cast<long long>(campaign_id));
  w.kv("started", began);
  w.kv("deliveries", deliveries);
  w.end_object();
  c.result_json = w.take();
  return c;
}

}  // namespace

void start_campaign(job_pointer self, const store::claim_result& claim, completion_fn done) {
  const auto id = claim.task.subject_id;
  self->request(self->state.ctx->campaigns, caf::infinite, actors::fanout_atom::value, id)
      .then(
          [self, id, done](actors::fan_out_reply& r) {
            if (!r) {
              if (r.err().code == errc::unavailable)
                return defer(self, milliseconds(2000), schemas::task_status::retrying, &r.err());
              return done(completion_for(self, schemas::task_status::failed, &r.err()));
            }
            const log::context where{self->state.envelope.request_id, self->state.envelope.task_id,
                                     self->state.envelope.tenant_id};
            switch (r->what) {
              case store::fan_out::outcome::missing: {
                auto gone = make_error(errc::not_found, "the campaign no longer exists");
                return done(completion_for(self, schemas::task_status::failed, &gone));
              }
              case store::fan_out::outcome::cancelled:
                log::info("campaigns", "campaign not started: it was cancelled", where);
                return done(started(self, id, false, 0));
              case store::fan_out::outcome::not_yet:
                // Early (a clock moved, or a republish without its due time): wait until due.
                return defer(self, milliseconds(r->wait_ms), schemas::task_status::queued, nullptr);
              case store::fan_out::outcome::started:
                break;
            }
            log::info("campaigns", "campaign started", where,
                      {{"campaign_id", std::to_string(id)}, {"deliveries", std::to_string(r->deliveries)},
                       {"publishing", std::to_string(r->tasks.size())}});
            auto msgs = queues::job_messages(r->tasks, self->state.ctx->group_size);
            const auto deliveries = r->deliveries;
            const auto outbox_id = r->outbox_id;
            auto publisher = self->state.ctx->publisher;
            resume_with<status>(
                self, [publisher, msgs = std::move(msgs)](std::function<void(status)> cb) mutable {
                  publisher->publish(std::move(msgs), std::move(cb));
                },
                [self, id, done, deliveries, outbox_id, where](status st) {
                  if (st && !outbox_id.empty())
                    self->send(self->state.ctx->campaigns, actors::published_atom::value, outbox_id);
                  if (!st)
                    log::warn("campaigns", "delivery tasks stored but not confirmed; the outbox relay publishes them",
                              where, {{"error", st.err().internal}});
                  done(started(self, id, true, deliveries));
                });
          },
          [self, done](caf::error&) {
            auto err = make_error(errc::internal, "the campaigns actor failed");
            done(completion_for(self, schemas::task_status::failed, &err));
          });
}

}  // namespace mq::workers
