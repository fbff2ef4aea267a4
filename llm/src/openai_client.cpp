#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#include "mq/config/config.hpp"
#include "mq/core/json.hpp"
#include "mq/core/time.hpp"
#include "mq/llm/client.hpp"
#include "mq/llm/http_engine.hpp"
#include "mq/llm/offline.hpp"
#include "mq/schemas/validator.hpp"

namespace mq::llm {
namespace {

/// The provider's error object: message and code (or type).
std::pair<std::string, std::string> provider_error(const std::string& body) {
  auto doc = json::parse(body);
  if (doc && doc->IsObject() && doc->HasMember("error") && (*doc)["error"].IsObject()) {
    const auto& e = (*doc)["error"];
    auto code = json::get_string(e, "code");
    if (!code) code = json::get_string(e, "type");
    return {json::get_string(e, "message").value_or(""), code.value_or("")};
  }
  return {body.substr(0, 200), ""};
}

/// The error for a non-2xx answer: 429 insufficient_quota is final, other 429s and
/// 408/409/5xx are retryable, every other 4xx is a bad request.
error http_error(long status, const std::string& body) {
  auto [message, code] = provider_error(body);
  const std::string text = "provider answered " + std::to_string(status) + ": " + message;
  if (status == 429)
    return make_error(code == "insufficient_quota" ? errc::llm_quota_exhausted : errc::llm_rate_limited, text);
  if (status == 408 || status == 409 || status >= 500) return make_error(errc::llm_server_error, text);
  return make_error(errc::llm_bad_request, text);
}

/// A transport failure as the LLM layer sees it: an answer too large to read is the
/// provider misbehaving (retryable), the rest keep their codes.
error transport_error(const error& e) {
  if (e.code == errc::payload_too_large)
    return make_error(errc::llm_server_error, "provider answer exceeded llm.max_response_bytes");
  return e;
}

class openai_client final : public llm_client {
 public:
  explicit openai_client(const config::llm_config& cfg)
      : cfg_(cfg), engine_(cfg.http_client == "curl" ? http_engine::transport::curl_only : http_engine::transport::automatic) {
    base_ = cfg.base_url;
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  ~openai_client() override { engine_.stop(); }

  std::string provider() const override { return "openai"; }
  std::string model() const override { return cfg_.model; }
  std::size_t in_flight() const override { return engine_.in_flight(); }

  void chat(const chat_request& req, callback done) override {
    engine_.submit(call("/chat/completions", chat_body(req)), [done = std::move(done)](http_reply r) {
      chat_outcome out;
      if (r.err) {
        out.err = transport_error(*r.err);
      } else {
        out = parse_chat_reply(r.status, std::move(r.body), r.header("retry-after"));
        if (out.response) out.response->latency = r.latency;
      }
      done(std::move(out));
    });
  }

  void embed(std::vector<std::string> texts, embed_callback done) override {
    json::writer w;
    w.begin_object();
    w.kv("model", cfg_.embedding_model);
    w.key("input");
    w.begin_array();
    for (const auto& t : texts) w.value(t);
    w.end_array();
    w.end_object();
    engine_.submit(call("/embeddings", w.take()), [done = std::move(done), n = texts.size()](http_reply r) {
      embed_outcome out;
      if (r.err) {
        out.err = transport_error(*r.err);
      } else {
        out = parse_embed_reply(r.status, r.body, r.header("retry-after"));
        if (out.ok() && out.vectors.size() != n)
          out.err = make_error(errc::llm_server_error, "provider returned " + std::to_string(out.vectors.size()) +
                                                           " embeddings for " + std::to_string(n) + " inputs");
      }
      done(std::move(out));
    });
  }

 private:
  http_call call(const std::string& path, std::string body) const {
    http_call c;
    c.url = base_ + path;
    c.headers = {"Content-Type: application/json"};
    if (!cfg_.api_key.empty()) c.headers.push_back("Authorization: Bearer " + cfg_.api_key);
    c.body = std::move(body);
    c.connect_timeout = std::chrono::milliseconds(cfg_.connect_timeout_ms);
    c.first_byte_timeout = std::chrono::milliseconds(cfg_.first_byte_timeout_ms);
    c.idle_timeout = std::chrono::milliseconds(cfg_.idle_timeout_ms);
    c.total_timeout = std::chrono::milliseconds(cfg_.request_timeout_ms);
    c.max_response_bytes = static_cast<std::size_t>(cfg_.max_response_bytes);
    return c;
  }

  /// The request body, assembled with plain appends: the system prompt and the schema
  /// are serialized once and copied in (a JSON writer copies raw text byte by byte).
  std::string chat_body(const chat_request& req) const {
    std::string body;
    body.reserve(8192);
    body += "{\"model\":";
    json::append_quoted(body, cfg_.model);
    body += ",\"messages\":[";
    bool first = true;
    for (const auto& m : req.messages) {
      if (!first) body += ',';
      first = false;
      if (m.role == "system") {
        append_system_message(body, m.content);
        continue;
      }
      body += "{\"role\":";
      json::append_quoted(body, m.role);
      body += ",\"content\":";
      json::append_quoted(body, m.content);
      body += '}';
    }
    json::writer numbers;
    numbers.begin_object();
    numbers.kv("temperature", req.temperature);
    numbers.kv("max_tokens", req.max_tokens);
    numbers.end_object();
    auto tail = numbers.take();  // {"temperature":..,"max_tokens":..}
    body += "]," + tail.substr(1, tail.size() - 2);
    if (!req.schema_name.empty() && cfg_.response_format != "prompt") {
      body += ",\"response_format\":";
      if (cfg_.response_format == "json_schema") {
        body += "{\"type\":\"json_schema\",\"json_schema\":{\"name\":" +
                json::quote(req.task.empty() ? std::string("answer") : req.task) + ",\"strict\":true,\"schema\":";
        body += provider_schema(req.schema_name);
        body += "}}";
      } else {
        body += "{\"type\":\"json_object\"}";
      }
    }
    body += '}';
    return body;
  }

  /// The output schema without the annotations providers reject in strict mode
  /// ("$schema", "title", our "x-" keys), serialized once per schema. Validation still
  /// uses the full schema.
  const std::string& provider_schema(const std::string& name) const {
    std::lock_guard<std::mutex> lock(schema_mu_);
    auto it = schema_cache_.find(name);
    if (it != schema_cache_.end()) return it->second;
    rapidjson::Document copy;
    copy.CopyFrom(schemas::schema_json(name), copy.GetAllocator());
    for (const char* key : {"$schema", "title", "x-taxonomy-version"}) copy.RemoveMember(key);
    return schema_cache_.emplace(name, json::stringify(copy)).first->second;
  }

  /// Appends a system message, serialized once per distinct content (prompts are
  /// constants).
  void append_system_message(std::string& body, const std::string& content) const {
    std::lock_guard<std::mutex> lock(schema_mu_);
    auto it = system_cache_.find(content);
    if (it == system_cache_.end()) {
      if (system_cache_.size() > 64) system_cache_.clear();
      std::string m = "{\"role\":\"system\",\"content\":";
      json::append_quoted(m, content);
      m += '}';
      it = system_cache_.emplace(content, std::move(m)).first;
    }
    body += it->second;
  }

  mutable std::mutex schema_mu_;
  mutable std::map<std::string, std::string> schema_cache_;
  mutable std::unordered_map<std::string, std::string> system_cache_;

  config::llm_config cfg_;
  std::string base_;
  http_engine engine_;
};

}  // namespace

/// Fills what every reply carries (status, Retry-After) and, for a non-2xx status, the
/// error; true when the body is worth parsing.
template <typename Outcome>
bool answered_ok(Outcome& out, long status, const std::string& body, const std::string& retry_after_header) {
  out.http_status = status;
  out.retry_after = parse_retry_after(retry_after_header);
  if (status >= 200 && status < 300) return true;
  out.err = http_error(status, body);
  return false;
}

chat_outcome parse_chat_reply(long status, std::string body, const std::string& retry_after_header) {
  chat_outcome out;
  if (!answered_ok(out, status, body, retry_after_header)) return out;
  const auto head = body.substr(0, 200);  // parsing in place rewrites the body
  auto doc = json::parse_in_place(body);
  if (!doc || !doc->IsObject() || !doc->HasMember("choices") || !(*doc)["choices"].IsArray() ||
      (*doc)["choices"].Empty()) {
    out.err = make_error(errc::llm_server_error, "provider answered without a choice", head);
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

embed_outcome parse_embed_reply(long status, const std::string& body, const std::string& retry_after_header) {
  embed_outcome out;
  if (!answered_ok(out, status, body, retry_after_header)) return out;
  auto doc = json::parse(body);
  if (!doc || !doc->IsObject() || !doc->HasMember("data") || !(*doc)["data"].IsArray()) {
    out.err = make_error(errc::llm_server_error, "provider answered without embeddings", body.substr(0, 200));
    return out;
  }
  const auto& data = (*doc)["data"];
  out.vectors.resize(data.Size());
  for (const auto& item : data.GetArray()) {
    auto index = json::get_int(item, "index").value_or(0);
    if (index < 0 || index >= static_cast<long long>(data.Size()) || !item.HasMember("embedding") ||
        !item["embedding"].IsArray()) {
      out.err = make_error(errc::llm_server_error, "malformed embedding in the answer");
      return out;
    }
    auto& v = out.vectors[static_cast<std::size_t>(index)];
    for (const auto& x : item["embedding"].GetArray()) v.push_back(x.IsNumber() ? static_cast<float>(x.GetDouble()) : 0.f);
  }
  out.model = json::get_string(*doc, "model").value_or("");
  if (doc->HasMember("usage") && (*doc)["usage"].IsObject())
    out.tokens = static_cast<int>(json::get_int((*doc)["usage"], "prompt_tokens").value_or(0));
  return out;
}

std::unique_ptr<llm_client> make_client(const config::llm_config& cfg) {
  if (cfg.provider == "openai") return std::make_unique<openai_client>(cfg);
  return make_offline_client(cfg);
}

}  // namespace mq::llm
