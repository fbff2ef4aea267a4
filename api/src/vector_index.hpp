#pragma once

// Semantic search over a tenant's chunks: their vectors held in memory per tenant,
// reloaded when the tenant's chunk version moves, scanned exactly (cosine similarity).

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "mq/store/documents.hpp"

namespace mq::api {

class vector_index {
 public:
  using vectors_ptr = std::shared_ptr<const store::tenant_vectors>;

  /// The tenant's vectors as of now: the held ones if their version is current, else
  /// loaded again (one tenant's load does not block searches of others).
  result<vectors_ptr> current(store::pg_session& db, const std::string& tenant);

  /// The `limit` chunks most similar to `query` (similarity ≥ `threshold`), best first;
  /// only of `documents` when given. Content and titles are left to describe_chunks().
  static std::vector<store::found_chunk> best(const store::tenant_vectors& v, std::vector<float> query, int limit,
                                              double threshold, const std::optional<std::set<std::int64_t>>& documents);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, vectors_ptr> held_;
};

}  // namespace mq::api
