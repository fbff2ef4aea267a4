#pragma once

// Documents in Postgres: what mq-api writes on upload and reads back, and what the
// document job reads and writes. Every function runs on the thread that owns `s`;
// the API's are scoped to a tenant.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"
#include "mq/schemas/types.hpp"
#include "mq/store/pg_session.hpp"
#include "mq/store/repositories.hpp"

namespace mq::store {

/// An upload, already checked for type and size.
struct document_input {
  std::string title;
  std::optional<std::string> description;
  std::optional<std::string> filename;
  std::string mime_type;
  std::string content;
  std::string metadata_json = "{}";
  std::string request_id;
};

/// What an upload made: the document, and its processing task with the task's outbox
/// group; or, when the tenant already has a document with the same bytes, that one
/// (duplicate, no task).
struct created_document {
  schemas::document_record document;
  std::optional<schemas::task_record> task;
  bool duplicate = false;
  std::string outbox_id;
};

result<created_document> create_document(pg_session& s, const std::string& tenant, const document_input& in);
result<std::optional<schemas::document_record>> get_document(pg_session& s, const std::string& tenant,
                                                             std::int64_t id);
result<page<schemas::document_record>> list_documents(pg_session& s, const std::string& tenant, page_request p);
/// Deletes the document with its chunks; false when the tenant has no such document.
result<bool> delete_document(pg_session& s, const std::string& tenant, std::int64_t id);

/// Queues the document for processing again (re-chunk, re-embed): its task and the task's
/// outbox group; nullopt when the tenant has no such document; conflict while a task of
/// it is unfinished.
result<std::optional<created_document>> reindex_document(pg_session& s, const std::string& tenant, std::int64_t id);

/// A tenant's knowledge-base figures.
struct document_stats {
  long long total_documents = 0, total_chunks = 0, total_size_bytes = 0;
  long long processed_documents = 0, pending_documents = 0, failed_documents = 0;
  double avg_chunks_per_document = 0;
};
result<document_stats> documents_stats(pg_session& s, const std::string& tenant);

// ---- search ----

/// All of a tenant's chunk vectors, as search holds them in memory.
struct tenant_vectors {
  long long version = -1;
  int dimensions = 0;
  std::vector<std::int64_t> chunk_ids;
  std::vector<std::int64_t> document_ids;
  std::vector<float> data;  ///< chunk_ids.size() rows of `dimensions`, each of length 1.
};

/// The version of the tenant's chunks (changes with every insert or delete).
result<long long> chunk_version(pg_session& s, const std::string& tenant);
/// Every chunk vector of the tenant, normalised, with the version they are of.
result<tenant_vectors> load_vectors(pg_session& s, const std::string& tenant);

/// A chunk found by a search.
struct found_chunk {
  std::int64_t chunk_id = 0;
  std::int64_t document_id = 0;
  std::string document_title;
  int chunk_index = 0;
  std::optional<int> page;
  std::string content;
  double similarity = 0;
};
/// Fills in content, title, page and index of `found` (in order) from the tenant's rows.
status describe_chunks(pg_session& s, const std::string& tenant, std::vector<found_chunk>& found);

// ---- the document job ----

/// A document to process.
struct document_work {
  std::int64_t id = 0;
  std::string tenant_id;
  std::string mime_type;
  std::string content;
};

/// One chunk with its embedding, to store.
struct embedded_chunk {
  int index = 0;
  std::string content;
  std::optional<int> page;
  int start = 0;
  int end = 0;
  std::vector<float> embedding;
};

/// Marks the document processing and returns its bytes; nullopt if it is gone.
result<std::optional<document_work>> start_document(pg_session& s, std::int64_t id);
/// Records how many of `total` chunks are embedded.
status document_progress(pg_session& s, std::int64_t id, int done, int total);
/// Replaces the document's chunks with `chunks` and marks it completed, in one
/// transaction; the time is from start_document.
status save_document(pg_session& s, std::int64_t id, const std::vector<embedded_chunk>& chunks);
/// Marks the document failed with `message`.
status fail_document(pg_session& s, std::int64_t id, const std::string& message);

}  // namespace mq::store
