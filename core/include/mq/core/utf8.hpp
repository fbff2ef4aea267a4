#pragma once

// UTF-8 checked by hand where a parser is not involved (message bodies, uploads).

#include <cstddef>
#include <string>
#include <string_view>

namespace mq::utf8 {

/// Length of the well-formed UTF-8 sequence starting at `p` (at most `n` bytes): 1-4, or
/// 0 when it is not one (overlong forms, surrogates, past U+10FFFF, NUL and cut-off
/// sequences included).
std::size_t sequence_length(const unsigned char* p, std::size_t n);

/// Whether all of `s` is well-formed UTF-8 without NUL.
bool valid(std::string_view s);

/// Code points of valid UTF-8, and back.
std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);

}  // namespace mq::utf8
