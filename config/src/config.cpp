#include "mq/config/config.hpp"

#include <yaml-cpp/yaml.h>

#include "mq/core/log.hpp"

#include <cctype>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

extern char** environ;

namespace mq::config {

const std::map<std::string, std::string>& embedded_files();

namespace {

/// One configurable value: where it lives, how to parse a string into it, which values
/// are valid.
struct field {
  std::string section;
  std::string key;
  bool secret = false;
  /// Parses text into the target; returns an error sentence or nullopt.
  std::function<std::optional<std::string>(const std::string&)> set;
};

std::optional<std::string> parse_int(const std::string& s, std::int64_t lo, std::int64_t hi,
                                     std::int64_t& out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0) return "expected an integer, got \"" + s + "\"";
  if (v < lo || v > hi)
    return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + s;
  out = v;
  return std::nullopt;
}

class binder {
 public:
  explicit binder(std::vector<field>& out) : out_(out) {}
  binder& section(std::string name) {
    section_ = std::move(name);
    return *this;
  }
  binder& str(const char* key, std::string& target, std::vector<std::string> allowed = {},
              bool secret = false) {
    out_.push_back({section_, key, secret, [&target, allowed](const std::string& v) -> std::optional<std::string> {
                      if (!allowed.empty()) {
                        bool ok = false;
                        std::string list;
                        for (const auto& a : allowed) {
                          ok = ok || a == v;
                          list += (list.empty() ? "" : ", ") + a;
                        }
                        if (!ok) return "must be one of " + list + ", got \"" + v + "\"";
                      }
                      target = v;
                      return std::nullopt;
                    }});
    return *this;
  }
  binder& secret(const char* key, std::string& target) { return str(key, target, {}, true); }
  binder& integer(const char* key, int& target, std::int64_t lo, std::int64_t hi) {
    out_.push_back({section_, key, false, [&target, lo, hi](const std::string& v) {
                      std::int64_t x = 0;
                      auto err = parse_int(v, lo, hi, x);
                      if (!err) target = static_cast<int>(x);
                      return err;
                    }});
    return *this;
  }
  binder& integer64(const char* key, std::int64_t& target, std::int64_t lo, std::int64_t hi) {
    out_.push_back({section_, key, false, [&target, lo, hi](const std::string& v) {
                      return parse_int(v, lo, hi, target);
                    }});
    return *this;
  }
  binder& number(const char* key, double& target, double lo, double hi) {
    out_.push_back({section_, key, false, [&target, lo, hi](const std::string& v) -> std::optional<std::string> {
                      char* end = nullptr;
                      double d = std::strtod(v.c_str(), &end);
                      if (v.empty() || *end != '\0') return "expected a number, got \"" + v + "\"";
                      if (d < lo || d > hi) return "out of range: " + v;
                      target = d;
                      return std::nullopt;
                    }});
    return *this;
  }
  binder& boolean(const char* key, bool& target) {
    out_.push_back({section_, key, false, [&target](const std::string& v) -> std::optional<std::string> {
                      if (v == "true" || v == "1" || v == "yes") target = true;
                      else if (v == "false" || v == "0" || v == "no") target = false;
                      else return "expected true or false, got \"" + v + "\"";
                      return std::nullopt;
                    }});
    return *this;
  }

 private:
  std::vector<field>& out_;
  std::string section_;
};

std::vector<field> bind(app_config& c) {
  std::vector<field> f;
  binder b(f);
  b.section("http")
      .str("host", c.http.host)
      .integer("port", c.http.port, 0, 65535)
      .integer("threads", c.http.threads, 1, 64)
      .integer64("body_limit_bytes", c.http.body_limit_bytes, 1024, 1LL << 32)
      .integer("idle_timeout_seconds", c.http.idle_timeout_seconds, 1, 3600);
  b.section("api")
      .integer("max_batch_items", c.api.max_batch_items, 1, 1000000)
      .integer("enqueue_chunk", c.api.enqueue_chunk, 1, 1000000)
      .integer("default_page_size", c.api.default_page_size, 1, 10000)
      .integer("max_page_size", c.api.max_page_size, 1, 10000)
      .integer("pg_connections", c.api.pg_connections, 1, 256)
      .integer("max_pending_db_jobs", c.api.max_pending_db_jobs, 1, 10000000)
      .integer("auth_cache_seconds", c.api.auth_cache_seconds, 0, 86400)
      .integer("outbox_grace_seconds", c.api.outbox_grace_seconds, 1, 86400)
      .integer("outbox_interval_ms", c.api.outbox_interval_ms, 50, 3600000)
      .secret("jwt_secret", c.api.jwt_secret)
      .str("jwt_issuer", c.api.jwt_issuer)
      .integer("jwt_leeway_seconds", c.api.jwt_leeway_seconds, 0, 3600)
      .number("tenant_requests_per_second", c.api.tenant_requests_per_second, 0, 1e9)
      .integer("tenant_burst", c.api.tenant_burst, 1, 10000000);
  b.section("postgres")
      .str("host", c.postgres.host)
      .integer("port", c.postgres.port, 1, 65535)
      .str("dbname", c.postgres.dbname)
      .str("user", c.postgres.user)
      .secret("password", c.postgres.password)
      .str("schema", c.postgres.schema)
      .integer("connect_timeout_seconds", c.postgres.connect_timeout_seconds, 1, 600)
      .boolean("migrate_on_start", c.postgres.migrate_on_start);
  b.section("redis")
      .str("host", c.redis.host)
      .integer("port", c.redis.port, 1, 65535)
      .secret("password", c.redis.password)
      .str("key_prefix", c.redis.key_prefix)
      .integer("ttl_seconds", c.redis.ttl_seconds, 1, 365 * 86400)
      .integer("progress_ttl_seconds", c.redis.progress_ttl_seconds, 1, 86400)
      .integer("timeout_ms", c.redis.timeout_ms, 1, 60000);
  b.section("amqp")
      .str("host", c.amqp.host)
      .integer("port", c.amqp.port, 1, 65535)
      .str("user", c.amqp.user)
      .secret("password", c.amqp.password)
      .str("vhost", c.amqp.vhost)
      .str("prefix", c.amqp.prefix)
      .integer("heartbeat_seconds", c.amqp.heartbeat_seconds, 0, 600)
      .integer("delivery_limit", c.amqp.delivery_limit, 1, 1000)
      .integer("group_size", c.amqp.group_size, 1, 1000)
      .integer("confirm_timeout_ms", c.amqp.confirm_timeout_ms, 10, 600000)
      .integer("connect_timeout_ms", c.amqp.connect_timeout_ms, 10, 600000);
  b.section("documents")
      .integer("max_bytes", c.documents.max_bytes, 1, 1 << 30)
      .integer("chunk_size", c.documents.chunk_size, 50, 100000)
      .integer("chunk_overlap", c.documents.chunk_overlap, 0, 50000)
      .integer("embed_batch_size", c.documents.embed_batch_size, 1, 2048);
  b.section("campaigns")
      .str("webhook_url", c.campaigns.webhook_url)
      .secret("webhook_token", c.campaigns.webhook_token)
      .secret("webhook_secret", c.campaigns.webhook_secret)
      .integer("webhook_timeout_ms", c.campaigns.webhook_timeout_ms, 10, 600000)
      .str("smtp_url", c.campaigns.smtp_url)
      .str("smtp_from", c.campaigns.smtp_from)
      .str("smtp_user", c.campaigns.smtp_user)
      .secret("smtp_password", c.campaigns.smtp_password)
      .integer("smtp_timeout_ms", c.campaigns.smtp_timeout_ms, 10, 600000)
      .integer("smtp_connections", c.campaigns.smtp_connections, 1, 256)
      .integer("webhook_per_minute", c.campaigns.webhook_per_minute, 0, 100000000)
      .integer("smtp_per_minute", c.campaigns.smtp_per_minute, 0, 100000000)
      .integer("max_attempts", c.campaigns.max_attempts, 1, 100)
      .integer("backoff_base_ms", c.campaigns.backoff_base_ms, 1, 3600000)
      .integer("backoff_max_ms", c.campaigns.backoff_max_ms, 1, 3600000)
      .integer("max_recipients", c.campaigns.max_recipients, 1, 100000000);
  b.section("analytics").integer("rollup_every_seconds", c.analytics.rollup_every_seconds, 0, 86400 * 7);
  b.section("worker")
      .integer("prefetch", c.worker.prefetch, 1, 65535)
      .integer("threads", c.worker.threads, 1, 64)
      .str("scheduler", c.worker.scheduler, {"sharing", "stealing"})
      .integer("nice", c.worker.nice, 0, 19)
      .integer("pg_connections", c.worker.pg_connections, 1, 64)
      .integer("drain_seconds", c.worker.drain_seconds, 0, 3600)
      .integer("running_after_ms", c.worker.running_after_ms, 10, 3600000)
      .integer("heartbeat_seconds", c.worker.heartbeat_seconds, 1, 3600)
      .integer("heartbeat_ttl_seconds", c.worker.heartbeat_ttl_seconds, 2, 86400)
      .str("metrics_host", c.worker.metrics_host)
      .integer("metrics_port", c.worker.metrics_port, -1, 65535);
  b.section("llm")
      .str("provider", c.llm.provider, {"offline", "openai"})
      .str("base_url", c.llm.base_url)
      .str("model", c.llm.model)
      .secret("api_key", c.llm.api_key)
      .str("response_format", c.llm.response_format, {"json_schema", "json_object", "prompt"})
      .str("http_client", c.llm.http_client, {"auto", "curl"})
      .number("temperature", c.llm.temperature, 0, 2)
      .integer("max_tokens", c.llm.max_tokens, 16, 1000000)
      .integer("max_attempts", c.llm.max_attempts, 1, 100)
      .integer("backoff_base_ms", c.llm.backoff_base_ms, 1, 3600000)
      .integer("backoff_max_ms", c.llm.backoff_max_ms, 1, 3600000)
      .integer("connect_timeout_ms", c.llm.connect_timeout_ms, 1, 600000)
      .integer("first_byte_timeout_ms", c.llm.first_byte_timeout_ms, 1, 3600000)
      .integer("idle_timeout_ms", c.llm.idle_timeout_ms, 1, 3600000)
      .integer("request_timeout_ms", c.llm.request_timeout_ms, 1, 3600000)
      .integer64("max_response_bytes", c.llm.max_response_bytes, 1024, 1LL << 31)
      .integer("max_in_flight", c.llm.max_in_flight, 1, 1000000)
      .integer("hold_max_ms", c.llm.hold_max_ms, 0, 600000)
      .str("embedding_model", c.llm.embedding_model)
      .integer("embedding_dimensions", c.llm.embedding_dimensions, 8, 8192)
      .integer("requests_per_minute", c.llm.requests_per_minute, 0, 100000000)
      .integer("tokens_per_minute", c.llm.tokens_per_minute, 0, 2000000000)
      .integer("tenant_requests_per_minute", c.llm.tenant_requests_per_minute, 0, 100000000)
      .integer("tenant_tokens_per_minute", c.llm.tenant_tokens_per_minute, 0, 2000000000)
      .integer("rate_burst_seconds", c.llm.rate_burst_seconds, 1, 3600)
      .integer("penalty_seconds", c.llm.penalty_seconds, 0, 86400)
      .number("penalty_factor", c.llm.penalty_factor, 0.01, 1);
  b.section("log").str("level", c.log.level, {"debug", "info", "warn", "error"});
  return f;
}

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

field* find(std::vector<field>& fields, const std::string& section, const std::string& key) {
  for (auto& f : fields)
    if (f.section == section && f.key == key) return &f;
  return nullptr;
}

/// Reads the `prices` section: model -> {input, output} in USD per million tokens.
void apply_prices(const YAML::Node& node, const std::string& origin, prices_config& out,
                  std::vector<std::string>& errors) {
  if (!node.IsMap()) {
    errors.push_back(origin + ": prices must map model names to {input, output}");
    return;
  }
  for (const auto& entry : node) {
    const auto model = entry.first.as<std::string>();
    const auto& v = entry.second;
    price p;
    bool ok = v.IsMap() && v.size() == 2 && v["input"] && v["output"];
    if (ok) {
      try {
        p.input = v["input"].as<double>();
        p.output = v["output"].as<double>();
        ok = p.input >= 0 && p.output >= 0;
      } catch (const YAML::Exception&) {
        ok = false;
      }
    }
    if (!ok) {
      errors.push_back(origin + ": prices." + model + " must be {input: <usd>, output: <usd>} per million tokens");
      continue;
    }
    out.by_model[model] = p;
  }
}

/// Applies one YAML document; `seen` collects section.key pairs it set.
void apply_yaml(const YAML::Node& root, const std::string& origin, bool allow_secrets,
                std::vector<field>& fields, std::set<std::string>& seen, prices_config& prices,
                std::vector<std::string>& errors) {
  if (!root || root.IsNull()) return;
  if (!root.IsMap()) {
    errors.push_back(origin + ": top level must be a mapping of sections");
    return;
  }
  for (const auto& sec : root) {
    auto section = sec.first.as<std::string>();
    if (section == "prices") {
      apply_prices(sec.second, origin, prices, errors);
      continue;
    }
    if (!sec.second.IsMap()) {
      errors.push_back(origin + ": " + section + " must be a mapping");
      continue;
    }
    for (const auto& kv : sec.second) {
      auto key = kv.first.as<std::string>();
      auto* f = find(fields, section, key);
      auto name = section + "." + key;
      if (!f) {
        errors.push_back(origin + ": unknown key " + name);
        continue;
      }
      if (f->secret && !allow_secrets) {
        errors.push_back(origin + ": " + name + " is a secret; set MQ_" + upper(section) + "_" +
                         upper(key) + " in the environment instead");
        continue;
      }
      if (!kv.second.IsScalar()) {
        errors.push_back(origin + ": " + name + " must be a scalar");
        continue;
      }
      if (auto err = f->set(kv.second.Scalar())) errors.push_back(origin + ": " + name + " " + *err);
      seen.insert(name);
    }
  }
}

}  // namespace

const std::string& default_yaml() { return embedded_files().at("default.yaml"); }

double prices_config::cost(const std::string& model, long long tokens_in, long long tokens_out) const {
  auto it = by_model.find(model);
  if (it == by_model.end()) return 0;
  return (static_cast<double>(tokens_in) * it->second.input + static_cast<double>(tokens_out) * it->second.output) / 1e6;
}

std::string postgres_config::conninfo() const {
  auto quote = [](const std::string& v) {
    std::string out = "'";
    for (char ch : v) {
      if (ch == '\'' || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    return out + "'";
  };
  std::ostringstream s;
  s << "host=" << quote(host) << " port=" << port << " dbname=" << quote(dbname)
    << " user=" << quote(user) << " connect_timeout=" << connect_timeout_seconds
    << " application_name='mq'"
    << " options='-c search_path=" << schema << "'";
  if (!password.empty()) s << " password=" << quote(password);
  return s.str();
}

result<app_config> load(const std::string& overlay_path,
                        const std::map<std::string, std::string>& env) {
  app_config cfg;
  auto fields = bind(cfg);
  std::vector<std::string> errors;
  std::set<std::string> seen;
  try {
    apply_yaml(YAML::Load(default_yaml()), "default.yaml", false, fields, seen, cfg.prices, errors);
  } catch (const YAML::Exception& e) {
    errors.push_back(std::string("default.yaml: ") + e.what());
  }
  for (const auto& f : fields)
    if (!f.secret && !seen.count(f.section + "." + f.key))
      errors.push_back("default.yaml: missing " + f.section + "." + f.key);
  if (!overlay_path.empty()) {
    try {
      std::set<std::string> ignored;
      apply_yaml(YAML::LoadFile(overlay_path), overlay_path, false, fields, ignored, cfg.prices, errors);
    } catch (const YAML::Exception& e) {
      errors.push_back(overlay_path + ": " + e.what());
    }
  }
  std::set<std::string> sections;
  for (const auto& f : fields) sections.insert(f.section);
  for (const auto& [name, value] : env) {
    if (name.rfind("MQ_", 0) != 0) continue;
    for (const auto& section : sections) {
      auto prefix = "MQ_" + upper(section) + "_";
      if (name.rfind(prefix, 0) != 0) continue;
      std::string key = name.substr(prefix.size());
      for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (auto* f = find(fields, section, key)) {
        if (auto err = f->set(value)) errors.push_back(name + " " + *err);
      } else {
        errors.push_back("unknown environment variable " + name);
      }
    }
  }
  if (cfg.api.default_page_size > cfg.api.max_page_size)
    errors.push_back("api.default_page_size must not exceed api.max_page_size");
  if (cfg.worker.heartbeat_ttl_seconds <= cfg.worker.heartbeat_seconds)
    errors.push_back("worker.heartbeat_ttl_seconds must exceed worker.heartbeat_seconds (a live replica would flicker)");
  if (cfg.llm.backoff_base_ms > cfg.llm.backoff_max_ms)
    errors.push_back("llm.backoff_base_ms must not exceed llm.backoff_max_ms");
  if (cfg.llm.provider == "openai" && cfg.llm.base_url.rfind("http", 0) != 0)
    errors.push_back("llm.base_url must be an http(s) URL when llm.provider is openai");
  for (char ch : cfg.postgres.schema)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_')) {
      errors.push_back("postgres.schema may hold only letters, digits and _");
      break;
    }
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += e + "\n";
    return make_error(errc::validation_failed, msg);
  }
  return cfg;
}

std::map<std::string, std::string> process_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

app_config load_or_exit(int argc, char** argv, const char* service) {
  auto env = process_env();
  std::string overlay = env.count("MQ_CONFIG") ? env["MQ_CONFIG"] : "";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--config") overlay = argv[i + 1];
  auto cfg = load(overlay, env);
  if (!cfg) {
    std::cerr << "configuration errors:\n" << cfg.err().message;
    std::exit(2);
  }
  log::set_service(service);
  log::level lvl;
  if (log::parse_level(cfg->log.level, lvl)) log::set_level(lvl);
  return *cfg;
}

}  // namespace mq::config
