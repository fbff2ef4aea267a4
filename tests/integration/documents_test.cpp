// Documents on the real services: uploads of each format (raw and as forms), chunks and
// embeddings stored, the same bytes recognised, bad uploads refused or failed with a
// clear message, a failing embeddings call retried then failed, tenants kept apart.

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "llm_stub.hpp"
#include "pdf_fixture.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Documents : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

http_result upload_raw(stack& s, const std::string& key, const std::string& type, const std::string& body,
                       const std::string& query = "") {
  return http_call("POST", s.url("/api/v1/documents" + query), body,
                   {"Authorization: Bearer " + key, "Content-Type: " + type});
}

/// A multipart/form-data upload of `file` with the given fields.
http_result upload_form(stack& s, const std::string& key, const std::string& filename, const std::string& type,
                        const std::string& file, const std::vector<std::pair<std::string, std::string>>& fields) {
  const std::string b = "mq-test-boundary-7d1e";
  std::string body;
  for (const auto& [name, value] : fields)
    body += "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
  body += "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
          "\"\r\nContent-Type: " + type + "\r\n\r\n" + file + "\r\n--" + b + "--\r\n";
  return http_call("POST", s.url("/api/v1/documents"), body,
                   {"Authorization: Bearer " + key, "Content-Type: multipart/form-data; boundary=" + b});
}

std::string paragraphs(int n) {
  std::string out;
  for (int p = 0; p < n; ++p) {
    for (int i = 0; i < 6; ++i)
      out += "El párrafo " + std::to_string(p) + " explica la política de devoluciones, frase " + std::to_string(i) + ". ";
    out += "\n\n";
  }
  return out;
}

/// Waits for the upload's task, then returns the document.
rapidjson::Document processed(stack& s, const std::string& key, const http_result& r) {
  EXPECT_EQ(r.status, 202) << r.body;
  auto accepted = parse(r.body);
  EXPECT_STREQ(accepted["status"].GetString(), "pending");
  s.wait_task(key, accepted["task_id"].GetString());
  return parse(s.get(key, "/api/v1/documents/" + std::to_string(accepted["document_id"].GetInt64())).body);
}

TEST_F(Documents, EachFormatIsChunkedEmbeddedAndStored) {
  stack s({.env = {{"MQ_DOCUMENTS_CHUNK_SIZE", "300"}, {"MQ_DOCUMENTS_CHUNK_OVERLAP", "40"},
                   {"MQ_DOCUMENTS_EMBED_BATCH_SIZE", "4"}, {"MQ_LLM_EMBEDDING_DIMENSIONS", "64"}}});
  auto key = s.create_tenant("acme");
  const auto text = paragraphs(8);

  auto plain = processed(s, key, upload_raw(s, key, "text/plain; charset=utf-8", text, "?title=Devoluciones"));
  EXPECT_STREQ(plain["status"].GetString(), "completed") << plain["error_message"].IsString();
  EXPECT_STREQ(plain["title"].GetString(), "Devoluciones");
  const int chunks = plain["total_chunks"].GetInt();
  EXPECT_GT(chunks, 8) << "8 paragraphs of ~500 characters in chunks of 300";
  EXPECT_EQ(plain["chunks_done"].GetInt(), chunks);
  EXPECT_EQ(plain["metadata"]["chunk_count"].GetInt(), chunks);
  EXPECT_EQ(plain["metadata"]["file_size"].GetInt(), static_cast<int>(text.size()));
  EXPECT_STREQ(plain["metadata"]["mime_type"].GetString(), "text/plain");
  EXPECT_GE(plain["processing_time_seconds"].GetDouble(), 0.0);
  const auto id = std::to_string(plain["document_id"].GetInt64());
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM document_chunks WHERE document_id = " + id), chunks);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM document_chunks WHERE document_id = " + id +
                        " AND length(embedding) = 64 * 4 AND char_length(content) <= 300 AND page IS NULL"),
            chunks);
  EXPECT_EQ(s.sql_count("SELECT count(DISTINCT chunk_index) FROM document_chunks WHERE document_id = " + id), chunks);

  auto md = processed(s, key,
                      upload_form(s, key, "guia.md", "text/markdown", "# Guía\n\n" + paragraphs(2),
                                  {{"title", "Guía"}, {"description", "de prueba"}, {"metadata", R"({"lang":"es"})"}}));
  EXPECT_STREQ(md["status"].GetString(), "completed");
  EXPECT_STREQ(md["filename"].GetString(), "guia.md");
  EXPECT_STREQ(md["description"].GetString(), "de prueba");
  EXPECT_STREQ(md["metadata"]["lang"].GetString(), "es");
  EXPECT_STREQ(md["metadata"]["mime_type"].GetString(), "text/markdown");

  std::string one = "Page one is about prices.", two = "Page two is about returns.";
  while (one.size() < 200) one += " Prices stay the same all year.";
  while (two.size() < 200) two += " Returns take thirty days.";
  auto pdf = processed(s, key, upload_form(s, key, "manual.pdf", "application/pdf", pdf_with_pages({one, two}), {}));
  EXPECT_STREQ(pdf["status"].GetString(), "completed");
  EXPECT_STREQ(pdf["title"].GetString(), "manual.pdf");
  const auto pdf_id = std::to_string(pdf["document_id"].GetInt64());
  EXPECT_EQ(s.sql("SELECT string_agg(page::text, ',' ORDER BY chunk_index) FROM document_chunks WHERE document_id = " +
                  pdf_id),
            "1,2");
  EXPECT_NE(s.sql("SELECT content FROM document_chunks WHERE document_id = " + pdf_id + " AND page = 2")
                .find("returns"),
            std::string::npos);

  auto list = parse(s.get(key, "/api/v1/documents").body);
  EXPECT_EQ(list["total"].GetInt(), 3);

  // The same bytes again: recognised, not embedded twice.
  const auto calls_before = s.sql_count("SELECT count(*) FROM tasks");
  auto again = upload_raw(s, key, "text/plain", text, "?title=Otra%20vez");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(parse(again.body)["deduplicated"].GetBool());
  EXPECT_EQ(parse(again.body)["document_id"].GetInt64(), plain["document_id"].GetInt64());
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks"), calls_before);

  // Another tenant sees none of it; delete removes the document and its chunks.
  auto other = s.create_tenant("other");
  EXPECT_EQ(s.get(other, "/api/v1/documents/" + id).status, 404);
  EXPECT_EQ(s.del(other, "/api/v1/documents/" + id).status, 404);
  EXPECT_EQ(parse(s.get(other, "/api/v1/documents").body)["total"].GetInt(), 0);
  EXPECT_EQ(s.del(key, "/api/v1/documents/" + id).status, 204);
  EXPECT_EQ(s.get(key, "/api/v1/documents/" + id).status, 404);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM document_chunks WHERE document_id = " + id), 0);
}

TEST_F(Documents, BadUploadsAreRefusedOrFailWithAClearMessage) {
  stack s({.env = {{"MQ_DOCUMENTS_MAX_BYTES", "4000"}}});
  auto key = s.create_tenant("acme");
  EXPECT_EQ(upload_raw(s, key, "image/png", "\x89PNG").status, 415);
  EXPECT_EQ(upload_raw(s, key, "text/plain", std::string(4001, 'a')).status, 413);
  EXPECT_EQ(upload_form(s, key, "a.txt", "text/plain", "hola", {{"metadata", "[1,2]"}}).status, 422);
  auto no_file = http_call("POST", s.url("/api/v1/documents"), "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nx\r\n--b--\r\n",
                           {"Authorization: Bearer " + key, "Content-Type: multipart/form-data; boundary=b"});
  EXPECT_EQ(no_file.status, 422) << no_file.body;
  EXPECT_EQ(upload_raw(s, key, "multipart/form-data; boundary=x", "garbage").status, 400);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM documents"), 0) << "a refused upload stored something";

  const std::vector<std::pair<http_result, std::string>> failing{
      {upload_raw(s, key, "text/plain", "  \n\n  "), "the document has no text"},
      {upload_raw(s, key, "text/plain", "caf\xe9 con leche"), "the text is not UTF-8"},
      {upload_raw(s, key, "application/pdf", "%PDF-1.4 not really"), "the PDF could not be read"},
      {upload_raw(s, key, "application/pdf", "plain words"), "the file is not a PDF"},
  };
  for (const auto& [r, message] : failing) {
    auto d = processed(s, key, r);
    EXPECT_STREQ(d["status"].GetString(), "failed") << message;
    ASSERT_TRUE(d["error_message"].IsString()) << message;
    EXPECT_EQ(std::string(d["error_message"].GetString()), message);
    EXPECT_EQ(d["total_chunks"].GetInt(), 0);
  }
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM document_chunks"), 0);
  EXPECT_EQ(s.dead_letters(), 0);
}

TEST_F(Documents, AFailingEmbeddingsCallIsRetriedThenTheDocumentFails) {
  llm_stub llm;
  llm.on_embeddings([](const stub_request&, int) {
    return stub_reply::error(503, R"({"error":{"message":"embeddings overloaded"}})");
  });
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_LLM_MAX_ATTEMPTS", "3"}, {"MQ_LLM_BACKOFF_BASE_MS", "50"}, {"MQ_LLM_BACKOFF_MAX_MS", "100"},
                   {"MQ_DOCUMENTS_EMBED_BATCH_SIZE", "2"}, {"MQ_DOCUMENTS_CHUNK_SIZE", "200"}}});
  auto key = s.create_tenant("acme");
  auto d = processed(s, key, upload_raw(s, key, "text/markdown", paragraphs(2)));
  EXPECT_STREQ(d["status"].GetString(), "failed");
  EXPECT_NE(std::string(d["error_message"].GetString()).find("after 3 failed calls"), std::string::npos)
      << d["error_message"].GetString();
  EXPECT_EQ(llm.embedding_calls(), 3);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM document_chunks"), 0);

  // The provider recovers, slowly: the next upload goes through batch after batch, and its
  // progress shows while it does.
  llm.on_embeddings([](const stub_request& req, int) {
    auto r = llm_stub::embeddings(req);
    r.delay = std::chrono::milliseconds(150);
    return r;
  });
  auto r = upload_raw(s, key, "text/markdown", paragraphs(6));
  ASSERT_EQ(r.status, 202) << r.body;
  const auto path = "/api/v1/documents/" + std::to_string(parse(r.body)["document_id"].GetInt64());
  ASSERT_TRUE(eventually([&] {
    auto d = parse(s.get(key, path).body);
    return std::string(d["status"].GetString()) == "processing" && d["chunks_done"].GetInt() > 0 &&
           d["chunks_done"].GetInt() < d["total_chunks"].GetInt();
  })) << s.get(key, path).body;
  auto ok = processed(s, key, r);
  EXPECT_STREQ(ok["status"].GetString(), "completed");
  EXPECT_EQ(ok["chunks_done"].GetInt(), ok["total_chunks"].GetInt());
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM document_chunks WHERE length(embedding) = 8 * 4"),
            ok["total_chunks"].GetInt());
}

TEST_F(Documents, SearchRanksTheRightChunksOfTheCallersTenantOnly) {
  stack s({.env = {{"MQ_DOCUMENTS_CHUNK_SIZE", "300"}}});
  auto key = s.create_tenant("acme");
  auto other = s.create_tenant("other");
  const std::vector<std::pair<std::string, std::string>> corpus{
      {"Devoluciones",
       "Puedes devolver un producto dentro de 30 días. Para devolver un producto pide el reembolso en la web. "
       "El reembolso llega en 5 días a tu tarjeta.\n\nLas devoluciones de productos abiertos también tienen "
       "reembolso completo si los devuelves dentro de 30 días."},
      {"Envíos", "Los envíos nacionales tardan 48 horas. Los envíos internacionales tardan una semana y el "
                 "transportista entrega de lunes a viernes.\n\nEl seguimiento del envío llega por correo."},
      {"Precios", "El plan básico cuesta 20 dólares al mes. El plan empresa cuesta 200 dólares al mes con "
                  "facturación anual.\n\nLos precios no incluyen impuestos."},
  };
  std::map<std::string, long long> ids;
  for (const auto& [title, text] : corpus) {
    auto d = processed(s, key, upload_raw(s, key, "text/plain", text, "?title=" + title));
    ASSERT_STREQ(d["status"].GetString(), "completed") << title;
    ids[title] = d["document_id"].GetInt64();
  }
  auto theirs = processed(s, other, upload_raw(s, other, "text/plain", "Devolver un producto: reembolso en 30 días.",
                                               "?title=Ajeno"));
  ASSERT_STREQ(theirs["status"].GetString(), "completed");

  const std::string query = R"({"query": "¿Cuántos días tengo para devolver un producto y pedir el reembolso?", "limit": 3})";
  auto r = s.post(key, "/api/v1/documents/search", query);
  ASSERT_EQ(r.status, 200) << r.body;
  auto found = parse(r.body);
  const auto& results = found["results"];
  ASSERT_GE(results.Size(), 2u);
  EXPECT_STREQ(results[0]["document_title"].GetString(), "Devoluciones");
  EXPECT_NE(std::string(results[0]["content"].GetString()).find("devol"), std::string::npos);
  for (rapidjson::SizeType i = 1; i < results.Size(); ++i)
    EXPECT_LE(results[i]["similarity"].GetDouble(), results[i - 1]["similarity"].GetDouble());
  for (const auto& res : results.GetArray()) EXPECT_STRNE(res["document_title"].GetString(), "Ajeno");

  auto only_prices = parse(s.post(key, "/api/v1/documents/search",
                                  R"({"query": "devolver reembolso", "document_ids": [)" +
                                      std::to_string(ids["Precios"]) + "]}").body);
  for (const auto& res : only_prices["results"].GetArray()) EXPECT_STREQ(res["document_title"].GetString(), "Precios");
  EXPECT_EQ(parse(s.post(key, "/api/v1/documents/search", R"({"query": "devolver", "threshold": 0.999})").body)["results"]
                .Size(),
            0u);
  auto theirs_found = parse(s.post(other, "/api/v1/documents/search", query).body);
  ASSERT_EQ(theirs_found["results"].Size(), 1u) << "another tenant searches only its own chunks";
  EXPECT_STREQ(theirs_found["results"][0]["document_title"].GetString(), "Ajeno");
  for (const auto& bad : {R"({})", R"({"query": ""})", R"({"query": "x", "limit": 0})", R"({"query": 3})"})
    EXPECT_EQ(s.post(key, "/api/v1/documents/search", bad).status, 422) << bad;

  auto stats = parse(s.get(key, "/api/v1/documents/stats").body);
  EXPECT_EQ(stats["total_documents"].GetInt(), 3);
  EXPECT_EQ(stats["processed_documents"].GetInt(), 3);
  EXPECT_EQ(stats["pending_documents"].GetInt(), 0);
  EXPECT_EQ(stats["total_chunks"].GetInt(), s.sql_count("SELECT count(*) FROM document_chunks c JOIN documents d "
                                                        "ON d.id = c.document_id WHERE d.title <> 'Ajeno'"));

  // Reindexing re-chunks and re-embeds; search sees the new chunks.
  const auto returns = std::to_string(ids["Devoluciones"]);
  const auto old_chunks = s.sql("SELECT string_agg(id::text, ',') FROM document_chunks WHERE document_id = " + returns);
  auto re = s.post(key, "/api/v1/documents/" + returns + "/reindex");
  ASSERT_EQ(re.status, 202) << re.body;
  s.wait_task(key, parse(re.body)["task_id"].GetString());
  auto again = parse(s.get(key, "/api/v1/documents/" + returns).body);
  EXPECT_STREQ(again["status"].GetString(), "completed");
  EXPECT_NE(s.sql("SELECT string_agg(id::text, ',') FROM document_chunks WHERE document_id = " + returns), old_chunks);
  auto after = parse(s.post(key, "/api/v1/documents/search", query).body);
  EXPECT_STREQ(after["results"][0]["document_title"].GetString(), "Devoluciones");
  EXPECT_EQ(s.post(other, "/api/v1/documents/" + returns + "/reindex").status, 404);
}

TEST_F(Documents, EmbeddingCallsKeepToTheSharedRequestLimit) {
  llm_stub llm;
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> calls;
  llm.on_embeddings([&](const stub_request& req, int) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(std::chrono::steady_clock::now());
    return llm_stub::embeddings(req);
  });
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_LLM_REQUESTS_PER_MINUTE", "60"}, {"MQ_LLM_RATE_BURST_SECONDS", "1"},
                   {"MQ_DOCUMENTS_EMBED_BATCH_SIZE", "2"}, {"MQ_DOCUMENTS_CHUNK_SIZE", "200"}}});
  auto key = s.create_tenant("acme");
  auto d = processed(s, key, upload_raw(s, key, "text/plain", paragraphs(2)));
  ASSERT_STREQ(d["status"].GetString(), "completed");
  std::lock_guard<std::mutex> lock(mu);
  const int n = static_cast<int>(calls.size());
  EXPECT_EQ(n, (d["total_chunks"].GetInt() + 1) / 2);
  ASSERT_GE(n, 3);
  // One request a second, after a burst of one.
  EXPECT_GE(calls.back() - calls.front(), std::chrono::milliseconds((n - 1) * 1000 - 100));
}

}  // namespace
