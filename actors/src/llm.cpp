#include "mq/actors/llm.hpp"

#include <caf/all.hpp>

#include "mq/core/metrics.hpp"

namespace mq::actors {
namespace {

void show_load(const llm_state& st) {
  auto& m = metrics::global();
  m.set("mq_llm_calls_in_flight", static_cast<double>(st.in_flight.size() + st.embedding.size()));
  m.set("mq_llm_calls_waiting", static_cast<double>(st.waiting.size()));
}

/// Counts a finished call: its outcome (ok, or the error's code), latency and tokens.
void count_call(llm_state& st, std::uint64_t id, const char* call, const std::optional<error>& err, int tokens_in,
                int tokens_out) {
  auto& m = metrics::global();
  const std::string outcome = err ? code_name(err->code) : "ok";
  m.inc("mq_llm_calls_total", {{"call", call}, {"outcome", outcome}});
  if (auto it = st.started.find(id); it != st.started.end()) {
    m.observe("mq_llm_request_duration_seconds", {{"call", call}},
              std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second).count());
    st.started.erase(it);
  }
  m.inc("mq_llm_tokens_total", {{"direction", "in"}}, tokens_in);
  m.inc("mq_llm_tokens_total", {{"direction", "out"}}, tokens_out);
}

}  // namespace

void declare_llm_metrics() {
  auto& m = metrics::global();
  m.gauge("mq_llm_calls_in_flight", "LLM calls this replica has open.");
  m.gauge("mq_llm_calls_waiting", "LLM chat calls waiting for a slot (llm.max_in_flight).");
  m.counter("mq_llm_calls_total", "LLM calls finished, by call (chat, embed) and outcome (ok or the error code).");
  m.histogram("mq_llm_request_duration_seconds", "LLM call latency, by call.");
  m.counter("mq_llm_tokens_total", "LLM tokens, by direction (in: prompt, out: completion).");
  m.counter("mq_llm_retries_total", "LLM calls scheduled again after a retryable failure.");
}

llm_actor::behavior_type llm_caller(llm_actor::stateful_pointer<llm_state> self,
                                    std::shared_ptr<llm::llm_client> client,
                                    std::size_t max_in_flight) {
  self->state.max_in_flight = max_in_flight;
  auto start = [self, client](const llm::shared_request& req, caf::typed_response_promise<llm::chat_outcome> rp) {
    auto id = self->state.next_id++;
    self->state.in_flight.emplace(id, std::move(rp));
    self->state.started.emplace(id, std::chrono::steady_clock::now());
    show_load(self->state);
    auto me = caf::actor_cast<llm_actor>(self);
    client->chat(*req, [me, id](llm::chat_outcome out) {
      caf::anon_send(me, chat_done_atom::value, id, std::move(out));
    });
  };
  return {
      [=](chat_atom, llm::shared_request& req) -> caf::result<llm::chat_outcome> {
        auto rp = self->make_response_promise<llm::chat_outcome>();
        if (self->state.in_flight.size() < self->state.max_in_flight)
          start(req, rp);
        else
          self->state.waiting.emplace_back(std::move(req), rp);
        show_load(self->state);
        return rp;
      },
      [=](embed_atom, std::vector<std::string>& texts) -> caf::result<llm::embed_outcome> {
        // Embedding calls are few and large: they do not wait for a chat slot.
        auto rp = self->make_response_promise<llm::embed_outcome>();
        auto id = self->state.next_id++;
        self->state.embedding.emplace(id, rp);
        self->state.started.emplace(id, std::chrono::steady_clock::now());
        show_load(self->state);
        auto me = caf::actor_cast<llm_actor>(self);
        client->embed(std::move(texts), [me, id](llm::embed_outcome out) {
          caf::anon_send(me, embed_done_atom::value, id, std::move(out));
        });
        return rp;
      },
      [=](embed_done_atom, std::uint64_t id, llm::embed_outcome& out) {
        auto it = self->state.embedding.find(id);
        if (it == self->state.embedding.end()) return;
        count_call(self->state, id, "embed", out.err, out.tokens, 0);
        it->second.deliver(std::move(out));
        self->state.embedding.erase(it);
        show_load(self->state);
      },
      [=](chat_done_atom, std::uint64_t id, llm::chat_outcome& out) {
        auto it = self->state.in_flight.find(id);
        if (it == self->state.in_flight.end()) return;
        count_call(self->state, id, "chat", out.err, out.response ? out.response->tokens_in : 0,
                   out.response ? out.response->tokens_out : 0);
        it->second.deliver(std::move(out));
        self->state.in_flight.erase(it);
        if (!self->state.waiting.empty()) {
          auto next = std::move(self->state.waiting.front());
          self->state.waiting.pop_front();
          start(std::move(next.first), std::move(next.second));
        }
        show_load(self->state);
      },
  };
}

}  // namespace mq::actors
