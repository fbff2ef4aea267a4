#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "mq/config/config.hpp"

namespace {

using mq::config::load;

TEST(Config, DefaultsLoadAndMatchTheFixedNames) {
  auto cfg = load("", {});
  ASSERT_TRUE(cfg.ok()) << cfg.err().message;
  EXPECT_EQ(cfg->http.host, "127.0.0.1");
  EXPECT_EQ(cfg->http.port, 8080);
  EXPECT_EQ(cfg->llm.provider, "offline");
  EXPECT_TRUE(cfg->llm.api_key.empty());
  EXPECT_EQ(cfg->worker.scheduler, "sharing");
  EXPECT_EQ(cfg->worker.nice, 10);
}

TEST(Config, EnvironmentOverridesDefaults) {
  auto cfg = load("", {{"MQ_HTTP_PORT", "9090"}, {"MQ_LLM_PROVIDER", "openai"},
                       {"MQ_LLM_BASE_URL", "http://127.0.0.1:11434/v1"}, {"MQ_LLM_MODEL", "llama3"},
                       {"MQ_LLM_API_KEY", "sk-test"}, {"MQ_POSTGRES_MIGRATE_ON_START", "false"},
                       {"PATH", "/bin"}, {"MQ_DEV_DIR", "/x"}});
  ASSERT_TRUE(cfg.ok()) << cfg.err().message;
  EXPECT_EQ(cfg->http.port, 9090);
  EXPECT_EQ(cfg->llm.provider, "openai");
  EXPECT_EQ(cfg->llm.model, "llama3");
  EXPECT_EQ(cfg->llm.api_key, "sk-test");
  EXPECT_FALSE(cfg->postgres.migrate_on_start);
}

TEST(Config, EveryProblemIsReportedAtOnce) {
  auto cfg = load("", {{"MQ_HTTP_PORT", "99999"}, {"MQ_LLM_PROVIDER", "magic"},
                       {"MQ_WORKER_PREFETCH", "lots"}, {"MQ_HTTP_COLOUR", "red"}, {"MQ_WORKER_SCHEDULER", "fifo"},
                       {"MQ_WORKER_NICE", "-5"},
                       {"MQ_WORKER_HEARTBEAT_SECONDS", "10"}, {"MQ_WORKER_HEARTBEAT_TTL_SECONDS", "10"}});
  ASSERT_FALSE(cfg.ok());
  const auto& msg = cfg.err().message;
  EXPECT_NE(msg.find("MQ_HTTP_PORT"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MQ_LLM_PROVIDER must be one of offline, openai"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MQ_WORKER_PREFETCH expected an integer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MQ_WORKER_SCHEDULER must be one of sharing, stealing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MQ_WORKER_NICE must be between 0 and 19, got -5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown environment variable MQ_HTTP_COLOUR"), std::string::npos) << msg;
  EXPECT_NE(msg.find("worker.heartbeat_ttl_seconds must exceed worker.heartbeat_seconds"), std::string::npos) << msg;
}

std::string write_file(const std::string& text) {
  static int n = 0;
  std::string path = ::testing::TempDir() + "/mq-config-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(Config, OverlayFileIsAppliedAndStrict) {
  auto good = load(write_file("worker:\n  prefetch: 64\nlog:\n  level: debug\n"), {});
  ASSERT_TRUE(good.ok()) << good.err().message;
  EXPECT_EQ(good->worker.prefetch, 64);
  EXPECT_EQ(good->log.level, "debug");
  EXPECT_EQ(good->http.port, 8080);

  auto bad = load(write_file("worker:\n  prefetsh: 64\nllm:\n  api_key: sk-in-a-file\n"), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.err().message.find("unknown key worker.prefetsh"), std::string::npos);
  EXPECT_NE(bad.err().message.find("llm.api_key is a secret; set MQ_LLM_API_KEY"), std::string::npos);
}

TEST(Config, PostgresConninfoCarriesTheSchema) {
  auto cfg = load("", {{"MQ_POSTGRES_SCHEMA", "t_abc"}, {"MQ_POSTGRES_PASSWORD", "p'w"}});
  ASSERT_TRUE(cfg.ok());
  auto ci = cfg->postgres.conninfo();
  EXPECT_NE(ci.find("search_path=t_abc"), std::string::npos) << ci;
  EXPECT_NE(ci.find("password='p\\'w'"), std::string::npos) << ci;
  EXPECT_FALSE(load("", {{"MQ_POSTGRES_SCHEMA", "x; drop"}}).ok());
}

TEST(Config, EveryKeyInDefaultYamlHasAComment) {
  std::istringstream in(mq::config::default_yaml());
  std::string line, previous;
  bool in_prices = false;  // a table under one comment
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') in_prices = line.rfind("prices:", 0) == 0;
    bool is_key = !in_prices && line.size() > 2 && line.rfind("  ", 0) == 0 && line[2] != ' ' && line[2] != '#' &&
                  line.find(':') != std::string::npos;
    if (is_key) {
      EXPECT_NE(previous.find('#'), std::string::npos) << "no comment above: " << line;
    }
    previous = line;
  }
}

}  // namespace
