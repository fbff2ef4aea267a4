#include <cstdlib>

#include "mq/config/config.hpp"
#include "mq/core/json.hpp"
#include "mq/core/time.hpp"
#include "mq/llm/client.hpp"
#include "mq/llm/curl_engine.hpp"
#include "mq/schemas/validator.hpp"
#include "offline.hpp"

namespace mq::llm {
namespace {

std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& v) {
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double secs = std::strtod(v.c_str(), &end);
  if (end != v.c_str() && *end == '\0' && secs >= 0)
    return std::chrono::milliseconds(static_cast<long long>(secs * 1000));
  if (auto when = parse_http_date(v)) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(*when - system_now());
    return d.count() > 0 ? d : std::chrono::milliseconds(0);
  }
  return std::nullopt;
}

std::string provider_message(const std::string& body) {
  auto doc = json::parse(body);
  if (doc && doc->IsObject() && doc->HasMember("error") && (*doc)["error"].IsObject()) {
    if (auto m = json::get_string((*doc)["error"], "message")) return *m;
  }
  return body.substr(0, 200);
}

std::string error_code_of(const std::string& body) {
  auto doc = json::parse(body);
  if (doc && doc->IsObject() && doc->HasMember("error") && (*doc)["error"].IsObject()) {
    const auto& e = (*doc)["error"];
    if (auto c = json::get_string(e, "code")) return *c;
    if (auto t = json::get_string(e, "type")) return *t;
  }
  return {};
}

class openai_client final : public llm_client {
 public:
  explicit openai_client(const config::llm_config& cfg) : cfg_(cfg) {
    url_ = cfg.base_url;
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
    url_ += "/chat/completions";
  }

  ~openai_client() override { engine_.stop(); }

  std::string provider() const override { return "openai"; }
  std::string model() const override { return cfg_.model; }
  std::size_t in_flight() const override { return engine_.in_flight(); }

  void chat(chat_request req, callback done) override {
    http_call call;
    call.url = url_;
    call.headers = {"Content-Type: application/json"};
    if (!cfg_.api_key.empty()) call.headers.push_back("Authorization: Bearer " + cfg_.api_key);
    call.body = request_body(req);
    call.connect_timeout = std::chrono::milliseconds(cfg_.connect_timeout_ms);
    call.total_timeout = std::chrono::milliseconds(cfg_.request_timeout_ms);
    engine_.submit(std::move(call), [done = std::move(done)](http_reply r) {
      chat_outcome out;
      if (r.err) {
        out.err = *r.err;
      } else {
        out = parse_chat_reply(r.status, r.body, r.header("retry-after"));
        if (out.response) out.response->latency = r.latency;
      }
      done(std::move(out));
    });
  }

 private:
  std::string request_body(const chat_request& req) const {
    json::writer w;
    w.begin_object();
    w.kv("model", cfg_.model);
    w.key("messages");
    w.begin_array();
    for (const auto& m : req.messages) {
      w.begin_object();
      w.kv("role", m.role);
      w.kv("content", m.content);
      w.end_object();
    }
    w.end_array();
    w.kv("temperature", req.temperature);
    w.kv("max_tokens", req.max_tokens);
    if (!req.schema_name.empty() && cfg_.response_format != "prompt") {
      w.key("response_format");
      w.begin_object();
      if (cfg_.response_format == "json_schema") {
        w.kv("type", "json_schema");
        w.key("json_schema");
        w.begin_object();
        w.kv("name", req.task.empty() ? std::string("answer") : req.task);
        w.kv("strict", true);
        w.key("schema");
        w.raw(provider_schema(req.schema_name));
        w.end_object();
      } else {
        w.kv("type", "json_object");
      }
      w.end_object();
    }
    w.end_object();
    return w.take();
  }

  /// The output schema without the annotations providers reject in strict mode
  /// ("$schema", "title", our "x-" keys). Validation still uses the full schema.
  static std::string provider_schema(const std::string& name) {
    rapidjson::Document copy;
    copy.CopyFrom(schemas::schema_json(name), copy.GetAllocator());
    for (const char* key : {"$schema", "title", "x-taxonomy-version"}) copy.RemoveMember(key);
    return json::stringify(copy);
  }

  config::llm_config cfg_;
  std::string url_;
  curl_engine engine_;
};

}  // namespace

chat_outcome parse_chat_reply(long status, const std::string& body,
                              const std::string& retry_after_header) {
  chat_outcome out;
  out.http_status = status;
  out.retry_after = parse_retry_after(retry_after_header);
  if (status >= 200 && status < 300) {
    auto doc = json::parse(body);
    if (!doc || !doc->IsObject() || !doc->HasMember("choices") || !(*doc)["choices"].IsArray() ||
        (*doc)["choices"].Empty()) {
      out.err = make_error(errc::llm_server_error, "provider answered without a choice",
                           body.substr(0, 200));
      return out;
    }
    const auto& choice = (*doc)["choices"][0];
    chat_response r;
    if (choice.HasMember("message") && choice["message"].IsObject())
      r.content = json::get_string(choice["message"], "content").value_or("");
    r.finish_reason = json::get_string(choice, "finish_reason").value_or("");
    r.model = json::get_string(*doc, "model").value_or("");
    if (doc->HasMember("usage") && (*doc)["usage"].IsObject()) {
      r.tokens_in = static_cast<int>(json::get_int((*doc)["usage"], "prompt_tokens").value_or(0));
      r.tokens_out = static_cast<int>(json::get_int((*doc)["usage"], "completion_tokens").value_or(0));
    }
    out.response = std::move(r);
    return out;
  }
  const std::string message = "provider answered " + std::to_string(status) + ": " + provider_message(body);
  if (status == 429) {
    out.err = error_code_of(body) == "insufficient_quota"
                  ? make_error(errc::llm_quota_exhausted, message)
                  : make_error(errc::llm_rate_limited, message);
  } else if (status == 408 || status == 409 || status >= 500) {
    out.err = make_error(errc::llm_server_error, message);
  } else {
    out.err = make_error(errc::llm_bad_request, message);
  }
  return out;
}

std::unique_ptr<llm_client> make_client(const config::llm_config& cfg) {
  if (cfg.provider == "openai") return std::make_unique<openai_client>(cfg);
  return make_offline_client(cfg);
}

}  // namespace mq::llm
