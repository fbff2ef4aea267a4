#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mq::test {

struct http_result {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Names lower-cased.
  std::string header(const std::string& name) const;
};

/// Blocking HTTP call for tests (libcurl easy). `headers` are "Name: value".
http_result http_call(const std::string& method, const std::string& url, const std::string& body = "",
                      std::vector<std::string> headers = {});

}  // namespace mq::test
