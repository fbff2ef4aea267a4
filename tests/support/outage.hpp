#pragma once

// A dependency outage for the fault suite: one of the shared services (postgres, redis,
// rabbitmq) stopped or killed through `scripts/dev service`, and brought back. Tests
// that use it run alone (RUN_SERIAL): every other test needs the same services.

#include <chrono>
#include <string>

namespace mq::test {

/// Runs `scripts/dev service <action> <name>`; returns its exit status.
int dev_service(const std::string& action, const std::string& name);

class outage {
 public:
  /// Stops `name` (with `kill`, SIGKILL instead of a clean stop).
  explicit outage(std::string name, bool kill = false);
  /// Starts the service again if end() was not called.
  ~outage();
  outage(const outage&) = delete;
  outage& operator=(const outage&) = delete;

  /// Starts the service again and waits until it answers; returns how long it was down.
  std::chrono::milliseconds end();

 private:
  std::string name_;
  bool ended_ = false;
  std::chrono::steady_clock::time_point began_;
};

}  // namespace mq::test
