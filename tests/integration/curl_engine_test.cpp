// The HTTP engine under the LLM and webhook clients, against the local stub: how calls
// share connections, run together and time out, whichever of its pools runs them.

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "llm_stub.hpp"
#include "mq/llm/curl_engine.hpp"
#include "stalled_listener.hpp"

namespace {

using namespace mq;
using namespace mq::test;
using std::chrono::milliseconds;

/// Replies of calls submitted together, kept until every one has come back.
class replies {
 public:
  llm::curl_engine::callback collector() {
    std::lock_guard<std::mutex> lock(mu_);
    ++expected_;
    return [this](llm::http_reply r) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.push_back(std::move(r));
      if (got_.size() == expected_) done_.notify_all();
    };
  }

  /// Every reply, once all have come back (or what came within a minute).
  std::vector<llm::http_reply> wait() {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait_for(lock, std::chrono::seconds(60), [&] { return got_.size() == expected_; });
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable done_;
  std::size_t expected_ = 0;
  std::vector<llm::http_reply> got_;
};

llm::http_call chat_call(const std::string& base_url) {
  llm::http_call c;
  c.url = base_url + "/chat/completions";
  c.headers = {"Content-Type: application/json"};
  c.body = R"({"model":"stub-model","messages":[{"role":"user","content":"hola"}]})";
  return c;
}

/// Submits `n` calls at once and returns their replies.
std::vector<llm::http_reply> burst(llm::curl_engine& engine, const llm::http_call& call, int n) {
  replies r;
  for (int i = 0; i < n; ++i) engine.submit(call, r.collector());
  return r.wait();
}

int count_ok(const std::vector<llm::http_reply>& rs) {
  int ok = 0;
  for (const auto& r : rs) ok += !r.err && r.status == 200;
  return ok;
}

TEST(CurlEngine, CallsOneAfterAnotherShareOneConnection) {
  llm_stub stub;
  llm::curl_engine engine;
  const auto call = chat_call(stub.base_url());
  for (int i = 0; i < 20; ++i) {
    auto rs = burst(engine, call, 1);
    ASSERT_EQ(rs.size(), 1u);
    ASSERT_EQ(count_ok(rs), 1) << (rs[0].err ? rs[0].err->message : std::to_string(rs[0].status));
  }
  EXPECT_EQ(stub.calls(), 20);
  EXPECT_EQ(stub.connections(), 1);
}

TEST(CurlEngine, CallsMadeAtOnceRunTogetherAndTheNextOnesReuseTheirConnections) {
  llm_stub stub;
  stub.keep_requests(false);
  stub.on_chat([](const stub_request&, int) {
    auto r = llm_stub::completion(llm_stub::valid_classification());
    r.delay = milliseconds(200);
    return r;
  });
  llm::curl_engine engine;
  const auto call = chat_call(stub.base_url());
  const int n = 400;

  EXPECT_EQ(count_ok(burst(engine, call, n)), n);
  EXPECT_EQ(stub.max_in_flight(), n);  // none waited for another's connection
  const int opened = stub.connections();
  EXPECT_GE(opened, n);

  EXPECT_EQ(count_ok(burst(engine, call, n)), n);
  EXPECT_EQ(stub.calls(), 2 * n);
  EXPECT_EQ(stub.connections(), opened);  // the second burst opened none
}

TEST(CurlEngine, ConnectTimeoutsFireForCallsSpreadOverEveryPool) {
  stalled_listener listener;
  llm::curl_engine engine;
  auto call = chat_call("http://127.0.0.1:" + std::to_string(listener.port()) + "/v1");
  call.connect_timeout = milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto rs = burst(engine, call, 64);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(rs.size(), 64u);
  for (const auto& r : rs) {
    ASSERT_TRUE(r.err.has_value()) << r.status;
    EXPECT_EQ(r.err->code, errc::timeout) << r.err->message;
  }
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(engine.in_flight(), 0u);
}

}  // namespace
