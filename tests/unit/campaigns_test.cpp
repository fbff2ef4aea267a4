// Campaign messages without services: templates and their placeholders, e-mail
// building, address checks, the personalisation prompt and its offline answer.

#include <gtest/gtest.h>

#include "mq/campaigns/channel.hpp"
#include "mq/campaigns/email.hpp"
#include "mq/campaigns/message_template.hpp"
#include "mq/core/json.hpp"
#include "mq/llm/personalize.hpp"

namespace {

using namespace mq;
using namespace mq::campaigns;

rapidjson::Document attrs(const std::string& text) { return std::move(*json::parse(text)); }

TEST(MessageTemplate, PlaceholdersAreFoundWithTheirFallbacks) {
  auto ps = parse_template("Hola {{ first_name }}, tu {{plan|básico}} vence el {{due.date}}.");
  ASSERT_TRUE(ps.ok());
  ASSERT_EQ(ps->size(), 3u);
  EXPECT_EQ((*ps)[0].name, "first_name");
  EXPECT_FALSE((*ps)[0].fallback);
  EXPECT_EQ((*ps)[1].name, "plan");
  EXPECT_EQ(*(*ps)[1].fallback, "básico");
  EXPECT_EQ((*ps)[2].name, "due.date");
  EXPECT_TRUE(parse_template("no placeholders at all").ok());
}

TEST(MessageTemplate, BrokenTemplatesSayWhere) {
  auto open = parse_template("Hola {{first_name");
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.err().code, errc::validation_failed);
  EXPECT_NE(open.err().message.find("character 5"), std::string::npos) << open.err().message;
  EXPECT_FALSE(parse_template("{{ }}").ok());
  EXPECT_FALSE(parse_template("{{first name}}").ok());
}

TEST(MessageTemplate, RendersStringsNumbersAndBooleansAndFallbacks) {
  auto a = attrs(R"({"first_name":"Ana","points":12,"ratio":2.5,"vip":true,"nick":null})");
  auto out = render("{{first_name}}: {{points}} pts, x{{ratio}}, vip={{vip}}, {{nick|sin apodo}}", a);
  ASSERT_TRUE(out.ok()) << out.err().message;
  EXPECT_EQ(*out, "Ana: 12 pts, x2.5, vip=true, sin apodo");
}

TEST(MessageTemplate, MissingAttributesAreNamedOnce) {
  auto a = attrs(R"({"first_name":"Ana"})");
  auto out = render("{{company}} {{first_name}} {{company}} {{city}}", a);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.err().code, errc::validation_failed);
  EXPECT_NE(out.err().message.find("placeholders company, city"), std::string::npos) << out.err().message;
  auto ps = parse_template("{{company}} {{first_name}} {{x|y}}");
  EXPECT_EQ(missing_attributes(*ps, a), std::vector<std::string>{"company"});
}

TEST(Email, AddressesAreCheckedForSmtp) {
  EXPECT_TRUE(valid_email("ana@example.com"));
  EXPECT_TRUE(valid_email("a.b+tag@sub.example.cl"));
  EXPECT_FALSE(valid_email("ana@"));
  EXPECT_FALSE(valid_email("@example.com"));
  EXPECT_FALSE(valid_email("ana@localhost"));
  EXPECT_FALSE(valid_email("a b@example.com"));
  EXPECT_FALSE(valid_email("ana@example.com\r\nBcc: x@y.z"));
  EXPECT_FALSE(valid_email("<ana@example.com>"));
  EXPECT_FALSE(valid_email("a@b@example.com"));
}

TEST(Email, MessagesCarryEncodedSubjectsAndBase64BodiesWithoutHeaderInjection) {
  auto m = build_email({"from@x.io", "to@y.io", "Oferta para ti\r\nBcc: evil@z.io", "línea 1\nlínea 2", "key-1@mq",
                        "Sun, 22 Nov 2026 10:00:00 +0000"});
  EXPECT_NE(m.find("Subject: Oferta para ti  Bcc: evil@z.io\r\n"), std::string::npos) << m;
  EXPECT_EQ(m.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(m.find("Message-ID: <key-1@mq>\r\n"), std::string::npos);
  EXPECT_NE(m.find("Content-Transfer-Encoding: base64\r\n\r\n" + base64("línea 1\nlínea 2", true)), std::string::npos);
  auto utf8 = build_email({"f@x.io", "t@y.io", "Año nuevo", "b", "k@mq", "d"});
  EXPECT_NE(utf8.find("Subject: =?UTF-8?B?" + base64("Año nuevo") + "?=\r\n"), std::string::npos) << utf8;
  EXPECT_EQ(base64("Man"), "TWFu");
  EXPECT_EQ(base64("Ma"), "TWE=");
  EXPECT_EQ(base64("M"), "TQ==");
  std::string long_text(200, 'a');
  auto wrapped = base64(long_text, true);
  EXPECT_EQ(wrapped.find("\r\n"), 76u);
}

TEST(Webhook, TheBodyIsTheSameForEveryAttemptOfAMessage) {
  outbound m{7, "Spring", 42, "key-42", "u-42", std::nullopt, "Hola", R"({"tier":"gold"})"};
  const auto body = webhook_body(m);
  EXPECT_EQ(body, webhook_body(m));
  auto doc = json::parse(body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["campaign_id"].GetInt(), 7);
  EXPECT_STREQ((*doc)["idempotency_key"].GetString(), "key-42");
  EXPECT_STREQ((*doc)["attributes"]["tier"].GetString(), "gold");
  EXPECT_TRUE((*doc)["subject"].IsNull());
}

TEST(Personalization, TheOfflineProviderGreetsByNameAndKeepsTheRest) {
  auto req = llm::personalization_request({std::string("Tu oferta"), "tu plan pro vence pronto."}, "Hazlo cercano",
                                          R"({"first_name":"Ana"})", 256, 0);
  EXPECT_EQ(req.schema_name, "personalized_message");
  auto answer = llm::offline_personalization(req);
  ASSERT_TRUE(answer.ok());
  auto msg = llm::parse_personalized(*answer);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->body, "Ana, tu plan pro vence pronto.");
  EXPECT_EQ(*msg->subject, "Tu oferta");
  // A message that already names the recipient is left as it is.
  auto named = llm::personalization_request({std::nullopt, "Hola Ana, listo."}, "x", R"({"first_name":"Ana"})", 256, 0);
  EXPECT_EQ(llm::parse_personalized(*llm::offline_personalization(named))->body, "Hola Ana, listo.");
  EXPECT_FALSE(llm::parse_personalized(R"({"body":""})").ok());
}

}  // namespace
