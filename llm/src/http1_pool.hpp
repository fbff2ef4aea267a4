#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "transfer.hpp"

namespace mq::llm {

/// Plain HTTP/1.1 over kept-alive TCP connections, for `http://` URLs whose host is an IP
/// address or "localhost": local vLLM, Ollama, the stub, webhooks on a private network.
/// It asks the kernel for one send and one receive per call and walks no connection list:
/// an idle connection to the same origin is taken from the top of a stack, or a new one
/// opened, so calls never wait for each other.
///
/// Sockets join the engine's epoll set once, edge-triggered, under keys carrying `tag`
/// in their high half; the engine passes their events to on_event(). A connection the
/// server closes while idle is dropped when its hang-up arrives; one that dies under a
/// call before any byte of the answer is tried once more on a fresh connection.
class http1_pool {
 public:
  static constexpr std::uint64_t tag = std::uint64_t{0xfffffffe} << 32;

  http1_pool(int epfd, finisher done);
  ~http1_pool();
  http1_pool(const http1_pool&) = delete;
  http1_pool& operator=(const http1_pool&) = delete;

  /// Starts `t` when this pool can run its URL (http, an IP address or localhost) and
  /// gives it back otherwise.
  std::unique_ptr<transfer> start(std::unique_ptr<transfer> t);
  void on_event(std::uint64_t key, std::uint32_t events);
  /// Aborts calls past their connect, first-byte, idle or total timeout.
  void scan(engine_clock::time_point now);
  bool busy() const { return calls_ > 0; }
  /// Ends every call with errc::unavailable and closes every connection.
  void abort_all();

  struct connection;
  struct target;

 private:
  void open(std::unique_ptr<transfer> t, std::shared_ptr<const target> where, bool fresh_only);
  void send_request(connection& c);
  void receive(connection& c);
  void fail(connection& c, error e, bool may_retry);
  void complete(connection& c, bool keep);
  void close(connection& c);

  int epfd_;
  finisher done_;
  std::uint32_t next_id_ = 1;
  std::size_t calls_ = 0;
  std::unordered_map<std::uint32_t, std::unique_ptr<connection>> conns_;
  std::unordered_map<std::string, std::vector<connection*>> idle_;  // by origin
  std::string last_url_;  // calls of one client share a URL: it is parsed once
  std::shared_ptr<const target> last_target_;
};

}  // namespace mq::llm
