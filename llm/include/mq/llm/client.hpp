#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::config {
struct llm_config;
}

namespace mq::llm {

struct chat_message {
  std::string role;  ///< "system", "user" or "assistant"
  std::string content;
};

/// One chat completion to run.
struct chat_request {
  std::string task;         ///< What it is for ("classify_meeting"): the offline provider's rules.
  std::string schema_name;  ///< Output JSON Schema in schemas/ ("classification"); "" for free text.
  std::vector<chat_message> messages;
  int max_tokens = 1024;
  double temperature = 0;
};

/// A request shared by whoever may send it again (retries, the LLM actor's queue): it is
/// built once and never copied on its way to the client.
using shared_request = std::shared_ptr<const chat_request>;

/// The provider's answer.
struct chat_response {
  std::string content;
  std::string finish_reason;  ///< "stop", "length", ...
  std::string model;
  int tokens_in = 0;
  int tokens_out = 0;
  std::chrono::milliseconds latency{0};
};

/// A chat call's outcome: a response, or an error with what the provider said about
/// retrying (errc::llm_* or timeout/network; `retry_after` from a Retry-After header).
struct chat_outcome {
  std::optional<chat_response> response;
  std::optional<error> err;
  std::optional<std::chrono::milliseconds> retry_after;
  long http_status = 0;

  bool ok() const { return response.has_value(); }
};

/// Embeddings of several texts, in input order, or an error as for chat.
struct embed_outcome {
  std::vector<std::vector<float>> vectors;
  std::string model;
  int tokens = 0;
  std::optional<error> err;
  std::optional<std::chrono::milliseconds> retry_after;
  long http_status = 0;

  bool ok() const { return !err.has_value(); }
};

/// The LLM port. Implementations never block the caller: `done` runs later on the
/// client's own thread (openai) or inline (offline), exactly once.
class llm_client {
 public:
  using callback = std::function<void(chat_outcome)>;
  using embed_callback = std::function<void(embed_outcome)>;

  virtual ~llm_client() = default;
  /// Starts a chat call; `req` is read before chat() returns and not kept.
  virtual void chat(const chat_request& req, callback done) = 0;
  /// Embeds `texts` (one provider call for all of them).
  virtual void embed(std::vector<std::string> texts, embed_callback done) = 0;
  /// "offline" or "openai".
  virtual std::string provider() const = 0;
  /// Model name recorded with results.
  virtual std::string model() const = 0;
  /// Calls started and not yet answered.
  virtual std::size_t in_flight() const = 0;
};

/// The provider named in the config: "offline" (deterministic, no network) or "openai"
/// (any OpenAI-compatible server).
std::unique_ptr<llm_client> make_client(const config::llm_config& cfg);

/// Maps an HTTP answer of an OpenAI-compatible server to an outcome (exposed for tests):
/// 2xx with a choice -> response; 429 insufficient_quota -> llm_quota_exhausted; 429 ->
/// llm_rate_limited; 408/409/5xx -> llm_server_error; other 4xx -> llm_bad_request;
/// unparseable 2xx -> llm_server_error.
chat_outcome parse_chat_reply(long status, std::string body, const std::string& retry_after_header);

/// Maps an answer of an OpenAI-compatible /embeddings endpoint, as parse_chat_reply does.
embed_outcome parse_embed_reply(long status, const std::string& body, const std::string& retry_after_header);

}  // namespace mq::llm
