#include "mq/core/scan.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mq {

const char* find_quote_or_backslash(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  for (; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
    if (const unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(hit)); bits != 0)
      return p + __builtin_ctz(bits);
  }
#endif
  while (p < end && *p != '"' && *p != '\\') ++p;
  return p;
}

}  // namespace mq
