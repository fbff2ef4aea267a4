#include <caf/all.hpp>
#include <random>

#include "mq/core/log.hpp"
#include "mq/llm/offline.hpp"
#include "mq/llm/prompt.hpp"
#include "mq/core/metrics.hpp"
#include "mq/core/time.hpp"
#include "mq/llm/retry.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {

std::mt19937& jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return rng;
}

namespace {

using std::chrono::milliseconds;

struct call_state {
  llm::shared_request req;
  std::function<void(result<llm::chat_response>)> done;
  std::int64_t estimate = 0;  ///< Tokens charged to the limits before the call.
  bool checked = false;       ///< Whether the task was found not cancelled for this call.
};

void send(job_pointer self, std::shared_ptr<call_state> s);

/// Goes now, waits holding the delivery, or defers the job, as the wait demands.
void wait_then(job_pointer self, std::int64_t estimate, std::function<void()> go, std::int64_t wait_ms) {
  if (wait_ms <= 0) return go();
  hold_or_defer(self, milliseconds(wait_ms), [self, estimate, go] { after_limits(self, estimate, go); },
                schemas::task_status::queued, nullptr);
}

void admit(job_pointer self, std::shared_ptr<call_state> s) {
  after_limits(self, s->estimate, [self, s] { send(self, s); });
}

void send(job_pointer self, std::shared_ptr<call_state> s) {
  // The claim checked before the first call; a retry or repair checks again.
  if (self->state.usage.calls > 0 && !s->checked) {
    s->checked = true;
    return unless_cancelled(self, [self, s] { send(self, s); });
  }
  s->checked = false;
  const auto& ctx = *self->state.ctx;
  self->request(ctx.llm, caf::infinite, actors::chat_atom::value, s->req)
      .then(
          [self, s](llm::chat_outcome& out) {
            auto& usage = self->state.usage;
            ++usage.calls;
            const auto& tenant = self->state.envelope.tenant_id;
            if (out.ok()) {
              const auto& r = *out.response;
              usage.tokens_in += r.tokens_in;
              usage.tokens_out += r.tokens_out;
              usage.latency_ms += static_cast<int>(r.latency.count());
              if (!r.model.empty()) usage.model = r.model;
              settle_limits(self, s->estimate, r.tokens_in + r.tokens_out, out.http_status, out.retry_after);
              return s->done(std::move(*out.response));
            }
            const error err = *out.err;
            settle_limits(self, s->estimate, 0, out.http_status, out.retry_after);
            log::warn("llm", "call failed", {{}, self->state.envelope.task_id, tenant},
                      {{"code", code_name(err.code)}, {"error", err.message},
                       {"failed_calls", std::to_string(self->state.failed_calls + 1)}});
            if (!err.retryable()) return s->done(err);
            auto last = err;
            const auto delay = next_call_in(self, ++self->state.failed_calls, last, out.retry_after);
            if (!delay) return s->done(last);
            metrics::global().inc("mq_llm_retries_total");
            hold_or_defer(self, *delay, [self, s] { admit(self, s); }, schemas::task_status::retrying, &err);
          },
          [self, s](caf::error& e) {
            s->done(make_error(errc::internal, "LLM actor failed", self->system().render(e)));
          });
}

std::string repair_prompt(const error& problem) {
  if (problem.code == errc::llm_truncated)
    return "Your previous answer was cut off at the token limit. Answer again, more concisely, "
           "with only one complete JSON object that follows the schema.";
  return "Your previous answer could not be used: " + problem.message +
         ". Answer again with only one JSON object that follows the schema exactly.";
}

/// One call under the policy (see call_llm_json), the request shared rather than copied:
/// retries send it again and a repair reads it.
void call_llm(job_pointer self, llm::shared_request req, std::function<void(result<llm::chat_response>)> done) {
  auto s = std::make_shared<call_state>();
  for (const auto& m : req->messages) s->estimate += llm::estimate_tokens(m.content);
  s->estimate += req->max_tokens;
  s->req = std::move(req);
  s->done = std::move(done);
  admit(self, std::move(s));
}

void ask_json(job_pointer self, llm::shared_request original, bool repaired,
              std::function<void(result<std::string>)> done) {
  call_llm(self, original, [self, original, repaired, done](result<llm::chat_response> r) {
    if (!r) return done(r.err());
    error problem;
    if (r->finish_reason == "length") {
      problem = make_error(errc::llm_truncated, "the answer was cut at the token limit");
    } else {
      auto valid = llm::validate_answer(original->schema_name, r->content);
      if (valid) return done(std::move(*valid));
      problem = valid.err();
    }
    if (repaired) {
      problem.message += " (after a repair request)";
      return done(problem);
    }
    log::info("llm", "asking for a repaired answer", {{}, self->state.envelope.task_id, {}},
              {{"problem", problem.message}});
    auto fix = *original;
    fix.messages.push_back({"assistant", r->content});
    fix.messages.push_back({"user", repair_prompt(problem)});
    if (problem.code == errc::llm_truncated) fix.max_tokens = std::min(original->max_tokens * 2, 16384);
    ask_json(self, std::make_shared<const llm::chat_request>(std::move(fix)), true, done);
  });
}

}  // namespace

void after_limits(job_pointer self, std::int64_t estimate, std::function<void()> go) {
  const auto& ctx = *self->state.ctx;
  if (!ctx.limiter) return go();
  if (ctx.hold) {
    return wait_then(self, estimate, std::move(go), ctx.hold->load() - unix_ms());
  }
  self->request(*ctx.limiter, caf::infinite, actors::acquire_atom::value, self->state.envelope.tenant_id, estimate)
      .then([self, estimate, go](std::int64_t wait_ms) { wait_then(self, estimate, go, wait_ms); },
            [go](caf::error&) { go(); });
}

std::optional<milliseconds> next_call_in(job_pointer self, int failed, error& err,
                                         std::optional<milliseconds> retry_after) {
  const auto& cfg = self->state.ctx->llm_cfg;
  if (failed >= cfg.max_attempts) {
    err.message += " (after " + std::to_string(failed) + " failed calls)";
    return std::nullopt;
  }
  return llm::retry_delay(failed, milliseconds(cfg.backoff_base_ms), milliseconds(cfg.backoff_max_ms), retry_after,
                          jitter());
}

void settle_limits(job_pointer self, std::int64_t estimate, std::int64_t used, long http_status,
                   std::optional<milliseconds> retry_after) {
  const auto& ctx = *self->state.ctx;
  if (!ctx.limiter) return;
  // A failed call used no tokens: its estimate comes back.
  if (!ctx.hold) self->send(*ctx.limiter, actors::settle_atom::value, self->state.envelope.tenant_id, estimate, used);
  if (http_status == 429)
    self->send(*ctx.limiter, actors::penalize_atom::value,
               static_cast<std::int64_t>(retry_after.value_or(milliseconds(0)).count()));
}

void call_llm_json(job_pointer self, llm::chat_request req, std::function<void(result<std::string>)> done) {
  ask_json(self, std::make_shared<const llm::chat_request>(std::move(req)), false, std::move(done));
}

}  // namespace mq::workers
