// The fault suite, hostile HTTP: who gets in (JWTs beside API keys, bad and foreign
// tokens), how much (per-tenant rate limits, size limits), and hostile text stored exactly
// as sent. Refused requests write nothing.

#include <gtest/gtest.h>

#include <chrono>

#include "mq/core/ids.hpp"
#include "mq/core/jwt.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct HostileHttp : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

const std::string secret = "an-hs256-secret-for-the-tests";

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string token(const std::string& tenant, long long exp_offset, const std::string& key = secret) {
  return jwt::sign_hs256(R"({"tenant_id":")" + tenant + R"(","exp":)" + std::to_string(unix_now() + exp_offset) + "}",
                         key);
}

std::string tenant_of(stack& s, const std::string& key) {
  return s.sql("SELECT tenant_id FROM api_keys WHERE key_hash = '" + sha256_hex(key) + "'");
}

TEST_F(HostileHttp, TokensSignedWithTheSecretActForTheirTenantAndNoOthers) {
  stack s({.workers = 0, .env = {{"MQ_API_JWT_SECRET", secret}, {"MQ_API_JWT_LEEWAY_SECONDS", "30"}}});
  auto key_a = s.create_tenant("acme");
  auto key_b = s.create_tenant("other");
  const auto a = tenant_of(s, key_a);
  const auto b = tenant_of(s, key_b);
  auto mine = s.add_meetings(key_a, {"Cliente: reunión de acme."});
  const std::string path = "/api/v1/meetings/" + std::to_string(mine[0]);

  EXPECT_EQ(s.get(token(a, 60), path).status, 200);
  EXPECT_EQ(s.get(token(a, -10), path).status, 200) << "expired within the clock leeway";
  EXPECT_EQ(s.get(token(b, 60), path).status, 404) << "another tenant's token sees nothing of acme";
  EXPECT_EQ(parse(s.get(token(b, 60), "/api/v1/meetings").body)["total"].GetInt(), 0);
  auto posted = s.post(token(a, 60), "/api/v1/meetings", R"({"transcript": "Cliente: por token."})");
  EXPECT_EQ(posted.status, 201) << posted.body;

  const auto before = s.sql_count("SELECT count(*) FROM meetings");
  const auto none = jwt::base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." +
                    jwt::base64url_encode(R"({"tenant_id":")" + a + R"(","exp":)" + std::to_string(unix_now() + 60) +
                                          "}") + ".";
  const std::vector<std::pair<std::string, std::string>> refused{
      {"expired", token(a, -120)},
      {"wrong secret", token(a, 60, "not-the-secret")},
      {"alg none", none},
      {"unknown tenant", token(new_uuid(), 60)},
      {"tenant not a uuid", token("acme", 60)},
      {"garbage", "e30.e30.e30"},
  };
  for (const auto& [what, t] : refused) {
    auto r = s.post(t, "/api/v1/meetings", R"({"transcript": "Cliente: no debería entrar."})");
    EXPECT_EQ(r.status, 401) << what << ": " << r.body;
    EXPECT_NE(r.body.find("UNAUTHORIZED"), std::string::npos) << what;
    EXPECT_EQ(r.header("www-authenticate"), "Bearer") << what;
  }
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM meetings"), before) << "a refused request wrote something";
}

TEST_F(HostileHttp, MqctlSignsTokensForExistingTenantsOnly) {
  stack s({.workers = 0, .env = {{"MQ_API_JWT_SECRET", secret}}});
  auto key = s.create_tenant("acme");
  const auto name = s.sql("SELECT name FROM tenants WHERE id = '" + tenant_of(s, key) + "'");
  auto [status, out] = s.mqctl({"token", name, "120"});
  ASSERT_EQ(status, 0) << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const auto token = out.substr(out.rfind('\n') + 1);  // the last line
  EXPECT_EQ(s.get(token, "/api/v1/meetings").status, 200) << token;
  EXPECT_NE(s.mqctl({"token", "no-such-tenant"}).first, 0);
  EXPECT_NE(s.mqctl({"token", name, "-5"}).first, 0);
  EXPECT_EQ(s.mqctl({"token", name}, {{"MQ_API_JWT_SECRET", ""}}).first, 78) << "no secret, no token";
}

TEST_F(HostileHttp, WithoutASecretOnlyApiKeysGetIn) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  const auto a = tenant_of(s, key);
  EXPECT_EQ(s.get(token(a, 60), "/api/v1/meetings").status, 401);
  EXPECT_EQ(s.get(key, "/api/v1/meetings").status, 200);
}

TEST_F(HostileHttp, ATenantOverItsRateGets429WithRetryAfterAndOthersGoOn) {
  stack s({.workers = 0,
           .env = {{"MQ_API_TENANT_REQUESTS_PER_SECOND", "2"}, {"MQ_API_TENANT_BURST", "10"}}});
  auto busy = s.create_tenant("busy");
  auto quiet = s.create_tenant("quiet");
  int ok = 0, limited = 0;
  http_result last_limited;
  for (int i = 0; i < 30; ++i) {
    auto r = s.get(busy, "/api/v1/meetings");
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      last_limited = r;
    }
  }
  // The burst, plus what the rate refilled while the loop ran (well under a second).
  EXPECT_GE(ok, 10);
  EXPECT_LE(ok, 13);
  EXPECT_EQ(ok + limited, 30);
  EXPECT_NE(last_limited.body.find("RATE_LIMITED"), std::string::npos) << last_limited.body;
  EXPECT_GE(std::stoi(last_limited.header("retry-after")), 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.get(quiet, "/api/v1/meetings").status, 200) << "the quiet tenant, call " << i;
  EXPECT_EQ(http_call("GET", s.url("/health")).status, 200);
}

TEST_F(HostileHttp, HostileTextIsStoredVerbatimAndBatchesAreBounded) {
  stack s({.workers = 0, .env = {{"MQ_API_MAX_BATCH_ITEMS", "10000"}}});
  auto key = s.create_tenant("acme");
  const std::vector<std::string> texts{
      "Robert'); DROP TABLE meetings;-- ",
      "' OR '1'='1' UNION SELECT key_hash FROM api_keys --",
      "$1 $$ \\x00 %s %n {{template}} ${jndi:ldap://x}",
      "Añadir señal: 日本語の会議 — עברית ← العربية 🚀👩🏽‍💻 e\xcc\x81",
      std::string("tab\tnew\nline\rcarriage \"quote\" back\\slash"),
  };
  auto ids = s.add_meetings(key, texts);
  ASSERT_EQ(ids.size(), texts.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto got = parse(s.get(key, "/api/v1/meetings/" + std::to_string(ids[i])).body);
    EXPECT_EQ(std::string(got["transcript"].GetString()), texts[i]) << "meeting " << i;
  }
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM meetings"), static_cast<long long>(texts.size()));

  auto many = [](int n) {
    std::string body = R"({"meetings": [)";
    for (int i = 0; i < n; ++i) body += std::string(i ? "," : "") + R"({"transcript": "Cliente )" + std::to_string(i) + R"("})";
    return body + "]}";
  };
  auto too_many = s.post(key, "/api/v1/meetings", many(10001));
  EXPECT_EQ(too_many.status, 413) << too_many.body;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM meetings"), static_cast<long long>(texts.size()));
  auto full = s.post(key, "/api/v1/meetings", many(10000));
  EXPECT_EQ(full.status, 201) << full.body.substr(0, 300);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM meetings"), static_cast<long long>(texts.size()) + 10000);
  std::string ids_body = R"({"meeting_ids": [)";
  for (int i = 1; i <= 10001; ++i) ids_body += std::string(i > 1 ? "," : "") + std::to_string(i);
  auto big_batch = s.post(key, "/api/v1/workers/classify/batch", ids_body + "]}");
  EXPECT_EQ(big_batch.status, 413) << big_batch.body;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks"), 0);
}

}  // namespace
