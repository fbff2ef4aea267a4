#pragma once

// Campaign e-mail: address checks and the RFC 5322 message the smtp channel sends.

#include <optional>
#include <string>
#include <string_view>

namespace mq::campaigns {

/// A plausible address for SMTP: local@domain, at most 320 bytes, with no spaces,
/// control characters, angle brackets or second '@'.
bool valid_email(std::string_view address);

struct email {
  std::string from;
  std::string to;
  std::string subject;
  std::string body;        ///< UTF-8 text.
  std::string message_id;  ///< Without angle brackets.
  std::string date;        ///< RFC 5322 date ("Sun, 22 Nov 2026 10:00:00 +0000").
};

/// The message with CRLF line ends: a UTF-8 subject as an RFC 2047 encoded word when it
/// is not plain ASCII, the body base64-encoded; header values lose any CR or LF.
std::string build_email(const email& e);

/// Base64 of `data`, lines of 76 characters joined by CRLF when `wrap`.
std::string base64(std::string_view data, bool wrap = false);

/// The current time as an RFC 5322 date.
std::string rfc5322_now();

}  // namespace mq::campaigns
