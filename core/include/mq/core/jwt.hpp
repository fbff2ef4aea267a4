#pragma once

// JSON Web Tokens signed with HS256 and a shared secret: the second way (after API
// keys) to authenticate a request. The algorithm is pinned: a token whose header names
// any other algorithm, "none" included, is refused before its signature is looked at.

#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <string_view>

#include "mq/core/error.hpp"
#include "mq/core/time.hpp"

namespace mq::jwt {

/// base64url without padding (RFC 7515), and back (nullopt-like failure: false).
std::string base64url_encode(std::string_view data);
bool base64url_decode(std::string_view text, std::string& out);

/// A token for `payload_json` (a JSON object), header {"alg":"HS256","typ":"JWT"}.
std::string sign_hs256(std::string_view payload_json, std::string_view secret);

/// What verification asks of the claims besides the signature.
struct rules {
  sys_time now;
  std::chrono::seconds leeway{30};  ///< Clock skew tolerated on exp, nbf and iat.
  std::string issuer;               ///< When not empty, "iss" must equal it.
};

/// The token's claims when it is well-formed, HS256, signed with `secret`, carries an
/// `exp` not yet passed and no `nbf`/`iat` in the future (each within the leeway);
/// errc::unauthorized saying which check failed otherwise.
result<rapidjson::Document> verify_hs256(std::string_view token, std::string_view secret, const rules& r);

/// Whether a bearer credential has the shape of a JWT (three dot-separated parts).
bool looks_like_jwt(std::string_view credential);

}  // namespace mq::jwt
