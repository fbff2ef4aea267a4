#pragma once

namespace mq {

/// The first '"' or '\\' in [p, end), or `end`: what JSON and Postgres array literals
/// escape. Sixteen bytes at a time where the CPU has SSE2.
const char* find_quote_or_backslash(const char* p, const char* end);

}  // namespace mq
