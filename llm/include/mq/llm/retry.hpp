#pragma once

#include <chrono>
#include <optional>
#include <random>

namespace mq::llm {

/// Delay before retry number `attempt` (1 = first retry): full jitter over an
/// exponential ceiling, uniform in [0, min(max, base * 2^(attempt-1))]; never shorter
/// than the provider's Retry-After when it sent one, and never longer than `max` unless
/// Retry-After says so.
template <class Rng>
std::chrono::milliseconds retry_delay(int attempt, std::chrono::milliseconds base,
                                      std::chrono::milliseconds max,
                                      std::optional<std::chrono::milliseconds> retry_after, Rng& rng) {
  long long ceiling = base.count();
  for (int i = 1; i < attempt && ceiling < max.count(); ++i) ceiling *= 2;
  if (ceiling > max.count()) ceiling = max.count();
  std::uniform_int_distribution<long long> pick(0, ceiling);
  std::chrono::milliseconds d(pick(rng));
  if (retry_after && *retry_after > d) d = *retry_after;
  return d;
}

}  // namespace mq::llm
