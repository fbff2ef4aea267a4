#pragma once

// Keyword tables of the offline classifier. A keyword matches at word boundaries; a
// trailing '*' makes it a prefix ("farmac*" matches "farmacia" and "farmaceutica").
// Keywords are written folded: lower case, no accents.

#include <string>
#include <vector>

namespace mq::llm::rules {

struct rule {
  const char* value;
  std::vector<const char*> keywords;
};

struct field_rules {
  const char* field;
  const char* fallback;  ///< Chosen when no keyword matches.
  std::vector<rule> rules;
};

/// business_sector, lead_source, vambe_product, use_case, primary_pain_point,
/// decision_maker_role, region: pick the value with most hits.
const std::vector<field_rules>& enum_fields();

/// Words that mark each sentiment, time pressure, a bad meeting, and purchase stages.
const std::vector<const char*>& positive_words();
const std::vector<const char*>& negative_words();
const std::vector<const char*>& urgency_words();
const std::vector<const char*>& bad_meeting_words();
const std::vector<const char*>& negotiation_words();
const std::vector<const char*>& closure_words();
const std::vector<const char*>& spanish_words();
const std::vector<const char*>& english_words();
const std::vector<const char*>& enterprise_words();
const std::vector<const char*>& large_words();
const std::vector<const char*>& small_words();

/// Spanish label of a taxonomy value, for topics and summaries ("retail" -> "retail y
/// comercio minorista"); the value itself if it has none.
std::string label(const std::string& value);

}  // namespace mq::llm::rules
