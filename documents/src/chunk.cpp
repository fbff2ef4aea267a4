// Normalising text and cutting it into overlapping chunks.

#include <algorithm>

#include "mq/core/utf8.hpp"
#include "mq/documents/text.hpp"

namespace mq::documents {
namespace {

bool blank(char32_t c) { return c == U' ' || c == U'\t' || c == U'\n' || c == 0xa0; }
bool sentence_end(char32_t c) { return c == U'.' || c == U'!' || c == U'?' || c == 0x3002 || c == 0x2026; }

/// Where a chunk starting at `pos` ends (exclusive), preferring paragraph breaks, then
/// sentence ends, then blanks, in its second half.
std::size_t cut_at(const std::u32string& t, std::size_t pos, std::size_t size) {
  const std::size_t limit = std::min(t.size(), pos + size);
  if (limit == t.size()) return limit;
  const std::size_t half = pos + size / 2;
  for (std::size_t i = limit; i > half; --i)
    if (i >= 2 && t[i - 1] == U'\n' && t[i - 2] == U'\n') return i;
  for (std::size_t i = limit; i > half; --i)
    if (sentence_end(t[i - 1]) && blank(t[i])) return i;
  for (std::size_t i = limit; i > half; --i)
    if (blank(t[i - 1])) return i;
  return limit;
}

}  // namespace

std::string normalize(std::string_view text) {
  const auto in = utf8::decode(text);
  std::u32string out;
  out.reserve(in.size());
  int newlines = 0;
  bool space = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char32_t c = in[i];
    if (c == U'\r') {
      if (i + 1 < in.size() && in[i + 1] == U'\n') continue;
      c = U'\n';
    }
    if (c == U'\f' || c == 0x2028 || c == 0x2029) c = U'\n';
    if (c == U'\n') {
      space = false;
      if (++newlines <= 2 && !out.empty()) {
        while (!out.empty() && out.back() == U' ') out.pop_back();
        out += U'\n';
      }
      continue;
    }
    if (c == U'\t' || c == U' ' || c == 0xa0 || c == 0x3000) {
      space = true;
      continue;
    }
    if (c < 0x20 || c == 0x7f || c == 0xfeff) continue;
    if (space && !out.empty() && out.back() != U'\n') out += U' ';
    space = false;
    newlines = 0;
    out += c;
  }
  while (!out.empty() && blank(out.back())) out.pop_back();
  return utf8::encode(out);
}

std::vector<chunk> split(const std::vector<page>& pages, chunk_options o) {
  const std::size_t size = static_cast<std::size_t>(std::max(1, o.size));
  const std::size_t overlap = static_cast<std::size_t>(std::clamp(o.overlap, 0, o.size / 2));
  std::u32string all;
  std::vector<std::pair<std::size_t, std::optional<int>>> starts;  // page starts in `all`
  for (const auto& p : pages) {
    if (p.text.empty()) continue;
    if (!all.empty()) all += U"\n\n";
    starts.emplace_back(all.size(), p.number);
    all += utf8::decode(p.text);
  }
  std::vector<chunk> out;
  std::size_t pos = 0;
  while (pos < all.size()) {
    while (pos < all.size() && blank(all[pos])) ++pos;
    if (pos >= all.size()) break;
    const std::size_t cut = cut_at(all, pos, size);
    std::size_t end = cut;
    while (end > pos && blank(all[end - 1])) --end;
    chunk c;
    c.index = static_cast<int>(out.size());
    c.content = utf8::encode(std::u32string_view(all).substr(pos, end - pos));
    c.start = static_cast<int>(pos);
    c.end = static_cast<int>(end);
    auto page = std::upper_bound(starts.begin(), starts.end(), pos,
                                 [](std::size_t p, const auto& s) { return p < s.first; });
    if (page != starts.begin()) c.page = std::prev(page)->second;
    out.push_back(std::move(c));
    if (cut >= all.size()) break;
    // A new paragraph starts afresh; otherwise the next chunk repeats the last `overlap`
    // characters, from a word's start.
    if (cut >= 2 && all[cut - 1] == U'\n' && all[cut - 2] == U'\n') {
      pos = cut;
      continue;
    }
    std::size_t next = cut > overlap ? cut - overlap : 0;
    next = std::max(next, pos + 1);
    while (next < cut && !blank(all[next - 1])) ++next;
    pos = next;
  }
  return out;
}

}  // namespace mq::documents
