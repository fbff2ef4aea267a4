#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace mq::test {

/// A child process of the test (mq-api, mq-worker) with its own environment and a log
/// file. Killed with SIGKILL on destruction if still running.
class process {
 public:
  process(std::string binary, std::map<std::string, std::string> env, std::string log_path,
          std::vector<std::string> args = {});
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  bool running();
  /// Sends `sig` (SIGTERM by default).
  void signal(int sig);
  /// Waits for exit up to `timeout`; returns the exit status, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  /// The log written so far.
  std::string log() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

}  // namespace mq::test
