// The send_message handler: one campaign message to one recipient, at most once in
// effect. The ledger row is committed as `sending` (with the exact message) before the
// channel is called, by the attempt that owns the task only; the outcome is recorded with
// the task in one transaction. A row found `sending` means an earlier attempt may have
// sent it: a webhook gets the same message again under the same Idempotency-Key, an
// e-mail is recorded `unknown`.

#include <caf/all.hpp>

#include "mq/campaigns/message_template.hpp"
#include "mq/core/failpoint.hpp"
#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/llm/personalize.hpp"
#include "mq/llm/retry.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {
namespace {

using std::chrono::milliseconds;

/// One message in progress.
struct delivery {
  store::delivery_work work;
  campaigns::channel* channel = nullptr;
  campaigns::outbound msg;
  int sends = 0;  ///< Send attempts so far, over every attempt of the task.
  std::string seen;  ///< The row's state as this attempt last read or wrote it.
  completion_fn finish;
};

using delivery_ptr = std::shared_ptr<delivery>;

log::context where(job_pointer self) {
  const auto& e = self->state.envelope;
  return {e.request_id, e.task_id, e.tenant_id};
}

/// Records the outcome: the ledger row (sent, failed or unknown) settles with the task.
void settle(job_pointer self, const delivery_ptr& d, const std::string& state, int response_code,
            const error* err) {
  auto c = completion_for(self, state == "sent" ? schemas::task_status::succeeded : schemas::task_status::failed, err);
  c.delivery_id = d->work.recipient.id;
  json::writer w;
  w.begin_object();
  w.kv("delivery_state", state);
  w.kv("campaign_id", static_cast<long long>(d->work.campaign.id));
  w.kv("recipient_id", static_cast<long long>(d->work.recipient.id));
  w.kv("channel", d->work.campaign.channel);
  w.kv("idempotency_key", d->work.recipient.idempotency_key);
  if (response_code > 0)
    w.kv("response_code", response_code);
  else
    w.kv("response_code", nullptr);
  w.kv("send_attempts", d->sends);
  w.end_object();
  c.result_json = w.take();
  if (state != "sent")
    log::warn("campaigns", "message not sent", where(self),
              {{"state", state}, {"recipient_id", std::to_string(d->work.recipient.id)},
               {"error", err ? err->message : ""}});
  d->finish(std::move(c));
}

void fail(job_pointer self, const delivery_ptr& d, const error& err) { settle(self, d, "failed", 0, &err); }

/// Postgres went away: the whole attempt runs again later.
void try_later(job_pointer self, const error& err) {
  defer(self, milliseconds(2000), schemas::task_status::retrying, &err);
}

void send(job_pointer self, delivery_ptr d);

/// The row of `d` as this attempt of the task saw it, with the message about to go.
store::sending_request marking(job_pointer self, const delivery_ptr& d) {
  const auto& task = self->state.claim.task;
  return {d->work.recipient.id, task.id, task.attempts, d->seen, d->msg.subject, d->msg.body};
}

/// After a send the receiver did not take, with nothing delivered twice by trying again:
/// waits (holding the delivery for short waits) and sends again, until
/// campaigns.max_attempts sends are spent.
void retry_send(job_pointer self, delivery_ptr d, const campaigns::send_result& r) {
  const auto& cfg = self->state.ctx->campaigns_cfg;
  auto err = r.err.value_or(make_error(errc::delivery_deferred, "the receiver did not take the message"));
  if (d->sends >= cfg.max_attempts) {
    err.message += " (" + std::to_string(d->sends) + " attempts)";
    return settle(self, d, "failed", r.response_code, &err);
  }
  const auto delay = llm::retry_delay(d->sends, milliseconds(cfg.backoff_base_ms), milliseconds(cfg.backoff_max_ms),
                                      r.retry_after, jitter());
  auto wait = [self, d, delay, err] {
    hold_or_defer(self, delay, [self, d] { send(self, d); }, schemas::task_status::retrying, &err);
  };
  if (d->channel->idempotent()) return wait();
  // Nothing was handed over: back to pending, so a crash before the retry does not
  // leave the row looking as if it might have been sent.
  self->request(self->state.ctx->campaigns, caf::infinite, actors::pending_atom::value, marking(self, d))
      .then(
          [self, d, wait](mq::status& st) {
            if (!st) return try_later(self, st.err());
            d->seen = "pending";
            wait();
          },
          [self](caf::error&) { try_later(self, make_error(errc::internal, "the campaigns actor failed")); });
}

void sent(job_pointer self, delivery_ptr d, campaigns::send_result r) {
  using campaigns::send_state;
  switch (r.state) {
    case send_state::sent:
      MQ_FAILPOINT("worker.after_send");  // sent, not yet recorded
      return settle(self, d, "sent", r.response_code, nullptr);
    case send_state::failed:
      return settle(self, d, "failed", r.response_code, r.err ? &*r.err : nullptr);
    case send_state::unknown:
      return settle(self, d, "unknown", r.response_code, r.err ? &*r.err : nullptr);
    case send_state::retry:
      return retry_send(self, std::move(d), r);
  }
}

void load(job_pointer self, delivery_ptr d);

/// Commits the row as sending with the exact message, then hands it to the channel.
void send(job_pointer self, delivery_ptr d) {
  const auto& ctx = *self->state.ctx;
  self->request(ctx.campaigns, caf::infinite, actors::sending_atom::value, marking(self, d))
      .then(
          [self, d](actors::sending_reply& mark) {
            if (!mark) return try_later(self, mark.err());
            switch (*mark) {
              case store::sending_mark::marked:
                break;
              case store::sending_mark::moved:
                // An earlier delivery of the task marked or released the row after this
                // one read it: what to do depends on what it did.
                log::info("campaigns", "the message's row changed since it was read; reading it again", where(self));
                return load(self, d);
              case store::sending_mark::refused:
                log::info("campaigns", "message not sent: its task was cancelled or taken over by another delivery",
                          where(self));
                return settle_and_quit(self, actors::settle::ack, actors::job_end::skipped);
            }
            d->seen = "sending";
            ++d->sends;
            auto* ch = d->channel;
            resume_with<campaigns::send_result>(
                self, [ch, msg = d->msg](std::function<void(campaigns::send_result)> cb) { ch->send(msg, std::move(cb)); },
                [self, d](campaigns::send_result r) { sent(self, d, std::move(r)); });
          },
          [self](caf::error&) { try_later(self, make_error(errc::internal, "the campaigns actor failed")); });
}

/// Waits for the campaign's and the channel's send rates, then runs `go`: a short wait
/// holds the delivery, a long one defers the task (as queued).
void after_rates(job_pointer self, const delivery_ptr& d, std::function<void()> go) {
  const auto& ctx = *self->state.ctx;
  const auto& c = d->work.campaign;
  actors::send_limits limits{{"campaign:" + std::to_string(c.id), c.rate_per_minute.value_or(0)},
                             {"channel:" + c.channel, c.channel == "smtp" ? ctx.campaigns_cfg.smtp_per_minute
                                                                          : ctx.campaigns_cfg.webhook_per_minute}};
  if (limits[0].per_minute == 0 && limits[1].per_minute == 0) return go();
  self->request(ctx.send_limits, caf::infinite, actors::acquire_atom::value, std::move(limits))
      .then(
          [self, d, go](std::int64_t wait_ms) {
            if (wait_ms <= 0) return go();
            hold_or_defer(self, milliseconds(wait_ms), [self, d, go] { after_rates(self, d, go); },
                          schemas::task_status::queued, nullptr);
          },
          [go](caf::error&) { go(); });
}

/// The message for a pending row: the template rendered with the recipient's attributes,
/// then personalised when the campaign has a prompt.
void compose(job_pointer self, delivery_ptr d) {
  const auto& c = d->work.campaign;
  const auto& r = d->work.recipient;
  auto attributes = json::parse(r.attributes_json);
  if (!attributes) return fail(self, d, make_error(errc::internal, "the recipient's attributes are not JSON"));
  auto body = campaigns::render(c.template_text, *attributes);
  if (!body) return fail(self, d, body.err());
  std::optional<std::string> subject;
  if (c.subject) {
    auto s = campaigns::render(*c.subject, *attributes);
    if (!s) return fail(self, d, s.err());
    subject = std::move(*s);
  }
  d->msg.subject = subject;
  d->msg.body = std::move(*body);
  if (!c.personalization_prompt) return after_rates(self, d, [self, d] { send(self, d); });
  after_rates(self, d, [self, d] {
    const auto& cfg = self->state.ctx->llm_cfg;
    auto req = llm::personalization_request({d->msg.subject, d->msg.body}, *d->work.campaign.personalization_prompt,
                                            d->work.recipient.attributes_json, cfg.max_tokens, cfg.temperature);
    self->state.usage.prompt_version = llm::personalization_prompt_version();
    call_llm_json(self, std::move(req), [self, d](result<std::string> answer) {
      if (!answer) return fail(self, d, answer.err());
      auto text = llm::parse_personalized(*answer);
      if (!text) return fail(self, d, text.err());
      d->msg.body = std::move(text->body);
      if (d->msg.subject && text->subject && !text->subject->empty()) d->msg.subject = std::move(text->subject);
      send(self, d);
    });
  });
}

/// Reads the ledger row and its campaign, then sends, resends or settles by its state.
void load(job_pointer self, delivery_ptr d) {
  self->request(self->state.ctx->campaigns, caf::infinite, actors::load_atom::value, self->state.claim.task.subject_id)
      .then(
          [self, d](actors::delivery_reply& found) {
            if (!found) return try_later(self, found.err());
            if (!*found) {
              auto gone = make_error(errc::not_found, "the recipient no longer exists");
              return d->finish(completion_for(self, schemas::task_status::failed, &gone));
            }
            d->work = std::move(**found);
            const auto& ctx = *self->state.ctx;
            const auto& r = d->work.recipient;
            const auto& c = d->work.campaign;
            d->sends = r.attempts;
            d->seen = r.state;
            d->msg = campaigns::outbound{c.id, c.name, r.id, r.idempotency_key, r.address, r.subject,
                                         r.message.value_or(""), r.attributes_json};
            if (r.state != "pending" && r.state != "sending") {
              // Settled already (or cancelled): nothing to send.
              auto settled = make_error(errc::conflict, "the message is already " + r.state);
              return settle(self, d, r.state == "sent" ? "sent" : r.state == "unknown" ? "unknown" : "failed",
                            r.response_code.value_or(0), r.state == "sent" ? nullptr : &settled);
            }
            d->channel = c.channel == "smtp" ? ctx.smtp.get() : ctx.webhook.get();
            if (!d->channel)
              return fail(self, d, make_error(errc::delivery_refused, "the " + c.channel + " channel is not configured "
                                                                      "on this worker"));
            if (r.state == "pending") return compose(self, d);
            // An earlier attempt got as far as the channel and its outcome is not known.
            if (!d->channel->idempotent()) {
              auto maybe = make_error(errc::delivery_unknown, "an earlier attempt may have sent this message; "
                                                              "the " + c.channel + " channel cannot dedupe a resend, "
                                                              "so it is not resent");
              return settle(self, d, "unknown", 0, &maybe);
            }
            log::info("campaigns", "resending under the same idempotency key", where(self),
                      {{"recipient_id", std::to_string(r.id)}, {"idempotency_key", r.idempotency_key}});
            after_rates(self, d, [self, d] { send(self, d); });
          },
          [self](caf::error&) { try_later(self, make_error(errc::internal, "the campaigns actor failed")); });
}

}  // namespace

void send_message(job_pointer self, const store::claim_result&, completion_fn done) {
  auto d = std::make_shared<delivery>();
  d->finish = std::move(done);
  load(self, std::move(d));
}

}  // namespace mq::workers
