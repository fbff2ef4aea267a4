#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mq {

/// A new time-ordered UUID (version 7): 48 bits of Unix milliseconds, then random bits,
/// so task ids sort by creation and index well. Thread-safe.
std::string new_uuid();

/// True for the canonical 36-character hex-and-dashes form, any version.
bool is_uuid(std::string_view text);

/// `bytes` cryptographically random bytes as lower-case hex (for API keys).
std::string random_hex(std::size_t bytes);

/// Lower-case hex SHA-256 of `data` (API keys are stored as this).
std::string sha256_hex(std::string_view data);

/// HMAC-SHA256 of `data` under `secret`: raw bytes, and as lower-case hex.
std::string hmac_sha256(std::string_view data, std::string_view secret);
std::string hmac_sha256_hex(std::string_view data, std::string_view secret);

}  // namespace mq
