// The shared rate limiter against the real Redis: GCRA admission, token reconciliation,
// calls bigger than the bucket, provider penalties, and failing open.

#include <gtest/gtest.h>

#include "mq/config/config.hpp"
#include "mq/core/ids.hpp"
#include "mq/store/rate_limiter.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using std::chrono::milliseconds;

struct RateLimiter : ::testing::Test {
  void SetUp() override {
    MQ_REQUIRE_SERVICES();
    auto c = config::load("", config::process_env());
    ASSERT_TRUE(c.ok());
    cfg = *c;
    cfg.redis.key_prefix = "t_rl_" + random_hex(4) + ":";
    cfg.llm.rate_burst_seconds = 1;
  }
  std::unique_ptr<store::rate_limiter> make() { return store::make_redis_rate_limiter(cfg.redis, cfg.llm, "openai:m"); }
  std::int64_t acquire(store::rate_limiter& l, std::int64_t tokens, const std::string& tenant = "t1") {
    auto w = l.acquire({{tenant, tokens}});
    EXPECT_TRUE(w.ok());
    return w ? w->front() : -1;
  }
  config::app_config cfg;
};

TEST_F(RateLimiter, TokenEstimatesAreReconciledWithTheRealUsage) {
  cfg.llm.tokens_per_minute = 60000;  // 1,000 tokens a second, a one-second bucket
  auto l = make();
  EXPECT_EQ(acquire(*l, 800), 0);
  auto wait = acquire(*l, 800);
  EXPECT_GT(wait, 450);
  EXPECT_LE(wait, 650);
  ASSERT_TRUE(l->settle("t1", 800, 200).ok());  // the call used 200, not 800
  EXPECT_EQ(acquire(*l, 800), 0) << "the 600 tokens given back make room";
}

TEST_F(RateLimiter, ACallBiggerThanTheBucketPassesWhenItIsFullThenHoldsOthers) {
  cfg.llm.tokens_per_minute = 60000;
  auto l = make();
  EXPECT_EQ(acquire(*l, 5000), 0);
  auto wait = acquire(*l, 100);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 1100);
}

TEST_F(RateLimiter, OneCallIsAllOrNothingAcrossTheLimits) {
  cfg.llm.requests_per_minute = 600;       // plenty
  cfg.llm.tenant_requests_per_minute = 60;  // one a second per tenant
  auto l = make();
  EXPECT_EQ(acquire(*l, 1, "a"), 0);
  EXPECT_GT(acquire(*l, 1, "a"), 0);
  EXPECT_EQ(acquire(*l, 1, "b"), 0) << "another tenant is not held";
  auto many = l->acquire({{"c", 1}, {"c", 1}, {"d", 1}});
  ASSERT_TRUE(many.ok());
  EXPECT_EQ((*many)[0], 0);
  EXPECT_GT((*many)[1], 0);
  EXPECT_EQ((*many)[2], 0);
}

TEST_F(RateLimiter, A429BlocksEveryoneForRetryAfterAndTightensTheRate) {
  cfg.llm.requests_per_minute = 600;
  cfg.llm.penalty_factor = 0.5;
  cfg.llm.penalty_seconds = 60;
  auto l = make();
  EXPECT_EQ(acquire(*l, 1), 0);
  ASSERT_TRUE(l->penalize(milliseconds(1500)).ok());
  auto wait = acquire(*l, 1, "anyone");
  EXPECT_GT(wait, 1300);
  EXPECT_LE(wait, 1500);
}

TEST_F(RateLimiter, WithRedisDownItSaysSoAndCallersGoAhead) {
  cfg.redis.port = 1;
  cfg.llm.requests_per_minute = 1;
  auto l = make();
  auto w = l->acquire({{"t1", 1}});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.err().code, errc::unavailable);
}

}  // namespace
