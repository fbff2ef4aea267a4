// The confirmed publisher against the real RabbitMQ.

#include <gtest/gtest.h>

#include <future>

#include "mq/queues/amqp.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Publisher : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

TEST_F(Publisher, ALargeBatchThatKeepsBeingConfirmedOutlastsTheConfirmTimeout) {
  stack s({.workers = 0});  // declares the topology
  auto cfg = s.cfg().amqp;
  cfg.confirm_timeout_ms = 250;  // far less than the whole batch takes to confirm
  queues::publisher pub(cfg, queues::topology{cfg.prefix});
  const int n = 30000;
  std::vector<queues::outgoing> msgs;
  for (int i = 0; i < n; ++i)
    msgs.push_back({"classify_meeting", "{\"n\":" + std::to_string(i) + "}", "m-" + std::to_string(i), {}, ""});
  std::promise<status> done;
  const auto started = std::chrono::steady_clock::now();
  pub.publish(std::move(msgs), [&done](status st) { done.set_value(st); });
  auto st = done.get_future().get();
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(st.ok()) << st.err().message;
  EXPECT_EQ(s.queue("classify_meeting").messages, static_cast<std::uint64_t>(n));
  RecordProperty("confirm_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  pub.stop();
}

}  // namespace
