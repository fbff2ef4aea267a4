#include "mq/workers/dead_letters.hpp"

#include <caf/all.hpp>

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/time.hpp"

namespace mq::workers {
namespace {

using recorder_pointer = caf::stateful_actor<recorder_state>*;

int to_int(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoi(s);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::string dead_letter_reason_text(const std::string& reason) {
  if (reason == "delivery_limit")
    return "delivered more often than the queue's delivery limit without being settled (every worker "
           "holding it died or gave it back)";
  if (reason == "rejected") return "rejected by a consumer";
  if (reason == "expired") return "expired in the queue";
  if (reason == "maxlen") return "dropped by the queue's length limit";
  return "dead-lettered by the broker (" + reason + ")";
}

namespace {

void finish(recorder_pointer self, actors::settle s) { settle_and_quit(self, s, actors::job_end::recorded); }

void record(recorder_pointer self) {
  const auto& ctx = *self->state.ctx;
  const auto& env = self->state.letter.envelope;
  self->request(ctx.pg_for(env ? env->task_id : self->state.letter.dedup_key), caf::infinite,
                actors::bury_atom::value, self->state.letter)
      .then(
          [self](actors::bury_reply& r) {
            if (!r) {
              // Held, never dropped: Postgres down or not, the letter is recorded later.
              if (self->state.outage_retries == 0)
                log::warn("dead_letters", "recording a dead letter failed; holding it", {},
                          {{"error", r.err().message}, {"detail", r.err().internal}});
              self->delayed_send(self, outage_backoff(self->state), actors::retry_atom::value);
              return;
            }
            if (!*r) return finish(self, actors::settle::ack);
            const auto& t = **r;
            log::warn("dead_letters", "task dead-lettered", {t.request_id.value_or(""), t.id, t.tenant_id},
                      {{"reason", self->state.letter.reason}, {"error", self->state.letter.error}});
            auto& ctx = *self->state.ctx;
            self->request(ctx.cache, caf::infinite, actors::put_atom::value,
                          actors::cache_entries{{ctx.keys.task(t.tenant_id, t.id), schemas::to_json(t),
                                                 store::result_cache::write_mode::final}})
                .then([self](bool) { finish(self, actors::settle::ack); },
                      [self](caf::error&) { finish(self, actors::settle::ack); });
          },
          [self](caf::error&) { finish(self, actors::settle::requeue); });
}

}  // namespace

store::dead_letter read_dead_letter(const queues::delivery& d) {
  store::dead_letter out;
  out.body = d.body;
  if (auto env = schemas::decode_envelope(d.body)) out.envelope = std::move(*env);
  auto x_death = queues::header_of(d, "x-death");
  if (auto id = queues::header_of(d, "x-mq-dead-id"); !id.empty()) {
    x_death = queues::header_of(d, "x-mq-x-death");
    // Dead-lettered by a worker, which said why.
    out.dedup_key = "worker:" + id;
    out.reason = queues::header_of(d, "x-mq-reason");
    out.error_code = queues::header_of(d, "x-mq-error-code");
    out.error = queues::header_of(d, "x-mq-error");
    out.queue = queues::header_of(d, "x-mq-queue");
    out.deliveries = to_int(queues::header_of(d, "x-mq-deliveries"));
  } else {
    // Dead-lettered by the broker: x-death is the record (stable across redeliveries).
    out.dedup_key = "broker:" + d.message_id + ":" + x_death + ":" + (x_death.empty() ? d.body : "");
    out.reason = queues::header_of(d, "x-first-death-reason");
    if (out.reason.empty()) out.reason = "unknown";
    out.error_code = out.reason == "delivery_limit" ? code_name(errc::poison) : "DEAD_LETTERED";
    out.error = dead_letter_reason_text(out.reason);
    out.queue = queues::header_of(d, "x-first-death-queue");
    out.deliveries = static_cast<int>(d.delivery_count);
  }
  if (out.queue.empty()) out.queue = d.routing_key;
  if (out.reason.empty()) out.reason = "poison";
  if (out.error.empty()) out.error = "dead-lettered";
  if (out.error_code.empty()) out.error_code = code_name(errc::poison);
  json::writer w;
  w.begin_array();
  w.begin_object();
  w.kv("at", format_rfc3339(system_now()));
  w.kv("queue", out.queue);
  w.kv("reason", out.reason);
  w.kv("deliveries", out.deliveries);
  w.kv("error", out.error);
  w.key("x_death");
  if (!x_death.empty() && json::parse(x_death))
    w.raw(x_death);
  else
    w.null();
  w.end_object();
  w.end_array();
  out.history_json = w.take();
  return out;
}

caf::behavior dead_letter_recorder(caf::stateful_actor<recorder_state>* self, std::shared_ptr<const job_context> ctx,
                                   actors::dispatcher_actor dispatcher, queues::delivery d,
                                   std::uint64_t generation) {
  self->state.ctx = std::move(ctx);
  self->state.dispatcher = std::move(dispatcher);
  self->state.delivery = std::move(d);
  self->state.generation = generation;
  self->state.letter = read_dead_letter(self->state.delivery);
  record(self);
  return {[self](actors::retry_atom) { record(self); }};
}

}  // namespace mq::workers
