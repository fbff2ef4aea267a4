#include "stack.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <thread>

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/store/pg_session.hpp"
#include "mq/store/repositories.hpp"

namespace mq::test {
namespace {

/// The inodes of the sockets among process `pid`'s descriptors ("self": this process).
std::set<std::string> socket_inodes(const std::string& pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + pid + "/fd", ec)) {
    auto target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) out.insert(target.substr(8, target.size() - 9));
  }
  return out;
}

/// The TCP port process `pid` listens on, or 0 while it listens on none: a listening
/// socket of /proc/<pid>/net/tcp whose inode is one of the process's descriptors. Sockets
/// this process holds too are left out: until the child has exec'd, its descriptors are
/// copies of ours (a stub's listening socket among them).
int listening_port(pid_t pid) {
  auto inodes = socket_inodes(std::to_string(pid));
  for (const auto& ours : socket_inodes("self")) inodes.erase(ours);
  std::ifstream tcp("/proc/" + std::to_string(pid) + "/net/tcp");
  std::string line;
  std::getline(tcp, line);  // the header
  while (std::getline(tcp, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    in >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (state == "0A" && inodes.count(inode)) return std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
  }
  return 0;
}

config::app_config base_config(const std::map<std::string, std::string>& overrides) {
  auto env = config::process_env();
  for (const auto& [k, v] : overrides) env[k] = v;
  auto cfg = config::load("", env);
  if (!cfg) throw std::runtime_error("test configuration: " + cfg.err().message);
  return *cfg;
}

std::string build_dir() {
  const char* d = std::getenv("MQ_TEST_BUILD_DIR");
  return d ? d : MQ_BUILD_DIR;
}

}  // namespace

bool services_reachable(std::string& why) {
  try {
    auto cfg = base_config({});
    store::pg_session pg(cfg.postgres.conninfo());
    if (auto st = pg.ping(); !st) {
      why = "Postgres unreachable: " + st.err().internal;
      return false;
    }
    // A prefix of its own: tests probe in parallel and delete what they declared.
    queues::connection amqp(cfg.amqp, queues::topology{"probe_" + random_hex(4)});
    if (auto st = amqp.open(); !st) {
      why = "RabbitMQ unreachable: " + st.err().internal;
      return false;
    }
    amqp.delete_topology();
    timeval tv{1, 0};
    redisContext* r = redisConnectWithTimeout(cfg.redis.host.c_str(), cfg.redis.port, tv);
    bool ok = r && !r->err;
    if (r) redisFree(r);
    if (!ok) {
      why = "Redis unreachable";
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
}

rapidjson::Document parse(const std::string& body) {
  auto doc = json::parse(body);
  EXPECT_TRUE(doc.ok()) << "not JSON: " << body;
  if (!doc) return rapidjson::Document{};
  return std::move(*doc);
}

std::string queue_classification(stack& s, const std::string& key, long long meeting_id) {
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(meeting_id));
  EXPECT_EQ(r.status, 202) << r.body;
  auto doc = parse(r.body);
  return doc.IsObject() && doc.HasMember("task_id") ? doc["task_id"].GetString() : "";
}

stack::stack(stack_options o) {
  id_ = "t_" + random_hex(5);
  env_ = {
      {"MQ_POSTGRES_SCHEMA", id_},
      {"MQ_AMQP_PREFIX", id_},
      {"MQ_REDIS_KEY_PREFIX", id_ + ":"},
      // The API binds a port the kernel picks, read back from its socket (no other
      // process can take it between a choice and the bind, as with a port picked here).
      {"MQ_HTTP_PORT", "0"},
      {"MQ_LLM_PROVIDER", o.llm_provider},
      {"MQ_LOG_LEVEL", "debug"},
      {"MQ_API_PG_CONNECTIONS", "2"},
      {"MQ_WORKER_PG_CONNECTIONS", "2"},  // the default: claims and completions apart
      {"MQ_WORKER_THREADS", "2"},
      {"MQ_LLM_BACKOFF_BASE_MS", "20"},
      {"MQ_LLM_BACKOFF_MAX_MS", "200"},
      {"MQ_API_OUTBOX_GRACE_SECONDS", "1"},
      {"MQ_API_OUTBOX_INTERVAL_MS", "200"},
      // Scheduled rollups would add tasks to every test; the analytics tests turn them on.
      {"MQ_ANALYTICS_ROLLUP_EVERY_SECONDS", "0"},
      // Replicas of parallel tests share the host: each takes a free metrics port.
      {"MQ_WORKER_METRICS_PORT", "0"},
      {"MQ_WORKER_HEARTBEAT_SECONDS", "1"},
      {"MQ_WORKER_HEARTBEAT_TTL_SECONDS", "3"},
  };
  if (!o.llm_base_url.empty()) env_["MQ_LLM_BASE_URL"] = o.llm_base_url;
  for (const auto& [k, v] : o.env) env_[k] = v;
  cfg_ = base_config(env_);
  log_dir_ = build_dir() + "/test-logs";
  std::filesystem::create_directories(log_dir_);
  try {
    start(o);
  } catch (...) {
    tear_down();  // a stack that did not come up leaves no schema, queues or processes
    throw;
  }
}

void stack::start(const stack_options& o) {
  {
    store::pg_session pg(cfg_.postgres.conninfo());
    auto st = pg.migrate(cfg_.postgres.schema);
    if (!st) throw std::runtime_error("migrate: " + st.err().internal);
  }
  amqp_ = std::make_unique<queues::connection>(cfg_.amqp, queues::topology{cfg_.amqp.prefix});
  if (auto st = amqp_->open(); !st) throw std::runtime_error("amqp: " + st.err().internal);
  if (o.api) {
    api_ = std::make_unique<process>(build_dir() + "/api/mq-api", env_, log_dir_ + "/" + id_ + "-api.log");
    for (int i = 0; i < 500 && api_port_ == 0 && api_->running(); ++i) {
      api_port_ = listening_port(api_->pid());
      if (api_port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (api_port_ == 0) throw std::runtime_error("mq-api did not listen:\n" + api_->log());
    bool ready = false;
    for (int i = 0; i < 200 && !ready; ++i) {
      try {
        ready = http_call("GET", url(o.wait_ready ? "/ready" : "/health")).status == 200;
      } catch (const std::exception&) {
      }
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!ready) throw std::runtime_error("mq-api did not become ready at " + url("") + ":\n" + api_->log());
  }
  for (int i = 0; i < o.workers; ++i) start_worker();
  if (o.workers > 0) wait_consumers(static_cast<unsigned>(o.workers));
}

stack::~stack() { tear_down(); }

void stack::tear_down() {
  if (api_) api_->signal(SIGTERM);
  for (auto& w : workers_) w->signal(SIGTERM);
  if (api_) api_->wait(std::chrono::seconds(10));
  for (auto& w : workers_) w->wait(std::chrono::seconds(30));
  try {
    pqxx::connection c(cfg_.postgres.conninfo());
    pqxx::nontransaction tx(c);
    tx.exec("DROP SCHEMA IF EXISTS \"" + id_ + "\" CASCADE");
  } catch (const std::exception&) {
  }
  if (amqp_ && (amqp_->is_open() || amqp_->open())) amqp_->delete_topology();
  auto keys = redis_keys();
  if (!keys.empty()) {
    timeval tv{1, 0};
    if (redisContext* r = redisConnectWithTimeout(cfg_.redis.host.c_str(), cfg_.redis.port, tv)) {
      for (const auto& k : keys) freeReplyObject(redisCommand(r, "DEL %b", k.data(), k.size()));
      redisFree(r);
    }
  }
}

std::string stack::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(api_port_) + path;
}

std::string stack::create_tenant(const std::string& name) {
  store::pg_session pg(cfg_.postgres.conninfo());
  auto k = store::create_tenant(pg, name + "-" + id_);
  if (!k) throw std::runtime_error("create tenant: " + k.err().internal);
  return k->api_key;
}

http_result stack::get(const std::string& key, const std::string& path) {
  return http_call("GET", url(path), "", {"Authorization: Bearer " + key});
}

http_result stack::post(const std::string& key, const std::string& path, const std::string& body,
                        std::vector<std::string> headers) {
  headers.push_back("Authorization: Bearer " + key);
  if (!body.empty()) headers.push_back("Content-Type: application/json");
  return http_call("POST", url(path), body, headers);
}

http_result stack::del(const std::string& key, const std::string& path) {
  return http_call("DELETE", url(path), "", {"Authorization: Bearer " + key});
}

std::vector<long long> stack::add_meetings(const std::string& key, int n) {
  std::vector<std::string> transcripts;
  for (int i = 0; i < n; ++i) transcripts.push_back("Cliente: reunión " + std::to_string(i));
  return add_meetings(key, transcripts);
}

std::vector<long long> stack::add_meetings(const std::string& key, const std::vector<std::string>& transcripts) {
  json::writer w;
  w.begin_object();
  w.key("meetings");
  w.begin_array();
  int i = 0;
  for (const auto& t : transcripts) {
    w.begin_object();
    w.kv("transcript", t);
    w.kv("client_name", "Client " + std::to_string(i % 7));
    w.kv("seller_name", "Seller " + std::to_string(i % 3));
    w.kv("meeting_date", "2024-03-0" + std::to_string(1 + i % 9));
    w.end_object();
    ++i;
  }
  w.end_array();
  w.end_object();
  auto r = post(key, "/api/v1/meetings", w.take());
  EXPECT_EQ(r.status, 201) << r.body;
  std::vector<long long> ids;
  auto doc = parse(r.body);
  if (doc.IsObject() && doc.HasMember("meetings"))
    for (const auto& m : doc["meetings"].GetArray()) ids.push_back(m["id"].GetInt64());
  return ids;
}

rapidjson::Document stack::wait_task(const std::string& key, const std::string& task_id,
                                     std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = get(key, "/api/v1/tasks/" + task_id);
    last = r.body;
    if (r.status == 200) {
      auto doc = parse(r.body);
      std::string st = doc["status"].GetString();
      if (st == "succeeded" || st == "failed" || st == "dead" || st == "cancelled") return doc;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ADD_FAILURE() << "task " << task_id << " not final in time; last: " << last;
  return parse(last.empty() ? "{}" : last);
}

rapidjson::Document stack::wait_batch(const std::string& key, const std::string& batch_id,
                                      std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = get(key, "/api/v1/batches/" + batch_id);
    last = r.body;
    if (r.status == 200) {
      auto doc = parse(r.body);
      if (doc["pending"].GetInt() == 0) return doc;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "batch " << batch_id << " not done in time; last: " << last;
  return parse(last.empty() ? "{}" : last);
}

void stack::start_worker(std::map<std::string, std::string> extra) {
  auto env = env_;
  for (const auto& [k, v] : extra) env[k] = v;
  auto n = workers_.size() + 1;
  workers_.push_back(std::make_unique<process>(build_dir() + "/workers/mq-worker", env,
                                               log_dir_ + "/" + id_ + "-worker-" + std::to_string(n) + ".log"));
}

void stack::stop_workers() {
  for (auto& w : workers_)
    if (w->running()) w->signal(SIGTERM);
  for (auto& w : workers_) {
    // Those that died already (killed on purpose) are left as they ended.
    const bool was_running = w->running();
    const int st = w->wait(std::chrono::seconds(30));
    if (was_running) {
      EXPECT_EQ(st, 0) << w->log();
    }
  }
  workers_.clear();
}

void stack::wait_consumers(unsigned n, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (queue("classify_meeting").consumers >= n) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string logs;
  for (auto& w : workers_) logs += w->log();
  throw std::runtime_error("workers did not start consuming:\n" + logs);
}

std::string stack::sql(const std::string& query) {
  pqxx::connection c(cfg_.postgres.conninfo());
  pqxx::nontransaction tx(c);
  auto r = tx.exec(query);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

queues::queue_stats stack::queue(const std::string& kind) {
  queues::topology topo{cfg_.amqp.prefix};
  auto name = kind == "dead" ? topo.dead_queue() : topo.queue(kind);
  if (!amqp_->is_open()) amqp_->open();
  auto st = amqp_->stats(name);
  if (!st) {  // the broker may have restarted under the connection: once more on a new one
    amqp_->close();
    amqp_->open();
    st = amqp_->stats(name);
  }
  if (!st) throw std::runtime_error("queue stats: " + st.err().message);
  return *st;
}

std::vector<std::string> stack::queued_tasks(const std::string& kind) {
  const queues::topology topo{cfg_.amqp.prefix};
  std::vector<std::string> ids;
  for (const auto& label : {kind, queues::topology::bulk_key(kind)}) {
    const auto name = topo.queue(label);
    const auto expected = queue(label).messages;
    if (expected == 0) continue;
    queues::connection c(cfg_.amqp, topo);
    if (!c.open() || !c.consume({{name, static_cast<int>(expected)}}))
      throw std::runtime_error("cannot consume " + name);
    for (std::uint64_t n = 0; n < expected; ++n) {
      auto d = c.next(std::chrono::seconds(10));
      if (!d || !*d) throw std::runtime_error("fewer messages than the broker counted on " + name);
      if (auto group = schemas::decode_group((*d)->body); group && queues::topology::is_bulk(name))
        for (const auto& e : *group) ids.push_back(e.task_id);
      else if (auto e = schemas::decode_envelope((*d)->body))
        ids.push_back(e->task_id);
    }
    c.close();  // everything goes back to the queue
  }
  return ids;
}

std::pair<int, std::string> stack::mqctl(const std::vector<std::string>& args,
                                         const std::map<std::string, std::string>& extra) {
  auto quote = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  auto env = env_;
  for (const auto& [k, v] : extra) env[k] = v;
  std::string cmd = "env";
  for (const auto& [k, v] : env) cmd += " " + quote(k + "=" + v);
  cmd += " " + quote(build_dir() + "/cli/mqctl");
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("could not run mqctl");
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

long long stack::dead_letters() {
  return sql_count("SELECT count(*) FROM dead_letters") + queue("dead").messages;
}

std::vector<std::string> stack::redis_keys() {
  std::vector<std::string> out;
  timeval tv{1, 0};
  redisContext* r = redisConnectWithTimeout(cfg_.redis.host.c_str(), cfg_.redis.port, tv);
  if (!r || r->err) {
    if (r) redisFree(r);
    return out;
  }
  std::string pattern = cfg_.redis.key_prefix + "*";
  std::string cursor = "0";
  do {
    auto* reply = static_cast<redisReply*>(redisCommand(r, "SCAN %s MATCH %s COUNT 1000", cursor.c_str(), pattern.c_str()));
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
      if (reply) freeReplyObject(reply);
      break;
    }
    cursor = reply->element[0]->str;
    for (size_t i = 0; i < reply->element[1]->elements; ++i) out.emplace_back(reply->element[1]->element[i]->str);
    freeReplyObject(reply);
  } while (cursor != "0");
  redisFree(r);
  return out;
}

namespace {
void redis_command(const config::redis_config& cfg, const std::vector<std::string>& args) {
  timeval tv{1, 0};
  redisContext* r = redisConnectWithTimeout(cfg.host.c_str(), cfg.port, tv);
  if (r && !r->err) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    freeReplyObject(redisCommandArgv(r, static_cast<int>(argv.size()), argv.data(), lens.data()));
  }
  if (r) redisFree(r);
}
}  // namespace

void stack::redis_set(const std::string& key, const std::string& value) { redis_command(cfg_.redis, {"SET", key, value}); }

void stack::redis_del(const std::string& key) { redis_command(cfg_.redis, {"DEL", key}); }

bool eventually(const std::function<bool()>& condition, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::optional<std::pair<std::string, long long>> redis_entry(const config::redis_config& cfg,
                                                            const std::string& key) {
  timeval tv{1, 0};
  redisContext* r = redisConnectWithTimeout(cfg.host.c_str(), cfg.port, tv);
  if (!r || r->err) {
    if (r) redisFree(r);
    return std::nullopt;
  }
  std::optional<std::pair<std::string, long long>> out;
  auto* value = static_cast<redisReply*>(redisCommand(r, "GET %b", key.data(), key.size()));
  if (value && value->type == REDIS_REPLY_STRING) {
    auto* ttl = static_cast<redisReply*>(redisCommand(r, "TTL %b", key.data(), key.size()));
    out.emplace(std::string(value->str, value->len), ttl && ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -2);
    if (ttl) freeReplyObject(ttl);
  }
  if (value) freeReplyObject(value);
  redisFree(r);
  return out;
}

std::optional<std::pair<std::string, long long>> stack::redis_entry(const std::string& key) {
  return test::redis_entry(cfg_.redis, key);
}

void stack::publish_raw(const std::string& kind, const std::string& body, const std::string& message_id) {
  queues::publisher pub(cfg_.amqp, queues::topology{cfg_.amqp.prefix});
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  status result = ok_status();
  queues::outgoing m;
  m.routing_key = kind;
  m.body = body;
  m.message_id = message_id;
  pub.publish({m}, [&](status st) {
    std::lock_guard<std::mutex> lock(mu);
    result = st;
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; });
  ASSERT_TRUE(done && result.ok()) << "raw publish failed";
}

}  // namespace mq::test
