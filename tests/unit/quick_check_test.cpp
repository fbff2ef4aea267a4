#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "mq/core/json.hpp"
#include "mq/llm/offline.hpp"
#include "mq/schemas/quick_check.hpp"
#include "mq/schemas/types.hpp"
#include "mq/schemas/validator.hpp"

// validate() passes a document on the schema's quick check alone when it can. That is
// right only if the quick check never passes what RapidJSON's validator rejects: each
// sample below is mutated at every place it has, with values at the edges of every
// keyword, and the two must agree on every variant.
namespace {

using namespace mq;

const std::string tenant = "01a200a4-5fe1-7a80-831f-4a63e53b6565";

/// Documents valid under each schema that compiles to a quick check.
std::map<std::string, std::vector<std::string>> samples() {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& m : std::vector<llm::meeting_facts>{
           {"Cliente: somos un retail y queremos WhatsApp.", "Ana", "Luis", "2024-05-02", false},
           {"Cliente: tenemos un hospital, el soporte está saturado y necesitamos algo ya.", "Eva", "Tomás", "", true}})
    out["classification"].push_back(llm::offline_classification(m));
  schemas::envelope e{"01a200a4-5fe1-7a80-831f-4a63e53b6564", tenant, "classify_meeting", 42, tenant, "req-1"};
  e.deliveries = 2;
  out["envelope"].push_back(schemas::encode(e));
  out["envelope_group"].push_back(schemas::encode_group({e, e}));
  out["personalized_message"].push_back(R"({"subject":"Hola Ana","body":"Texto del mensaje"})");
  out["requests/campaign_recipients"].push_back(
      R"({"recipients":[{"address":"ana@example.com","attributes":{"name":"Ana","n":1,"vip":true,"x":null}}]})");
  out["requests/document_search"].push_back(R"({"query":"precio","limit":5,"threshold":0.2,"document_ids":[1,2]})");
  out["requests/meetings"].push_back(R"({"meetings":[{"transcript":"hola"}]})");
  return out;
}

rapidjson::Document parsed(const std::string& text) {
  auto d = json::parse(text);
  EXPECT_TRUE(d.ok()) << text;
  return std::move(*d);
}

std::string repeated(const std::string& unit, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += unit;
  return s;
}

/// The integers beyond 2^53 among the probes: the quick check leaves those to the full
/// validator, so there the two may disagree the safe way.
const char* const big_integers[] = {"9007199254740993", "-9007199254740993"};

/// Values to put where `rule` (the schema at that place, or null) applies: every type,
/// and each bound of the rule at, just inside and just outside it.
std::vector<std::string> probes(const rapidjson::Value* rule, const rapidjson::Value& current) {
  std::vector<std::string> out = {"null", "true", "false", "0", "1", "-1", "0.5", "1.5", "-0.0", "1e300",
                                  R"("")", R"("x")", R"("é")", "[]", "[1]", R"(["a"])", "{}", R"({"a":1})"};
  for (const char* b : big_integers) out.push_back(b);
  if (!rule || !rule->IsObject()) return out;
  auto at = [&](const char* k) { return rule->HasMember(k) ? &(*rule)[k] : nullptr; };
  if (const auto* e = at("enum"))
    for (const auto& v : e->GetArray()) {
      out.push_back(json::stringify(v));
      if (v.IsString()) out.push_back(json::quote(std::string(v.GetString()) + "x"));
    }
  for (const char* k : {"minLength", "maxLength"})
    if (const auto* n = at(k))
      for (auto len : {n->GetUint64() - (n->GetUint64() > 0), n->GetUint64(), n->GetUint64() + 1})
        for (const char* unit : {"a", "é", "€", "😀"}) out.push_back(json::quote(repeated(unit, len)));
  for (const char* k : {"minimum", "maximum"})
    if (const auto* n = at(k)) {
      const double d = n->GetDouble();
      for (double v : {d, std::nextafter(d, -1e9), std::nextafter(d, 1e9), std::floor(d), std::ceil(d)})
        out.push_back(json::stringify(rapidjson::Value(v)));
      out.push_back(std::to_string(static_cast<long long>(d)));
    }
  for (const char* k : {"minItems", "maxItems"})
    if (const auto* n = at(k)) {
      const std::string item = current.IsArray() && !current.Empty() ? json::stringify(current[0]) : R"("a")";
      for (auto len : {n->GetUint64() - (n->GetUint64() > 0), n->GetUint64(), n->GetUint64() + 1}) {
        std::string arr = "[";
        for (std::uint64_t i = 0; i < len; ++i) arr += (i ? "," : "") + item;
        out.push_back(arr + "]");
      }
    }
  return out;
}

const rapidjson::Value* member_rule(const rapidjson::Value* rule, const char* name) {
  if (!rule || !rule->IsObject()) return nullptr;
  if (rule->HasMember("properties") && (*rule)["properties"].HasMember(name)) return &(*rule)["properties"][name];
  if (rule->HasMember("additionalProperties") && (*rule)["additionalProperties"].IsObject())
    return &(*rule)["additionalProperties"];
  return nullptr;
}

const rapidjson::Value* item_rule(const rapidjson::Value* rule) {
  return rule && rule->IsObject() && rule->HasMember("items") ? &(*rule)["items"] : nullptr;
}

/// Calls `check` with every variant of `root`: each place removed, replaced by each probe,
/// and each object given a member its schema may not allow. `root` is restored each time.
void each_variant(rapidjson::Document& root, rapidjson::Value& v, const rapidjson::Value* rule,
                  const std::function<void(bool has_big)>& check) {
  auto& a = root.GetAllocator();
  auto try_value = [&](rapidjson::Value& slot, const rapidjson::Value* slot_rule) {
    rapidjson::Value saved(slot, a);
    for (const auto& p : probes(slot_rule, saved)) {
      auto probe = parsed(p);
      slot.CopyFrom(probe, a);
      bool big = false;
      for (const char* b : big_integers) big = big || p.find(b) != std::string::npos;
      check(big);
    }
    slot.CopyFrom(saved, a);
  };
  if (v.IsObject()) {
    std::vector<std::string> names;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) names.emplace_back(m->name.GetString());
    for (const auto& n : names) {
      const auto* r = member_rule(rule, n.c_str());
      try_value(v[n.c_str()], r);
      each_variant(root, v[n.c_str()], r, check);
      rapidjson::Value saved(v[n.c_str()], a);
      v.RemoveMember(n.c_str());
      check(false);
      v.AddMember(rapidjson::Value(n.c_str(), a), saved, a);
    }
    v.AddMember("zz_extra", 1, a);
    check(false);
    v.RemoveMember("zz_extra");
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      try_value(v[i], item_rule(rule));
      each_variant(root, v[i], item_rule(rule), check);
    }
    if (!v.Empty()) {
      rapidjson::Value last(v[v.Size() - 1], a);
      v.PopBack();
      check(false);
      v.PushBack(last, a);
    }
  }
}

TEST(QuickCheck, CompilesTheSchemasOfEveryJobAndItsMessages) {
  for (const char* name : {"classification", "envelope", "envelope_group", "personalized_message"})
    EXPECT_TRUE(schemas::quick_check::compile(schemas::schema_json(name)).has_value()) << name;
  // A keyword it does not know (pattern, uniqueItems) leaves the schema to the full validator.
  EXPECT_FALSE(schemas::quick_check::compile(schemas::schema_json("requests/meeting")).has_value());
  EXPECT_FALSE(schemas::quick_check::compile(schemas::schema_json("requests/classify_batch")).has_value());
}

TEST(QuickCheck, AgreesWithTheFullValidatorAtEveryEdge) {
  const auto all = samples();
  for (const auto& name : schemas::schema_names()) {
    auto quick = schemas::quick_check::compile(schemas::schema_json(name));
    if (!quick) continue;
    auto it = all.find(name);
    ASSERT_NE(it, all.end()) << name << " compiles to a quick check and needs a sample here";
    const auto* schema = &schemas::schema_json(name);
    std::size_t variants = 0, valid = 0;
    for (const auto& text : it->second) {
      auto root = parsed(text);
      ASSERT_TRUE(quick->passes(root)) << name << ": " << text;
      ASSERT_FALSE(schemas::validate_in_full(name, root)) << name << ": " << text;
      each_variant(root, root, schema, [&](bool has_big) {
        ++variants;
        const bool full = !schemas::validate_in_full(name, root).has_value();
        const bool fast = quick->passes(root);
        valid += full;
        // Never valid by the quick check alone when it is not; and no slower for a valid
        // document, but for integers beyond 2^53, which it leaves to the full validator.
        if (fast) {
          EXPECT_TRUE(full) << name << ": " << json::stringify(root);
        } else if (!has_big) {
          EXPECT_FALSE(full) << name << ": " << json::stringify(root);
        }
        EXPECT_EQ(schemas::validate(name, root).has_value(), !full) << name << ": " << json::stringify(root);
      });
    }
    // The mutations reached both sides of the line.
    EXPECT_GT(valid, 10u) << name;
    EXPECT_GT(variants - valid, 10u) << name;
  }
}

}  // namespace
