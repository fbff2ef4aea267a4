// The HTTP engine under the LLM and webhook clients, against the local stub: how calls
// share connections, run together and time out, through either transport (its own
// HTTP/1.1 pool and libcurl); then the HTTP/1.1 pool against a server scripted byte by
// byte: framings, and connections that die.

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <ostream>

#include "llm_stub.hpp"
#include "mq/llm/http_engine.hpp"
#include "raw_http_server.hpp"
#include "stalled_listener.hpp"

namespace mq::llm {

// Test names show the transport, not its bytes.
void PrintTo(http_engine::transport t, std::ostream* os) {
  *os << (t == http_engine::transport::automatic ? "automatic" : "curl_only");
}

}  // namespace mq::llm

namespace {

using namespace mq;
using namespace mq::test;
using std::chrono::milliseconds;

/// Replies of calls submitted together, kept until every one has come back.
class replies {
 public:
  llm::http_engine::callback collector() {
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
std::vector<llm::http_reply> burst(llm::http_engine& engine, const llm::http_call& call, int n) {
  replies r;
  for (int i = 0; i < n; ++i) engine.submit(call, r.collector());
  return r.wait();
}

int count_ok(const std::vector<llm::http_reply>& rs) {
  int ok = 0;
  for (const auto& r : rs) ok += !r.err && r.status == 200;
  return ok;
}

using transport = llm::http_engine::transport;

class HttpEngine : public ::testing::TestWithParam<transport> {};

INSTANTIATE_TEST_SUITE_P(Transports, HttpEngine, ::testing::Values(transport::automatic, transport::curl_only),
                         [](const auto& info) { return info.param == transport::automatic ? "Plain" : "Curl"; });

TEST_P(HttpEngine, CallsOneAfterAnotherShareOneConnection) {
  llm_stub stub;
  llm::http_engine engine(GetParam());
  const auto call = chat_call(stub.base_url());
  for (int i = 0; i < 20; ++i) {
    auto rs = burst(engine, call, 1);
    ASSERT_EQ(rs.size(), 1u);
    ASSERT_EQ(count_ok(rs), 1) << (rs[0].err ? rs[0].err->message : std::to_string(rs[0].status));
  }
  EXPECT_EQ(stub.calls(), 20);
  EXPECT_EQ(stub.connections(), 1);
}

TEST_P(HttpEngine, CallsMadeAtOnceRunTogetherAndTheNextOnesReuseTheirConnections) {
  llm_stub stub;
  stub.keep_requests(false);
  stub.on_chat([](const stub_request&, int) {
    auto r = llm_stub::completion(llm_stub::valid_classification());
    r.delay = milliseconds(200);
    return r;
  });
  llm::http_engine engine(GetParam());
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

TEST_P(HttpEngine, ConnectTimeoutsFireForCallsSpreadOverEveryPool) {
  stalled_listener listener;
  llm::http_engine engine(GetParam());
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

TEST_P(HttpEngine, HeadersAndBodyArriveAsSentThroughTheChosenTransport) {
  llm_stub stub;
  llm::http_engine engine(GetParam());
  auto call = chat_call(stub.base_url());
  call.headers.push_back("Authorization: Bearer k-1");
  ASSERT_EQ(count_ok(burst(engine, call, 1)), 1);
  const auto got = stub.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, call.body);
  EXPECT_EQ(got[0].header("content-type"), "application/json");
  EXPECT_EQ(got[0].authorization, "Bearer k-1");
  EXPECT_EQ(got[0].header("host"), "127.0.0.1:" + std::to_string(stub.port()));
  // libcurl adds "Accept: */*" to every call; the plain pool sends only what it is given.
  EXPECT_EQ(got[0].header("accept").empty(), GetParam() == transport::automatic);
}

/// A 200 answer with `body` framed by Content-Length.
std::string sized(const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

llm::http_reply one_call(llm::http_engine& engine, const std::string& url, std::size_t max_bytes = 1 << 20) {
  llm::http_call c;
  c.url = url;
  c.body = "{}";
  c.max_response_bytes = max_bytes;
  auto rs = burst(engine, c, 1);
  if (rs.size() != 1) throw std::runtime_error("no reply within a minute");
  return rs[0];
}

/// Makes `n` calls one after another; each must answer 200 with `body`.
void expect_answers(llm::http_engine& engine, const std::string& url, int n, const std::string& body) {
  for (int i = 0; i < n; ++i) {
    auto r = one_call(engine, url);
    ASSERT_FALSE(r.err) << r.err->message;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, body);
  }
}

TEST(HttpPlainPool, ChunkedAnswersAreJoinedAndTheirConnectionIsKept) {
  raw_http_server server([](int, int) {
    return raw_http_server::answer{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Thing: A\r\n\r\n"
                                   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"};
  });
  llm::http_engine engine;
  expect_answers(engine, server.url(), 3, "hello world");
  EXPECT_EQ(one_call(engine, server.url()).header("x-thing"), "A");
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpPlainPool, AnAnswerEndedByACloseArrivesWholeAndItsConnectionIsNotReused) {
  raw_http_server server([](int, int) { return raw_http_server::answer{"HTTP/1.1 200 OK\r\n\r\nuntil the end", true}; });
  llm::http_engine engine;
  expect_answers(engine, server.url(), 2, "until the end");
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpPlainPool, AKeptConnectionTheServerDroppedIsTriedOnceMoreOnAFreshOne) {
  // The second request on any connection is read and then dropped unanswered, as a
  // server does whose keep-alive timeout ran out just then.
  raw_http_server server([](int, int on_connection) {
    if (on_connection == 2) return raw_http_server::answer{"", true};
    return raw_http_server::answer{sized("fine")};
  });
  llm::http_engine engine;
  expect_answers(engine, server.url(), 2, "fine");
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpPlainPool, AFreshConnectionDroppedWithoutAnAnswerFailsAtOnce) {
  raw_http_server server([](int, int) { return raw_http_server::answer{"", true}; });
  llm::http_engine engine;
  auto r = one_call(engine, server.url());
  ASSERT_TRUE(r.err.has_value());
  EXPECT_EQ(r.err->code, errc::network) << r.err->message;
  EXPECT_EQ(server.requests(), 1);
}

TEST(HttpPlainPool, TooLargeAndMalformedAnswersFailAndTheNextCallGetsAFreshConnection) {
  raw_http_server server([](int request, int) {
    if (request == 1) return raw_http_server::answer{sized(std::string(100, 'x'))};
    if (request == 2) return raw_http_server::answer{"this is not HTTP\r\n\r\n"};
    return raw_http_server::answer{sized("fine")};
  });
  llm::http_engine engine;
  auto big = one_call(engine, server.url(), 10);
  ASSERT_TRUE(big.err.has_value()) << big.status << " " << big.body.size();
  EXPECT_EQ(big.err->code, errc::payload_too_large) << big.err->message;
  auto bad = one_call(engine, server.url());
  ASSERT_TRUE(bad.err.has_value());
  EXPECT_EQ(bad.err->code, errc::network) << bad.err->message;
  auto ok = one_call(engine, server.url());
  ASSERT_FALSE(ok.err) << ok.err->message;
  EXPECT_EQ(ok.body, "fine");
  EXPECT_EQ(server.connections(), 3);
}

TEST(HttpPlainPool, ARefusedConnectionFailsWithANetworkError) {
  int port;
  {
    raw_http_server gone([](int, int) { return raw_http_server::answer{}; });
    port = std::stoi(gone.url().substr(std::string("http://127.0.0.1:").size()));
  }
  llm::http_engine engine;
  auto r = one_call(engine, "http://localhost:" + std::to_string(port) + "/v1/x");
  ASSERT_TRUE(r.err.has_value());
  EXPECT_EQ(r.err->code, errc::network) << r.err->message;
}

}  // namespace
