#include "tenant_limiter.hpp"

#include <algorithm>

namespace mq::api {

tenant_limiter::tenant_limiter(double rate, int burst) {
  if (rate <= 0) return;
  interval_ = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
  tolerance_ = interval_ * std::max(0, burst - 1);
}

std::chrono::milliseconds tenant_limiter::admit(const std::string& tenant) {
  if (interval_.count() == 0) return std::chrono::milliseconds(0);
  const auto now = clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  auto& tat = next_.try_emplace(tenant, now).first->second;
  const auto start = std::max(tat, now);
  if (start - now > tolerance_)
    return std::chrono::ceil<std::chrono::milliseconds>(start - now - tolerance_);
  tat = start + interval_;
  return std::chrono::milliseconds(0);
}

}  // namespace mq::api
