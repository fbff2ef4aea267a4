#pragma once

#include <string>
#include <utility>
#include <variant>

namespace mq {

/// Every failure the system knows, from client input to broker loss. One enum for all
/// layers: adapters translate library failures into it at the boundary.
enum class errc {
  malformed_json,          ///< Request body or message is not parseable JSON.
  invalid_parameter,       ///< A path or query parameter of the wrong shape.
  validation_failed,       ///< Well-formed input that breaks a schema or a rule.
  not_found,               ///< Unknown id, or an id of another tenant.
  conflict,                ///< The resource is in a state that forbids the operation.
  unauthorized,            ///< Missing or unknown credentials.
  forbidden,               ///< Credentials valid, operation not allowed.
  payload_too_large,       ///< Body or batch beyond the configured limit.
  unsupported_media_type,  ///< Content type the endpoint does not take.
  rate_limited,            ///< Our own limiter said "later".
  unavailable,             ///< A dependency (Postgres, Redis, RabbitMQ) cannot be reached.
  timeout,                 ///< An operation exceeded its deadline.
  network,                 ///< Connection refused/reset while talking to a peer.
  llm_rate_limited,        ///< Provider answered 429 (not quota).
  llm_quota_exhausted,     ///< Provider answered 429 insufficient_quota: retrying is futile.
  llm_server_error,        ///< Provider answered 408/409/5xx.
  llm_bad_request,         ///< Provider rejected the request (4xx other than the above).
  llm_invalid_output,      ///< Answer is not JSON or violates the output schema.
  llm_truncated,           ///< Answer stopped at the token limit.
  delivery_deferred,       ///< A channel's receiver said "not now" (HTTP 5xx/429, SMTP 4xx).
  delivery_refused,        ///< A channel's receiver refused the message for good (HTTP 4xx, SMTP 5xx).
  delivery_unknown,        ///< A message may or may not have arrived; it must not be resent.
  poison,                  ///< A queue message that can never be processed.
  cancelled,               ///< The task was cancelled by a client.
  internal,                ///< A bug: anything else.
};

/// Whether an operation that failed with `code` may succeed if tried again later.
/// One exhaustive switch: adding an enumerator without deciding here fails to compile
/// with -Wall (-Wswitch).
bool is_retryable(errc code);

/// Stable upper-case name used in the HTTP error body ("VALIDATION_FAILED").
const char* code_name(errc code);

/// An error value: a code, a message safe to show a client, public details (a JSON
/// object, sent as "details"), and an internal note that is logged but never sent.
struct error {
  errc code = errc::internal;
  std::string message;
  std::string internal;  ///< Library text, SQL state, ...: logs only.
  std::string details;   ///< Serialized JSON object for the client; empty means {}.

  bool retryable() const { return is_retryable(code); }
};

inline error make_error(errc code, std::string message, std::string internal = {}) {
  return error{code, std::move(message), std::move(internal), {}};
}

/// Either a value or an error. Small on purpose: C++17 has no std::expected.
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error err) : v_(std::move(err)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const error& err() const { return std::get<1>(v_); }

 private:
  std::variant<T, error> v_;
};

/// Result of an operation without a value.
struct unit {};
using status = result<unit>;
inline status ok_status() { return unit{}; }

}  // namespace mq
