// Embeddings through the same client code that talks to OpenAI, Ollama or vLLM, against
// the local stub, and through the offline provider.

#include <gtest/gtest.h>

#include <cmath>
#include <future>

#include "llm_stub.hpp"
#include "mq/config/config.hpp"
#include "mq/llm/client.hpp"
#include "mq/llm/offline.hpp"

namespace {

using namespace mq;

config::llm_config llm_settings(const std::string& provider, const std::string& base_url = "") {
  auto cfg = config::load("", {});
  EXPECT_TRUE(cfg.ok());
  auto c = cfg->llm;
  c.provider = provider;
  if (!base_url.empty()) c.base_url = base_url;
  c.embedding_model = "stub-embed";
  return c;
}

llm::embed_outcome embed(llm::llm_client& client, std::vector<std::string> texts) {
  std::promise<llm::embed_outcome> p;
  client.embed(std::move(texts), [&p](llm::embed_outcome o) { p.set_value(std::move(o)); });
  return p.get_future().get();
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

TEST(Embeddings, OpenAiCompatibleServerReturnsOneVectorPerInputInOrder) {
  test::llm_stub stub;
  auto client = llm::make_client(llm_settings("openai", stub.base_url()));
  auto out = embed(*client, {"alpha", "beta", "gamma"});
  ASSERT_TRUE(out.ok()) << out.err->message;
  ASSERT_EQ(out.vectors.size(), 3u);
  EXPECT_EQ(out.vectors[0].size(), 8u);
  EXPECT_NE(out.vectors[0], out.vectors[1]);
  EXPECT_EQ(out.model, "stub-embed");
  EXPECT_GT(out.tokens, 0);
}

TEST(Embeddings, ProviderErrorsMapLikeChat) {
  auto unreachable = llm::make_client(llm_settings("openai", "http://127.0.0.1:1/v1"));
  auto out = embed(*unreachable, {"x"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.err->code, errc::network);
  auto limited = llm::parse_embed_reply(429, R"({"error":{"message":"slow"}})", "3");
  EXPECT_EQ(limited.err->code, errc::llm_rate_limited);
  EXPECT_EQ(limited.retry_after->count(), 3000);
}

TEST(Embeddings, OfflineFeatureHashingPutsRelatedTextsCloser) {
  auto client = llm::make_client(llm_settings("offline"));
  auto out = embed(*client, {"tienda online de ropa con envíos a todo Chile",
                             "vendemos ropa en nuestra tienda online con envíos",
                             "minera de cobre en el norte con faenas de altura"});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out.vectors.size(), 3u);
  EXPECT_EQ(out.vectors[0].size(), 256u);
  EXPECT_NEAR(cosine(out.vectors[0], out.vectors[0]), 1.0, 1e-5);
  EXPECT_GT(cosine(out.vectors[0], out.vectors[1]), cosine(out.vectors[0], out.vectors[2]) + 0.2);
  EXPECT_EQ(llm::offline_embedding("Envíos", 64), llm::offline_embedding("envios", 64)) << "folded";
}

}  // namespace
