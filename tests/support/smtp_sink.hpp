#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mq::test {

/// A local SMTP server for tests: it speaks enough SMTP for libcurl (EHLO, MAIL, RCPT,
/// DATA, RSET, NOOP, QUIT, several messages per session), keeps every message it
/// received, and answers what `behave` says for each one.
class smtp_sink {
 public:
  struct message {
    std::string from;
    std::string to;
    std::string subject;
    std::string body;  ///< Decoded from base64 when the message says so.
    std::string message_id;
    std::chrono::system_clock::time_point at;
  };
  enum class verdict {
    accept,      ///< 250 after DATA.
    tempfail,    ///< 451 after DATA (not delivered).
    reject_rcpt, ///< 550 to RCPT TO (nothing sent).
    drop,        ///< Keep the message (delivered) but close the session without answering.
  };
  /// The verdict for a message to `rcpt`, given how many earlier ones went to it.
  using policy = std::function<verdict(const std::string& rcpt, int earlier)>;

  smtp_sink();
  ~smtp_sink();

  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  void behave(policy p);
  /// Messages received (kept), in order.
  std::vector<message> messages() const;
  /// Recipient -> messages received for it.
  std::map<std::string, int> by_recipient() const;

 private:
  void serve(int fd);
  bool keep(const std::string& from, const std::string& rcpt, const std::string& data, verdict& v);

  int listener_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> sessions_;
  std::vector<message> got_;
  std::map<std::string, int> attempts_;
  policy policy_;
};

}  // namespace mq::test
