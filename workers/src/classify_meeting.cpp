#include "mq/llm/prompt.hpp"
#include "mq/schemas/taxonomy.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {

void classify_meeting(job_pointer self, const store::claim_result& claim, completion_fn done) {
  auto& usage = self->state.usage;
  usage.prompt_version = llm::classification_prompt_version();
  usage.taxonomy_version = schemas::taxonomy_version();
  if (!claim.meeting) {
    auto gone = make_error(errc::internal, "the claim loaded no meeting");
    return done(completion_for(self, schemas::task_status::failed, &gone));
  }
  const auto& cfg = self->state.ctx->llm_cfg;
  call_llm_json(self, llm::classification_request(*claim.meeting, cfg.max_tokens, cfg.temperature),
                [self, done](result<std::string> answer) {
                  if (!answer) return done(completion_for(self, schemas::task_status::failed, &answer.err()));
                  auto c = completion_for(self, schemas::task_status::succeeded);
                  c.result_json = std::move(*answer);
                  done(std::move(c));
                });
}

}  // namespace mq::workers
