#include "mq/actors/llm.hpp"

#include <caf/all.hpp>

namespace mq::actors {

llm_actor::behavior_type llm_caller(llm_actor::stateful_pointer<llm_state> self,
                                    std::shared_ptr<llm::llm_client> client,
                                    std::size_t max_in_flight) {
  self->state.max_in_flight = max_in_flight;
  auto start = [self, client](llm::chat_request req, caf::typed_response_promise<llm::chat_outcome> rp) {
    auto id = self->state.next_id++;
    self->state.in_flight.emplace(id, std::move(rp));
    auto me = caf::actor_cast<llm_actor>(self);
    client->chat(std::move(req), [me, id](llm::chat_outcome out) {
      caf::anon_send(me, chat_done_atom::value, id, std::move(out));
    });
  };
  return {
      [=](chat_atom, llm::chat_request& req) -> caf::result<llm::chat_outcome> {
        auto rp = self->make_response_promise<llm::chat_outcome>();
        if (self->state.in_flight.size() < self->state.max_in_flight)
          start(std::move(req), rp);
        else
          self->state.waiting.emplace_back(std::move(req), rp);
        return rp;
      },
      [=](embed_atom, std::vector<std::string>& texts) -> caf::result<llm::embed_outcome> {
        // Embedding calls are few and large: they do not wait for a chat slot.
        auto rp = self->make_response_promise<llm::embed_outcome>();
        auto id = self->state.next_id++;
        self->state.embedding.emplace(id, rp);
        auto me = caf::actor_cast<llm_actor>(self);
        client->embed(std::move(texts), [me, id](llm::embed_outcome out) {
          caf::anon_send(me, embed_done_atom::value, id, std::move(out));
        });
        return rp;
      },
      [=](embed_done_atom, std::uint64_t id, llm::embed_outcome& out) {
        auto it = self->state.embedding.find(id);
        if (it == self->state.embedding.end()) return;
        it->second.deliver(std::move(out));
        self->state.embedding.erase(it);
      },
      [=](chat_done_atom, std::uint64_t id, llm::chat_outcome& out) {
        auto it = self->state.in_flight.find(id);
        if (it == self->state.in_flight.end()) return;
        it->second.deliver(std::move(out));
        self->state.in_flight.erase(it);
        if (!self->state.waiting.empty()) {
          auto next = std::move(self->state.waiting.front());
          self->state.waiting.pop_front();
          start(std::move(next.first), std::move(next.second));
        }
      },
  };
}

}  // namespace mq::actors
