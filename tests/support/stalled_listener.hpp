#pragma once

#include <vector>

namespace mq::test {

/// A loopback listener whose accept queue is full: the kernel drops further SYNs, so a
/// connect to it neither completes nor fails (until the client's connect timeout).
class stalled_listener {
 public:
  stalled_listener();
  ~stalled_listener();
  stalled_listener(const stalled_listener&) = delete;
  stalled_listener& operator=(const stalled_listener&) = delete;

  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;  ///< The connections that fill the queue.
};

}  // namespace mq::test
