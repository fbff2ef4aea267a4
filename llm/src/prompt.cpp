#include "mq/llm/prompt.hpp"

#include "mq/core/json.hpp"
#include "mq/schemas/taxonomy.hpp"
#include "mq/schemas/validator.hpp"

namespace mq::llm {
namespace {

const char* transcript_open = "<transcript>\n";
const char* transcript_close = "\n</transcript>";

/// The taxonomy as instructions; built once from the schema.
const std::string& system_prompt() {
  static const std::string prompt = [] {
  std::string p =
      "You classify sales-meeting transcripts for a B2B software vendor. Answer with one JSON "
      "object and nothing else. Use exactly these fields and only the listed values:\n";
  for (const auto& f : schemas::classification_fields()) {
    p += "- " + f.name + " (" + f.type + "): " + f.description;
    if (!f.values.empty()) {
      p += " One of: ";
      for (std::size_t i = 0; i < f.values.size(); ++i) p += (i ? ", " : "") + f.values[i];
      p += ".";
    }
    p += "\n";
  }
  p +=
      "confidence_score is between 0.1 and 0.95. key_topics has 2 to 5 items, action_items 1 "
      "to 3; key_topics, action_items, next_steps and summary are written in Spanish whatever "
      "the meeting's language.";
  return p;
  }();
  return prompt;
}

std::string line_value(const std::string& text, const std::string& label) {
  auto pos = text.find("\n" + label + ": ");
  if (pos == std::string::npos) {
    if (text.rfind(label + ": ", 0) != 0) return {};
    pos = 0;
  } else {
    pos += 1;
  }
  pos += label.size() + 2;
  auto end = text.find('\n', pos);
  return text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

}  // namespace

const std::string& classification_prompt_version() {
  static const std::string v = "classify-v1";
  return v;
}

chat_request classification_request(const meeting_facts& m, int max_tokens, double temperature) {
  chat_request r;
  r.task = "classify_meeting";
  r.schema_name = "classification";
  r.max_tokens = max_tokens;
  r.temperature = temperature;
  r.messages.push_back({"system", system_prompt()});
  std::string user = "client: " + m.client_name + "\nseller: " + m.seller_name +
                     "\nmeeting_date: " + m.meeting_date +
                     "\nclosed: " + (m.closed ? "yes" : "no") + "\n" + transcript_open +
                     m.transcript + transcript_close;
  r.messages.push_back({"user", std::move(user)});
  return r;
}

meeting_facts facts_from_request(const chat_request& req) {
  meeting_facts m;
  for (const auto& msg : req.messages) {
    if (msg.role != "user") continue;
    const auto& t = msg.content;
    auto open = t.find(transcript_open);
    auto close = t.rfind(transcript_close);
    if (open != std::string::npos && close != std::string::npos && close >= open) {
      auto start = open + std::string(transcript_open).size();
      m.transcript = t.substr(start, close - start);
    } else {
      m.transcript = t;
    }
    m.client_name = line_value(t, "client");
    m.seller_name = line_value(t, "seller");
    m.meeting_date = line_value(t, "meeting_date");
    m.closed = line_value(t, "closed") == "yes";
  }
  return m;
}

result<std::string> validate_answer(const std::string& schema_name, const std::string& content) {
  std::string_view text = content;
  // Models asked only by prompt often fence their JSON in Markdown.
  auto fence = text.find("```");
  if (fence != std::string::npos) {
    auto start = text.find('\n', fence);
    auto end = text.rfind("```");
    if (start != std::string::npos && end > start) text = text.substr(start + 1, end - start - 1);
  }
  std::string scratch(text);  // parsed in place: strings are not copied out one by one
  auto doc = json::parse_in_place(scratch);
  if (!doc) return make_error(errc::llm_invalid_output, "answer is not JSON: " + doc.err().message);
  if (auto bad = schemas::validate(schema_name, *doc))
    return make_error(errc::llm_invalid_output, "answer violates the schema: " + bad->message);
  // Parsed whole, the text is one JSON value: kept as the model wrote it (Postgres
  // normalises its copy) rather than written out again.
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

}  // namespace mq::llm
