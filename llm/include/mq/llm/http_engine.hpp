#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::llm {

/// An outbound HTTP request.
struct http_call {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value"
  std::string body;
  std::chrono::milliseconds connect_timeout{5000};    ///< TCP (and TLS) connect.
  std::chrono::milliseconds first_byte_timeout{60000}; ///< From start to the first byte of the answer.
  std::chrono::milliseconds idle_timeout{30000};       ///< Longest silence once the answer started.
  std::chrono::milliseconds total_timeout{120000};     ///< The whole call.
  std::size_t max_response_bytes = 16 << 20;  ///< Larger answers are aborted.
};

/// What came back. `err` is set for transport failures (no HTTP status): errc::timeout
/// (any of the four timeouts, named in the message), errc::network, or
/// errc::payload_too_large; HTTP errors come back as a status.
struct http_reply {
  std::optional<error> err;
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Names lower-cased.
  std::chrono::milliseconds latency{0};

  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

/// A Retry-After header: seconds (fractions allowed) or an HTTP-date (0 once past);
/// nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value);

/// Many HTTP calls in flight on one thread over epoll: no thread per call. Two pools share
/// that thread:
/// - `http://` URLs whose host is an IP address or "localhost" (local vLLM, Ollama, the
///   stub, webhooks on a private network) go through http1_pool: HTTP/1.1 over kept-alive
///   connections, one send and one receive per call;
/// - everything else (https, host names, proxies) goes through libcurl's multi socket
///   interface, where HTTP/2 is multiplexed when the server offers it. Its calls are spread
///   over 16 connection pools (a call goes to the one running fewest), so libcurl's search
///   for a free connection walks a sixteenth of them; calls made one at a time keep to one
///   pool and one connection.
/// libcurl takes every call when a proxy is set (http_proxy, all_proxy) or when the
/// engine is built with transport::curl_only (llm.http_client: curl).
/// Connect and total timeouts hold in both; first-byte and idle timeouts are scanned every
/// 25 ms at most. Callbacks run on the engine thread and must not block.
class http_engine {
 public:
  using callback = std::function<void(http_reply)>;

  enum class transport { automatic, curl_only };

  explicit http_engine(transport how = transport::automatic);
  ~http_engine();
  http_engine(const http_engine&) = delete;
  http_engine& operator=(const http_engine&) = delete;

  /// Queues a call. Never blocks; thread-safe.
  void submit(http_call call, callback done);
  /// Calls queued or in flight.
  std::size_t in_flight() const;
  /// Aborts what is in flight (each gets errc::unavailable) and joins the thread.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mq::llm
