#include "mq/core/error.hpp"

namespace mq {

bool is_retryable(errc code) {
  switch (code) {
    case errc::unavailable:
    case errc::timeout:
    case errc::network:
    case errc::rate_limited:
    case errc::llm_rate_limited:
    case errc::llm_server_error:
    case errc::delivery_deferred:
      return true;
    case errc::malformed_json:
    case errc::invalid_parameter:
    case errc::validation_failed:
    case errc::not_found:
    case errc::conflict:
    case errc::unauthorized:
    case errc::forbidden:
    case errc::payload_too_large:
    case errc::unsupported_media_type:
    case errc::llm_quota_exhausted:
    case errc::llm_bad_request:
    case errc::llm_invalid_output:  // answered by one repair request, not by retrying
    case errc::llm_truncated:
    case errc::delivery_refused:
    case errc::delivery_unknown:
    case errc::poison:
    case errc::cancelled:
    case errc::internal:
      return false;
  }
  return false;
}

const char* code_name(errc code) {
  switch (code) {
    case errc::malformed_json: return "MALFORMED_JSON";
    case errc::invalid_parameter: return "INVALID_PARAMETER";
    case errc::validation_failed: return "VALIDATION_FAILED";
    case errc::not_found: return "NOT_FOUND";
    case errc::conflict: return "CONFLICT";
    case errc::unauthorized: return "UNAUTHORIZED";
    case errc::forbidden: return "FORBIDDEN";
    case errc::payload_too_large: return "PAYLOAD_TOO_LARGE";
    case errc::unsupported_media_type: return "UNSUPPORTED_MEDIA_TYPE";
    case errc::rate_limited: return "RATE_LIMITED";
    case errc::unavailable: return "SERVICE_UNAVAILABLE";
    case errc::timeout: return "TIMEOUT";
    case errc::network: return "NETWORK_ERROR";
    case errc::llm_rate_limited: return "LLM_RATE_LIMITED";
    case errc::llm_quota_exhausted: return "LLM_QUOTA_EXHAUSTED";
    case errc::llm_server_error: return "LLM_SERVER_ERROR";
    case errc::llm_bad_request: return "LLM_BAD_REQUEST";
    case errc::llm_invalid_output: return "LLM_INVALID_OUTPUT";
    case errc::llm_truncated: return "LLM_TRUNCATED";
    case errc::delivery_deferred: return "DELIVERY_DEFERRED";
    case errc::delivery_refused: return "DELIVERY_REFUSED";
    case errc::delivery_unknown: return "DELIVERY_UNKNOWN";
    case errc::poison: return "POISON_MESSAGE";
    case errc::cancelled: return "CANCELLED";
    case errc::internal: return "INTERNAL_ERROR";
  }
  return "INTERNAL_ERROR";
}

}  // namespace mq
