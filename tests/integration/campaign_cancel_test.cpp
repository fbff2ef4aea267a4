// Cancelling campaign messages on the real services: what was not yet sent stops, what is
// in a channel's hands finishes and is recorded as sent (or cancelled, when the channel
// then refuses it for now), and a cancel racing a worker that marks a message `sending`
// ends one consistent way or the other, never sent yet recorded otherwise.

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>

#include "campaigns.hpp"
#include "mq/core/json.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct CampaignCancel : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }

  /// The stack sending to `hooks` and `mail`, with tenant `key`.
  stack& start() {
    running = std::make_unique<stack>(campaign_stack(hooks, mail));
    key = running->create_tenant("acme");
    return *running;
  }

  webhook_receiver hooks;
  smtp_sink mail;
  std::unique_ptr<stack> running;
  std::string key;
};

TEST_F(CampaignCancel, CancelMidSendStopsWhatWasNotYetSent) {
  auto& s = start();
  auto id = sent_campaign(s, key, R"({"name":"Big","channel":"webhook","template":"Hola {{first_name}}","rate_per_minute":600})", 60);
  ASSERT_TRUE(eventually([&] { return hooks.requests() >= 5; }, std::chrono::seconds(30)));
  EXPECT_EQ(s.del(key, campaign_path(id)).status, 409) << "a sending campaign is cancelled before it is deleted";
  auto r = s.post(key, campaign_path(id, "/cancel"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GT(parse(r.body)["cancelled_now"].GetInt(), 0);
  auto a = wait_settled(s, key, id);
  EXPECT_STREQ(a["status"].GetString(), "cancelled");
  const auto sent = a["sent"].GetInt();
  EXPECT_GT(a["cancelled"].GetInt(), 0);
  EXPECT_LT(sent, 60);
  EXPECT_EQ(sent + a["cancelled"].GetInt() + a["failed"].GetInt(), 60);
  // Every task is final now, so nothing else can arrive: the receiver saw exactly the sent ones.
  ASSERT_TRUE(eventually([&] {
    return s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'send_message' AND status IN "
                       "('queued', 'running', 'retrying')") == 0;
  }));
  std::size_t effects = 0;
  for (const auto& [address, keys] : hooks.effects()) effects += keys.size();
  EXPECT_EQ(effects, static_cast<std::size_t>(sent));
  EXPECT_EQ(s.del(key, campaign_path(id)).status, 204);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM campaign_recipients"), 0);
}

// Cancelled while a message is in the receiver's hands (taken, not yet answered): that
// send is past stopping, so its task finishes and the ledger records it as sent; the rest
// are cancelled.
TEST_F(CampaignCancel, AMessageInTheReceiversHandsWhenCancelledIsRecordedAsSent) {
  hooks.hold(1);
  auto& s = start();
  auto id = sent_campaign(s, key, R"({"name":"Held","channel":"webhook","template":"x","rate_per_minute":60})", 5);
  ASSERT_TRUE(eventually([&] { return hooks.held() == 1; }, std::chrono::seconds(30)));
  const auto sending = s.sql("SELECT task_id FROM campaign_recipients WHERE state = 'sending'");
  auto alone = s.post(key, "/api/v1/tasks/" + sending + "/cancel");
  EXPECT_EQ(alone.status, 409) << alone.body;
  EXPECT_NE(alone.body.find("is sending its message"), std::string::npos) << alone.body;
  auto r = s.post(key, campaign_path(id, "/cancel"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r.body)["in_flight"].GetInt(), 1);
  EXPECT_EQ(parse(r.body)["cancelled_now"].GetInt(), 4);
  hooks.release();
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), 1);
  EXPECT_EQ(a["cancelled"].GetInt(), 4);
  EXPECT_EQ(a["unknown"].GetInt(), 0);
  EXPECT_EQ(hooks.requests(), 1u);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'send_message' AND status = 'succeeded'"), 1);
}

// Cancelled while a retry waits after a send whose outcome the receiver left open: the
// retry is cancelled, and the ledger says the message may have arrived instead of
// leaving it `sending` for good.
TEST_F(CampaignCancel, AMessageWaitingToBeResentWhenCancelledIsRecordedAsUnknown) {
  hooks.answer([](const webhook_receiver::received&, int) { return 503; });
  hooks.retry_after(600);  // longer than a retry is held in memory: the task defers as retrying
  auto& s = start();
  auto id = sent_campaign(s, key, R"({"name":"Retrying","channel":"webhook","template":"x"})", 1);
  ASSERT_TRUE(eventually([&] {
    return s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'send_message' AND status = 'retrying'") == 1;
  }, std::chrono::seconds(30)));
  auto r = s.post(key, campaign_path(id, "/cancel"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r.body)["cancelled_now"].GetInt(), 0);
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["unknown"].GetInt(), 1);
  EXPECT_EQ(a["sent"].GetInt() + a["cancelled"].GetInt() + a["failed"].GetInt(), 0);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'send_message' AND status = 'cancelled'"), 1);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM campaign_recipients WHERE error_code = 'DELIVERY_UNKNOWN'"), 1);
  EXPECT_EQ(hooks.requests(), 1u);
}

// Cancelled while the SMTP server holds a message that it then refuses for now (451):
// nothing was handed over and the campaign is cancelled, so the message is cancelled
// with its task. Before, it went back to pending, where nothing would send or settle it:
// its task stayed running and the campaign never settled.
TEST_F(CampaignCancel, AnEmailRefusedForNowAfterItsCampaignWasCancelledIsCancelled) {
  struct gate {
    std::mutex m;
    std::condition_variable cv;
    bool arrived = false, open = false;
  };
  auto g = std::make_shared<gate>();
  mail.behave([g](const std::string&, int) {
    std::unique_lock<std::mutex> l(g->m);
    g->arrived = true;
    g->cv.notify_all();
    g->cv.wait(l, [&] { return g->open; });
    return smtp_sink::verdict::tempfail;
  });
  auto open = [g] {
    std::lock_guard<std::mutex> l(g->m);
    g->open = true;
    g->cv.notify_all();
  };
  std::shared_ptr<void> opened_at_the_end(nullptr, [open](void*) { open(); });
  auto& s = start();
  auto id = sent_campaign(s, key, R"({"name":"Refused","channel":"smtp","subject":"Hola","template":"x"})", 1);
  {
    std::unique_lock<std::mutex> l(g->m);
    ASSERT_TRUE(g->cv.wait_for(l, std::chrono::seconds(30), [&] { return g->arrived; })) << "the message never came";
  }
  ASSERT_EQ(s.sql("SELECT state FROM campaign_recipients"), "sending");
  auto r = s.post(key, campaign_path(id, "/cancel"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r.body)["in_flight"].GetInt(), 1) << "the message in the server's hands is left to finish";
  open();
  auto a = wait_settled(s, key, id);
  EXPECT_STREQ(a["status"].GetString(), "cancelled");
  EXPECT_EQ(a["cancelled"].GetInt(), 1);
  EXPECT_EQ(a["sent"].GetInt() + a["unknown"].GetInt() + a["failed"].GetInt(), 0);
  EXPECT_TRUE(eventually([&] { return s.sql("SELECT status FROM tasks WHERE kind = 'send_message'") == "cancelled"; }));
  EXPECT_EQ(s.sql("SELECT error_code FROM campaign_recipients"), "CANCELLED");
  EXPECT_TRUE(mail.messages().empty());
}

// A task cancel that meets a worker marking the task's message `sending` (the test holds
// the ledger row's lock until both wait on it): the worker goes first and the message is
// sent and recorded sent (the cancel answers 409), or the cancel goes first and nothing
// is sent. Before task cancels settled pending messages first, the cancel took the task
// while the mark went through: the message went out and the ledger said `unknown`.
TEST_F(CampaignCancel, ATaskCancelRacingTheMarkOfItsMessageAsSendingEndsOneWayOrTheOther) {
  auto& s = start();
  // Six a minute: the first message goes at once, the second waits ten seconds (deferred).
  auto id = sent_campaign(s, key, R"({"name":"Race","channel":"webhook","template":"x","rate_per_minute":6})", 2);
  ASSERT_TRUE(eventually([&] { return hooks.requests() == 1; }, std::chrono::seconds(30)));
  const auto recipient = s.sql("SELECT id FROM campaign_recipients WHERE state = 'pending'");
  ASSERT_FALSE(recipient.empty()) << "the second message went before its time";
  const auto task = s.sql("SELECT task_id FROM campaign_recipients WHERE id = " + recipient);

  // Should the worker go first, its message stays in the receiver's hands until the cancel
  // has answered: the task is still sending then, not already finished.
  hooks.hold(1);
  pqxx::connection holder(s.cfg().postgres.conninfo());
  pqxx::work hold(holder);
  hold.exec("SELECT 1 FROM campaign_recipients WHERE id = " + recipient + " FOR UPDATE");
  const auto pid = hold.exec("SELECT pg_backend_pid()")[0][0].as<std::string>();
  // Backends waiting behind the held row, directly or behind another waiter.
  auto waiting = [&] {
    return s.sql_count("SELECT count(*) FROM pg_stat_activity a WHERE " + pid + " = ANY(pg_blocking_pids(a.pid)) "
                       "OR EXISTS (SELECT 1 FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(a.pid)) AND " +
                       pid + " = ANY(pg_blocking_pids(b.pid)))");
  };
  ASSERT_TRUE(eventually([&] { return waiting() == 1; }, std::chrono::seconds(30)))
      << "the worker never came to mark the message sending";
  auto cancel = std::async(std::launch::async, [&] { return s.post(key, "/api/v1/tasks/" + task + "/cancel"); });
  ASSERT_TRUE(eventually([&] { return waiting() == 2; }, std::chrono::seconds(30)))
      << "the cancel did not wait for the message's row";
  hold.commit();

  const auto r = cancel.get();
  hooks.release();
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["unknown"].GetInt(), 0);
  ASSERT_TRUE(eventually([&] {
    return s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'send_message' AND status IN "
                       "('queued', 'running', 'retrying')") == 0;
  }));
  const auto outcome = s.sql("SELECT status FROM tasks WHERE id = '" + task + "'");
  if (r.status == 409) {  // the worker went first
    EXPECT_NE(r.body.find("is sending its message"), std::string::npos) << r.body;
    EXPECT_EQ(a["sent"].GetInt(), 2);
    EXPECT_EQ(outcome, "succeeded");
    EXPECT_EQ(hooks.requests(), 2u);
  } else {  // the cancel went first
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(a["sent"].GetInt(), 1);
    EXPECT_EQ(a["cancelled"].GetInt(), 1);
    EXPECT_EQ(outcome, "cancelled");
    EXPECT_EQ(hooks.requests(), 1u);
  }
}

}  // namespace
