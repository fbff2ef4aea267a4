// Documents: upload (multipart form or raw body) for processing, read, list, delete.

#include <set>

#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/core/utf8.hpp"
#include "mq/documents/text.hpp"
#include "mq/store/documents.hpp"
#include "multipart.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

const std::string documents_path = "/api/v1/documents/";

/// Short text fields of an upload: UTF-8, no NUL, bounded.
bool check_field(const call_ptr& c, const char* name, const std::string& value, std::size_t max) {
  if (utf8::valid(value) && value.size() <= max) return true;
  auto e = make_error(errc::validation_failed, std::string(name) + " must be UTF-8 text of at most " +
                                                   std::to_string(max) + " bytes");
  e.details = "{\"field\":" + json::quote(std::string("/") + name) + "}";
  c->fail(e);
  return false;
}

/// The upload as the store takes it, from a form (file, title, description, metadata)
/// or a raw body (its Content-Type; title, description and filename in the query).
std::optional<store::document_input> read_upload(const call_ptr& c) {
  store::document_input in;
  in.request_id = c->request_id;
  const auto type = media_type(c->req.header("content-type"));
  std::string title, description, filename, metadata;
  if (type == "multipart/form-data") {
    auto parts = parse_form(c->req.body, c->req.header("content-type"));
    if (!parts) {
      c->fail(parts.err());
      return std::nullopt;
    }
    bool file = false;
    for (auto& p : *parts) {
      if (p.name == "file") {
        file = true;
        in.content = std::move(p.body);
        filename = p.filename;
        in.mime_type = media_type(p.content_type);
      } else if (p.name == "title") {
        title = p.body;
      } else if (p.name == "description") {
        description = p.body;
      } else if (p.name == "metadata") {
        metadata = p.body;
      }
    }
    if (!file) {
      c->fail(make_error(errc::validation_failed, "the form has no file field"));
      return std::nullopt;
    }
  } else {
    in.content = c->req.body;
    in.mime_type = type;
    c->req.query_param("title", title);
    c->req.query_param("description", description);
    c->req.query_param("filename", filename);
  }
  if (in.mime_type == "text/x-markdown") in.mime_type = "text/markdown";
  if (!documents::supported_type(in.mime_type)) {
    c->fail(make_error(errc::unsupported_media_type,
                       "documents must be text/plain, text/markdown or application/pdf, not " +
                           (in.mime_type.empty() ? std::string("an unnamed type") : in.mime_type)));
    return std::nullopt;
  }
  if (in.content.size() > static_cast<std::size_t>(c->documents_limit)) {
    c->fail(make_error(errc::payload_too_large,
                       "documents are at most " + std::to_string(c->documents_limit) + " bytes"));
    return std::nullopt;
  }
  if (!check_field(c, "title", title, 500) || !check_field(c, "description", description, 5000) ||
      !check_field(c, "filename", filename, 500))
    return std::nullopt;
  if (!metadata.empty()) {
    auto doc = json::parse(metadata);
    if (!doc || !doc->IsObject() || json::find_nul(*doc)) {
      c->fail(make_error(errc::validation_failed, "metadata must be a JSON object"));
      return std::nullopt;
    }
    in.metadata_json = json::stringify(*doc);
  }
  in.title = !title.empty() ? title : !filename.empty() ? filename : "untitled";
  if (!description.empty()) in.description = description;
  if (!filename.empty()) in.filename = filename;
  return in;
}

/// {"deduplicated": .., ...the document}
std::string upload_json(const schemas::document_record& d, bool duplicate) {
  return "{\"deduplicated\":" + std::string(duplicate ? "true" : "false") + "," + schemas::to_json(d).substr(1);
}

void upload(services& s, const call_ptr& c) {
  auto in = read_upload(c);
  if (!in) return;
  s.with_db(c, [&s, c, in = std::move(*in)](store::pg_session& db) {
    auto r = store::create_document(db, c->tenant, in);
    if (!r) return c->fail(r.err());
    const auto location = documents_path + std::to_string(r->document.id);
    if (r->duplicate) return c->reply(200, upload_json(r->document, true), {{"Location", location}});
    log::info("api", "document stored", {c->request_id, r->task->id, c->tenant},
              {{"document_id", std::to_string(r->document.id)}, {"bytes", std::to_string(in.content.size())}});
    auto doc = r->document;
    publish_then_accept(s, c, {*r->task}, r->outbox_id, [c, doc, location] {
      c->reply(202, upload_json(doc, false), {{"Location", location}});
    });
  });
}

void list(services& s, const call_ptr& c) {
  auto page = read_page(s, c);
  if (!page) return;
  s.with_db(c, [c, page = *page](store::pg_session& db) {
    reply_page(c, store::list_documents(db, c->tenant, {page.first, page.second}));
  });
}

void get_one(services& s, const call_ptr& c) {
  auto id = parse_id(c->params["id"]);
  if (!id) return c->fail(make_error(errc::not_found, "document not found"));
  s.with_db(c, [c, id = *id](store::pg_session& db) {
    auto d = store::get_document(db, c->tenant, id);
    if (!d) return c->fail(d.err());
    if (!*d) return c->fail(make_error(errc::not_found, "document " + std::to_string(id) + " not found"));
    c->reply(200, schemas::to_json(**d));
  });
}

void remove(services& s, const call_ptr& c) {
  auto id = parse_id(c->params["id"]);
  if (!id) return c->fail(make_error(errc::not_found, "document not found"));
  s.with_db(c, [c, id = *id](store::pg_session& db) {
    auto gone = store::delete_document(db, c->tenant, id);
    if (!gone) return c->fail(gone.err());
    if (!*gone) return c->fail(make_error(errc::not_found, "document " + std::to_string(id) + " not found"));
    c->no_content();
  });
}

void reindex(services& s, const call_ptr& c) {
  auto id = parse_id(c->params["id"]);
  if (!id) return c->fail(make_error(errc::not_found, "document not found"));
  s.with_db(c, [&s, c, id = *id](store::pg_session& db) {
    auto r = store::reindex_document(db, c->tenant, id);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(make_error(errc::not_found, "document " + std::to_string(id) + " not found"));
    auto doc = (*r)->document;
    publish_then_accept(s, c, {*(*r)->task}, (*r)->outbox_id, [c, doc] {
      c->reply(202, schemas::to_json(doc), {{"Location", documents_path + std::to_string(doc.id)}});
    });
  });
}

void search(services& s, const call_ptr& c) {
  auto doc = read_body(c, "requests/document_search");
  if (!doc) return;
  const std::string query = (*doc)["query"].GetString();
  const int limit = static_cast<int>(json::get_int(*doc, "limit").value_or(5));
  const double threshold = json::get_double(*doc, "threshold").value_or(0.0);
  std::optional<std::set<std::int64_t>> only;
  if (doc->HasMember("document_ids")) {
    only.emplace();
    for (const auto& v : (*doc)["document_ids"].GetArray()) only->insert(v.GetInt64());
  }
  const auto started = std::chrono::steady_clock::now();
  s.embedder->embed({query}, [&s, c, limit, threshold, only, started](llm::embed_outcome out) {
    if (out.ok() && out.vectors.size() != 1)
      out.err = make_error(errc::llm_invalid_output, "the embeddings answer has no vector for the query");
    if (!out.ok()) return c->fail(*out.err);
    auto vector = std::move(out.vectors[0]);
    s.with_db(c, [&s, c, limit, threshold, only, started, vector = std::move(vector)](store::pg_session& db) {
      auto held = s.vectors.current(db, c->tenant);
      if (!held) return c->fail(held.err());
      auto found = vector_index::best(**held, vector, limit, threshold, only);
      if (auto st = store::describe_chunks(db, c->tenant, found); !st) return c->fail(st.err());
      json::writer w;
      w.begin_object();
      w.key("results");
      w.begin_array();
      for (const auto& f : found) {
        w.begin_object();
        w.kv("chunk_id", static_cast<long long>(f.chunk_id));
        w.kv("document_id", static_cast<long long>(f.document_id));
        w.kv("document_title", f.document_title);
        w.kv("chunk_index", f.chunk_index);
        w.kv("page", f.page);
        w.kv("similarity", f.similarity);
        w.kv("content", f.content);
        w.end_object();
      }
      w.end_array();
      w.kv("chunks_searched", static_cast<unsigned long>((*held)->chunk_ids.size()));
      w.kv("took_ms", static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - started).count()));
      w.end_object();
      c->reply(200, w.take());
    });
  });
}

void stats(services& s, const call_ptr& c) {
  s.with_db(c, [c](store::pg_session& db) {
    auto st = store::documents_stats(db, c->tenant);
    if (!st) return c->fail(st.err());
    json::writer w;
    w.begin_object();
    w.kv("total_documents", st->total_documents);
    w.kv("total_chunks", st->total_chunks);
    w.kv("total_size_bytes", st->total_size_bytes);
    w.kv("processed_documents", st->processed_documents);
    w.kv("pending_documents", st->pending_documents);
    w.kv("failed_documents", st->failed_documents);
    w.kv("avg_chunks_per_document", st->avg_chunks_per_document);
    w.end_object();
    c->reply(200, w.take());
  });
}

}  // namespace

void add_document_routes(router& r) {
  r.add("GET", "/api/v1/documents/stats", stats);
  r.add("POST", "/api/v1/documents/search", search);
  r.add("POST", "/api/v1/documents/:id/reindex", reindex);
  r.add("POST", "/api/v1/documents", upload);
  r.add("GET", "/api/v1/documents", list);
  r.add("GET", "/api/v1/documents/:id", get_one);
  r.add("DELETE", "/api/v1/documents/:id", remove);
}

}  // namespace mq::api
