// The process_document handler: text out of the upload, chunks with overlap, their
// embeddings in batches, all stored in one transaction.

#include <caf/all.hpp>

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/documents/text.hpp"
#include "mq/llm/offline.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {
namespace {

using std::chrono::milliseconds;

/// One document's work in progress.
struct doc_job {
  std::int64_t id = 0;
  std::vector<documents::chunk> chunks;
  std::vector<store::embedded_chunk> done;
  completion_fn finish;
};

using doc_ptr = std::shared_ptr<doc_job>;

/// Marks the document failed with `err`, then fails the task with it.
void fail(job_pointer self, const doc_ptr& d, const error& err) {
  log::warn("documents", "document failed", {{}, self->state.envelope.task_id, self->state.envelope.tenant_id},
            {{"document_id", std::to_string(d->id)}, {"error", err.message}});
  self->request(self->state.ctx->documents, caf::infinite, actors::fail_atom::value, d->id, err.message)
      .then([self, d, err](mq::status&) { d->finish(completion_for(self, schemas::task_status::failed, &err)); },
            [self, d, err](caf::error&) { d->finish(completion_for(self, schemas::task_status::failed, &err)); });
}

void embed_next(job_pointer self, doc_ptr d);
void embed_batch(job_pointer self, doc_ptr d, std::size_t from, std::size_t n, std::int64_t estimate,
                 std::vector<std::string> texts);

void save(job_pointer self, const doc_ptr& d) {
  self->request(self->state.ctx->documents, caf::infinite, actors::save_atom::value, d->id, d->done)
      .then(
          [self, d](mq::status& st) {
            if (!st) return fail(self, d, st.err());
            auto c = completion_for(self, schemas::task_status::succeeded);
            json::writer w;
            w.begin_object();
            w.kv("document_id", static_cast<long long>(d->id));
            w.kv("total_chunks", static_cast<int>(d->done.size()));
            w.end_object();
            c.result_json = w.take();
            d->finish(std::move(c));
          },
          [self, d](caf::error&) { fail(self, d, make_error(errc::internal, "saving the chunks failed")); });
}

/// Embeds the next batch of chunks; a failed call is retried like a chat call, from the
/// same budget of llm.max_attempts failed calls per task.
void embed_next(job_pointer self, doc_ptr d) {
  const auto& ctx = *self->state.ctx;
  const std::size_t from = d->done.size();
  if (from == d->chunks.size()) return save(self, d);
  const std::size_t n = std::min(d->chunks.size() - from, static_cast<std::size_t>(ctx.documents_cfg.embed_batch_size));
  std::vector<std::string> texts;
  std::int64_t estimate = 0;
  for (std::size_t i = from; i < from + n; ++i) {
    texts.push_back(d->chunks[i].content);
    estimate += llm::estimate_tokens(texts.back());
  }
  // The same shared limits as chat calls, then the call.
  after_limits(self, estimate, [self, d, from, n, estimate, texts = std::move(texts)]() mutable {
    embed_batch(self, d, from, n, estimate, std::move(texts));
  });
}

void embed_batch(job_pointer self, doc_ptr d, std::size_t from, std::size_t n, std::int64_t estimate,
                 std::vector<std::string> texts) {
  const auto& ctx = *self->state.ctx;
  self->request(ctx.llm, caf::infinite, actors::embed_atom::value, std::move(texts))
      .then(
          [self, d, from, n, estimate](llm::embed_outcome& out) {
            const auto& ctx = *self->state.ctx;
            auto& usage = self->state.usage;
            ++usage.calls;
            settle_limits(self, estimate, out.ok() ? out.tokens : 0, out.http_status, out.retry_after);
            if (out.ok() && out.vectors.size() != n)
              out.err = make_error(errc::llm_invalid_output, "the embeddings answer has " +
                                                                 std::to_string(out.vectors.size()) + " vectors for " +
                                                                 std::to_string(n) + " texts");
            if (!out.ok()) {
              auto err = *out.err;
              log::warn("documents", "embeddings call failed", {{}, self->state.envelope.task_id, {}},
                        {{"error", err.message}, {"failed_calls", std::to_string(self->state.failed_calls + 1)}});
              if (!err.retryable()) return fail(self, d, err);
              const auto delay = next_call_in(self, ++self->state.failed_calls, err, out.retry_after);
              if (!delay) return fail(self, d, err);
              return retry_later(self, *delay, [self, d] { embed_next(self, d); });
            }
            usage.tokens_in += out.tokens;
            if (!out.model.empty()) usage.model = out.model;
            for (std::size_t i = 0; i < n; ++i) {
              const auto& c = d->chunks[from + i];
              d->done.push_back({c.index, c.content, c.page, c.start, c.end, std::move(out.vectors[i])});
            }
            const int total = static_cast<int>(d->chunks.size());
            self->send(ctx.documents, actors::progress_atom::value, d->id, static_cast<int>(d->done.size()), total);
            embed_next(self, d);
          },
          [self, d](caf::error&) { fail(self, d, make_error(errc::internal, "the LLM actor failed")); });
}

}  // namespace

void process_document(job_pointer self, const store::claim_result& claim, completion_fn done) {
  auto d = std::make_shared<doc_job>();
  d->id = claim.task.subject_id;
  d->finish = std::move(done);
  self->request(self->state.ctx->documents, caf::infinite, actors::load_atom::value, d->id)
      .then(
          [self, d](actors::document_reply& r) {
            if (!r) {
              // Postgres went away: try the whole attempt again later.
              return defer(self, milliseconds(2000), schemas::task_status::retrying, &r.err());
            }
            if (!*r) {
              auto gone = make_error(errc::not_found, "the document no longer exists");
              return d->finish(completion_for(self, schemas::task_status::failed, &gone));
            }
            auto pages = documents::extract((*r)->content, (*r)->mime_type);
            if (!pages) return fail(self, d, pages.err());
            const auto& cfg = self->state.ctx->documents_cfg;
            d->chunks = documents::split(*pages, {cfg.chunk_size, cfg.chunk_overlap});
            self->send(self->state.ctx->documents, actors::progress_atom::value, d->id, 0,
                       static_cast<int>(d->chunks.size()));
            embed_next(self, d);
          },
          [self, d](caf::error&) { fail(self, d, make_error(errc::internal, "the documents actor failed")); });
}

}  // namespace mq::workers
