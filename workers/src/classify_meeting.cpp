#include <caf/all.hpp>

#include "mq/core/log.hpp"
#include "mq/llm/prompt.hpp"
#include "mq/llm/retry.hpp"
#include "mq/schemas/taxonomy.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {
namespace {

struct attempt_state {
  llm::chat_request request;
  store::completion completion;
  completion_fn done;
};

void fail(const std::shared_ptr<attempt_state>& s, const error& err) {
  auto& c = s->completion;
  c.status = schemas::task_status::failed;
  c.error_code = code_name(err.code);
  c.error = err.message;
  if (c.usage.calls > 1) c.error += " (after " + std::to_string(c.usage.calls) + " LLM calls)";
  s->done(std::move(c));
}

void call(job_pointer self, std::shared_ptr<attempt_state> s) {
  const auto& ctx = *self->state.ctx;
  self->request(ctx.llm, caf::infinite, actors::chat_atom::value, s->request)
      .then(
          [self, s](llm::chat_outcome& out) {
            const auto& cfg = self->state.ctx->llm_cfg;
            auto& usage = s->completion.usage;
            ++usage.calls;
            error err;
            if (out.ok()) {
              usage.tokens_in += out.response->tokens_in;
              usage.tokens_out += out.response->tokens_out;
              usage.latency_ms += static_cast<int>(out.response->latency.count());
              if (!out.response->model.empty()) usage.model = out.response->model;
              if (out.response->finish_reason == "length") {
                err = make_error(errc::llm_truncated, "the answer was cut at the token limit");
              } else {
                auto valid = llm::validate_answer(s->request.schema_name, out.response->content);
                if (valid) {
                  s->completion.status = schemas::task_status::succeeded;
                  s->completion.result_json = std::move(*valid);
                  return s->done(std::move(s->completion));
                }
                err = valid.err();
              }
            } else {
              err = *out.err;
            }
            log::warn("classify", "LLM call failed", {{}, s->completion.task_id, {}},
                      {{"code", code_name(err.code)}, {"error", err.message},
                       {"call", std::to_string(usage.calls)}});
            if (!err.retryable() || usage.calls >= cfg.max_attempts) return fail(s, err);
            auto delay = llm::retry_delay(usage.calls, std::chrono::milliseconds(cfg.backoff_base_ms),
                                          std::chrono::milliseconds(cfg.backoff_max_ms),
                                          out.retry_after, self->state.rng);
            retry_later(self, delay, [self, s] { call(self, s); });
          },
          [self, s](caf::error& e) {
            fail(s, make_error(errc::internal, "LLM actor failed", self->system().render(e)));
          });
}

}  // namespace

void classify_meeting(job_pointer self, const store::claim_result& claim, completion_fn done) {
  const auto& ctx = *self->state.ctx;
  auto s = std::make_shared<attempt_state>();
  s->done = std::move(done);
  s->completion.task_id = claim.task.id;
  s->completion.attempt = claim.task.attempts;
  s->completion.usage.provider = ctx.provider;
  s->completion.usage.model = ctx.model;
  s->completion.usage.prompt_version = llm::classification_prompt_version();
  s->completion.usage.taxonomy_version = schemas::taxonomy_version();
  auto facts = llm::parse_meeting_facts(claim.input);
  if (!facts) return fail(s, facts.err());
  s->request = llm::classification_request(*facts, ctx.llm_cfg.max_tokens, ctx.llm_cfg.temperature);
  call(self, s);
}

}  // namespace mq::workers
