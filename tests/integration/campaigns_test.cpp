// Campaigns on the real services, sending to a local webhook receiver (which counts what
// arrives by Idempotency-Key) and a local SMTP sink: personalisation through the LLM
// stub, templates, schedules, cancel, rate limits, a receiver failing then recovering,
// and at the end every recipient with exactly one message.

#include <gtest/gtest.h>

#include <algorithm>

#include "campaigns.hpp"
#include "llm_stub.hpp"
#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/core/time.hpp"

namespace {

using namespace mq;
using namespace mq::test;
using std::chrono::milliseconds;

struct Campaigns : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

http_result put(stack& s, const std::string& key, const std::string& p, const std::string& body) {
  return http_call("PUT", s.url(p), body, {"Authorization: Bearer " + key, "Content-Type: application/json"});
}

/// Every recipient r0..r{n-1} reached exactly once in effect (one accepted key each).
void expect_each_once(const webhook_receiver& hooks, int n, const std::string& prefix = "r") {
  auto effects = hooks.effects();
  for (int i = 0; i < n; ++i) {
    const auto address = prefix + std::to_string(i) + "@example.com";
    EXPECT_EQ(effects[address].size(), 1u) << address;
  }
}

/// `n` messages arrived, paced at 2 per second with one second's worth at once: the i-th
/// about (i - 1) / 2 s after the first, whichever replica sent it.
void expect_two_per_second(const webhook_receiver& hooks, std::size_t n) {
  auto got = hooks.all();
  ASSERT_EQ(got.size(), n);
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  for (std::size_t i = 2; i < got.size(); ++i) {
    auto gap = std::chrono::duration_cast<milliseconds>(got[i].at - got[0].at).count();
    EXPECT_GE(gap, static_cast<long long>(i - 1) * 500 - 150) << "message " << i;
  }
}

TEST_F(Campaigns, CreateReadChangeListAndDelete) {
  webhook_receiver hooks;
  smtp_sink mail;
  stack s(campaign_stack(hooks, mail));
  auto key = s.create_tenant("acme");
  auto id = create_campaign(s, key, R"({"name":"Spring","channel":"webhook","template":"Hola {{first_name}}"})");
  auto got = parse(s.get(key, campaign_path(id)).body);
  EXPECT_STREQ(got["status"].GetString(), "draft");
  EXPECT_STREQ(got["template"].GetString(), "Hola {{first_name}}");
  EXPECT_TRUE(got["rate_per_minute"].IsNull());

  auto changed = put(s, key, campaign_path(id), R"({"name":"Spring sale","rate_per_minute":600,"subject":"Hi {{first_name}}"})");
  ASSERT_EQ(changed.status, 200) << changed.body;
  auto c = parse(changed.body);
  EXPECT_STREQ(c["name"].GetString(), "Spring sale");
  EXPECT_EQ(c["rate_per_minute"].GetInt(), 600);
  EXPECT_STREQ(c["template"].GetString(), "Hola {{first_name}}") << "absent fields stay";
  auto cleared = parse(put(s, key, campaign_path(id), R"({"rate_per_minute":null})").body);
  EXPECT_TRUE(cleared["rate_per_minute"].IsNull());

  create_campaign(s, key, R"({"name":"Second","channel":"smtp","template":"x"})");
  auto list = parse(s.get(key, "/api/v1/campaigns?page_size=1").body);
  EXPECT_EQ(list["total"].GetInt(), 2);
  EXPECT_EQ(list["items"].Size(), 1u);

  EXPECT_EQ(s.del(key, campaign_path(id)).status, 204);
  EXPECT_EQ(s.get(key, campaign_path(id)).status, 404);
  EXPECT_EQ(s.del(key, campaign_path(id)).status, 404);
}

TEST_F(Campaigns, BadInputIsRefusedClearlyAndWritesNothing) {
  webhook_receiver hooks;
  smtp_sink mail;
  stack s(campaign_stack(hooks, mail));
  auto key = s.create_tenant("acme");
  auto bad = s.post(key, "/api/v1/campaigns", R"({"name":"x","channel":"webhook","template":"Hola {{first_name"})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("without its"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("/template"), std::string::npos) << bad.body;
  EXPECT_EQ(s.post(key, "/api/v1/campaigns", R"({"name":"x","channel":"fax","template":"t"})").status, 422);
  auto when = s.post(key, "/api/v1/campaigns", R"({"name":"x","channel":"webhook","template":"t","schedule_at":"2026-02-30T10:00:00Z"})");
  EXPECT_EQ(when.status, 422) << when.body;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM campaigns"), 0);

  auto id = create_campaign(s, key, R"({"name":"x","channel":"smtp","template":"Hola {{first_name}}, tu plan {{plan|básico}}"})");
  // One recipient without first_name and one bad address: none of the three is added.
  auto r = s.post(key, campaign_path(id, "/recipients"),
                  R"({"recipients":[{"address":"ok@example.com","attributes":{"first_name":"Ana"}},
                                    {"address":"nameless@example.com","attributes":{"plan":"pro"}},
                                    {"address":"not-an-address","attributes":{"first_name":"Bo"}}]})");
  EXPECT_EQ(r.status, 422) << r.body;
  auto err = parse(r.body);
  const auto& problems = err["error"]["details"]["recipients"];
  ASSERT_EQ(problems.Size(), 2u) << r.body;
  EXPECT_EQ(problems[0]["index"].GetInt(), 1);
  EXPECT_NE(std::string(problems[0]["error"].GetString()).find("first_name"), std::string::npos);
  EXPECT_EQ(problems[1]["index"].GetInt(), 2);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM campaign_recipients"), 0);

  // Sending without recipients, a template the audience cannot fill, a second send.
  EXPECT_EQ(s.post(key, campaign_path(id, "/send")).status, 422);
  auto ok = s.post(key, campaign_path(id, "/recipients"),
                   R"({"recipients":[{"address":"Ok@Example.com ","attributes":{"first_name":"Ana"}},{"address":"ok@example.com","attributes":{"first_name":"Ana"}}]})");
  ASSERT_EQ(ok.status, 201) << ok.body;
  auto added = parse(ok.body);
  EXPECT_EQ(added["added"].GetInt(), 1) << "addresses compare in lower case; one is a duplicate";
  EXPECT_EQ(added["duplicates"].Size(), 1u);
  auto unfit = put(s, key, campaign_path(id), R"({"template":"{{first_name}} {{company}}"})");
  EXPECT_EQ(unfit.status, 422) << unfit.body;
  EXPECT_NE(unfit.body.find("company"), std::string::npos);
  EXPECT_STREQ(parse(s.get(key, campaign_path(id)).body)["template"].GetString(), "Hola {{first_name}}, tu plan {{plan|básico}}");
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks"), 0) << "nothing was enqueued";

  // Another tenant sees none of it.
  auto other = s.create_tenant("other");
  EXPECT_EQ(s.get(other, campaign_path(id)).status, 404);
  EXPECT_EQ(s.post(other, campaign_path(id, "/send")).status, 404);
  EXPECT_EQ(s.post(other, campaign_path(id, "/cancel")).status, 404);
  EXPECT_EQ(s.post(other, campaign_path(id, "/recipients"), R"({"recipients":[{"address":"a@b.co"}]})").status, 404);
  EXPECT_EQ(s.get(other, campaign_path(id, "/analytics")).status, 404);
}

TEST_F(Campaigns, PersonalisedWebhookMessagesReachEveryRecipientOnce) {
  webhook_receiver hooks;
  smtp_sink mail;
  llm_stub llm;
  // The model writes the recipient's name in capitals, from the attributes it was sent.
  llm.on_chat([](const stub_request& req, int) {
    auto doc = json::parse(req.body);
    std::string user = (*doc)["messages"][1]["content"].GetString();
    auto facts = json::parse(user);
    std::string name = (*facts)["recipient"]["first_name"].GetString();
    std::transform(name.begin(), name.end(), name.begin(), ::toupper);
    return llm_stub::completion(R"({"body":"Querido )" + name + R"(, tu plan pro te espera."})", "stop", 100, 20);
  });
  auto o = campaign_stack(hooks, mail, {{"MQ_LLM_MODEL", "stub-model"}});
  o.llm_provider = "openai";
  o.llm_base_url = llm.base_url();
  stack s(o);
  auto key = s.create_tenant("acme");
  auto id = create_campaign(s, key, R"({"name":"Launch","channel":"webhook","template":"Hola {{first_name}}, tu plan {{plan}}.",
                                       "personalization_prompt":"Make it warmer and shout the name."})");
  add_recipients(s, key, id, 30);
  auto accepted = send_campaign(s, key, id);
  EXPECT_STREQ(accepted["status"].GetString(), "sending");
  auto a = wait_settled(s, key, id);
  EXPECT_STREQ(a["status"].GetString(), "completed");
  EXPECT_EQ(a["sent"].GetInt(), 30);
  EXPECT_EQ(a["failed"].GetInt(), 0);
  EXPECT_EQ(a["by_channel"]["webhook"]["sent"].GetInt(), 30);
  EXPECT_EQ(a["tokens"]["input"].GetInt(), 30 * 100);
  EXPECT_EQ(a["tokens"]["output"].GetInt(), 30 * 20);
  EXPECT_EQ(llm.calls(), 30);
  expect_each_once(hooks, 30);
  ASSERT_EQ(hooks.requests(), 30u);
  for (const auto& r : hooks.all()) {
    auto body = parse(r.body);
    const std::string address = body["address"].GetString();
    auto i = address.substr(1, address.find('@') - 1);
    EXPECT_EQ(std::string(body["message"].GetString()), "Querido NAME" + i + ", tu plan pro te espera.");
    EXPECT_EQ(r.key, body["idempotency_key"].GetString());
    EXPECT_EQ(s.sql("SELECT idempotency_key FROM campaign_recipients WHERE address = '" + address + "'"), r.key);
  }
  // The ledger keeps what was sent; the batch counted every delivery.
  auto page = parse(s.get(key, campaign_path(id, "/recipients?state=sent&page_size=5")).body);
  EXPECT_EQ(page["total"].GetInt(), 30);
  EXPECT_EQ(page["items"][0]["attempts"].GetInt(), 1);
  EXPECT_EQ(page["items"][0]["response_code"].GetInt(), 200);
  auto batch = parse(s.get(key, std::string("/api/v1/batches/") + accepted["batch_id"].GetString()).body);
  EXPECT_EQ(batch["succeeded"].GetInt(), 30);
  // Sent once, never again.
  EXPECT_EQ(s.post(key, campaign_path(id, "/send")).status, 409);
  EXPECT_EQ(s.post(key, campaign_path(id, "/cancel")).status, 409);
}

TEST_F(Campaigns, TemplateFallbacksFillWhatARecipientLacksAndWebhooksAreSigned) {
  webhook_receiver hooks;
  smtp_sink mail;
  stack s(campaign_stack(hooks, mail, {{"MQ_CAMPAIGNS_WEBHOOK_TOKEN", "hook-token"},
                                       {"MQ_CAMPAIGNS_WEBHOOK_SECRET", "hook-secret"}}));
  auto key = s.create_tenant("acme");
  auto id = create_campaign(s, key, R"({"name":"x","channel":"webhook","template":"Hola {{ first_name | amigo }}: {{n}} puntos"})");
  ASSERT_EQ(s.post(key, campaign_path(id, "/recipients"),
                   R"({"recipients":[{"address":"u1","attributes":{"n":12}},{"address":"u2","attributes":{"first_name":"Eva","n":3.5}}]})")
                .status,
            201);
  send_campaign(s, key, id);
  wait_settled(s, key, id);
  std::map<std::string, std::string> got;
  for (const auto& r : hooks.all()) got[r.address] = parse(r.body)["message"].GetString();
  EXPECT_EQ(got["u1"], "Hola amigo: 12 puntos");
  EXPECT_EQ(got["u2"], "Hola Eva: 3.5 puntos");
  // Credentials from the environment: a bearer token, and an HMAC of timestamp and body.
  for (const auto& r : hooks.all()) {
    EXPECT_EQ(r.authorization, "Bearer hook-token");
    ASSERT_FALSE(r.timestamp.empty());
    EXPECT_EQ(r.signature, "sha256=" + hmac_sha256_hex(r.timestamp + "." + r.body, "hook-secret"));
  }
}

TEST_F(Campaigns, AScheduledCampaignStartsAtItsTimeWithoutAnyoneAsking) {
  webhook_receiver hooks;
  smtp_sink mail;
  stack s(campaign_stack(hooks, mail, {{"MQ_LLM_HOLD_MAX_MS", "500"}}));
  auto key = s.create_tenant("acme");
  const auto at = system_now() + std::chrono::seconds(3);
  auto id = create_campaign(s, key, R"({"name":"Later","channel":"webhook","template":"Hola {{first_name}}","schedule_at":")" +
                                        format_rfc3339(at) + R"("})");
  add_recipients(s, key, id, 10);
  auto accepted = send_campaign(s, key, id);
  EXPECT_STREQ(accepted["status"].GetString(), "scheduled");
  EXPECT_EQ(hooks.requests(), 0u);
  // Nothing polls the API until every message is in: the delay queues bring it back.
  EXPECT_TRUE(eventually([&] { return hooks.requests() >= 10; }, std::chrono::seconds(30)));
  for (const auto& r : hooks.all()) EXPECT_GE(r.at, at) << "sent before its time";
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), 10);
  expect_each_once(hooks, 10);
  EXPECT_GE(s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'start_campaign'"), 1);
}

TEST_F(Campaigns, RescheduledOrCancelledBeforeItsTimeItSendsNothingEarly) {
  webhook_receiver hooks;
  smtp_sink mail;
  stack s(campaign_stack(hooks, mail));
  auto key = s.create_tenant("acme");
  const auto at = format_rfc3339(system_now() + std::chrono::hours(1));
  auto id = sent_campaign(s, key, R"({"name":"Later","channel":"webhook","template":"x","schedule_at":")" + at + R"("})", 3);
  // Moved to now: a new start task replaces the old one and it goes out.
  auto moved = put(s, key, campaign_path(id), R"({"schedule_at":null})");
  ASSERT_EQ(moved.status, 200) << moved.body;
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), 3);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'start_campaign' AND status = 'cancelled'"), 1);

  auto later = create_campaign(s, key, R"({"name":"Never","channel":"webhook","template":"x","schedule_at":")" + at + R"("})");
  add_recipients(s, key, later, 3, "n");
  auto scheduled = send_campaign(s, key, later);
  auto cancelled = s.post(key, campaign_path(later, "/cancel"));
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(parse(cancelled.body)["cancelled_now"].GetInt(), 3);
  auto b = wait_settled(s, key, later);
  EXPECT_EQ(b["cancelled"].GetInt(), 3);
  EXPECT_EQ(hooks.effects().count("n0@example.com"), 0u);
  auto batch = parse(s.get(key, std::string("/api/v1/batches/") + scheduled["batch_id"].GetString()).body);
  EXPECT_EQ(batch["pending"].GetInt(), 0) << "a batch that never got its tasks is not left pending";
}

TEST_F(Campaigns, SendRatesHoldAcrossReplicas) {
  webhook_receiver hooks;
  smtp_sink mail;
  stack s(campaign_stack(hooks, mail));
  s.start_worker();
  s.wait_consumers(2);
  auto key = s.create_tenant("acme");
  auto id = sent_campaign(s, key, R"({"name":"Slow","channel":"webhook","template":"x","rate_per_minute":120})", 8);
  wait_settled(s, key, id);
  expect_two_per_second(hooks, 8);
}

TEST_F(Campaigns, AChannelsRateHoldsForAllItsCampaignsTogether) {
  webhook_receiver hooks;
  smtp_sink mail;
  stack s(campaign_stack(hooks, mail, {{"MQ_CAMPAIGNS_WEBHOOK_PER_MINUTE", "120"}}));
  auto key = s.create_tenant("acme");
  auto first = create_campaign(s, key, R"({"name":"A","channel":"webhook","template":"x"})");
  auto second = create_campaign(s, key, R"({"name":"B","channel":"webhook","template":"x"})");
  add_recipients(s, key, first, 4, "a");
  add_recipients(s, key, second, 4, "b");
  send_campaign(s, key, first);
  send_campaign(s, key, second);
  wait_settled(s, key, first);
  wait_settled(s, key, second);
  expect_two_per_second(hooks, 8);
}

TEST_F(Campaigns, AReceiverAnswering500ThenOkGetsEachMessageOnceInEffect) {
  webhook_receiver hooks;
  smtp_sink mail;
  // The first request of every key fails; the retry (same key) is accepted. One
  // recipient's address is refused for good.
  hooks.answer([](const webhook_receiver::received& r, int earlier) {
    if (r.address == "r3@example.com") return 422;
    return earlier == 0 ? 500 : 200;
  });
  stack s(campaign_stack(hooks, mail));
  auto key = s.create_tenant("acme");
  auto id = sent_campaign(s, key, R"({"name":"Flaky","channel":"webhook","template":"Hola {{first_name}}"})", 10);
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), 9);
  EXPECT_EQ(a["failed"].GetInt(), 1);
  auto effects = hooks.effects();
  for (int i = 0; i < 10; ++i) {
    const auto address = "r" + std::to_string(i) + "@example.com";
    EXPECT_EQ(effects[address].size(), i == 3 ? 0u : 1u) << address;
  }
  std::map<std::string, int> per_key;
  for (const auto& r : hooks.all()) ++per_key[r.key];
  for (const auto& [k, n] : per_key) EXPECT_LE(n, 2) << "a 500 is retried once, under the same key";
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM campaign_recipients WHERE state = 'sent' AND attempts = 2"), 9);
  auto refused = parse(s.get(key, campaign_path(id, "/recipients?state=failed")).body);
  ASSERT_EQ(refused["items"].Size(), 1u);
  EXPECT_STREQ(refused["items"][0]["error_code"].GetString(), "DELIVERY_REFUSED");
  EXPECT_EQ(refused["items"][0]["response_code"].GetInt(), 422);
  EXPECT_EQ(refused["items"][0]["attempts"].GetInt(), 1) << "a 4xx is not retried";
}

TEST_F(Campaigns, EmailGoesThroughSmtpOncePerRecipient) {
  webhook_receiver hooks;
  smtp_sink mail;
  // r2 is refused at RCPT (5xx: failed), r4 gets a 451 once (retried and sent).
  mail.behave([](const std::string& rcpt, int earlier) {
    if (rcpt == "r2@example.com") return smtp_sink::verdict::reject_rcpt;
    if (rcpt == "r4@example.com" && earlier == 0) return smtp_sink::verdict::tempfail;
    return smtp_sink::verdict::accept;
  });
  stack s(campaign_stack(hooks, mail));
  auto key = s.create_tenant("acme");
  auto id = sent_campaign(s, key, R"({"name":"Mail","channel":"smtp","subject":"Hola {{first_name}} 👋","template":"Tu plan {{plan}} está listo.\nSaludos"})", 12);
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), 11);
  EXPECT_EQ(a["failed"].GetInt(), 1);
  EXPECT_EQ(a["unknown"].GetInt(), 0);
  auto got = mail.by_recipient();
  for (int i = 0; i < 12; ++i) {
    const auto rcpt = "r" + std::to_string(i) + "@example.com";
    EXPECT_EQ(got[rcpt], i == 2 ? 0 : 1) << rcpt;
  }
  for (const auto& m : mail.messages()) {
    if (m.to != "r5@example.com") continue;
    EXPECT_EQ(m.from, "campaigns@mq.test");
    EXPECT_EQ(m.subject, "=?UTF-8?B?SG9sYSBOYW1lNSDwn5GL?=") << "UTF-8 subject as an encoded word";
    EXPECT_EQ(m.body, "Tu plan pro está listo.\nSaludos");
    EXPECT_EQ(m.message_id, "<" + s.sql("SELECT idempotency_key FROM campaign_recipients WHERE address = 'r5@example.com'") +
                                "@mq>");
  }
  EXPECT_EQ(s.sql_count("SELECT attempts FROM campaign_recipients WHERE address = 'r4@example.com'"), 2);
}

TEST_F(Campaigns, AnEmailWhoseFateIsUnknownIsNeverResent) {
  webhook_receiver hooks;
  smtp_sink mail;
  // The sink keeps r1's message but hangs up before saying so.
  mail.behave([](const std::string& rcpt, int) {
    return rcpt == "r1@example.com" ? smtp_sink::verdict::drop : smtp_sink::verdict::accept;
  });
  stack s(campaign_stack(hooks, mail));
  auto key = s.create_tenant("acme");
  auto id = sent_campaign(s, key, R"({"name":"Mail","channel":"smtp","template":"Hola {{first_name}}"})", 4);
  auto a = wait_settled(s, key, id);
  EXPECT_EQ(a["sent"].GetInt(), 3);
  EXPECT_EQ(a["unknown"].GetInt(), 1);
  auto unknown = parse(s.get(key, campaign_path(id, "/recipients?state=unknown")).body);
  const auto& row = unknown["items"][0];
  EXPECT_STREQ(row["address"].GetString(), "r1@example.com");
  EXPECT_STREQ(row["error_code"].GetString(), "DELIVERY_UNKNOWN");
  // The task is final, so nothing will try again: the sink has it exactly once.
  EXPECT_EQ(mail.by_recipient()["r1@example.com"], 1);
}

}  // namespace
