// A worker killed in the middle of a campaign, right after a message went out and before
// the ledger recorded it: the replacement finishes the campaign and no recipient gets the
// same campaign twice in effect (webhooks are resent under the same Idempotency-Key; an
// e-mail that may have gone is recorded unknown and never resent). And a copy of a
// message that takes its task over while the first delivery still runs: one e-mail.

#include <gtest/gtest.h>

#include <sstream>

#include "campaigns.hpp"
#include "llm_stub.hpp"
#include "mq/schemas/types.hpp"

namespace {

using namespace mq;
using namespace mq::test;
using clock_type = std::chrono::steady_clock;

struct CampaignFaults : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

void record(int accepted, long long sent, long long failed, long long duplicates, clock_type::time_point crashed_at) {
  ::testing::Test::RecordProperty("accepted", accepted);
  ::testing::Test::RecordProperty("results", static_cast<int>(sent));
  ::testing::Test::RecordProperty("failed", static_cast<int>(failed));
  ::testing::Test::RecordProperty("duplicates", static_cast<int>(duplicates));
  ::testing::Test::RecordProperty("dead_letters", 0);
  ::testing::Test::RecordProperty(
      "recovery_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - crashed_at).count()));
}

/// Starts a worker that dies right after its `n`-th send; waits for it to die.
void crash_after_send(stack& s, int n) {
  s.start_worker({{"MQ_FAILPOINT", "worker.after_send:" + std::to_string(n)}, {"MQ_WORKER_PREFETCH", "20"}});
  ASSERT_NE(s.workers().back()->wait(std::chrono::seconds(60)), -1) << "the failpoint never fired";
  EXPECT_NE(s.workers().back()->log().find("crashing on purpose"), std::string::npos);
}

TEST_F(CampaignFaults, KilledAfterAWebhookWentOutTheCampaignStillReachesEveryoneOnce) {
  webhook_receiver hooks;
  smtp_sink mail;
  const int n = 200;
  auto o = campaign_stack(hooks, mail);
  o.workers = 0;
  stack s(o);
  auto key = s.create_tenant("acme");
  auto id = sent_campaign(s, key, R"({"name":"Crash","channel":"webhook","template":"Hola {{first_name}}"})", n);
  crash_after_send(s, 60);
  const auto crashed_at = clock_type::now();
  ASSERT_LT(hooks.requests(), static_cast<std::size_t>(n)) << "the crash came after the whole campaign";
  s.start_worker();
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), n);
  EXPECT_EQ(a["failed"].GetInt(), 0);
  auto effects = hooks.effects();
  long long doubled = 0;
  for (int i = 0; i < n; ++i) {
    const auto address = "r" + std::to_string(i) + "@example.com";
    EXPECT_EQ(effects[address].size(), 1u) << address;
    doubled += effects[address].size() > 1;
  }
  // The message sent just before the crash went again, under its key: a repeat, not a second message.
  std::map<std::string, int> per_key;
  for (const auto& r : hooks.all()) ++per_key[r.key];
  int repeated = 0;
  for (const auto& [k, times] : per_key) repeated += times > 1;
  EXPECT_GE(repeated, 1);
  EXPECT_NE(s.workers().back()->log().find("resending under the same idempotency key"), std::string::npos);
  record(n, a["sent"].GetInt64(), a["failed"].GetInt64(), doubled, crashed_at);
}

TEST_F(CampaignFaults, KilledAfterAnEmailWentOutNoRecipientGetsItTwice) {
  webhook_receiver hooks;
  smtp_sink mail;
  const int n = 100;
  auto o = campaign_stack(hooks, mail);
  o.workers = 0;
  stack s(o);
  auto key = s.create_tenant("acme");
  auto id = sent_campaign(s, key, R"({"name":"Crash","channel":"smtp","subject":"Hola","template":"Hola {{first_name}}"})", n);
  crash_after_send(s, 30);
  const auto crashed_at = clock_type::now();
  s.start_worker();
  auto a = wait_settled(s, key, id);
  const auto sent = a["sent"].GetInt64(), unknown = a["unknown"].GetInt64();
  EXPECT_GE(unknown, 1) << "the message sent just before the crash may have arrived: unknown";
  EXPECT_EQ(sent + unknown, n);
  auto got = mail.by_recipient();
  long long doubled = 0;
  for (int i = 0; i < n; ++i) {
    const auto rcpt = "r" + std::to_string(i) + "@example.com";
    EXPECT_LE(got[rcpt], 1) << rcpt;
    doubled += got[rcpt] > 1;
  }
  // Every row recorded sent arrived exactly once; unknown ones arrived at most once.
  std::stringstream sent_rows(s.sql("SELECT string_agg(address, ',') FROM campaign_recipients WHERE state = 'sent'"));
  for (std::string rcpt; std::getline(sent_rows, rcpt, ',');) EXPECT_EQ(got[rcpt], 1) << rcpt << " is recorded sent";
  long long delivered = 0;
  for (const auto& [rcpt, count] : got) delivered += count;
  EXPECT_GE(delivered, sent);
  EXPECT_LE(delivered, sent + unknown);
  record(n, sent, a["failed"].GetInt64() + unknown, doubled, crashed_at);
}

// A copy of a message that may take its task over (as the split copies of a bulk message
// that came back may) reaches a second replica while the first replica's delivery of the
// task is still writing the message with the LLM, before it marked it sending. The copy
// owns the task now: when the first delivery comes to mark the message it stands down,
// and the copy sends the one e-mail, recorded sent.
// Before, the first delivery marked the row and sent, and the copy, which had read the
// row pending, marked it again and sent too: two e-mails.
TEST_F(CampaignFaults, ACopyTakingOverAMessageBeingWrittenSendsTheOnlyEmail) {
  webhook_receiver hooks;
  smtp_sink mail;
  using std::chrono::milliseconds;
  auto writes_in = [](milliseconds first, milliseconds later) {
    return [first, later](const stub_request&, int call) {
      auto r = llm_stub::completion(R"({"body":"Hola, de parte del equipo."})", "stop", 10, 5);
      r.delay = call == 1 ? first : later;
      return r;
    };
  };
  // The first replica writes its first message at once and its second in 5 s; the second
  // replica takes 10 s, so the copy comes to mark the message after the first delivery.
  llm_stub first_llm, second_llm;
  first_llm.on_chat(writes_in(milliseconds(0), milliseconds(5000)));
  second_llm.on_chat(writes_in(milliseconds(10000), milliseconds(10000)));
  auto o = campaign_stack(hooks, mail);
  o.workers = 0;
  o.llm_provider = "openai";
  o.llm_base_url = first_llm.base_url();
  stack s(o);
  // One delivery at a time: while it holds the second message, the copy can only go to
  // the second replica (in this one it would wait for the first delivery to end).
  s.start_worker({{"MQ_WORKER_PREFETCH", "1"}});
  auto key = s.create_tenant("acme");
  auto id = sent_campaign(s, key, R"({"name":"Copy","channel":"smtp","subject":"Hola","template":"Hola {{first_name}}",
                                      "personalization_prompt":"Warmer."})",
                          2);
  ASSERT_TRUE(eventually([&] { return mail.by_recipient().size() == 1 && first_llm.calls() == 2; },
                         std::chrono::seconds(30)));
  const auto waiting = s.sql("SELECT id FROM campaign_recipients WHERE state = 'pending'");
  ASSERT_FALSE(waiting.empty());
  const auto task = s.sql("SELECT task_id FROM campaign_recipients WHERE id = " + waiting);
  ASSERT_EQ(s.sql("SELECT status || ' ' || attempts FROM tasks WHERE id = '" + task + "'"), "running 1");
  s.start_worker({{"MQ_LLM_BASE_URL", second_llm.base_url()}});
  s.wait_consumers(2);

  schemas::envelope copy{task, s.sql("SELECT id FROM tenants"), "send_message", std::stoll(waiting),
                         s.sql("SELECT batch_id FROM tasks WHERE id = '" + task + "'"), "copy"};
  copy.deliveries = 1;
  s.publish_raw("send_message", schemas::encode(copy), task);
  const auto took_over_at = clock_type::now();
  ASSERT_TRUE(eventually([&] { return second_llm.calls() == 1; })) << "the copy never reached the second replica";
  EXPECT_EQ(s.sql("SELECT attempts FROM tasks WHERE id = '" + task + "'"), "2");
  ASSERT_EQ(s.sql("SELECT state FROM campaign_recipients WHERE id = " + waiting), "pending")
      << "the first delivery marked the message before the copy took over: its LLM call was too short here";

  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), 2);
  EXPECT_EQ(a["unknown"].GetInt(), 0);
  EXPECT_EQ(s.sql("SELECT status || ' ' || attempts FROM tasks WHERE id = '" + task + "'"), "succeeded 2");
  EXPECT_NE(s.workers()[0]->log().find("taken over by another delivery"), std::string::npos);
  EXPECT_EQ(s.waiting("send_message"), 0u);
  long long doubled = 0;
  for (const auto& [rcpt, count] : mail.by_recipient()) {
    EXPECT_EQ(count, 1) << rcpt;
    doubled += count > 1;
  }
  EXPECT_EQ(mail.by_recipient().size(), 2u);
  record(2, a["sent"].GetInt64(), a["failed"].GetInt64(), doubled, took_over_at);
}

}  // namespace
