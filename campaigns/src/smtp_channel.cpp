#include <curl/curl.h>

#include <cstring>

#include "mq/campaigns/channel.hpp"
#include "mq/campaigns/email.hpp"
#include "mq/config/config.hpp"
#include "mq/core/blocking_pool.hpp"

namespace mq::campaigns {
namespace {

/// One SMTP session: a curl handle kept between messages, so its connection is reused.
struct session {
  CURL* easy = curl_easy_init();
  ~session() { curl_easy_cleanup(easy); }
};

/// The message handed to libcurl piece by piece; `started` once it asked for the first
/// bytes (the server had accepted MAIL, RCPT and DATA by then).
struct upload {
  std::string data;
  std::size_t at = 0;
  bool started = false;
};

std::size_t read_upload(char* buf, std::size_t size, std::size_t n, void* p) {
  auto* u = static_cast<upload*>(p);
  u->started = true;
  const auto len = std::min(size * n, u->data.size() - u->at);
  std::memcpy(buf, u->data.data() + u->at, len);
  u->at += len;
  return len;
}

send_result transact(session& s, const config::campaigns_config& cfg, const outbound& m) {
  send_result out;
  if (!valid_email(m.address)) {
    out.err = make_error(errc::delivery_refused, "\"" + m.address + "\" is not an e-mail address");
    return out;
  }
  upload u;
  u.data = build_email({cfg.smtp_from, m.address, m.subject.value_or(""), m.body, m.idempotency_key + "@mq",
                        rfc5322_now()});
  curl_slist* rcpt = curl_slist_append(nullptr, ("<" + m.address + ">").c_str());
  CURL* e = s.easy;
  curl_easy_reset(e);
  curl_easy_setopt(e, CURLOPT_URL, cfg.smtp_url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_MAIL_FROM, ("<" + cfg.smtp_from + ">").c_str());
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(e, CURLOPT_READDATA, &u);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(u.data.size()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::min(5000L, static_cast<long>(cfg.smtp_timeout_ms)));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg.smtp_timeout_ms));
  if (!cfg.smtp_user.empty()) {
    curl_easy_setopt(e, CURLOPT_USERNAME, cfg.smtp_user.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, cfg.smtp_password.c_str());
    curl_easy_setopt(e, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
  }
  const CURLcode rc = curl_easy_perform(e);
  long code = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(rcpt);
  out.response_code = static_cast<int>(code);
  if (rc == CURLE_OK) {
    out.state = send_state::sent;
    return out;
  }
  const std::string why = curl_easy_strerror(rc);
  if (code >= 400 && code != 354) {
    // The server answered and refused: nothing was delivered.
    const bool later = code < 500;
    out.state = later ? send_state::retry : send_state::failed;
    out.err = make_error(later ? errc::delivery_deferred : errc::delivery_refused,
                         "the SMTP server answered " + std::to_string(code) + " (" + why + ")");
  } else if (u.started || code == 354) {
    // The message was handed over and no verdict came back: it may have been delivered.
    out.state = send_state::unknown;
    out.err = make_error(errc::delivery_unknown, "the SMTP session ended after the message was sent, before the "
                                                 "server confirmed it (" + why + "); not resent");
  } else if (rc == CURLE_LOGIN_DENIED) {
    out.state = send_state::failed;
    out.err = make_error(errc::delivery_refused, "the SMTP server refused the login");
  } else {
    // Nothing was handed over (no connection, or lost before DATA).
    out.state = send_state::retry;
    out.err = make_error(rc == CURLE_OPERATION_TIMEDOUT ? errc::timeout : errc::network, "SMTP: " + why);
  }
  return out;
}

class smtp_channel final : public channel {
 public:
  explicit smtp_channel(const config::campaigns_config& cfg)
      : cfg_(cfg), pool_(static_cast<std::size_t>(cfg.smtp_connections), 1000000,
                         [] { return std::make_unique<session>(); }) {}

  bool idempotent() const override { return false; }

  void send(outbound m, std::function<void(send_result)> done) override {
    auto fn = std::make_shared<std::function<void(send_result)>>(std::move(done));
    const bool queued = pool_.submit([this, m = std::move(m), fn](session& s) { (*fn)(transact(s, cfg_, m)); });
    if (!queued) {
      send_result out;
      out.state = send_state::retry;
      out.err = make_error(errc::unavailable, "the SMTP channel is shutting down");
      (*fn)(std::move(out));
    }
  }

 private:
  config::campaigns_config cfg_;
  blocking_pool<session> pool_;
};

}  // namespace

std::unique_ptr<channel> make_smtp_channel(const config::campaigns_config& cfg) {
  return std::make_unique<smtp_channel>(cfg);
}

}  // namespace mq::campaigns
