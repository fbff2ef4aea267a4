// HS256 tokens: what is accepted and each reason one is refused.

#include <gtest/gtest.h>

#include "mq/core/jwt.hpp"

namespace {

using namespace mq;
using std::chrono::seconds;

const std::string secret = "test-secret-of-some-length";
const sys_time now = sys_time(seconds(1'800'000'000));

jwt::rules at_now() { return {now, seconds(30), ""}; }

std::string claims(long exp_offset, const std::string& extra = "") {
  return R"({"tenant_id":"t","exp":)" + std::to_string(1'800'000'000 + exp_offset) + extra + "}";
}

std::string refusal(const std::string& token, const jwt::rules& r = at_now()) {
  auto v = jwt::verify_hs256(token, secret, r);
  if (v) return "accepted";
  EXPECT_EQ(v.err().code, errc::unauthorized);
  return v.err().message;
}

TEST(Jwt, Base64UrlRoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    auto text = jwt::base64url_encode(all.substr(0, n));
    EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
    std::string back;
    ASSERT_TRUE(jwt::base64url_decode(text, back));
    EXPECT_EQ(back, all.substr(0, n));
  }
  std::string out;
  EXPECT_FALSE(jwt::base64url_decode("ab+c", out));
  EXPECT_FALSE(jwt::base64url_decode("abcde", out));
}

TEST(Jwt, ASignedUnexpiredTokenGivesItsClaims) {
  auto v = jwt::verify_hs256(jwt::sign_hs256(claims(60), secret), secret, at_now());
  ASSERT_TRUE(v) << v.err().message;
  EXPECT_STREQ((*v)["tenant_id"].GetString(), "t");
}

TEST(Jwt, EachBrokenRuleIsRefusedWithItsReason) {
  EXPECT_EQ(refusal(jwt::sign_hs256(claims(60), "another secret")), "invalid token: bad signature");
  EXPECT_EQ(refusal(jwt::sign_hs256(claims(-31), secret)), "invalid token: expired");
  EXPECT_EQ(refusal(jwt::sign_hs256(claims(-29), secret)), "accepted") << "within the leeway";
  EXPECT_EQ(refusal(jwt::sign_hs256(R"({"tenant_id":"t"})", secret)), "invalid token: exp is required");
  EXPECT_EQ(refusal(jwt::sign_hs256(claims(60, R"(,"nbf":1800000100)"), secret)), "invalid token: not valid yet");
  EXPECT_EQ(refusal(jwt::sign_hs256(claims(60, R"(,"iat":1800000100)"), secret)),
            "invalid token: issued in the future");
  EXPECT_EQ(refusal(jwt::sign_hs256(claims(60, R"(,"exp2":1)"), secret), {now, seconds(30), "issuer"}),
            "invalid token: wrong issuer");
  EXPECT_EQ(refusal(jwt::sign_hs256(R"({"exp":"soon"})", secret)), "invalid token: exp, nbf and iat must be numbers");
  EXPECT_EQ(refusal("abc.def"), "invalid token: not a JWT");
  EXPECT_EQ(refusal("a.b.c.d"), "invalid token: not a JWT");
  EXPECT_EQ(refusal("!!.??.**"), "invalid token: not base64url");
  // A valid signature cannot be moved onto other claims.
  auto good = jwt::sign_hs256(claims(60), secret);
  auto forged = jwt::sign_hs256(R"({"tenant_id":"other","exp":1800000060})", "x");
  auto spliced = forged.substr(0, forged.rfind('.')) + good.substr(good.rfind('.'));
  EXPECT_EQ(refusal(spliced), "invalid token: bad signature");
}

TEST(Jwt, TheAlgorithmIsPinnedToHs256) {
  auto body = jwt::base64url_encode(claims(60));
  auto with_header = [&](const std::string& header, const std::string& sig) {
    return jwt::base64url_encode(header) + "." + body + "." + sig;
  };
  EXPECT_EQ(refusal(with_header(R"({"alg":"none","typ":"JWT"})", "")), "invalid token: algorithm must be HS256");
  EXPECT_EQ(refusal(with_header(R"({"alg":"None"})", "")), "invalid token: algorithm must be HS256");
  EXPECT_EQ(refusal(with_header(R"({"alg":"HS512"})", "c2ln")), "invalid token: algorithm must be HS256");
  EXPECT_EQ(refusal(with_header(R"({"alg":"RS256"})", "c2ln")), "invalid token: algorithm must be HS256");
  EXPECT_EQ(refusal(with_header(R"({"typ":"JWT"})", "c2ln")), "invalid token: algorithm must be HS256");
  // No secret configured: no token is good.
  auto v = jwt::verify_hs256(jwt::sign_hs256(claims(60), ""), "", at_now());
  EXPECT_FALSE(v);
}

}  // namespace
