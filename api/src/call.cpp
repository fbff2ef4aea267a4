#include "call.hpp"

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/metrics.hpp"

namespace mq::api {

int http_status(errc code) {
  switch (code) {
    case errc::malformed_json: return 400;
    case errc::invalid_parameter: return 400;
    case errc::validation_failed: return 422;
    case errc::not_found: return 404;
    case errc::conflict: return 409;
    case errc::unauthorized: return 401;
    case errc::forbidden: return 403;
    case errc::payload_too_large: return 413;
    case errc::unsupported_media_type: return 415;
    case errc::rate_limited: return 429;
    case errc::unavailable: return 503;
    case errc::timeout: return 504;
    case errc::cancelled: return 409;
    case errc::network:
    case errc::llm_rate_limited:
    case errc::llm_quota_exhausted:
    case errc::llm_server_error:
    case errc::llm_bad_request:
    case errc::llm_invalid_output:
    case errc::llm_truncated:
    case errc::delivery_deferred:
    case errc::delivery_refused:
    case errc::delivery_unknown:
      return 502;
    case errc::poison:
    case errc::internal:
      return 500;
  }
  return 500;
}

std::string error_body(const error& e, const std::string& request_id) {
  json::writer w;
  w.begin_object();
  w.key("error");
  w.begin_object();
  w.kv("code", code_name(e.code));
  w.kv("message", e.code == errc::internal ? std::string("internal error") : e.message);
  w.key("details");
  if (e.details.empty()) {
    w.begin_object();
    w.end_object();
  } else {
    w.raw(e.details);
  }
  w.kv("timestamp", format_rfc3339(system_now()));
  w.kv("request_id", request_id);
  w.end_object();
  w.end_object();
  return w.take();
}

void call::reply(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  send(std::move(r));
}

void call::reply_as(int status, std::string body, std::string content_type) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  send(std::move(r));
}

void call::send(http::response r) {
  r.headers.emplace_back("X-Request-ID", request_id);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  const auto status = std::to_string(r.status);
  const std::string matched = route.empty() ? "unmatched" : route;
  auto& m = metrics::global();
  const metrics::labels labels{{"method", req.method}, {"route", matched}, {"status", status}};
  m.inc("mq_http_requests_total", labels);
  m.observe("mq_http_request_duration_seconds", labels, std::chrono::duration<double>(elapsed).count());
  const auto lvl = r.status >= 500 ? log::level::warn : log::level::debug;
  if (log::enabled(lvl))
    log::write(lvl, "http", "request", {request_id, {}, tenant},
               {{"method", req.method}, {"path", req.path}, {"route", route}, {"status", status},
                {"latency_us", std::to_string(us)}});
  responder(std::move(r));
}

void call::fail(const error& e, int retry_after_seconds) {
  if (e.code == errc::internal || e.code == errc::unavailable)
    log::error("http", e.message, {request_id, {}, tenant}, {{"detail", e.internal}, {"path", req.path}});
  std::vector<std::pair<std::string, std::string>> headers;
  if (e.code == errc::unauthorized) headers.emplace_back("WWW-Authenticate", "Bearer");
  if (e.code == errc::unavailable || e.code == errc::rate_limited)
    headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  reply(http_status(e.code), error_body(e, request_id), std::move(headers));
}

void call::no_content() {
  http::response r;
  r.status = 204;
  r.content_type.clear();
  send(std::move(r));
}

std::optional<std::int64_t> parse_id(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return std::nullopt;
  return v;
}

}  // namespace mq::api
