// Marking a campaign message `sending` on the real Postgres, as two deliveries of one task
// do when a copy that came back takes the task over while the first still runs: only the
// attempt that owns the task may mark its row, one whose row changed since it read it is
// told to read it again, and a cancelled task marks nothing. Putting a row back to
// pending after a refused send is the owner's alone too. The tasks' claims are
// written here in SQL, as the claim statement leaves them (running, attempts counted).

#include <gtest/gtest.h>

#include "campaigns.hpp"
#include "mq/store/campaigns.hpp"
#include "mq/store/pg_session.hpp"

namespace {

using namespace mq;
using namespace mq::test;
using mark = store::sending_mark;

struct CampaignMarks : ::testing::Test {
  void SetUp() override {
    MQ_REQUIRE_SERVICES();
    auto o = campaign_stack(hooks, mail);
    o.workers = 0;  // the test plays the workers
    s = std::make_unique<stack>(o);
    key = s->create_tenant("acme");
    campaign = sent_campaign(*s, key, R"({"name":"Marks","channel":"webhook","template":"Hola {{first_name}}"})", 2);
    db = std::make_unique<store::pg_session>(s->cfg().postgres.conninfo());
    auto fanned = store::fan_out_campaign(*db, campaign);
    ASSERT_TRUE(fanned) << fanned.err().message;
    ASSERT_EQ(fanned->tasks.size(), 2u);
  }

  /// The recipient "r<i>@example.com" and its task.
  std::pair<std::int64_t, std::string> recipient(int i) {
    const auto where = " FROM campaign_recipients WHERE address = 'r" + std::to_string(i) + "@example.com'";
    return {std::stoll(s->sql("SELECT id" + where)), s->sql("SELECT task_id" + where)};
  }
  /// A delivery claims the task (or takes it over): its attempt.
  int claim(const std::string& task) {
    return std::stoi(s->sql("UPDATE tasks SET status = 'running', attempts = attempts + 1 WHERE id = '" + task +
                            "' RETURNING attempts"));
  }
  store::sending_request request(int i, int attempt, const std::string& seen, const std::string& text) {
    auto [id, task] = recipient(i);
    return store::sending_request{id, task, attempt, seen, std::nullopt, text};
  }
  std::string row(int i, const std::string& column) {
    return s->sql("SELECT " + column + " FROM campaign_recipients WHERE id = " + std::to_string(recipient(i).first));
  }

  webhook_receiver hooks;
  smtp_sink mail;
  std::unique_ptr<stack> s;
  std::string key;
  long long campaign = 0;
  std::unique_ptr<store::pg_session> db;
};

TEST_F(CampaignMarks, TwoDeliveriesOfOneTaskInOneBatchOnlyTheOwnerMarksItsRow) {
  const auto first0 = claim(recipient(0).second), owner0 = claim(recipient(0).second);
  const auto first1 = claim(recipient(1).second), owner1 = claim(recipient(1).second);
  ASSERT_EQ(owner0, first0 + 1);
  // Both orders in one statement: the superseded attempt before and after the owner.
  auto marks = store::mark_sending(*db, {request(0, first0, "pending", "old 0"), request(0, owner0, "pending", "new 0"),
                                         request(1, owner1, "pending", "new 1"), request(1, first1, "pending", "old 1")});
  ASSERT_TRUE(marks) << marks.err().message;
  EXPECT_EQ(*marks, (std::vector<mark>{mark::refused, mark::marked, mark::marked, mark::refused}));
  for (int i : {0, 1}) {
    EXPECT_EQ(row(i, "state"), "sending");
    EXPECT_EQ(row(i, "message"), "new " + std::to_string(i)) << "the owner's message is the one recorded";
    EXPECT_EQ(row(i, "attempts"), "1");
  }
}

TEST_F(CampaignMarks, ARowThatChangedSinceTheOwnerReadItIsReadAgainNotMarked) {
  const auto owner = claim(recipient(0).second);
  // An earlier delivery marked it after the owner read it pending.
  s->sql("UPDATE campaign_recipients SET state = 'sending', message = 'earlier' WHERE id = " +
         std::to_string(recipient(0).first) + " RETURNING id");
  auto marks = store::mark_sending(*db, {request(0, owner, "pending", "mine")});
  ASSERT_TRUE(marks) << marks.err().message;
  EXPECT_EQ(marks->at(0), mark::moved);
  EXPECT_EQ(row(0, "message"), "earlier");
  // Read again, the row is sending: the owner may mark it so (a resend).
  marks = store::mark_sending(*db, {request(0, owner, "sending", "mine")});
  ASSERT_TRUE(marks) << marks.err().message;
  EXPECT_EQ(marks->at(0), mark::marked);
  EXPECT_EQ(row(0, "message"), "mine");
  // Back to pending behind its back (a refused send of an earlier delivery): read again.
  s->sql("UPDATE campaign_recipients SET state = 'pending' WHERE id = " + std::to_string(recipient(0).first) +
         " RETURNING id");
  marks = store::mark_sending(*db, {request(0, owner, "sending", "again")});
  ASSERT_TRUE(marks) << marks.err().message;
  EXPECT_EQ(marks->at(0), mark::moved);
}

TEST_F(CampaignMarks, ACancelledTaskOrASettledRowMarksNothing) {
  const auto attempt0 = claim(recipient(0).second), attempt1 = claim(recipient(1).second);
  auto r = s->post(key, "/api/v1/tasks/" + recipient(0).second + "/cancel");
  ASSERT_EQ(r.status, 200) << r.body;
  s->sql("UPDATE campaign_recipients SET state = 'sent' WHERE id = " + std::to_string(recipient(1).first) +
         " RETURNING id");
  auto marks = store::mark_sending(*db, {request(0, attempt0, "pending", "x"), request(1, attempt1, "pending", "y")});
  ASSERT_TRUE(marks) << marks.err().message;
  EXPECT_EQ(*marks, (std::vector<mark>{mark::refused, mark::refused}));
  EXPECT_EQ(row(0, "state"), "cancelled");
  EXPECT_EQ(row(1, "state"), "sent");
  EXPECT_EQ(row(1, "message"), "");
}

TEST_F(CampaignMarks, OnlyTheOwnerPutsARowBackToPendingAndUnderACancelledCampaignItIsCancelled) {
  const auto first = claim(recipient(0).second), owner = claim(recipient(0).second);
  auto marks = store::mark_sending(*db, {request(0, owner, "pending", "mine")});
  ASSERT_TRUE(marks) << marks.err().message;
  ASSERT_EQ(marks->at(0), mark::marked);
  // The superseded attempt's send was refused for now: the owner's send is under way.
  ASSERT_TRUE(store::mark_pending(*db, request(0, first, "sending", "")));
  EXPECT_EQ(row(0, "state"), "sending");
  ASSERT_TRUE(store::mark_pending(*db, request(0, owner, "sending", "")));
  EXPECT_EQ(row(0, "state"), "pending");

  // Recipient 1 is being sent when its campaign is cancelled (the cancel leaves it to
  // finish), then its send is refused for now: cancelled, with its task.
  const auto attempt = claim(recipient(1).second);
  marks = store::mark_sending(*db, {request(1, attempt, "pending", "x")});
  ASSERT_TRUE(marks) << marks.err().message;
  ASSERT_EQ(marks->at(0), mark::marked);
  auto r = s->post(key, campaign_path(campaign, "/cancel"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(row(1, "state"), "sending");
  ASSERT_TRUE(store::mark_pending(*db, request(1, attempt, "sending", "")));
  EXPECT_EQ(row(1, "state"), "cancelled");
  EXPECT_EQ(row(1, "error_code"), "CANCELLED");
  EXPECT_EQ(s->sql("SELECT status FROM tasks WHERE id = '" + recipient(1).second + "'"), "cancelled");
}

}  // namespace
