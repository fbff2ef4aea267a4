#include "raw_http_server.hpp"

#include "loopback.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>

namespace mq::test {
namespace {

/// The Content-Length of a request head, 0 without one.
std::size_t content_length(const std::string& head) {
  std::string lower(head);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto at = lower.find("\r\ncontent-length:");
  return at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
}

bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

raw_http_server::raw_http_server(script s) : script_(std::move(s)) {
  listen_fd_ = listen_on_loopback(128, port_);
  acceptor_ = std::thread([this] {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // shut down
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

raw_http_server::~raw_http_server() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : fds_) shutdown(fd, SHUT_RDWR);
  for (auto& t : threads_) t.join();
  for (int fd : fds_) close(fd);
}

void raw_http_server::serve(int fd) {
  std::string in;
  char buf[4096];
  for (int on_connection = 1;; ++on_connection) {
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t whole = end + 4 + content_length(in.substr(0, end + 2));
    while (in.size() < whole) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    in.erase(0, whole);
    auto a = script_(++requests_, on_connection);
    if (!send_all(fd, a.bytes) || a.close_after || stopping_) {
      shutdown(fd, SHUT_RDWR);  // closed in the destructor: the descriptor stays ours
      return;
    }
  }
}

}  // namespace mq::test
