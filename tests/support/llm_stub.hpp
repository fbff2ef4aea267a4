#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace mq::test {

/// What the stub received.
struct stub_request {
  std::string path;
  std::string body;
  std::string authorization;
  std::chrono::steady_clock::time_point at;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Names lower-cased.

  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

/// What the stub does with one request.
struct stub_reply {
  enum class action {
    respond,  ///< Send status, headers and body after `delay`.
    reset,    ///< Close the connection with a TCP reset, no answer.
    hang,     ///< Keep the connection open and never answer.
    drip,     ///< Send the headers, then the body `drip_bytes` at a time every `drip_every`.
  };
  action act = action::respond;
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
  std::size_t drip_bytes = 1;
  std::chrono::milliseconds drip_every{100};
  /// The whole HTTP response, prepared once (benchmarks answer the same thing millions
  /// of times); when set, status, headers and body are ignored.
  std::shared_ptr<const std::string> prepared;

  /// This reply as bytes on the wire.
  std::string wire() const;

  static stub_reply reset() {
    stub_reply r;
    r.act = action::reset;
    return r;
  }
  static stub_reply hang() {
    stub_reply r;
    r.act = action::hang;
    return r;
  }
  static stub_reply error(int status, const std::string& body,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
    stub_reply r;
    r.status = status;
    r.body = body;
    r.headers = std::move(headers);
    return r;
  }
};

/// A local OpenAI-compatible server for tests and benchmarks. POST /v1/chat/completions
/// and /v1/embeddings answer what the current script says (by default a valid
/// classification, and deterministic embeddings). Runs its own threads on a free (or
/// given) port and records every request and the most requests it held at once.
class llm_stub {
 public:
  using script = std::function<stub_reply(const stub_request&, int call_number)>;

  explicit llm_stub(unsigned short port = 0, int threads = 1);
  ~llm_stub();
  llm_stub(const llm_stub&) = delete;
  llm_stub& operator=(const llm_stub&) = delete;

  /// "http://127.0.0.1:<port>/v1"
  std::string base_url() const;
  unsigned short port() const;
  /// Replaces the chat script (thread-safe).
  void on_chat(script s);
  /// Replaces the embeddings script (unset: deterministic vectors for every input).
  void on_embeddings(script s);
  /// Answers POSTs to `path` (any other path than the OpenAI ones) with `s`, for
  /// receivers of other kinds (webhooks) on the same server.
  void on_path(const std::string& path, script s);
  /// Embeddings requests so far.
  int embedding_calls() const;
  /// Chat requests so far.
  int calls() const;
  std::vector<stub_request> requests() const;
  /// Requests received and not yet answered, now and at most.
  int in_flight() const { return in_flight_; }
  int max_in_flight() const { return max_in_flight_; }
  /// TCP connections accepted so far (clients that keep connections alive open few).
  int connections() const { return connections_; }
  /// Stops recording request bodies (benchmarks send millions).
  void keep_requests(bool keep) { keep_requests_ = keep; }

  /// A chat.completion body whose message content is `content`.
  static stub_reply completion(const std::string& content, const std::string& finish_reason = "stop",
                               int prompt_tokens = 120, int completion_tokens = 80);
  /// The default answer to an /v1/embeddings request (deterministic vectors), for scripts
  /// that change only how it is sent.
  static stub_reply embeddings(const stub_request& req);
  /// Answers every chat request with a valid classification after `delay`.
  void classify_after(std::chrono::milliseconds delay);
  /// A schema-valid classification answer (sector and sentiment as given).
  static std::string valid_classification(const std::string& sector = "ecommerce",
                                          const std::string& sentiment = "positive");

  struct impl;

 private:
  friend struct impl;
  std::unique_ptr<impl> impl_;
  mutable std::mutex mu_;
  script script_;
  script embed_script_;
  std::vector<std::pair<std::string, script>> paths_;
  int embedding_calls_ = 0;
  std::vector<stub_request> requests_;
  int calls_ = 0;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::atomic<bool> keep_requests_{true};
  std::atomic<int> connections_{0};
};

}  // namespace mq::test
