// The fault suite, message side: hostile and repeated messages published straight into
// the queues while a healthy batch flows. Each test ends by counting results, duplicates
// and dead letters.

#include <gtest/gtest.h>

#include "faults.hpp"
#include "llm_stub.hpp"
#include "mq/core/ids.hpp"
#include "mq/schemas/types.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct MessageFaults : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

TEST_F(MessageFaults, HostileMessagesAreDeadLetteredWhileHealthyJobsKeepFlowing) {
  stack s;
  auto key = s.create_tenant("acme");
  auto accepted = queue_batch(s, key, 500);
  const std::vector<std::pair<std::string, std::string>> hostile{
      {"empty", ""},
      {"not-json", "\x01\x02 definitely { not json"},
      {"huge", std::string(4 << 20, '[')},
      {"wrong-shape", R"({"v":1,"kind":"classify_meeting","task_id":42})"},
      {"array", "[1,2,3]"},
      {"forged-task", schemas::encode(schemas::envelope{new_uuid(), new_uuid(), "classify_meeting", 1, "", ""})},
  };
  for (const auto& [id, body] : hostile) s.publish_raw("classify_meeting", body, "hostile-" + id);
  auto b = s.wait_batch(key, accepted["batch_id"].GetString());
  EXPECT_EQ(b["succeeded"].GetInt(), 500);
  EXPECT_TRUE(eventually([&] { return s.dead_letters() == static_cast<long long>(hostile.size()); }))
      << s.dead_letters() << " dead letters\n" << s.workers()[0]->log();
  // Each recorded with its error, and none belongs to a tenant: none names a real task.
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM dead_letters WHERE error <> '' AND reason = 'poison' "
                        "AND tenant_id IS NULL AND task_id IS NULL"),
            static_cast<long long>(hostile.size()));
  EXPECT_EQ(parse(s.get(key, "/api/v1/dead-letters").body)["total"].GetInt(), 0);
  EXPECT_TRUE(s.workers()[0]->running());
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 500);
  EXPECT_EQ(s.waiting("classify_meeting"), 0u);
  // And the worker keeps working afterwards.
  auto more = s.add_meetings(key, {"Cliente: después de todo eso, una más."});
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(more[0]));
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_STREQ(s.wait_task(key, parse(r.body)["task_id"].GetString())["status"].GetString(), "succeeded");
  record_counts(s, 501);
}

TEST_F(MessageFaults, EveryJobOfABatchPublishedTwiceRunsOnce) {
  llm_stub llm;
  stack s({.workers = 0, .llm_provider = "openai", .llm_base_url = llm.base_url()});
  auto key = s.create_tenant("acme");
  auto accepted = queue_batch(s, key, 300);
  const auto tenant = s.sql("SELECT id FROM tenants");
  // A second copy of every message, as a relay republish or a producer retry would make.
  for (const auto& t : accepted["task_ids"].GetArray()) {
    const std::string task_id = t.GetString();
    const auto subject = std::stoll(s.sql("SELECT subject_id FROM tasks WHERE id = '" + task_id + "'"));
    s.publish_raw("classify_meeting",
                  schemas::encode(schemas::envelope{task_id, tenant, "classify_meeting", subject,
                                                    accepted["batch_id"].GetString(), "copy"}),
                  task_id);
  }
  EXPECT_EQ(s.queue("classify_meeting").messages, 300u);
  EXPECT_EQ(s.queue("classify_meeting.bulk").messages, 6u) << "the batch, 50 tasks a message";
  s.start_worker();
  auto b = s.wait_batch(key, accepted["batch_id"].GetString());
  EXPECT_EQ(b["succeeded"].GetInt(), 300);
  EXPECT_TRUE(eventually([&] {
    return s.waiting("classify_meeting") == 0;
  }));
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 300);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE attempts <> 1"), 0);
  EXPECT_EQ(llm.calls(), 300);
  EXPECT_EQ(s.dead_letters(), 0);
  record_counts(s, 300);
}

}  // namespace
