#include "smtp_sink.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <stdexcept>

namespace mq::test {
namespace {

/// The address inside "MAIL FROM:<a>" or "RCPT TO:<a>".
std::string angle(const std::string& line) {
  auto open = line.find('<');
  auto close = line.find('>', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return line.substr(open + 1, close - open - 1);
}

std::string decode_base64(const std::string& in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int bits = 0;
  unsigned value = 0;
  for (char ch : in) {
    auto p = alphabet.find(ch);
    if (p == std::string::npos) continue;
    value = (value << 6) | static_cast<unsigned>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

/// A header's value in `head` (case-insensitive name), or "".
std::string header(const std::string& head, const std::string& name) {
  std::string lower_head = head;
  for (auto& ch : lower_head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string key = "\n" + name + ":";
  for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto at = ("\n" + lower_head).find(key);
  if (at == std::string::npos) return {};
  auto start = at + key.size() - 1;
  auto end = head.find("\r\n", start);
  auto v = head.substr(start, end - start);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

}  // namespace

smtp_sink::smtp_sink() {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 64) != 0)
    throw std::runtime_error("smtp_sink: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] {
    for (;;) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      sessions_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

smtp_sink::~smtp_sink() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  ::close(listener_);
  acceptor_.join();
  std::vector<std::thread> sessions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sessions.swap(sessions_);
  }
  for (auto& t : sessions) t.join();
}

void smtp_sink::behave(policy p) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_ = std::move(p);
}

std::vector<smtp_sink::message> smtp_sink::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return got_;
}

std::map<std::string, int> smtp_sink::by_recipient() const {
  std::map<std::string, int> out;
  for (const auto& m : messages()) ++out[m.to];
  return out;
}

bool smtp_sink::keep(const std::string& from, const std::string& rcpt, const std::string& data, verdict& v) {
  std::lock_guard<std::mutex> lock(mu_);
  v = policy_ ? policy_(rcpt, attempts_[rcpt]++) : verdict::accept;
  if (v != verdict::accept && v != verdict::drop) return false;
  message m;
  m.from = from;
  m.to = rcpt;
  const auto split = data.find("\r\n\r\n");
  const auto head = data.substr(0, split);
  const auto body = split == std::string::npos ? std::string() : data.substr(split + 4);
  m.subject = header(head, "Subject");
  m.message_id = header(head, "Message-ID");
  m.body = header(head, "Content-Transfer-Encoding") == "base64" ? decode_base64(body) : body;
  m.at = std::chrono::system_clock::now();
  got_.push_back(std::move(m));
  return true;
}

void smtp_sink::serve(int fd) {
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto say = [fd](const std::string& line) { return ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) >= 0; };
  std::string buf, from, rcpt;
  auto read_line = [&](std::string& line) {
    for (;;) {
      auto eol = buf.find("\r\n");
      if (eol != std::string::npos) {
        line = buf.substr(0, eol);
        buf.erase(0, eol + 2);
        return true;
      }
      char chunk[4096];
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  };
  say("220 mq-test-sink ESMTP\r\n");
  std::string line;
  bool rcpt_rejected = false;
  while (!stopping_ && read_line(line)) {
    std::string verb = line.substr(0, 4);
    for (auto& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (verb == "EHLO" || verb == "HELO") {
      say("250-mq-test-sink\r\n250 8BITMIME\r\n");
    } else if (verb == "MAIL") {
      from = angle(line);
      rcpt.clear();
      say("250 OK\r\n");
    } else if (verb == "RCPT") {
      rcpt = angle(line);
      policy p;
      int earlier = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        p = policy_;
        earlier = attempts_.count(rcpt) ? attempts_[rcpt] : 0;
      }
      rcpt_rejected = p && p(rcpt, earlier) == verdict::reject_rcpt;
      if (rcpt_rejected) {
        std::lock_guard<std::mutex> lock(mu_);
        ++attempts_[rcpt];
      }
      say(rcpt_rejected ? "550 no such mailbox\r\n" : "250 OK\r\n");
    } else if (verb == "DATA") {
      say("354 go ahead\r\n");
      std::string data;
      while (read_line(line) && line != ".") data += (line.rfind("..", 0) == 0 ? line.substr(1) : line) + "\r\n";
      verdict v = verdict::accept;
      keep(from, rcpt, data, v);
      if (v == verdict::drop) break;
      say(v == verdict::accept ? "250 queued\r\n" : "451 try again later\r\n");
    } else if (verb == "QUIT") {
      say("221 bye\r\n");
      break;
    } else {
      say("250 OK\r\n");  // RSET, NOOP
    }
  }
  ::close(fd);
}

}  // namespace mq::test
