#include "vector_index.hpp"

#include <algorithm>
#include <cmath>

namespace mq::api {
namespace {

/// Eight independent sums: the compiler keeps them in vector registers (a single running
/// sum is a dependency chain it may not reorder).
float dot(const float* a, const float* b, std::size_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) s[j] += a[k + j] * b[k + j];
  float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; k < n; ++k) total += a[k] * b[k];
  return total;
}

}  // namespace

result<vector_index::vectors_ptr> vector_index::current(store::pg_session& db, const std::string& tenant) {
  auto version = store::chunk_version(db, tenant);
  if (!version) return version.err();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(tenant);
    if (it != held_.end() && it->second->version == *version) return it->second;
  }
  auto loaded = store::load_vectors(db, tenant);
  if (!loaded) return loaded.err();
  auto fresh = std::make_shared<const store::tenant_vectors>(std::move(*loaded));
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = held_[tenant];
  if (!slot || slot->version < fresh->version) slot = fresh;
  return vectors_ptr(fresh);
}

std::vector<store::found_chunk> vector_index::best(const store::tenant_vectors& v, std::vector<float> query,
                                                   int limit, double threshold,
                                                   const std::optional<std::set<std::int64_t>>& documents) {
  std::vector<store::found_chunk> out;
  const auto dims = static_cast<std::size_t>(v.dimensions);
  if (dims == 0 || query.size() != dims || limit <= 0) return out;
  double norm = 0;
  for (float x : query) norm += static_cast<double>(x) * x;
  if (norm <= 0) return out;
  const float scale = static_cast<float>(1 / std::sqrt(norm));
  for (auto& x : query) x *= scale;
  // A min-heap of the best `limit` (score, row) seen so far.
  std::vector<std::pair<float, std::size_t>> heap;
  heap.reserve(static_cast<std::size_t>(limit) + 1);
  auto worse = [](const auto& a, const auto& b) { return a.first > b.first; };
  const float* row = v.data.data();
  for (std::size_t i = 0; i < v.chunk_ids.size(); ++i, row += dims) {
    if (documents && !documents->count(v.document_ids[i])) continue;
    const float score = dot(row, query.data(), dims);
    if (score < threshold) continue;
    if (heap.size() < static_cast<std::size_t>(limit)) {
      heap.emplace_back(score, i);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (score > heap.front().first) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = {score, i};
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  }
  std::sort(heap.begin(), heap.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [score, i] : heap) {
    store::found_chunk f;
    f.chunk_id = v.chunk_ids[i];
    f.document_id = v.document_ids[i];
    f.similarity = score;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace mq::api
