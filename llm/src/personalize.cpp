#include "mq/llm/personalize.hpp"

#include "mq/core/json.hpp"

namespace mq::llm {
namespace {

const char* system_text =
    "You personalise one outgoing message for one recipient. Follow the instruction, use the "
    "recipient's attributes where they help, keep every fact, link, price and offer of the message "
    "unchanged, and write in the message's language. Answer with a JSON object only: "
    "{\"subject\": the subject line (only if the message has one), \"body\": the message text}.";

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

const std::string& personalization_prompt_version() {
  static const std::string v = "personalize-v1";
  return v;
}

chat_request personalization_request(const message_text& msg, const std::string& instruction,
                                     const std::string& attributes_json, int max_tokens, double temperature) {
  chat_request r;
  r.task = "personalize_message";
  r.schema_name = "personalized_message";
  r.max_tokens = max_tokens;
  r.temperature = temperature;
  r.messages.push_back({"system", system_text});
  json::writer w;
  w.begin_object();
  w.kv("instruction", instruction);
  w.key("recipient");
  if (auto a = json::parse(attributes_json); a && a->IsObject())
    w.value(*a);
  else
    w.raw("{}");
  if (msg.subject) w.kv("subject", *msg.subject);
  w.kv("message", msg.body);
  w.end_object();
  r.messages.push_back({"user", w.take()});
  return r;
}

result<std::string> offline_personalization(const chat_request& req) {
  const chat_message* user = nullptr;
  for (const auto& m : req.messages)
    if (m.role == "user") user = &m;
  if (!user) return make_error(errc::llm_bad_request, "the personalisation request has no user message");
  auto doc = json::parse(user->content);
  if (!doc || !doc->IsObject()) return make_error(errc::llm_bad_request, "the personalisation request is not JSON");
  auto body = json::get_string(*doc, "message").value_or("");
  std::string name;
  if (auto r = doc->FindMember("recipient"); r != doc->MemberEnd() && r->value.IsObject()) {
    name = json::get_string(r->value, "first_name").value_or(json::get_string(r->value, "name").value_or(""));
  }
  if (!name.empty() && lower(body).find(lower(name)) == std::string::npos) body = name + ", " + body;
  json::writer w;
  w.begin_object();
  if (auto s = json::get_string(*doc, "subject")) w.kv("subject", *s);
  w.kv("body", body);
  w.end_object();
  return w.take();
}

result<message_text> parse_personalized(const std::string& answer_json) {
  auto doc = json::parse(answer_json);
  if (!doc || !doc->IsObject()) return make_error(errc::llm_invalid_output, "the personalised message is not JSON");
  message_text out;
  out.subject = json::get_string(*doc, "subject");
  auto body = json::get_string(*doc, "body");
  if (!body || body->empty()) return make_error(errc::llm_invalid_output, "the personalised message has no body");
  out.body = *body;
  return out;
}

}  // namespace mq::llm
