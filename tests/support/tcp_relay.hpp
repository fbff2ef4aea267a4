#pragma once

// A TCP relay in front of a real server, for tests of what a client does when the
// network between them fails: it forwards bytes both ways until told to hold the
// server's answers back (a server that stops answering) or to cut every connection.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mq::test {

class tcp_relay {
 public:
  /// Listens on a free loopback port and relays each connection to host:port.
  tcp_relay(std::string host, int port);
  ~tcp_relay();
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  int port() const { return port_; }
  /// While true, the server's bytes are read and dropped instead of forwarded.
  void hold(bool on) { hold_ = on; }
  /// Closes every open connection (new ones are still relayed).
  void cut();
  /// Connections accepted so far.
  int accepted() const { return accepted_; }

 private:
  void accept_loop();

  std::string host_;
  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> hold_{false}, stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<int> fds_;  ///< Both ends of every connection, for cut().
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace mq::test
