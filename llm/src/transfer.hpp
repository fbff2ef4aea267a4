#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mq/llm/http_engine.hpp"

struct curl_slist;

namespace mq::llm {

using engine_clock = std::chrono::steady_clock;

/// One call on its way through the engine, whichever pool runs it.
struct transfer {
  http_call call;
  http_engine::callback done;
  http_reply reply;
  engine_clock::time_point started;
  engine_clock::time_point last_byte;
  bool got_byte = false;
  bool too_large = false;
  // libcurl's pool only:
  std::shared_ptr<curl_slist> headers;  // shared by transfers with the same headers
  std::uint32_t shard = 0;              // the multi handle running it

  void saw_bytes() {
    got_byte = true;
    last_byte = engine_clock::now();
  }

  /// Why this call must be aborted now (its first-byte or idle timeout passed), or "".
  std::string overdue(engine_clock::time_point now) const {
    if (!got_byte && now - started > call.first_byte_timeout)
      return "no answer within " + std::to_string(call.first_byte_timeout.count()) + " ms";
    if (got_byte && now - last_byte > call.idle_timeout)
      return "answer stalled for " + std::to_string(call.idle_timeout.count()) + " ms";
    return {};
  }
};

/// Hands a finished transfer back to the engine, which answers its caller.
using finisher = std::function<void(std::unique_ptr<transfer>)>;

}  // namespace mq::llm
