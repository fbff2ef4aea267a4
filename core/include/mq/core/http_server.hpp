#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mq::http {

/// A parsed HTTP request, independent of Beast.
struct request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< Raw request target, query included.
  std::string path;    ///< Target up to '?'.
  std::string query;   ///< Target after '?', undecoded.
  std::vector<std::pair<std::string, std::string>> headers;  ///< Names in lower case.
  std::string body;
  std::string remote_address;

  /// Value of the first header named `name` (lower case), or "".
  std::string header(std::string_view name) const;
  /// Decoded value of query parameter `name`, or nullopt-like empty with found=false.
  bool query_param(std::string_view name, std::string& out) const;
};

/// A response to send.
struct response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Sends the response for one request. Thread-safe; must be called exactly once.
/// Dropping it without a call closes the connection.
using responder = std::function<void(response)>;

/// Handles one request. Runs on an I/O thread: must not block; hand blocking work to
/// a pool and call the responder from there.
using handler = std::function<void(request&&, responder)>;

/// Why a request could not be parsed; the server asks the application for the response.
enum class parse_failure { body_too_large, header_too_large, bad_request };

struct server_options {
  std::string host = "127.0.0.1";  ///< Address to bind.
  std::uint16_t port = 0;          ///< 0 picks a free port (see server::port()).
  std::uint64_t body_limit = 1 << 20;
  std::uint32_t header_limit = 16 * 1024;
  std::chrono::seconds idle_timeout{30};  ///< Per read/write on a connection.
  /// Builds the response for a request that failed to parse (413, 431, 400).
  std::function<response(parse_failure)> on_parse_failure;
};

/// Asynchronous HTTP/1.1 server with keep-alive and pipelining. Connections are spread
/// round-robin over the given event loops; each loop must be run by exactly one thread,
/// so a connection's work never runs on two threads at once and needs no strand. A
/// responder called on the connection's own loop thread writes at once; from any other
/// thread it posts the write to that loop. The caller owns the loops and their threads.
class server {
 public:
  /// `loops` (at least one) must outlive the server; the first also accepts.
  server(std::vector<boost::asio::io_context*> loops, server_options options, handler h);
  /// One loop, run by one thread.
  server(boost::asio::io_context& io, server_options options, handler h);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts accepting. Throws std::system_error if the address is taken.
  void start();
  /// Stops accepting; open connections finish their current exchange.
  void stop();
  /// The bound port (useful when the options asked for 0).
  std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Reason phrase for common statuses ("Not Found").
const char* reason_phrase(int status);

/// Percent-decodes a URL component ('+' becomes a space).
std::string url_decode(std::string_view s);

/// Splits a raw "Name: value\r\n" header line into a lower-cased name and a trimmed
/// value; false for lines that are not headers (the status line, the blank line).
bool split_header_line(std::string_view line, std::string& name, std::string& value);

}  // namespace mq::http
