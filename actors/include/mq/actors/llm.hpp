#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>

#include "mq/actors/actors.hpp"

namespace mq::actors {

/// State of the LLM actor: calls in flight by id and calls waiting for a slot.
struct llm_state {
  std::size_t max_in_flight = 0;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<llm::chat_outcome>> in_flight;
  std::deque<std::pair<llm::shared_request, caf::typed_response_promise<llm::chat_outcome>>> waiting;
  std::unordered_map<std::uint64_t, caf::typed_response_promise<llm::embed_outcome>> embedding;
  std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> started;  ///< Chat and embedding calls.
  static inline const char* name = "llm";
};

/// Declares the LLM metrics the actor records (calls in flight and waiting, calls by
/// outcome, latency, tokens) and mq_llm_retries_total.
void declare_llm_metrics();

/// LLM actor behavior (cooperative: the client never blocks). Answers arrive from the
/// client's thread as chat_done messages and are matched to their requests by id.
llm_actor::behavior_type llm_caller(llm_actor::stateful_pointer<llm_state> self,
                                    std::shared_ptr<llm::llm_client> client, std::size_t max_in_flight);

}  // namespace mq::actors
