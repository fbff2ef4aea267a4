#include "mq/core/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"

namespace mq::jwt {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

error refused(std::string why) { return make_error(errc::unauthorized, "invalid token: " + why); }

/// A NumericDate claim (seconds since the epoch), if present and numeric.
std::optional<std::int64_t> seconds_claim(const rapidjson::Value& claims, const char* name, bool& malformed) {
  if (!claims.HasMember(name)) return std::nullopt;
  const auto& v = claims[name];
  if (!v.IsNumber()) {
    malformed = true;
    return std::nullopt;
  }
  return static_cast<std::int64_t>(v.GetDouble());
}

}  // namespace

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : data) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = std::find(alphabet, alphabet + 64, c);
    if (p == alphabet + 64) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(p - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return text.size() % 4 != 1;
}

std::string sign_hs256(std::string_view payload_json, std::string_view secret) {
  std::string input = base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(payload_json);
  return input + "." + base64url_encode(hmac_sha256(input, secret));
}

bool looks_like_jwt(std::string_view credential) {
  return std::count(credential.begin(), credential.end(), '.') == 2;
}

result<rapidjson::Document> verify_hs256(std::string_view token, std::string_view secret, const rules& r) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos ||
      token.find('.', second + 1) != std::string_view::npos)
    return refused("not a JWT");
  std::string header_text, payload_text, signature;
  if (!base64url_decode(token.substr(0, first), header_text) ||
      !base64url_decode(token.substr(first + 1, second - first - 1), payload_text) ||
      !base64url_decode(token.substr(second + 1), signature))
    return refused("not base64url");
  auto header = json::parse(header_text);
  if (!header || !header->IsObject()) return refused("header is not a JSON object");
  // Pinned: only HS256, whatever the token asks for.
  auto alg = json::get_string(*header, "alg");
  if (!alg || *alg != "HS256") return refused("algorithm must be HS256");
  if (secret.empty()) return refused("token authentication is not configured");
  const auto expected = hmac_sha256(token.substr(0, second), secret);
  if (signature.size() != expected.size() || CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0)
    return refused("bad signature");
  auto claims = json::parse(payload_text);
  if (!claims || !claims->IsObject()) return refused("claims are not a JSON object");
  bool malformed = false;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(r.now.time_since_epoch()).count();
  const auto leeway = r.leeway.count();
  auto exp = seconds_claim(*claims, "exp", malformed);
  auto nbf = seconds_claim(*claims, "nbf", malformed);
  auto iat = seconds_claim(*claims, "iat", malformed);
  if (malformed) return refused("exp, nbf and iat must be numbers");
  if (!exp) return refused("exp is required");
  if (now > *exp + leeway) return refused("expired");
  if (nbf && now + leeway < *nbf) return refused("not valid yet");
  if (iat && now + leeway < *iat) return refused("issued in the future");
  if (!r.issuer.empty() && json::get_string(*claims, "iss").value_or("") != r.issuer) return refused("wrong issuer");
  return std::move(*claims);
}

}  // namespace mq::jwt
