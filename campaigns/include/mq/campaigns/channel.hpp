#pragma once

// Channels: how one campaign message reaches its recipient. Both send asynchronously
// and report one of four outcomes; what an outcome means for the ledger is decided by
// the send_message job, not here.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mq/core/error.hpp"

namespace mq::config {
struct campaigns_config;
}

namespace mq::campaigns {

/// One message to one recipient.
struct outbound {
  std::int64_t campaign_id = 0;
  std::string campaign_name;
  std::int64_t recipient_id = 0;
  std::string idempotency_key;  ///< The same for every attempt of this (campaign, recipient).
  std::string address;
  std::optional<std::string> subject;
  std::string body;
  std::string attributes_json = "{}";
};

enum class send_state {
  sent,     ///< The receiver accepted it.
  failed,   ///< The receiver refused it for good (or it cannot be sent): never retried.
  retry,    ///< Not accepted, and trying again cannot deliver it twice.
  unknown,  ///< It may have arrived: a channel without idempotency keys must not resend it.
};

struct send_result {
  send_state state = send_state::failed;
  int response_code = 0;  ///< HTTP status or the SMTP server's last reply code (0 when none).
  std::optional<error> err;  ///< Why, unless sent.
  std::optional<std::chrono::milliseconds> retry_after;  ///< The receiver asked to wait this long.
};

/// A way of sending. send() never blocks; `done` runs once, on the channel's own thread.
class channel {
 public:
  virtual ~channel() = default;
  virtual void send(outbound m, std::function<void(send_result)> done) = 0;
  /// Whether resending with the same idempotency key is safe (the receiver dedupes).
  virtual bool idempotent() const = 0;
};

/// HTTP POST of a JSON body to campaigns.webhook_url with an Idempotency-Key header (and a
/// bearer token and HMAC signature when configured). 2xx is sent; 408, 425, 429 and 5xx
/// and transport failures are retried (the key makes a repeat harmless); other 4xx fail.
std::unique_ptr<channel> make_webhook_channel(const config::campaigns_config& cfg);

/// E-mail through campaigns.smtp_url with libcurl, on campaigns.smtp_connections threads
/// that each keep their session open. A reply refusing the message fails it (5xx) or
/// retries it (4xx); losing the connection once the message was handed over is unknown.
std::unique_ptr<channel> make_smtp_channel(const config::campaigns_config& cfg);

/// The webhook request's JSON body: the same bytes for every attempt of a message.
std::string webhook_body(const outbound& m);

}  // namespace mq::campaigns
