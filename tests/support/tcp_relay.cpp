#include "tcp_relay.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace mq::test {
namespace {

/// Copies from `from` to `to` until either side closes; drops the bytes while `hold`.
void pump(int from, int to, const std::atomic<bool>* hold) {
  char buf[16384];
  for (;;) {
    const auto n = ::read(from, buf, sizeof buf);
    if (n <= 0) break;
    if (hold && *hold) continue;
    for (ssize_t off = 0; off < n;) {
      const auto w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
      if (w <= 0) goto done;
      off += w;
    }
  }
done:
  ::shutdown(from, SHUT_RDWR);
  ::shutdown(to, SHUT_RDWR);
}

int connect_to(const std::string& host, int port) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = ::socket(found->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  return fd;
}

}  // namespace

tcp_relay::tcp_relay(std::string host, int port) : host_(std::move(host)), target_port_(port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("tcp_relay: cannot listen");
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

tcp_relay::~tcp_relay() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  cut();
  for (auto& t : threads_) t.join();
  for (int fd : fds_) ::close(fd);
  ::close(listen_fd_);
}

void tcp_relay::cut() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

void tcp_relay::accept_loop() {
  for (;;) {
    const int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0 || stopping_) {
      if (client >= 0) ::close(client);
      return;
    }
    ++accepted_;
    const int server = connect_to(host_, target_port_);
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(client);
    if (server < 0) {
      ::shutdown(client, SHUT_RDWR);
      continue;
    }
    fds_.push_back(server);
    threads_.emplace_back(pump, client, server, nullptr);
    threads_.emplace_back(pump, server, client, &hold_);
  }
}

}  // namespace mq::test
