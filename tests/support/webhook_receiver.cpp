#include "webhook_receiver.hpp"

#include "mq/core/json.hpp"

namespace mq::test {

webhook_receiver::webhook_receiver() {
  server_.on_path("/hooks", [this](const stub_request& req, int) {
    received r;
    r.key = req.header("idempotency-key");
    r.body = req.body;
    r.authorization = req.authorization;
    r.timestamp = req.header("x-mq-timestamp");
    r.signature = req.header("x-mq-signature");
    r.at = std::chrono::system_clock::now();
    if (auto doc = json::parse(req.body); doc && doc->IsObject())
      r.address = json::get_string(*doc, "address").value_or("");
    std::unique_lock<std::mutex> lock(mu_);
    const int earlier = seen_[r.key]++;
    r.status = policy_ ? policy_(r, earlier) : 200;
    got_.push_back(r);
    if (to_hold_ > 0) {
      --to_hold_;
      ++held_;
      released_.wait(lock, [this] { return !holding_; });
      --held_;
    }
    if (r.status < 300) return stub_reply::error(r.status, R"({"ok":true})");
    std::vector<std::pair<std::string, std::string>> headers;
    if (retry_after_ > 0) headers.emplace_back("Retry-After", std::to_string(retry_after_));
    return stub_reply::error(r.status, R"({"error":"try later"})", std::move(headers));
  });
}

void webhook_receiver::answer(policy p) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_ = std::move(p);
}

webhook_receiver::~webhook_receiver() { release(); }

void webhook_receiver::retry_after(int seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  retry_after_ = seconds;
}

void webhook_receiver::hold(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  to_hold_ = n;
  holding_ = true;
}

void webhook_receiver::release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    to_hold_ = 0;
    holding_ = false;
  }
  released_.notify_all();
}

int webhook_receiver::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

std::vector<webhook_receiver::received> webhook_receiver::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  return got_;
}

std::map<std::string, std::set<std::string>> webhook_receiver::effects() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::set<std::string>> out;
  for (const auto& r : got_)
    if (r.status >= 200 && r.status < 300) out[r.address].insert(r.key);
  return out;
}

std::size_t webhook_receiver::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return got_.size();
}

}  // namespace mq::test
