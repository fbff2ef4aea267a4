// The worker's building blocks under CAF's deterministic scheduler, with fake ports.

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "mq/actors/llm.hpp"
#include "mq/actors/writers.hpp"

namespace {

using namespace mq;

struct fixture : ::testing::Test {
  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg = [] {
      caf::actor_system_config c;
      c.set("scheduler.policy", caf::atom("testing"));
      return c;
    }();
    return cfg;
  }
  caf::actor_system sys{config()};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
};

/// A job_store that records how it was called.
struct fake_store : store::job_store {
  std::vector<std::size_t>* claim_batches;
  explicit fake_store(std::vector<std::size_t>* batches) : claim_batches(batches) {}
  result<std::vector<store::claim_result>> claim(const std::vector<store::claim_request>& jobs) override {
    claim_batches->push_back(jobs.size());
    std::vector<store::claim_result> out;
    for (const auto& j : jobs) {
      store::claim_result r;
      r.outcome = store::claim_outcome::run;
      r.task.id = j.envelope.task_id;
      out.push_back(r);
    }
    return out;
  }
  result<std::vector<schemas::task_record>> mark_running(const std::vector<store::running_mark>&) override {
    return make_error(errc::unavailable, "down");
  }
  result<std::vector<store::completed>> complete(const std::vector<store::completion>&) override {
    return make_error(errc::unavailable, "down");
  }
  result<std::optional<schemas::task_status>> status_of(const std::string&) override {
    return make_error(errc::unavailable, "down");
  }
  result<std::optional<schemas::task_record>> bury(const store::dead_letter&) override {
    return make_error(errc::unavailable, "down");
  }
  status ping() override { return ok_status(); }
};

TEST_F(fixture, PgWriterWritesWhatArrivesTogetherInOneBatch) {
  std::vector<std::size_t> batches;
  auto pg = sys.spawn(actors::pg_writer, [&] { return std::make_unique<fake_store>(&batches); });
  std::vector<std::string> answered;
  int failures = 0;
  auto client = sys.spawn([&](caf::event_based_actor* self) {
    for (auto id : {"a", "b", "c"}) {
      store::claim_request e;
      e.envelope.task_id = id;
      self->request(pg, caf::infinite, actors::claim_atom::value, e).then([&](actors::claim_reply& r) {
        answered.push_back(r->task.id);
      });
    }
    self->request(pg, caf::infinite, actors::complete_atom::value, store::completion{})
        .then([&](actors::complete_reply& r) { failures += r.ok() ? 0 : 1; });
  });
  sched.run();
  EXPECT_EQ(batches, std::vector<std::size_t>{3});
  EXPECT_EQ(answered, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(failures, 1) << "a store error is delivered as a value, not lost";
  caf::anon_send_exit(pg, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  sched.run();
}

/// An LLM client that answers only when told to.
struct held_client : llm::llm_client {
  std::vector<callback> held;
  void chat(const llm::chat_request&, callback done) override { held.push_back(std::move(done)); }
  void embed(std::vector<std::string>, embed_callback) override {}
  std::string provider() const override { return "fake"; }
  std::string model() const override { return "fake"; }
  std::size_t in_flight() const override { return held.size(); }
};

TEST_F(fixture, LlmCallerHoldsAtMostTheConfiguredCallsInFlight) {
  auto client = std::make_shared<held_client>();
  auto llm = sys.spawn(actors::llm_caller, std::shared_ptr<llm::llm_client>(client), std::size_t{2});
  int answers = 0;
  auto caller = sys.spawn([&](caf::event_based_actor* self) {
    for (int i = 0; i < 5; ++i)
      self->request(llm, caf::infinite, actors::chat_atom::value, std::make_shared<const llm::chat_request>())
          .then([&](llm::chat_outcome&) { ++answers; });
  });
  sched.run();
  EXPECT_EQ(client->held.size(), 2u);
  llm::chat_outcome out;
  out.response = llm::chat_response{};
  client->held[0](out);
  sched.run();
  EXPECT_EQ(answers, 1);
  EXPECT_EQ(client->held.size(), 3u) << "a finished call lets the next waiting one start";
  for (std::size_t i = 1; i < client->held.size(); ++i) client->held[i](out);
  sched.run();
  for (std::size_t i = 3; i < client->held.size(); ++i) client->held[i](out);
  sched.run();
  EXPECT_EQ(answers, 5);
  caf::anon_send_exit(llm, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(caller, caf::exit_reason::user_shutdown);
  sched.run();
}

}  // namespace
