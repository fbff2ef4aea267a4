#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mq/core/json.hpp"
#include "mq/llm/offline.hpp"
#include "mq/llm/prompt.hpp"
#include "mq/schemas/validator.hpp"

namespace {

using namespace mq;

rapidjson::Document classify(const std::string& transcript, bool closed = false) {
  llm::meeting_facts m;
  m.transcript = transcript;
  m.client_name = "Cliente";
  m.closed = closed;
  auto out = llm::offline_classification(m);
  auto doc = json::parse(out);
  EXPECT_TRUE(doc.ok());
  auto bad = schemas::validate("classification", *doc);
  EXPECT_FALSE(bad.has_value()) << (bad ? bad->message : "") << "\n" << out;
  return std::move(*doc);
}

std::string field(const rapidjson::Document& d, const char* name) { return d[name].GetString(); }

TEST(Offline, ReadsSpanishMeetings) {
  auto d = classify(
      "Vendedor: Hola María, ¿cómo están? Cliente: Bien. Somos una tienda online en Santiago de Chile, "
      "unas 30 personas. Recibimos cientos de mensajes por WhatsApp y no damos abasto. Nos "
      "recomendó un colega. Necesitamos algo antes de Black Friday, es urgente. Me encanta lo que "
      "vi, excelente demo.");
  EXPECT_EQ(field(d, "business_sector"), "ecommerce");
  EXPECT_EQ(field(d, "language"), "es");
  EXPECT_EQ(field(d, "region"), "latam_south");
  EXPECT_EQ(field(d, "lead_source"), "referral");
  EXPECT_EQ(field(d, "primary_pain_point"), "saturated_support");
  EXPECT_EQ(field(d, "company_size"), "small");
  EXPECT_EQ(field(d, "sentiment"), "positive");
  EXPECT_TRUE(d["urgency"].GetBool());
}

TEST(Offline, ReadsEnglishMeetings) {
  auto d = classify(
      "Seller: Thanks for joining. Client: Sure. We are a hospital network in Texas with 3000 "
      "employees. I'm the CFO. We found you on LinkedIn. Our reports take weeks to build from "
      "Excel and we need real-time dashboards. Can you send a proposal with pricing and a "
      "discount for three years? I'm worried about the price, to be honest.");
  EXPECT_EQ(field(d, "business_sector"), "healthcare");
  EXPECT_EQ(field(d, "language"), "en");
  EXPECT_EQ(field(d, "region"), "north_america");
  EXPECT_EQ(field(d, "lead_source"), "linkedin");
  EXPECT_EQ(field(d, "decision_maker_role"), "cfo");
  EXPECT_EQ(field(d, "company_size"), "enterprise");
  EXPECT_EQ(field(d, "purchase_stage"), "negotiation");
  EXPECT_EQ(field(d, "use_case"), "real_time_reporting");
  EXPECT_EQ(field(d, "sentiment"), "negative");
}

TEST(Offline, ClosedMeetingsAreClosure) {
  auto d = classify("Cliente: Perfecto, firmamos el contrato hoy y partimos con el onboarding.", true);
  EXPECT_EQ(field(d, "purchase_stage"), "closure");
}

TEST(Offline, IsDeterministicAndAlwaysValid) {
  for (const char* t : {"", "x", "???", "Hola", "🙂🙂🙂", "The the the the", "precio precio precio"}) {
    llm::meeting_facts m;
    m.transcript = t;
    auto a = llm::offline_classification(m);
    EXPECT_EQ(a, llm::offline_classification(m));
    auto d = json::parse(a);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(schemas::validate("classification", *d).has_value()) << t;
  }
}

TEST(Offline, ReadsThePromptARemoteModelReads) {
  llm::meeting_facts m{"Cliente: somos una minera en Antofagasta, Chile.", "Minera Norte", "Ana", "2024-01-05", true};
  auto req = llm::classification_request(m, 512, 0);
  auto back = llm::facts_from_request(req);
  EXPECT_EQ(back.transcript, m.transcript);
  EXPECT_EQ(back.client_name, "Minera Norte");
  EXPECT_TRUE(back.closed);
  EXPECT_NE(req.messages[0].content.find("business_sector"), std::string::npos);
  EXPECT_NE(req.messages[0].content.find("human_resources"), std::string::npos);
}

TEST(Offline, ClassifiesEverySampleMeetingValidly) {
  const std::filesystem::path dir = std::filesystem::path(MQ_SOURCE_DIR) / "data" / "meetings";
  int seen = 0, spanish = 0;
  std::map<std::string, int> sectors;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = json::parse(ss.str());
    ASSERT_TRUE(doc.ok()) << entry.path();
    ASSERT_FALSE(schemas::validate("requests/meetings", *doc).has_value()) << entry.path();
    for (const auto& m : (*doc)["meetings"].GetArray()) {
      ASSERT_FALSE(schemas::validate("requests/meeting", m).has_value()) << entry.path();
      auto d = classify(m["transcript"].GetString(), m.HasMember("closed") && m["closed"].GetBool());
      ++seen;
      spanish += field(d, "language") == "es";
      ++sectors[field(d, "business_sector")];
    }
  }
  EXPECT_GE(seen, 60);
  EXPECT_GT(spanish, 10);
  EXPECT_LT(spanish, seen - 10);
  EXPECT_GE(sectors.size(), 10u) << "the samples should span many sectors";
}

}  // namespace
