#pragma once

#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "mq/config/config.hpp"
#include "mq/queues/amqp.hpp"
#include "process.hpp"

namespace mq::test {

/// True when the real services answer; when they do not, fails the test under
/// MQ_TEST_REQUIRE_SERVICES=1 (CI) and skips it otherwise. Use in SetUp via
/// MQ_REQUIRE_SERVICES().
bool services_reachable(std::string& why);

#define MQ_REQUIRE_SERVICES()                                                   \
  do {                                                                          \
    std::string why_;                                                           \
    if (!::mq::test::services_reachable(why_)) {                                \
      if (std::getenv("MQ_TEST_REQUIRE_SERVICES")) FAIL() << why_;              \
      GTEST_SKIP() << why_ << " (run through scripts/dev test)";                \
    }                                                                           \
  } while (0)

/// How to start a stack.
struct stack_options {
  bool api = true;
  int workers = 1;
  std::string llm_provider = "offline";
  std::string llm_base_url;  ///< For provider "openai" (the stub's base_url()).
  std::map<std::string, std::string> env;  ///< Extra MQ_* settings for api and workers.
  bool wait_ready = true;  ///< Wait for /ready (false: for /health, when a dependency is down on purpose).
};

/// mq-api and mq-worker processes on the real Postgres, Redis and RabbitMQ, isolated by a
/// schema, a queue prefix and a key prefix of their own, all removed on destruction.
class stack {
 public:
  explicit stack(stack_options o = {});
  ~stack();
  stack(const stack&) = delete;
  stack& operator=(const stack&) = delete;

  const config::app_config& cfg() const { return cfg_; }
  std::string url(const std::string& path) const;

  /// Creates a tenant directly in Postgres; returns its API key.
  std::string create_tenant(const std::string& name);

  http_result get(const std::string& key, const std::string& path);
  http_result post(const std::string& key, const std::string& path, const std::string& body = "",
                   std::vector<std::string> headers = {});
  http_result del(const std::string& key, const std::string& path);

  /// Creates meetings (one request); returns their ids.
  std::vector<long long> add_meetings(const std::string& key, const std::vector<std::string>& transcripts);
  /// Creates `n` short meetings ("Cliente: reunión <i>"); returns their ids.
  std::vector<long long> add_meetings(const std::string& key, int n);

  /// Polls GET /api/v1/tasks/{id} until the task is final; fails the test on timeout.
  rapidjson::Document wait_task(const std::string& key, const std::string& task_id,
                                std::chrono::seconds timeout = std::chrono::seconds(30));
  /// Polls GET /api/v1/batches/{id} until nothing is pending.
  rapidjson::Document wait_batch(const std::string& key, const std::string& batch_id,
                                 std::chrono::seconds timeout = std::chrono::seconds(60));

  // ---- processes ----
  process& api() { return *api_; }
  std::vector<std::unique_ptr<process>>& workers() { return workers_; }
  void start_worker(std::map<std::string, std::string> extra = {});
  /// SIGTERM to every running worker and wait for them to exit (0 expected).
  void stop_workers();
  /// Waits until the classify queue has `n` consumers.
  void wait_consumers(unsigned n, std::chrono::seconds timeout = std::chrono::seconds(20));

  // ---- looking behind the API ----
  /// First column of the first row of `sql` in the stack's schema ("" for NULL).
  std::string sql(const std::string& query);
  long long sql_count(const std::string& query) { return std::stoll(sql(query)); }
  /// The queue of `kind` ("dead" for the dead-letter queue, "<kind>.bulk" for a bulk queue).
  queues::queue_stats queue(const std::string& kind);
  /// Messages waiting for `kind`, on its queue and its bulk queue (a bulk message counts once).
  std::uint64_t waiting(const std::string& kind) { return queue(kind).messages + queue(kind + ".bulk").messages; }
  /// The task ids in the messages waiting for `kind` (both queues), each as often as it
  /// is queued: every message is received and returned unacknowledged.
  std::vector<std::string> queued_tasks(const std::string& kind);
  /// Dead letters: recorded in Postgres plus those still waiting in the dead-letter queue.
  long long dead_letters();
  /// Keys in Redis under the stack's prefix.
  std::vector<std::string> redis_keys();
  /// The value of a Redis key and its TTL in seconds, or nullopt when absent.
  std::optional<std::pair<std::string, long long>> redis_entry(const std::string& key);
  void redis_set(const std::string& key, const std::string& value);
  void redis_del(const std::string& key);
  /// Publishes a raw message to the jobs exchange (waits for the confirm).
  void publish_raw(const std::string& kind, const std::string& body, const std::string& message_id);

  std::map<std::string, std::string> process_env() const { return env_; }

  /// Runs mqctl with `args` in the stack's environment (plus `extra`); its exit status
  /// and what it printed.
  std::pair<int, std::string> mqctl(const std::vector<std::string>& args,
                                     const std::map<std::string, std::string>& extra = {});

 private:
  void start(const stack_options& o);
  /// Stops the processes and drops the schema, queues and cache keys.
  void tear_down();

  config::app_config cfg_;
  std::string id_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<process> api_;
  int api_port_ = 0;  ///< Where the API listens (the port the kernel gave it).
  std::vector<std::unique_ptr<process>> workers_;
  std::string log_dir_;
  std::unique_ptr<queues::connection> amqp_;
};

/// Parses a JSON body or fails the test.
rapidjson::Document parse(const std::string& body);

/// POST /api/v1/workers/classify/{meeting_id}, expected accepted (202); the task id.
std::string queue_classification(stack& s, const std::string& key, long long meeting_id);

/// The value of a Redis key and its TTL in seconds, or nullopt when absent.
std::optional<std::pair<std::string, long long>> redis_entry(const config::redis_config& cfg, const std::string& key);

/// Checks `condition` every few milliseconds until it holds (true) or `timeout` passes
/// (false): for states other processes reach in their own time.
bool eventually(const std::function<bool()>& condition, std::chrono::seconds timeout = std::chrono::seconds(10));

}  // namespace mq::test
