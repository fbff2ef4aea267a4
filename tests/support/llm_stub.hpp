#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mq/core/http_server.hpp"

namespace mq::test {

/// What the stub received.
struct stub_request {
  std::string path;
  std::string body;
  std::string authorization;
};

/// What the stub answers, after `delay`.
struct stub_reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
};

/// A local OpenAI-compatible server for tests: POST /v1/chat/completions answers what
/// the current script says (by default a valid classification). Runs on its own thread
/// and a free port; records every request.
class llm_stub {
 public:
  using script = std::function<stub_reply(const stub_request&, int call_number)>;

  llm_stub();
  ~llm_stub();

  /// "http://127.0.0.1:<port>/v1"
  std::string base_url() const;
  /// Replaces the script (thread-safe).
  void on_chat(script s);
  int calls() const;
  std::vector<stub_request> requests() const;

  /// A chat.completion body whose message content is `content`.
  static stub_reply completion(const std::string& content, const std::string& finish_reason = "stop",
                               int prompt_tokens = 120, int completion_tokens = 80);
  /// A schema-valid classification answer (sector and sentiment as given).
  static std::string valid_classification(const std::string& sector = "ecommerce",
                                          const std::string& sentiment = "positive");

 private:
  boost::asio::io_context io_;
  std::unique_ptr<http::server> server_;
  std::thread thread_;
  mutable std::mutex mu_;
  script script_;
  std::vector<stub_request> requests_;
};

}  // namespace mq::test
