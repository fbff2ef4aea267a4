// Documents: upload, read, delete; and the document job's reads and writes.

#include <cmath>
#include <cstring>
#include <map>

#include "mq/core/ids.hpp"
#include "mq/store/documents.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

#define MQ_DOCUMENT_COLUMNS                                                                              \
  "d.id, d.tenant_id, d.title, d.description, d.filename, d.mime_type, d.size_bytes, d.content_hash, " \
  "d.metadata::text, d.status, d.total_chunks, d.chunks_done, d.error_message, "                      \
  "d.processing_time_seconds, d.task_id, " MQ_TS("d.created_at") ", " MQ_TS("d.updated_at")

schemas::document_record document_from_row(const pqxx::row& r) {
  schemas::document_record d;
  d.id = r[0].as<std::int64_t>();
  d.tenant_id = r[1].c_str();
  d.title = r[2].c_str();
  d.description = opt(r[3]);
  d.filename = opt(r[4]);
  d.mime_type = r[5].c_str();
  d.size_bytes = r[6].as<int>();
  d.content_hash = r[7].c_str();
  d.metadata_json = r[8].c_str();
  d.status = r[9].c_str();
  d.total_chunks = r[10].as<int>();
  d.chunks_done = r[11].as<int>();
  d.error_message = opt(r[12]);
  if (!r[13].is_null()) d.processing_time_seconds = double_of(r[13]);
  d.task_id = opt(r[14]);
  d.created_at = r[15].c_str();
  d.updated_at = r[16].c_str();
  return d;
}

/// float32 little-endian bytes (the machines we run on are little-endian).
std::string vector_bytes(const std::vector<float>& v) {
  std::string out(v.size() * sizeof(float), '\0');
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

}  // namespace

result<created_document> create_document(pg_session& s, const std::string& tenant, const document_input& in) {
  return guarded(s, [&](pqxx::connection& c) -> result<created_document> {
    pqxx::work tx(c);
    created_document out;
    const auto hash = sha256_hex(in.content);
    auto rows = tx.exec_params(
        "WITH d AS (INSERT INTO documents (tenant_id, title, description, filename, mime_type, size_bytes, "
        "content_hash, content, metadata) VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), $5, $6, $7, $8, $9::jsonb) "
        "ON CONFLICT (tenant_id, content_hash) DO NOTHING RETURNING *) SELECT " MQ_DOCUMENT_COLUMNS " FROM d",
        tenant, in.title, in.description.value_or(""), in.filename.value_or(""), in.mime_type,
        static_cast<long long>(in.content.size()), hash, pqxx::binarystring(in.content.data(), in.content.size()),
        in.metadata_json);
    if (rows.empty()) {
      out.duplicate = true;
      out.document = document_from_row(tx.exec_params("SELECT " MQ_DOCUMENT_COLUMNS
                                                       " FROM documents d WHERE d.tenant_id = $1 AND d.content_hash = $2",
                                                       tenant, hash)[0]);
      tx.commit();
      return out;
    }
    out.document = document_from_row(rows[0]);
    auto tasks = insert_tasks(tx, tenant, schemas::kinds::process_document, {out.document.id}, "", in.request_id);
    out.task = tasks.at(0);
    tx.exec_params("UPDATE documents SET task_id = $2 WHERE id = $1", out.document.id, out.task->id);
    out.document.task_id = out.task->id;
    out.outbox_id = record_outbox(tx, tasks);
    tx.commit();
    return out;
  });
}

result<std::optional<schemas::document_record>> get_document(pg_session& s, const std::string& tenant,
                                                             std::int64_t id) {
  using out = std::optional<schemas::document_record>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params("SELECT " MQ_DOCUMENT_COLUMNS " FROM documents d WHERE d.tenant_id = $1 AND d.id = $2",
                               tenant, static_cast<long long>(id));
    if (rows.empty()) return out{};
    return out{document_from_row(rows[0])};
  });
}

result<page<schemas::document_record>> list_documents(pg_session& s, const std::string& tenant, page_request p) {
  return guarded(s, [&](pqxx::connection& c) -> result<page<schemas::document_record>> {
    pqxx::work tx(c);
    return read_page<schemas::document_record>(
        tx, "SELECT count(*) FROM documents WHERE tenant_id = $1",
        "SELECT " MQ_DOCUMENT_COLUMNS " FROM documents d WHERE d.tenant_id = $1 ORDER BY d.id DESC", p,
        document_from_row, tenant);
  });
}

result<bool> delete_document(pg_session& s, const std::string& tenant, std::int64_t id) {
  return guarded(s, [&](pqxx::connection& c) -> result<bool> {
    pqxx::work tx(c);
    auto rows = tx.exec_params("DELETE FROM documents WHERE tenant_id = $1 AND id = $2 RETURNING task_id", tenant,
                               static_cast<long long>(id));
    // Its job, if still waiting, has nothing left to do.
    if (!rows.empty() && !rows[0][0].is_null())
      tx.exec_params(cancel_sql("t.id = $1", "the document was deleted"), std::string(rows[0][0].c_str()));
    tx.commit();
    return !rows.empty();
  });
}

result<std::optional<created_document>> reindex_document(pg_session& s, const std::string& tenant, std::int64_t id) {
  using out = std::optional<created_document>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    auto doc = tx.exec_params("SELECT 1 FROM documents WHERE tenant_id = $1 AND id = $2 FOR UPDATE", tenant,
                              static_cast<long long>(id));
    if (doc.empty()) return out{};
    auto tasks = insert_tasks(tx, tenant, schemas::kinds::process_document, {id}, "", "");
    if (tasks.empty()) return make_error(errc::conflict, "the document is being processed; reindex it when it is done");
    created_document r;
    r.task = tasks[0];
    r.document = document_from_row(tx.exec_params(
        "WITH d AS (UPDATE documents SET status = 'pending', chunks_done = 0, error_message = NULL, task_id = $2, "
        "updated_at = now(), started_at = NULL, finished_at = NULL WHERE id = $1 RETURNING *) "
        "SELECT " MQ_DOCUMENT_COLUMNS " FROM d",
        static_cast<long long>(id), r.task->id)[0]);
    r.outbox_id = record_outbox(tx, tasks);
    tx.commit();
    return out{std::move(r)};
  });
}

result<document_stats> documents_stats(pg_session& s, const std::string& tenant) {
  return guarded(s, [&](pqxx::connection& c) -> result<document_stats> {
    pqxx::nontransaction tx(c);
    auto r = tx.exec_params(
        "SELECT count(*), coalesce(sum(total_chunks), 0), coalesce(sum(size_bytes), 0), "
        "count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status IN ('pending', 'processing')), "
        "count(*) FILTER (WHERE status = 'failed'), "
        "coalesce(avg(total_chunks) FILTER (WHERE status = 'completed'), 0)::float8 "
        "FROM documents WHERE tenant_id = $1",
        tenant)[0];
    document_stats st;
    st.total_documents = r[0].as<long long>();
    st.total_chunks = r[1].as<long long>();
    st.total_size_bytes = r[2].as<long long>();
    st.processed_documents = r[3].as<long long>();
    st.pending_documents = r[4].as<long long>();
    st.failed_documents = r[5].as<long long>();
    st.avg_chunks_per_document = double_of(r[6]);
    return st;
  });
}

result<long long> chunk_version(pg_session& s, const std::string& tenant) {
  return guarded(s, [&](pqxx::connection& c) -> result<long long> {
    pqxx::nontransaction tx(c);
    auto r = tx.exec_params("SELECT version FROM chunk_versions WHERE tenant_id = $1", tenant);
    return r.empty() ? 0LL : r[0][0].as<long long>();
  });
}

result<tenant_vectors> load_vectors(pg_session& s, const std::string& tenant) {
  return guarded(s, [&](pqxx::connection& c) -> result<tenant_vectors> {
    pqxx::work tx(c);  // version and rows from one snapshot
    tenant_vectors out;
    auto v = tx.exec_params("SELECT version FROM chunk_versions WHERE tenant_id = $1", tenant);
    out.version = v.empty() ? 0 : v[0][0].as<long long>();
    for (const auto& r : tx.exec_params(
             "SELECT id, document_id, embedding FROM document_chunks WHERE tenant_id = $1 ORDER BY id", tenant)) {
      pqxx::binarystring bytes(r[2]);
      const int dims = static_cast<int>(bytes.size() / sizeof(float));
      if (out.dimensions == 0) out.dimensions = dims;
      if (dims != out.dimensions || dims == 0) continue;  // vectors of another model: not comparable
      const auto at = out.data.size();
      out.data.resize(at + dims);
      std::memcpy(out.data.data() + at, bytes.data(), bytes.size());
      double norm = 0;
      for (int k = 0; k < dims; ++k) norm += static_cast<double>(out.data[at + k]) * out.data[at + k];
      const float scale = norm > 0 ? static_cast<float>(1 / std::sqrt(norm)) : 0.f;
      for (int k = 0; k < dims; ++k) out.data[at + k] *= scale;
      out.chunk_ids.push_back(r[0].as<std::int64_t>());
      out.document_ids.push_back(r[1].as<std::int64_t>());
    }
    tx.commit();
    return out;
  });
}

status describe_chunks(pg_session& s, const std::string& tenant, std::vector<found_chunk>& found) {
  if (found.empty()) return ok_status();
  return guarded(s, [&](pqxx::connection& c) -> status {
    pqxx::nontransaction tx(c);
    std::vector<std::int64_t> ids;
    for (const auto& f : found) ids.push_back(f.chunk_id);
    std::map<std::int64_t, pqxx::row> rows;
    auto result = tx.exec_params(
        "SELECT c.id, c.content, c.page, c.chunk_index, d.title FROM document_chunks c "
        "JOIN documents d ON d.id = c.document_id WHERE c.tenant_id = $1 AND c.id = ANY($2::bigint[])",
        tenant, array_literal(ids));
    for (const auto& r : result) rows.emplace(r[0].as<std::int64_t>(), r);
    std::vector<found_chunk> kept;
    for (auto& f : found) {
      auto it = rows.find(f.chunk_id);
      if (it == rows.end()) continue;  // deleted since the vectors were read
      f.content = it->second[1].c_str();
      if (!it->second[2].is_null()) f.page = it->second[2].as<int>();
      f.chunk_index = it->second[3].as<int>();
      f.document_title = it->second[4].c_str();
      kept.push_back(std::move(f));
    }
    found = std::move(kept);
    return ok_status();
  });
}

result<std::optional<document_work>> start_document(pg_session& s, std::int64_t id) {
  using out = std::optional<document_work>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    auto rows = tx.exec_params(
        "UPDATE documents SET status = 'processing', started_at = now(), updated_at = now(), chunks_done = 0, "
        "error_message = NULL WHERE id = $1 RETURNING id, tenant_id, mime_type, content",
        static_cast<long long>(id));
    tx.commit();
    if (rows.empty()) return out{};
    document_work w;
    w.id = rows[0][0].as<std::int64_t>();
    w.tenant_id = rows[0][1].c_str();
    w.mime_type = rows[0][2].c_str();
    pqxx::binarystring bytes(rows[0][3]);
    w.content = bytes.str();
    return out{std::move(w)};
  });
}

status document_progress(pg_session& s, std::int64_t id, int done, int total) {
  return guarded(s, [&](pqxx::connection& c) -> status {
    pqxx::work tx(c);
    tx.exec("SET LOCAL synchronous_commit = off");  // progress only: losing one costs nothing
    tx.exec_params("UPDATE documents SET chunks_done = $2, total_chunks = $3, updated_at = now() WHERE id = $1",
                   static_cast<long long>(id), done, total);
    tx.commit();
    return ok_status();
  });
}

status save_document(pg_session& s, std::int64_t id, const std::vector<embedded_chunk>& chunks) {
  return guarded(s, [&](pqxx::connection& c) -> status {
    pqxx::work tx(c);
    auto doc = tx.exec_params("SELECT tenant_id FROM documents WHERE id = $1 FOR UPDATE", static_cast<long long>(id));
    if (doc.empty()) return ok_status();  // deleted meanwhile
    const std::string tenant = doc[0][0].c_str();
    tx.exec_params("DELETE FROM document_chunks WHERE document_id = $1", static_cast<long long>(id));
    prepare(c, "mq_chunk",
            "INSERT INTO document_chunks (document_id, tenant_id, chunk_index, content, page, start_offset, "
            "end_offset, embedding) VALUES ($1, $2, $3, $4, NULLIF($5, 0), $6, $7, $8)");
    for (const auto& ch : chunks) {
      const auto bytes = vector_bytes(ch.embedding);
      tx.exec_prepared("mq_chunk", static_cast<long long>(id), tenant, ch.index, ch.content, ch.page.value_or(0),
                       ch.start, ch.end, pqxx::binarystring(bytes.data(), bytes.size()));
    }
    tx.exec_params(
        "UPDATE documents SET status = 'completed', total_chunks = $2, chunks_done = $2, finished_at = now(), "
        "updated_at = now(), processing_time_seconds = extract(epoch FROM now() - started_at) WHERE id = $1",
        static_cast<long long>(id), static_cast<int>(chunks.size()));
    tx.commit();
    return ok_status();
  });
}

status fail_document(pg_session& s, std::int64_t id, const std::string& message) {
  return guarded(s, [&](pqxx::connection& c) -> status {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE documents SET status = 'failed', error_message = $2, finished_at = now(), updated_at = now(), "
        "processing_time_seconds = extract(epoch FROM now() - coalesce(started_at, created_at)) WHERE id = $1",
        static_cast<long long>(id), message);
    tx.commit();
    return ok_status();
  });
}

}  // namespace mq::store
