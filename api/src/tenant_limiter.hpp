#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mq::api {

/// Requests per second per tenant in this process (GCRA: a steady rate with a burst),
/// so one tenant's flood is answered 429 while every other tenant goes on as before.
class tenant_limiter {
 public:
  /// `rate` requests per second (0: unlimited), `burst` at once above it.
  tenant_limiter(double rate, int burst);

  /// Zero when the request may go now (and counts it); otherwise how long until it may.
  std::chrono::milliseconds admit(const std::string& tenant);

 private:
  using clock = std::chrono::steady_clock;
  std::chrono::nanoseconds interval_{0};
  std::chrono::nanoseconds tolerance_{0};
  std::mutex mu_;
  std::unordered_map<std::string, clock::time_point> next_;  ///< Theoretical arrival time.
};

}  // namespace mq::api
