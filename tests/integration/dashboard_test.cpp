// The dashboard in headless Chromium, on the real services: the page loads with the key
// in its address, shows a running batch's progress moving as the LLM answers, lists the
// replica and the queues, and replays a dead letter with its button.

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "browser.hpp"
#include "faults.hpp"
#include "llm_stub.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Dashboard : ::testing::Test {
  void SetUp() override {
    MQ_REQUIRE_SERVICES();
    if (!browser::available()) {
      if (std::getenv("MQ_TEST_REQUIRE_SERVICES")) FAIL() << "no /usr/bin/chromium (scripts/dev test installs it)";
      GTEST_SKIP() << "no /usr/bin/chromium";
    }
  }
};

/// Lets the LLM stub answer only as many calls as the test releases.
class gate {
 public:
  void release(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    permits_ += n;
    cv_.notify_all();
  }
  void take() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(120), [this] { return permits_ > 0; });
    if (permits_ > 0) --permits_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int permits_ = 0;
};

TEST_F(Dashboard, ShowsABatchMovingAndReplaysADeadLetter) {
  gate answers;
  // Calls parked in the gate hold a stub thread each; the others finish sending answers.
  llm_stub llm(0, 8);
  llm.on_chat([&](const stub_request&, int) {
    answers.take();
    return llm_stub::completion(llm_stub::valid_classification("insurance", "positive"));
  });
  // However the test ends, the stub's thread must not stay parked in the gate.
  struct open_at_exit {
    gate& g;
    ~open_at_exit() { g.release(1000000); }
  } opener{answers};
  stack_options o;
  o.workers = 0;
  o.llm_provider = "openai";
  o.llm_base_url = llm.base_url();
  o.env = {{"MQ_AMQP_DELIVERY_LIMIT", "1"}, {"MQ_LLM_MAX_IN_FLIGHT", "2"}, {"MQ_LLM_FIRST_BYTE_TIMEOUT_MS", "120000"},
           {"MQ_LLM_IDLE_TIMEOUT_MS", "120000"}, {"MQ_LLM_REQUEST_TIMEOUT_MS", "120000"}};
  stack s(o);
  auto key = s.create_tenant("acme");

  // A dead letter, and a clean worker.
  const auto dead_task = make_dead_task(s, key);

  // A batch of 30 that moves only as the test lets the LLM answer.
  std::vector<std::string> transcripts(30, "Cliente: vendemos seguros de auto en Lima.");
  auto ids = s.add_meetings(key, transcripts);
  std::string list;
  for (auto id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  auto r = s.post(key, "/api/v1/workers/classify/batch", R"({"meeting_ids":[)" + list + "]}");
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string batch = parse(r.body)["batch_id"].GetString();

  browser b;
  b.navigate(s.url("/dashboard#key=" + key));
  EXPECT_EQ(b.eval("document.title"), "\"mq dashboard\"");
  const auto done = [&] {
    return std::stoi(b.eval("(() => { const e = document.querySelector('[data-batch-id=\"" + batch +
                            "\"]'); return e ? Number(e.dataset.done) : -1; })()"));
  };
  for (int step : {0, 10, 20, 30}) {
    if (step > 0) answers.release(10);
    ASSERT_TRUE(eventually([&] { return done() == step; }, std::chrono::seconds(30)))
        << "the page shows " << done() << " of the batch done, expected " << step << "; LLM calls " << llm.calls()
        << "; tasks " << s.sql("SELECT string_agg(status || ':' || attempts, ',') FROM tasks") << "; " << b.page_errors();
  }
  EXPECT_EQ(b.eval("document.querySelector('[data-batch-id=\"" + batch + "\"] .progress').textContent"),
            "\"30 / 30\"");
  EXPECT_EQ(b.eval("document.querySelector('#replicas').textContent"), "\"1 replica\"");
  EXPECT_EQ(b.eval("[...document.querySelectorAll('#queues td')].some(td => td.textContent === '" +
                   s.cfg().amqp.prefix + ".classify_meeting')"),
            "true");
  EXPECT_EQ(b.eval("document.querySelectorAll('#tasks tbody tr').length > 0"), "true");

  // Replay from the page: the task runs again and succeeds.
  ASSERT_TRUE(eventually([&] { return b.eval("document.querySelectorAll('#dead-letters button.replay').length") == "1"; }));
  answers.release(1);
  b.click("#dead-letters button.replay");
  ASSERT_TRUE(eventually([&] { return s.sql("SELECT status FROM tasks WHERE id = '" + dead_task + "'") == "succeeded"; },
                         std::chrono::seconds(30)))
      << b.eval("document.querySelector('#replay-result').textContent");
  // The page says so once its POST is answered (the task may finish before that).
  const auto said = [&] { return b.eval("document.querySelector('#replay-result').textContent"); };
  EXPECT_TRUE(eventually([&] { return said().find("replayed ") != std::string::npos; })) << said();
  ASSERT_TRUE(eventually([&] { return b.eval("document.querySelectorAll('#dead-letters button.replay').length") == "0"; }))
      << "the replayed letter leaves the list of those waiting";
  EXPECT_EQ(b.page_errors(), "");
}

}  // namespace
