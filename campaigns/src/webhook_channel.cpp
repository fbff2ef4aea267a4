#include <ctime>

#include "mq/campaigns/channel.hpp"
#include "mq/config/config.hpp"
#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/llm/http_engine.hpp"

namespace mq::campaigns {
namespace {

using std::chrono::milliseconds;

bool retryable_status(long s) { return s == 408 || s == 425 || s == 429 || s >= 500; }

class webhook_channel final : public channel {
 public:
  explicit webhook_channel(const config::campaigns_config& cfg) : cfg_(cfg) {}
  ~webhook_channel() override { engine_.stop(); }

  bool idempotent() const override { return true; }

  void send(outbound m, std::function<void(send_result)> done) override {
    llm::http_call call;
    call.url = cfg_.webhook_url;
    call.body = webhook_body(m);
    call.headers = {"Content-Type: application/json", "Idempotency-Key: " + m.idempotency_key,
                    "X-MQ-Campaign: " + std::to_string(m.campaign_id),
                    "X-MQ-Recipient: " + std::to_string(m.recipient_id)};
    if (!cfg_.webhook_token.empty()) call.headers.push_back("Authorization: Bearer " + cfg_.webhook_token);
    if (!cfg_.webhook_secret.empty()) {
      const auto ts = std::to_string(std::time(nullptr));
      call.headers.push_back("X-MQ-Timestamp: " + ts);
      call.headers.push_back("X-MQ-Signature: sha256=" + hmac_sha256_hex(ts + "." + call.body, cfg_.webhook_secret));
    }
    const milliseconds timeout(cfg_.webhook_timeout_ms);
    call.connect_timeout = std::min(timeout, milliseconds(5000));
    call.first_byte_timeout = timeout;
    call.idle_timeout = timeout;
    call.total_timeout = timeout;
    call.max_response_bytes = 1 << 20;
    engine_.submit(std::move(call), [done = std::move(done)](llm::http_reply r) {
      send_result out;
      out.response_code = static_cast<int>(r.status);
      if (r.err) {
        out.state = send_state::retry;
        out.err = r.err;
      } else if (r.status >= 200 && r.status < 300) {
        out.state = send_state::sent;
      } else {
        out.state = retryable_status(r.status) ? send_state::retry : send_state::failed;
        out.retry_after = llm::parse_retry_after(r.header("retry-after"));
        auto snippet = r.body.substr(0, 200);
        out.err = make_error(out.state == send_state::retry ? errc::delivery_deferred : errc::delivery_refused,
                             "the webhook answered HTTP " + std::to_string(r.status) +
                                 (snippet.empty() ? "" : ": " + snippet));
      }
      done(std::move(out));
    });
  }

 private:
  config::campaigns_config cfg_;
  llm::http_engine engine_;
};

}  // namespace

std::string webhook_body(const outbound& m) {
  json::writer w;
  w.begin_object();
  w.kv("campaign_id", static_cast<long long>(m.campaign_id));
  w.kv("campaign_name", m.campaign_name);
  w.kv("recipient_id", static_cast<long long>(m.recipient_id));
  w.kv("address", m.address);
  w.kv("subject", m.subject);
  w.kv("message", m.body);
  w.key("attributes");
  if (auto a = json::parse(m.attributes_json); a && a->IsObject())
    w.value(*a);
  else
    w.raw("{}");
  w.kv("idempotency_key", m.idempotency_key);
  w.end_object();
  return w.take();
}

std::unique_ptr<channel> make_webhook_channel(const config::campaigns_config& cfg) {
  return std::make_unique<webhook_channel>(cfg);
}

}  // namespace mq::campaigns
