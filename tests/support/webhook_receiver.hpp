#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "llm_stub.hpp"

namespace mq::test {

/// A webhook endpoint as messaging APIs run it: it records every POST and treats the
/// Idempotency-Key as they do, so a key accepted once is an effect once, however often
/// it is sent. `answer` decides each request's status (200 unless told otherwise).
class webhook_receiver {
 public:
  struct received {
    std::string key;
    std::string address;
    std::string body;
    std::string authorization;  ///< The Authorization header.
    std::string timestamp;      ///< X-MQ-Timestamp.
    std::string signature;      ///< X-MQ-Signature.
    int status = 0;  ///< What the receiver answered.
    std::chrono::system_clock::time_point at;
  };
  /// The status for a request, given how many times its key arrived before.
  using policy = std::function<int(const received&, int earlier_with_key)>;

  webhook_receiver();
  ~webhook_receiver();  ///< Releases what it holds, so its server can stop.

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()) + "/hooks"; }
  void answer(policy p);
  /// Refusals (non-2xx) carry Retry-After: `seconds` (none when 0).
  void retry_after(int seconds);

  std::vector<received> all() const;
  /// Address -> the distinct keys it was accepted (2xx) under: its effects.
  std::map<std::string, std::set<std::string>> effects() const;
  /// Requests so far (accepted or not).
  std::size_t requests() const;

  /// The next `n` requests are taken (recorded, and so an effect when accepted) but not
  /// answered until release(): a message in the receiver's hands, its outcome not yet known
  /// to the sender.
  void hold(int n);
  void release();
  /// Requests taken and held unanswered now.
  int held() const;

 private:
  mutable std::mutex mu_;
  std::vector<received> got_;
  std::map<std::string, int> seen_;
  policy policy_;
  std::condition_variable released_;
  int to_hold_ = 0;
  int held_ = 0;
  int retry_after_ = 0;
  bool holding_ = false;
  llm_stub server_;
};

}  // namespace mq::test
