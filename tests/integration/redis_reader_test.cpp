// The event-loop Redis reader (mq-api's cache reads) against the real Redis: values and
// misses in order, many reads pipelined, and what a failing connection costs: reads miss
// (Postgres answers), are not tried again at once, and the connection is remade.

#include "mq/store/redis_reader.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "mq/config/config.hpp"
#include "mq/core/ids.hpp"
#include "mq/store/result_cache.hpp"
#include "stack.hpp"
#include "tcp_relay.hpp"

namespace {

using namespace mq;
using namespace std::chrono_literals;
namespace net = boost::asio;
using value = std::optional<std::string>;
/// What read() returns for an answered miss.
const std::optional<value> miss{value()};

struct RedisReader : ::testing::Test {
  void SetUp() override {
    MQ_REQUIRE_SERVICES();
    auto c = config::load("", config::process_env());
    ASSERT_TRUE(c.ok());
    cfg = c->redis;
    cfg.key_prefix = "t_rr_" + random_hex(4) + ":";
    cache = store::make_redis_cache(cfg);
    ASSERT_TRUE(cache->put({{k("a"), "1"}, {k("c"), "3"}}).ok());
  }
  void TearDown() override {
    if (cache) cache->del({k("a"), k("c")});
  }
  std::string k(const std::string& name) const { return cfg.key_prefix + name; }

  /// Runs the loop until `done()` or `limit`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
      if (io.stopped()) io.restart();
      io.run_one_for(20ms);
    }
    return done();
  }

  /// One read through `reader`, the loop run until it is answered.
  std::optional<value> read(store::redis_reader& reader, const std::string& key) {
    std::optional<value> got;
    reader.get(key, [&](value v) { got = std::move(v); });
    run_until([&] { return got.has_value(); });
    return got;
  }

  config::redis_config cfg;
  std::unique_ptr<store::result_cache> cache;
  net::io_context io{1};
};

TEST_F(RedisReader, AnswersValuesAndMissesInTheOrderAsked) {
  store::redis_reader reader(io, cfg);
  std::vector<std::pair<std::string, value>> got;
  for (const auto* name : {"c", "b", "a"})
    reader.get(k(name), [&got, name](value v) { got.emplace_back(name, std::move(v)); });
  ASSERT_TRUE(run_until([&] { return got.size() == 3; }));
  EXPECT_EQ(got[0], std::make_pair(std::string("c"), value("3")));
  EXPECT_EQ(got[1], std::make_pair(std::string("b"), value()));
  EXPECT_EQ(got[2], std::make_pair(std::string("a"), value("1")));
}

TEST_F(RedisReader, ThousandsOfReadsAskedAtOnceAreEachAnsweredInOrder) {
  // More replies than one read of the socket holds: they arrive in pieces.
  std::vector<store::result_cache::entry> entries;
  const std::string big(700, 'x');
  for (int i = 0; i < 3000; ++i)
    entries.push_back({k("n" + std::to_string(i)), big + std::to_string(i)});
  ASSERT_TRUE(cache->put(entries).ok());
  store::redis_reader reader(io, cfg);
  std::vector<value> got;
  for (int i = 0; i < 3000; ++i)
    reader.get(k("n" + std::to_string(i)), [&got](value v) { got.push_back(std::move(v)); });
  ASSERT_TRUE(run_until([&] { return got.size() == 3000; }));
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(got[i], big + std::to_string(i)) << i;
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(e.key);
  cache->del(keys);
}

TEST_F(RedisReader, WithNothingListeningReadsMissAndAreNotTriedAgainAtOnce) {
  cfg.port = 1;
  store::redis_reader reader(io, cfg, 60'000ms);
  EXPECT_EQ(read(reader, k("a")), miss) << "refused: a miss";
  // Within the retry interval the next read is answered before get() returns.
  bool answered = false;
  reader.get(k("a"), [&](value v) {
    answered = true;
    EXPECT_FALSE(v.has_value());
  });
  EXPECT_TRUE(answered);
}

TEST_F(RedisReader, AReadLeftUnansweredMissesAfterTheTimeoutAndTheConnectionIsRemade) {
  test::tcp_relay relay(cfg.host, cfg.port);
  cfg.port = relay.port();
  cfg.timeout_ms = 150;
  store::redis_reader reader(io, cfg, 50ms);
  EXPECT_EQ(read(reader, k("a")), value("1"));
  relay.hold(true);  // Redis goes silent
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(read(reader, k("a")), miss);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 150ms);
  relay.hold(false);
  EXPECT_TRUE(run_until([&] { return read(reader, k("c")) == value("3"); }, 10'000ms));
  EXPECT_EQ(relay.accepted(), 2);
}

TEST_F(RedisReader, ACutConnectionFailsItsReadsAndIsRemade) {
  test::tcp_relay relay(cfg.host, cfg.port);
  cfg.port = relay.port();
  store::redis_reader reader(io, cfg, 50ms);
  EXPECT_EQ(read(reader, k("a")), value("1"));
  relay.hold(true);
  std::optional<value> in_flight;
  reader.get(k("a"), [&](value v) { in_flight = std::move(v); });
  relay.cut();
  ASSERT_TRUE(run_until([&] { return in_flight.has_value(); }));
  EXPECT_EQ(*in_flight, value()) << "the read on the cut connection misses";
  relay.hold(false);
  EXPECT_TRUE(run_until([&] { return read(reader, k("c")) == value("3"); }, 10'000ms));
  EXPECT_EQ(relay.accepted(), 2);
}

}  // namespace
