#pragma once

#include <string>

#include "mq/core/error.hpp"
#include "mq/llm/client.hpp"
#include "mq/schemas/types.hpp"

namespace mq::llm {

/// Version of the classification prompt, stored with every result so answers produced
/// by different prompts can be told apart.
const std::string& classification_prompt_version();

/// What the classifier is told about a meeting.
using meeting_facts = schemas::meeting_facts;

/// The chat request classifying one meeting: the taxonomy (from the JSON Schema) in the
/// system message, the meeting in the user message.
chat_request classification_request(const meeting_facts& m, int max_tokens, double temperature);

/// Extracts the meeting back from a classification request (used by the offline
/// provider, which reads the same prompt a remote model reads).
meeting_facts facts_from_request(const chat_request& req);

/// Validates an answer against schema `schema_name`: strips a Markdown code fence, parses
/// JSON, checks the schema. Returns the JSON text without the fence and surrounding
/// whitespace, or errc::llm_invalid_output naming the violation.
result<std::string> validate_answer(const std::string& schema_name, const std::string& content);

}  // namespace mq::llm
