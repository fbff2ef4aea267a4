#include <gtest/gtest.h>

#include "mq/core/json.hpp"
#include "mq/schemas/files.hpp"
#include "mq/schemas/taxonomy.hpp"
#include "mq/schemas/types.hpp"
#include "mq/schemas/validator.hpp"

namespace {

using namespace mq;

const char* valid = R"({"business_sector":"retail","company_size":"small","region":"latam_south",
  "lead_source":"referral","vambe_product":"iris","use_case":"lead_scoring",
  "primary_pain_point":"low_conversion","urgency":false,"decision_maker_role":"founder",
  "purchase_stage":"discovery","language":"es","lost_client_bad_meeting":false,
  "sentiment":"neutral","confidence_score":0.5,"key_topics":["a","b"],"action_items":["c"],
  "next_steps":"d","summary":"e"})";

rapidjson::Document doc(const std::string& text) { return std::move(*json::parse(text)); }

std::string with(const std::string& field, const std::string& value_json) {
  auto d = doc(valid);
  d.RemoveMember(field.c_str());
  auto v = doc(value_json);
  rapidjson::Value copy(v, d.GetAllocator());
  d.AddMember(rapidjson::Value(field.c_str(), d.GetAllocator()), copy, d.GetAllocator());
  return json::stringify(d);
}

TEST(Taxonomy, HasTheSeedsEighteenFields) {
  const auto& f = schemas::classification_fields();
  ASSERT_EQ(f.size(), 18u);
  EXPECT_EQ(schemas::classification_field("business_sector").values.size(), 25u);
  EXPECT_EQ(schemas::classification_field("lead_source").values.size(), 14u);
  EXPECT_EQ(schemas::classification_field("decision_maker_role").values.size(), 13u);
  EXPECT_EQ(schemas::classification_field("urgency").type, "boolean");
  EXPECT_FALSE(schemas::taxonomy_version().empty());
}

TEST(ClassificationSchema, AcceptsAValidAnswer) {
  EXPECT_FALSE(schemas::validate("classification", doc(valid)).has_value());
}

TEST(ClassificationSchema, RejectsAnythingOutsideTheTaxonomy) {
  struct bad_case { const char* field; const char* value; const char* keyword; };
  const bad_case cases[] = {
      {"business_sector", R"("aerospace")", "enum"},
      {"sentiment", R"("ecstatic")", "enum"},
      {"confidence_score", "0.99", "maximum"},
      {"confidence_score", "0.05", "minimum"},
      {"urgency", R"("yes")", "type"},
      {"key_topics", R"(["only one"])", "minItems"},
      {"key_topics", R"(["1","2","3","4","5","6"])", "maxItems"},
      {"action_items", "[]", "minItems"},
      {"language", R"("pt")", "enum"},
      {"summary", R"("")", "minLength"},
  };
  for (const auto& c : cases) {
    auto v = schemas::validate("classification", doc(with(c.field, c.value)));
    ASSERT_TRUE(v.has_value()) << c.field << "=" << c.value;
    EXPECT_EQ(v->keyword, c.keyword) << c.field;
    EXPECT_EQ(v->pointer, std::string("/") + c.field) << v->message;
  }
  auto missing = doc(valid);
  missing.RemoveMember("region");
  auto v = schemas::validate("classification", missing);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->message, "/region is required");
  auto extra = doc(with("mood", R"("happy")"));
  v = schemas::validate("classification", extra);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->message, "/mood is not allowed");
}

// The validator's working memory is a per-thread pool emptied after each document: a
// document that overflows it (10,000 ids, each hashed for uniqueItems) must leave the next
// validations exactly as right as the first.
TEST(Validator, StaysRightAfterADocumentThatOverflowsItsPool) {
  std::string ids;
  for (int i = 1; i <= 10000; ++i) ids += (i > 1 ? "," : "") + std::to_string(i);
  for (int round = 0; round < 2; ++round) {
    EXPECT_FALSE(schemas::validate("requests/classify_batch", doc(R"({"meeting_ids":[)" + ids + "]}")).has_value());
    auto repeated = schemas::validate("requests/classify_batch", doc(R"({"meeting_ids":[)" + ids + ",7]}"));
    ASSERT_TRUE(repeated.has_value());
    EXPECT_EQ(repeated->keyword, "uniqueItems");
    auto bad = schemas::validate("classification", doc(with("sentiment", R"("ecstatic")")));
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->pointer, "/sentiment");
    EXPECT_FALSE(schemas::validate("classification", doc(valid)).has_value());
  }
}

TEST(Envelope, RoundTripsAndRejectsPoison) {
  schemas::envelope e{"01a200a4-5fe1-7a80-831f-4a63e53b6564", "01a200a4-5fe1-7a80-831f-4a63e53b6565",
                      "classify_meeting", 42, "", "req-1"};
  auto back = schemas::decode_envelope(schemas::encode(e));
  ASSERT_TRUE(back.ok()) << back.err().message;
  EXPECT_EQ(back->task_id, e.task_id);
  EXPECT_EQ(back->subject_id, 42);
  EXPECT_EQ(back->request_id, "req-1");
  EXPECT_EQ(back->deliveries, 0);
  e.deliveries = 3;
  EXPECT_EQ(schemas::decode_envelope(schemas::encode(e))->deliveries, 3);
  for (const char* poison : {"", "not json", "{}", "[1,2]", R"({"v":1,"task_id":"x","tenant_id":"y","kind":"classify_meeting","subject_id":1})",
                             R"({"v":1,"task_id":"01a200a4-5fe1-7a80-831f-4a63e53b6564","tenant_id":"01a200a4-5fe1-7a80-831f-4a63e53b6564","kind":"mine_bitcoin","subject_id":1})"}) {
    auto r = schemas::decode_envelope(poison);
    ASSERT_FALSE(r.ok()) << poison;
    EXPECT_EQ(r.err().code, errc::poison);
  }
}

TEST(EnvelopeGroup, CarriesEachTaskWithWhatTheyShareAndRejectsPoison) {
  const std::string tenant = "01a200a4-5fe1-7a80-831f-4a63e53b6565";
  std::vector<schemas::envelope> group;
  for (int i = 0; i < 3; ++i) {
    schemas::envelope e{"01a200a4-5fe1-7a80-831f-4a63e53b656" + std::to_string(i), tenant, "send_message", 10 + i,
                        "01a200a4-5fe1-7a80-831f-4a63e53b6599", "req-9"};
    e.not_before = 1700000000000;
    group.push_back(e);
  }
  auto back = schemas::decode_group(schemas::encode_group(group));
  ASSERT_TRUE(back.ok()) << back.err().message;
  ASSERT_EQ(back->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& e = (*back)[i];
    EXPECT_EQ(e.task_id, group[i].task_id);
    EXPECT_EQ(e.subject_id, 10 + i);
    EXPECT_EQ(e.tenant_id, tenant);
    EXPECT_EQ(e.kind, "send_message");
    EXPECT_EQ(e.batch_id, group[i].batch_id);
    EXPECT_EQ(e.request_id, "req-9");
    EXPECT_EQ(e.not_before, 1700000000000);
  }
  std::string too_many = R"({"v":1,"tenant_id":")" + tenant + R"(","kind":"send_message","tasks":[)";
  for (int i = 0; i < 1001; ++i) too_many += std::string(i ? "," : "") + R"({"task_id":")" + tenant + R"(","subject_id":1})";
  too_many += "]}";
  const std::string head = R"({"v":1,"tenant_id":")" + tenant + R"(","kind":"send_message","tasks":)";
  for (const std::string& poison : {std::string(""), std::string("[]"), head + "[]}", head + R"([{"task_id":"x","subject_id":1}]})",
                                    head + R"([{"task_id":")" + tenant + R"("}]})", too_many,
                                    schemas::encode(group.front())}) {
    auto r = schemas::decode_group(poison);
    ASSERT_FALSE(r.ok()) << poison.substr(0, 200);
    EXPECT_EQ(r.err().code, errc::poison);
  }
}

TEST(RequestSchemas, MeetingAndBatch) {
  EXPECT_FALSE(schemas::validate("requests/meeting", doc(R"({"transcript":"hola","closed":true,"meeting_date":"2024-01-02"})")));
  EXPECT_TRUE(schemas::validate("requests/meeting", doc(R"({"transcript":"hola","client_email":"not an email"})")));
  EXPECT_TRUE(schemas::validate("requests/meeting", doc(R"({"transcript":"hola","meeting_date":"yesterday"})")));
  EXPECT_FALSE(schemas::validate("requests/classify_batch", doc(R"({"meeting_ids":[1,2,3]})")));
  EXPECT_TRUE(schemas::validate("requests/classify_batch", doc(R"({"meeting_ids":[1,1]})")));
  EXPECT_TRUE(schemas::validate("requests/classify_batch", doc(R"({"meeting_ids":[0]})")));
  EXPECT_TRUE(schemas::validate("requests/classify_batch", doc(R"({"meeting_ids":["1"]})")));
}

TEST(Migrations, AreEmbeddedInOrder) {
  auto m = schemas::migrations();
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.front().first, "001_init");
  EXPECT_NE(m.front().second.find("CREATE TABLE tasks"), std::string::npos);
}

TEST(TaskJson, IsTheSameShapeEverywhere) {
  schemas::task_record t;
  t.id = "01a200a4-5fe1-7a80-831f-4a63e53b6564";
  t.kind = "classify_meeting";
  t.subject_id = 7;
  t.status = schemas::task_status::failed;
  t.error_code = "LLM_INVALID_OUTPUT";
  t.error = "bad";
  auto d = doc(schemas::to_json(t));
  EXPECT_STREQ(d["status"].GetString(), "failed");
  EXPECT_EQ(d["meeting_id"].GetInt(), 7);
  EXPECT_STREQ(d["error"]["code"].GetString(), "LLM_INVALID_OUTPUT");
  EXPECT_TRUE(d["result"].IsNull());
  EXPECT_TRUE(schemas::is_terminal(schemas::task_status::dead));
  EXPECT_FALSE(schemas::is_terminal(schemas::task_status::retrying));
}

}  // namespace
