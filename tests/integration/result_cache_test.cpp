// The Redis result cache against the real Redis: write modes and their lifetimes, and
// grouped reads.

#include <gtest/gtest.h>

#include "mq/config/config.hpp"
#include "mq/core/ids.hpp"
#include "mq/store/result_cache.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using mode = store::result_cache::write_mode;

struct ResultCache : ::testing::Test {
  void SetUp() override {
    MQ_REQUIRE_SERVICES();
    auto c = config::load("", config::process_env());
    ASSERT_TRUE(c.ok());
    cfg = *c;
    cfg.redis.key_prefix = "t_rc_" + random_hex(4) + ":";
    cfg.redis.ttl_seconds = 5000;
    cfg.redis.progress_ttl_seconds = 50;
    cache = store::make_redis_cache(cfg.redis);
  }
  void TearDown() override {
    if (cache) cache->del({k("a"), k("b"), k("c")});
  }
  std::string k(const std::string& name) const { return cfg.redis.key_prefix + name; }
  std::optional<std::string> get(const std::string& key) {
    auto v = cache->get(key);
    EXPECT_TRUE(v.ok());
    return v ? *v : std::nullopt;
  }
  config::app_config cfg;
  std::unique_ptr<store::result_cache> cache;
};

TEST_F(ResultCache, AFirstWriteNeverHidesWhatIsThere) {
  ASSERT_TRUE(cache->put({{k("a"), "queued", mode::first}}).ok());
  EXPECT_EQ(get(k("a")), "queued") << "absent: written";
  ASSERT_TRUE(cache->put({{k("a"), "running", mode::progress}}).ok());
  EXPECT_EQ(get(k("a")), "running") << "progress overwrites";
  ASSERT_TRUE(cache->put({{k("a"), "queued", mode::first}}).ok());
  EXPECT_EQ(get(k("a")), "running") << "a stale first write loses";
  ASSERT_TRUE(cache->put({{k("a"), "succeeded", mode::final}}).ok());
  EXPECT_EQ(get(k("a")), "succeeded");
}

TEST_F(ResultCache, StatesOnTheWayLiveShortAndFinalOnesLong) {
  ASSERT_TRUE(cache->put({{k("a"), "running", mode::progress}, {k("b"), "succeeded", mode::final}}).ok());
  auto ttl = [&](const std::string& key) {
    auto e = mq::test::redis_entry(cfg.redis, key);
    EXPECT_TRUE(e.has_value());
    return e ? e->second : -1;
  };
  EXPECT_GT(ttl(k("a")), 0);
  EXPECT_LE(ttl(k("a")), 50);
  EXPECT_GT(ttl(k("b")), 50);
  EXPECT_LE(ttl(k("b")), 5000);
}

TEST_F(ResultCache, ManyKeysAreReadInOneRoundTripInOrder) {
  ASSERT_TRUE(cache->put({{k("a"), "1"}, {k("c"), "3"}}).ok());
  auto v = cache->get_many({k("c"), k("b"), k("a")});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[0], "3");
  EXPECT_FALSE((*v)[1].has_value());
  EXPECT_EQ((*v)[2], "1");
  EXPECT_TRUE(cache->get_many({})->empty());
}

TEST_F(ResultCache, WithRedisDownReadsSayUnavailable) {
  cfg.redis.port = 1;  // nothing listens there
  auto down = store::make_redis_cache(cfg.redis);
  auto v = down->get_many({k("a")});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.err().code, errc::unavailable);
  EXPECT_EQ(down->put({{k("a"), "x"}}).err().code, errc::unavailable);
}

}  // namespace
