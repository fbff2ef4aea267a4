#include "mq/workers/job.hpp"

#include <caf/all.hpp>

#include "mq/core/failpoint.hpp"
#include "mq/core/ids.hpp"
#include "mq/core/log.hpp"
#include "mq/core/time.hpp"
#include "mq/workers/dead_letters.hpp"

namespace mq::workers {
namespace {

using actors::job_end;
using actors::settle;
using std::chrono::milliseconds;

log::context log_ctx(job_pointer self) {
  const auto& e = self->state.envelope;
  return {e.request_id, e.task_id, e.tenant_id};
}

/// Forgets the job's lazy claim: once its outcome is on its way (or it ends without
/// one), nothing marks it running any more.
void unmark(job_pointer self) {
  if (self->state.claim.lazy) self->state.ctx->marks->remove(self->state.claim.task.id);
}

void finish(job_pointer self, settle s, job_end end) {
  unmark(self);
  settle_and_quit(self, s, end);
}

/// Waits for Postgres with capped exponential backoff, then runs `fn` again.
void wait_for_database(job_pointer self, std::function<void()> fn) {
  if (self->state.outage_retries == 0) log::warn("job", "database unavailable; holding the delivery", log_ctx(self));
  retry_later(self, outage_backoff(self->state), std::move(fn));
}

void cache_then_ack(job_pointer self, actors::cache_entries entries, job_end end) {
  auto& ctx = *self->state.ctx;
  self->request(ctx.cache, caf::infinite, actors::put_atom::value, std::move(entries))
      .then([self, end](bool) { finish(self, settle::ack, end); },
            [self, end](caf::error&) { finish(self, settle::ack, end); });
}

/// Publishes `m` with a confirm, then runs `then(confirmed)` in the job.
void publish_then(job_pointer self, queues::outgoing m, std::function<void(bool)> then) {
  auto publisher = self->state.ctx->publisher;
  resume_with<bool>(
      self,
      [publisher, m = std::move(m)](std::function<void(bool)> confirmed) mutable {
        publisher->publish({std::move(m)}, [confirmed](status st) { confirmed(st.ok()); });
      },
      std::move(then));
}

/// Publishes `env` to the delay tier that fits `remaining`, then runs `then(ok)`.
void send_delayed(job_pointer self, const schemas::envelope& env, milliseconds remaining,
                  std::function<void(bool)> then) {
  auto m = queues::job_message(env);
  m.exchange = self->state.ctx->topology.delay_exchange();
  m.headers.insert(m.headers.begin(), {"mq-delay", std::to_string(queues::topology::tier_for(remaining.count()))});
  publish_then(self, std::move(m), std::move(then));
}

/// Dead-letters the delivery with why: a copy carrying the error goes to the dead-letter
/// exchange, then the delivery is acked. Without a confirm it is rejected instead, and
/// the broker dead-letters it without the error.
void bury(job_pointer self, errc code, const std::string& why, const std::string& reason = "poison") {
  const auto& d = self->state.delivery;
  log::error("job", "message dead-lettered", log_ctx(self),
             {{"error", why}, {"queue", d.queue}, {"message_id", d.message_id}});
  queues::outgoing m;
  m.exchange = self->state.ctx->topology.dead_exchange();
  m.routing_key = d.routing_key;
  m.body = d.body.empty() ? schemas::encode(self->state.envelope) : d.body;  // a bulk message's task
  m.message_id = d.message_id;
  m.headers = {{"x-mq-dead-id", new_uuid()},
               {"x-mq-reason", reason},
               {"x-mq-error-code", code_name(code)},
               {"x-mq-error", why},
               {"x-mq-queue", d.queue},
               {"x-mq-deliveries", std::to_string(d.delivery_count + 1 + self->state.envelope.deliveries)}};
  for (const auto& [k, v] : d.headers)
    if (k == "x-request-id") m.headers.emplace_back(k, v);
    else if (k == "x-death") m.headers.emplace_back("x-mq-x-death", v);  // the broker's own header stays its own
  publish_then(self, std::move(m), [self](bool ok) {
    finish(self, ok ? settle::ack : settle::reject, job_end::poison);
  });
}

/// Shows the task running to polls, unless the outcome's entry is on its way: sent from
/// the job before that entry, it cannot overwrite it.
void show_running(job_pointer self, const schemas::task_record& t) {
  if (self->state.recording) return;
  caf::anon_send(self->state.ctx->cache, actors::put_atom::value,
                 actors::cache_entries{{self->state.ctx->keys.task(t.tenant_id, t.id), schemas::to_json(t),
                                        store::result_cache::write_mode::progress}});
}

/// After an outcome is stored: the cache entries that show it.
actors::cache_entries entries_for(job_pointer self, const store::completed& r) {
  const auto& keys = self->state.ctx->keys;
  const auto mode = schemas::is_terminal(r.task.status) ? store::result_cache::write_mode::final
                                                        : store::result_cache::write_mode::progress;
  actors::cache_entries entries{{keys.task(r.task.tenant_id, r.task.id), schemas::to_json(r.task), mode}};
  if (r.classification)
    entries.push_back({keys.classification(r.task.tenant_id, r.classification->meeting_id),
                       schemas::to_json(*r.classification)});
  return entries;
}

void record(job_pointer self, store::completion c) {
  auto& ctx = *self->state.ctx;
  self->state.recording = true;
  unmark(self);
  self->request(ctx.complete_for(c.task_id), caf::infinite, actors::complete_atom::value, c)
      .then(
          [self, c](actors::complete_reply& r) {
            if (!r) {
              if (r.err().code == errc::unavailable)
                return wait_for_database(self, [self, c] { record(self, c); });
              log::error("job", "could not record the outcome", log_ctx(self),
                         {{"error", r.err().message}, {"detail", r.err().internal}});
              return finish(self, settle::requeue, job_end::returned);
            }
            self->state.outage_retries = 0;
            if (!r->applied) {
              log::info("job", "a newer attempt owns the task; result dropped", log_ctx(self));
              return finish(self, settle::ack, job_end::skipped);
            }
            MQ_FAILPOINT("worker.after_commit");  // committed, not yet acked
            auto entries = entries_for(self, *r);
            const auto status = r->task.status;
            if (status == schemas::task_status::retrying || status == schemas::task_status::queued) {
              auto env = self->state.envelope;
              env.attempt = self->state.failed_calls;
              env.not_before = unix_ms() + c.retry_in_ms;
              log::info("job", "task deferred", log_ctx(self),
                        {{"status", schemas::to_string(status)}, {"retry_in_ms", std::to_string(c.retry_in_ms)}});
              // Published before the ack: a crash in between only runs the retry early.
              return send_delayed(self, env, milliseconds(c.retry_in_ms), [self, entries](bool ok) mutable {
                if (!ok) return finish(self, settle::requeue, job_end::returned);
                cache_then_ack(self, std::move(entries), job_end::deferred);
              });
            }
            const bool ok = status == schemas::task_status::succeeded;
            log::info("job", ok ? "task succeeded" : "task failed", log_ctx(self),
                      {{"kind", r->task.kind}, {"attempt", std::to_string(r->task.attempts)},
                       {"llm_calls", std::to_string(c.usage.calls)}});
            cache_then_ack(self, std::move(entries), ok ? job_end::succeeded : job_end::failed);
          },
          [self](caf::error&) { finish(self, settle::requeue, job_end::returned); });
}

void run(job_pointer self, const store::claim_result& c) {
  auto done = [self](store::completion comp) { record(self, std::move(comp)); };
  if (!c.subject_found) {
    auto gone = make_error(errc::not_found, "the task's subject no longer exists");
    return done(completion_for(self, schemas::task_status::failed, &gone));
  }
  if (c.task.kind == schemas::kinds::classify_meeting) return classify_meeting(self, c, done);
  if (c.task.kind == schemas::kinds::process_document) return process_document(self, c, done);
  if (c.task.kind == schemas::kinds::start_campaign) return start_campaign(self, c, done);
  if (c.task.kind == schemas::kinds::send_message) return send_message(self, c, done);
  if (c.task.kind == schemas::kinds::rollup_analytics) return rollup_analytics(self, c, done);
  bury(self, errc::poison, "no handler for kind " + c.task.kind);
}

void claim(job_pointer self) {
  auto& ctx = *self->state.ctx;
  self->request(ctx.pg_for(self->state.envelope.task_id), caf::infinite, actors::claim_atom::value,
                // A claim tried again after a lost connection may have committed the first
                // time: this delivery is the owner either way, so it may take over.
                // So may a task split from a bulk message that came back (see dispatcher).
                store::claim_request{self->state.envelope, self->state.delivery.redelivered ||
                                                               self->state.outage_retries > 0 ||
                                                               self->state.envelope.deliveries > 0})
      .then(
          [self](actors::claim_reply& r) {
            if (!r) {
              if (r.err().code == errc::unavailable)
                return wait_for_database(self, [self] { claim(self); });
              log::error("job", "claim failed", log_ctx(self),
                         {{"error", r.err().message}, {"detail", r.err().internal}});
              return finish(self, settle::requeue, job_end::returned);
            }
            self->state.outage_retries = 0;
            switch (r->outcome) {
              case store::claim_outcome::missing:
                return bury(self, errc::not_found, "the message names no task of its tenant");
              case store::claim_outcome::finished: {
                // Redelivered after the work was done: refresh the cache, change nothing.
                const auto& t = r->task;
                log::info("job", "task already finished; delivery acknowledged", log_ctx(self),
                          {{"status", schemas::to_string(t.status)}});
                return cache_then_ack(
                    self, {{self->state.ctx->keys.task(t.tenant_id, t.id), schemas::to_json(t)}},
                    job_end::skipped);
              }
              case store::claim_outcome::busy:
                log::info("job", "task running under another delivery; duplicate acknowledged", log_ctx(self));
                return finish(self, settle::ack, job_end::skipped);
              case store::claim_outcome::run: {
                const auto& t = r->task;
                self->state.claimed_ms = unix_ms();
                if (r->lazy)  // recorded running (then shown so) only if it runs long
                  self->state.ctx->marks->add({t.id, caf::actor_cast<caf::actor>(self), t.attempts, self->state.claimed_ms});
                else  // polls see it running; the outcome's entry, sent later, replaces this one
                  show_running(self, t);
                self->state.claim = std::move(*r);
                MQ_FAILPOINT("worker.after_claim");
                return run(self, self->state.claim);
              }
            }
          },
          [self](caf::error&) { finish(self, settle::requeue, job_end::returned); });
}

/// Starts the job, or keeps it waiting until its not-before time: a short wait holds the
/// delivery, a long one sends it through the delay queues again.
void start(job_pointer self) {
  // A task split from a bulk message that came back: the broker counts this message's
  // deliveries only, so the worker adds the ones before the split to the limit.
  if (const int before = self->state.envelope.deliveries;
      before > 0 && self->state.delivery.delivery_count + before > self->state.ctx->delivery_limit)
    return bury(self, errc::poison, dead_letter_reason_text("delivery_limit"), "delivery_limit");
  const auto remaining = milliseconds(self->state.envelope.not_before - unix_ms());
  if (remaining <= milliseconds(20)) return claim(self);
  if (remaining <= milliseconds(self->state.ctx->llm_cfg.hold_max_ms))
    return retry_later(self, remaining, [self] { claim(self); });
  send_delayed(self, self->state.envelope, remaining, [self](bool ok) {
    finish(self, ok ? settle::ack : settle::requeue, ok ? job_end::deferred : job_end::returned);
  });
}

}  // namespace

milliseconds outage_backoff(delivery_owner& owner) {
  return milliseconds(100 << std::min(owner.outage_retries++, 6));
}

// Claims take the first half of the connections (the one, when there is one) and
// completions the rest.
const actors::pg_actor& job_context::pg_for(const std::string& task_id) const {
  return pg[std::hash<std::string>{}(task_id) % std::max<std::size_t>(1, pg.size() / 2)];
}

const actors::pg_actor& job_context::complete_for(const std::string& task_id) const {
  const auto first = pg.size() / 2;
  return pg[first + std::hash<std::string>{}(task_id) % (pg.size() - first)];
}

void unless_cancelled(job_pointer self, std::function<void()> go) {
  const auto& task_id = self->state.envelope.task_id;
  self->request(self->state.ctx->pg_for(task_id), caf::infinite, actors::state_atom::value, task_id)
      .then(
          [self, go](actors::state_reply& r) {
            if (r && *r && **r == schemas::task_status::cancelled) {
              log::info("job", "task cancelled; no further LLM calls", log_ctx(self));
              return finish(self, settle::ack, job_end::skipped);
            }
            go();
          },
          [go](caf::error&) { go(); });
}

void retry_later(job_pointer self, milliseconds delay, std::function<void()> fn) {
  self->state.on_retry = std::move(fn);
  self->delayed_send(self, delay, actors::retry_atom::value);
}

store::completion completion_for(job_pointer self, schemas::task_status status, const error* err) {
  const auto& st = self->state;
  store::completion c;
  c.task_id = st.claim.task.id;
  c.attempt = st.claim.task.attempts;
  c.status = status;
  if (err) {
    c.error_code = code_name(err->code);
    c.error = err->message;
  }
  c.usage = st.usage;
  c.started_ms = st.claimed_ms;
  c.cost_usd = st.ctx->prices.cost(st.usage.model, st.usage.tokens_in, st.usage.tokens_out);
  return c;
}

void hold_or_defer(job_pointer self, milliseconds wait, std::function<void()> again, schemas::task_status status,
                   const error* last) {
  if (wait <= milliseconds(self->state.ctx->llm_cfg.hold_max_ms)) return retry_later(self, wait, std::move(again));
  if (status == schemas::task_status::queued)
    log::info("job", "deferred by the rate limit", log_ctx(self), {{"wait_ms", std::to_string(wait.count())}});
  defer(self, wait, status, last);
}

void defer(job_pointer self, milliseconds delay, schemas::task_status status, const error* last) {
  auto c = completion_for(self, status, last);
  c.retry_in_ms = delay.count();
  record(self, std::move(c));
}

caf::behavior job(job_pointer self, std::shared_ptr<const job_context> ctx,
                  actors::dispatcher_actor dispatcher, queues::delivery d, std::uint64_t generation,
                  std::optional<schemas::envelope> decoded) {
  self->state.ctx = std::move(ctx);
  self->state.dispatcher = std::move(dispatcher);
  self->state.delivery = std::move(d);
  self->state.generation = generation;
  auto env = decoded ? result<schemas::envelope>(std::move(*decoded)) : schemas::decode_envelope(self->state.delivery.body);
  if (env) {
    self->state.envelope = std::move(*env);
    self->state.failed_calls = self->state.envelope.attempt;
    self->state.usage.provider = self->state.ctx->provider;
    self->state.usage.model = self->state.ctx->model;
    start(self);
  } else {
    bury(self, env.err().code, env.err().message);
  }
  return {
      [self](actors::retry_atom) {
        auto fn = std::move(self->state.on_retry);
        if (fn) fn();
      },
      [self](actors::resume_atom) {
        auto fn = std::move(self->state.on_resume);
        if (fn) fn();
      },
      // The marker recorded the lazily claimed task running.
      [self](actors::running_atom, const schemas::task_record& t) { show_running(self, t); },
  };
}

}  // namespace mq::workers
