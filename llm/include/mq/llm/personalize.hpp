#pragma once

// The personalisation prompt of campaign messages: one rendered message, the campaign's
// instruction and the recipient's attributes in; a personalised subject and body out
// (JSON Schema "personalized_message").

#include <optional>
#include <string>

#include "mq/core/error.hpp"
#include "mq/llm/client.hpp"

namespace mq::llm {

/// A message before and after personalisation.
struct message_text {
  std::optional<std::string> subject;
  std::string body;
};

/// Version of the personalisation prompt.
const std::string& personalization_prompt_version();

/// The chat request asking for `msg` rewritten for one recipient (`attributes_json`, an
/// object) following `instruction`.
chat_request personalization_request(const message_text& msg, const std::string& instruction,
                                     const std::string& attributes_json, int max_tokens, double temperature);

/// The offline provider's answer to a personalisation request: the message with a
/// greeting naming the recipient (first_name or name attribute) when it has none.
result<std::string> offline_personalization(const chat_request& req);

/// The validated answer (a personalized_message) as a message.
result<message_text> parse_personalized(const std::string& answer_json);

}  // namespace mq::llm
