#pragma once

#include <memory>
#include <string>

#include "mq/llm/client.hpp"
#include "mq/llm/prompt.hpp"

namespace mq::llm {

/// The built-in deterministic classifier: keyword rules in Spanish and English over the
/// transcript, choosing every taxonomy field; always schema-valid. Same input, same
/// answer. Thread-safe (no state).
std::string offline_classification(const meeting_facts& meeting);

/// The "offline" provider: answers classification requests with offline_classification(),
/// inline on the caller's thread, with token counts estimated from text length.
std::unique_ptr<llm_client> make_offline_client(const config::llm_config& cfg);

/// Feature-hashed embedding of `text` with `dimensions` components: folded words and
/// word pairs hashed to signed buckets, L2-normalised. Texts sharing words are close in
/// cosine similarity; same text, same vector.
std::vector<float> offline_embedding(const std::string& text, int dimensions);

/// Lower-cases and strips Spanish diacritics (á -> a, ñ -> n) for keyword matching.
std::string fold_text(const std::string& text);

/// Rough token count of `text` (4 characters per token), for accounting and limits.
int estimate_tokens(const std::string& text);

}  // namespace mq::llm
