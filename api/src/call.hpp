#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "mq/core/error.hpp"
#include "mq/core/http_server.hpp"
#include "mq/core/time.hpp"

namespace mq::api {

/// HTTP status for an error code: the one mapping of the HTTP edge.
int http_status(errc code);

/// The documented error body: {"error":{"code","message","details","timestamp","request_id"}}.
std::string error_body(const error& e, const std::string& request_id);

/// One request in flight: what was asked, who asked (after authentication), and how to
/// answer. Shared by the continuations of a handler; reply() may be called once, from any
/// thread.
struct call {
  http::request req;
  std::map<std::string, std::string> params;  ///< Path parameters (":id" -> "id").
  std::string route;                          ///< The matched pattern, for logs and metrics.
  std::string request_id;
  std::string tenant;  ///< Tenant id once authenticated.
  std::size_t json_limit = 0;  ///< Largest JSON body (http.body_limit_bytes); uploads may be larger.
  std::size_t documents_limit = 0;  ///< Largest document (documents.max_bytes).
  http::responder responder;
  steady_time started = std::chrono::steady_clock::now();

  /// Sends `body` (JSON) with `status`; adds X-Request-ID and logs the request.
  void reply(int status, std::string body,
             std::vector<std::pair<std::string, std::string>> headers = {});
  /// Sends a body that is not JSON (`content_type`), as reply() does.
  void reply_as(int status, std::string body, std::string content_type);
  /// The one way out: adds X-Request-ID, counts and times the request by route and
  /// status, logs it, and hands the response to the server.
  void send(http::response r);
  /// Sends the error body with the mapped status; logs the internal detail. 429 and 503
  /// carry Retry-After (`retry_after_seconds`).
  void fail(const error& e, int retry_after_seconds = 1);
  /// Sends 204 No Content.
  void no_content();
};

using call_ptr = std::shared_ptr<call>;

/// Parses a positive 64-bit id from a path parameter.
std::optional<std::int64_t> parse_id(const std::string& text);

}  // namespace mq::api
