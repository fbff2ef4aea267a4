#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mq::test {

/// A loopback HTTP/1.1 server that answers with exactly the bytes a script gives, for
/// testing a client against framings and misbehaviour the stub does not produce: chunked
/// bodies, bodies ended by a close, connections dropped without an answer. One thread
/// per connection; requests are read whole (head plus Content-Length body).
class raw_http_server {
 public:
  struct answer {
    std::string bytes;          ///< Sent as they are (empty: nothing).
    bool close_after = false;   ///< Close the connection once sent.
  };
  /// `request` counts from 1 over the server, `on_connection` from 1 per connection.
  using script = std::function<answer(int request, int on_connection)>;

  explicit raw_http_server(script s);
  ~raw_http_server();
  raw_http_server(const raw_http_server&) = delete;
  raw_http_server& operator=(const raw_http_server&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/x"; }
  int connections() const { return connections_; }
  int requests() const { return requests_; }

 private:
  void serve(int fd);

  script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace mq::test
