#include <gtest/gtest.h>

#include <random>

#include "mq/llm/client.hpp"
#include "mq/llm/offline.hpp"
#include "mq/llm/prompt.hpp"
#include "mq/llm/retry.hpp"

namespace {

using namespace mq;
using std::chrono::milliseconds;

const std::string ok_body =
    R"({"model":"m","choices":[{"message":{"role":"assistant","content":"{}"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":11,"completion_tokens":7}})";

TEST(ChatReply, MapsProviderAnswers) {
  auto ok = llm::parse_chat_reply(200, ok_body, "");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.response->tokens_in, 11);
  EXPECT_EQ(ok.response->tokens_out, 7);
  EXPECT_EQ(ok.response->finish_reason, "stop");

  auto limited = llm::parse_chat_reply(429, R"({"error":{"message":"slow down","code":"rate_limit_exceeded"}})", "7");
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.err->code, errc::llm_rate_limited);
  EXPECT_TRUE(limited.err->retryable());
  EXPECT_EQ(limited.retry_after, milliseconds(7000));

  auto quota = llm::parse_chat_reply(429, R"({"error":{"message":"out of credit","type":"insufficient_quota","code":"insufficient_quota"}})", "");
  EXPECT_EQ(quota.err->code, errc::llm_quota_exhausted);
  EXPECT_FALSE(quota.err->retryable());

  EXPECT_EQ(llm::parse_chat_reply(503, "down", "").err->code, errc::llm_server_error);
  EXPECT_EQ(llm::parse_chat_reply(408, "", "").err->code, errc::llm_server_error);
  EXPECT_EQ(llm::parse_chat_reply(400, R"({"error":{"message":"bad"}})", "").err->code, errc::llm_bad_request);
  EXPECT_FALSE(llm::parse_chat_reply(400, "", "").err->retryable());
  EXPECT_EQ(llm::parse_chat_reply(200, "<html>", "").err->code, errc::llm_server_error);
}

TEST(ChatReply, RetryAfterAsHttpDate) {
  auto r = llm::parse_chat_reply(429, "", "Sun, 06 Nov 1994 08:49:37 GMT");
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_EQ(r.retry_after->count(), 0);  // in the past: retry at once
}

TEST(Answer, ValidationStripsFencesAndNamesTheViolation) {
  auto fenced = llm::validate_answer("envelope", "```json\n{\"v\":1}\n```");
  ASSERT_FALSE(fenced.ok());
  EXPECT_EQ(fenced.err().code, errc::llm_invalid_output);
  EXPECT_NE(fenced.err().message.find("task_id is required"), std::string::npos) << fenced.err().message;
  auto garbage = llm::validate_answer("classification", "Sure! Here is the JSON you asked for");
  EXPECT_NE(garbage.err().message.find("not JSON"), std::string::npos);
  // A valid answer comes back as the model wrote it, without its fence or the blank
  // space around it; anything after the value is not JSON.
  const std::string answer = llm::offline_classification({"Cliente: somos un retail y queremos WhatsApp.", "Ana", "Luis", "2024-05-02", false});
  auto kept = llm::validate_answer("classification", "```json\n  " + answer + " \n```");
  ASSERT_TRUE(kept.ok()) << kept.err().message;
  EXPECT_EQ(*kept, answer);
  EXPECT_EQ(*llm::validate_answer("classification", "\n" + answer + "\n"), answer);
  EXPECT_FALSE(llm::validate_answer("classification", answer + " {}").ok());
}

TEST(Retry, FullJitterUnderAnExponentialCeilingAndRetryAfterWins) {
  std::mt19937 rng(1);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    long long ceiling = std::min(100LL << (attempt - 1), 5000LL);
    for (int i = 0; i < 200; ++i) {
      auto d = llm::retry_delay(attempt, milliseconds(100), milliseconds(5000), std::nullopt, rng);
      EXPECT_GE(d.count(), 0);
      EXPECT_LE(d.count(), ceiling);
    }
  }
  auto d = llm::retry_delay(1, milliseconds(100), milliseconds(5000), milliseconds(9000), rng);
  EXPECT_EQ(d.count(), 9000);
}

}  // namespace
