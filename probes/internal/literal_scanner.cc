#include "probes/internal/literal_scanner.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace klaxon::probes_internal {
namespace {

constexpr int kWindow = 3;
// A longer literal chooses its window among its first ones only, which keeps
// the count table small.
constexpr size_t kMaxWindowChoices = 64;
constexpr uint32_t kNoKey = std::numeric_limits<uint32_t>::max();

// How common a byte looks in log text, higher for more common: the first
// windows avoid spaces, digits, lowercase letters and the usual punctuation.
int Commonness(unsigned char c) {
  if (c == ' ') return 10;
  if (c >= '0' && c <= '9') return 7;
  if (c >= 'a' && c <= 'z') return std::strchr("etaoinsrhldcu", c) != nullptr ? 7 : 5;
  if (c != 0 && std::strchr("/.\"-:=,;_[]()", c) != nullptr) return 6;
  if (c > ' ' && c < 0x7F) return 3;  // uppercase and other punctuation
  return 1;
}

inline uint32_t WindowKey(const char* p) {
  return static_cast<unsigned char>(p[0]) |
         static_cast<uint32_t>(static_cast<unsigned char>(p[1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(p[2])) << 16;
}

inline uint64_t Load64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

}  // namespace

struct LiteralScanner::Literal {
  // What a confirmation reads first: the first 16 bytes as two words, the
  // masks of the bytes that count, the window's offset and the size.
  uint64_t word[2] = {0, 0};
  uint64_t mask[2] = {0, 0};
  uint32_t anchor = 0;
  uint32_t size = 0;
  std::string bytes;

  // Whether the literal occurs at p[s] (s < n).
  [[gnu::always_inline]] bool At(const char* p, size_t n, size_t s) const {
    if (size > n - s) return false;
    if (size <= 16 && n - s >= 16) {
      return (((Load64(p + s) ^ word[0]) & mask[0]) | ((Load64(p + s + 8) ^ word[1]) & mask[1])) ==
             0;
    }
    return std::memcmp(p + s, bytes.data(), size) == 0;
  }
};

// Occurrences of every window a literal could use, counted in the text
// Observe sees: an open-addressing table of the windows' keys.
struct LiteralScanner::Tally {
  std::vector<uint32_t> keys;
  std::vector<uint32_t> counts;
  int shift = 0;
  size_t observed = 0;

  size_t Slot(uint32_t key) const { return (key * 0x9E3779B1u) >> shift; }
  void Add(uint32_t key) {
    size_t i = Slot(key);
    while (keys[i] != kNoKey && keys[i] != key) i = (i + 1) & (keys.size() - 1);
    keys[i] = key;
  }
  uint32_t Count(uint32_t key) const {
    size_t i = Slot(key);
    while (keys[i] != kNoKey) {
      if (keys[i] == key) return counts[i];
      i = (i + 1) & (keys.size() - 1);
    }
    return 0;
  }
};

namespace {

// Appends the hits of one vector step of `width` bytes at p[base]: for each
// bit j of `candidates`, the literals whose buckets are set in
// buckets[j] (and buckets[width + j] for the second group) and whose window
// starts at base + j, if the whole literal is there. `newlines` are the
// step's, `lines` those before it. Out of line so that the scan loop keeps
// its tables in registers (a call clobbers them, which costs less than
// spilling them on every step with a candidate). Called only from the AVX2
// and AVX-512 scans, on CPUs that all have POPCNT.
template <int G, typename Literal>
[[gnu::noinline, gnu::target("popcnt")]] void ConfirmStep(const Literal* literals, size_t width,
                                                          const char* p, size_t n, size_t base,
                                                          uint64_t candidates, uint64_t newlines,
                                                          uint32_t lines, const uint8_t* buckets,
                                                          std::vector<LiteralScanner::Hit>& hits) {
  do {
    const int j = __builtin_ctzll(candidates);
    candidates &= candidates - 1;
    const size_t at = base + j;
    unsigned bits = buckets[j];
    if constexpr (G == 2) bits |= unsigned{buckets[width + j]} << 8;
    // Not 0: a candidate has a bucket.
    do {
      const unsigned id = __builtin_ctz(bits);
      bits &= bits - 1;
      const Literal& literal = literals[id];
      if (at >= literal.anchor && literal.At(p, n, at - literal.anchor)) {
        const auto line = lines + static_cast<uint32_t>(
                                      __builtin_popcountll(newlines & ((uint64_t{1} << j) - 1)));
        hits.push_back({static_cast<uint32_t>(at), line, id});
      }
    } while (bits != 0);
  } while (candidates != 0);
}

#if defined(__x86_64__)

// The nibble tables of one group of 8 literals, for the 3 bytes of the window.
struct Avx2Group {
  __m256i lo0, lo1, lo2, hi0, hi1, hi2;
};

[[gnu::target("avx2")]] inline __m256i Broadcast16Avx2(const uint8_t* table) {
  return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(table)));
}

[[gnu::target("avx2")]] inline Avx2Group LoadAvx2(const uint8_t (&lo)[3][16],
                                                  const uint8_t (&hi)[3][16]) {
  return {Broadcast16Avx2(lo[0]), Broadcast16Avx2(lo[1]), Broadcast16Avx2(lo[2]),
          Broadcast16Avx2(hi[0]), Broadcast16Avx2(hi[1]), Broadcast16Avx2(hi[2])};
}

// Bucket bits of the group at each of 32 positions, from the nibbles of the
// bytes at those positions (k = 0) and the next two.
[[gnu::target("avx2"), gnu::always_inline]] inline __m256i GroupAvx2(const Avx2Group& t,
                                                                     __m256i low0, __m256i high0,
                                                                     __m256i low1, __m256i high1,
                                                                     __m256i low2, __m256i high2) {
  const __m256i r0 =
      _mm256_and_si256(_mm256_shuffle_epi8(t.lo0, low0), _mm256_shuffle_epi8(t.hi0, high0));
  const __m256i r1 =
      _mm256_and_si256(_mm256_shuffle_epi8(t.lo1, low1), _mm256_shuffle_epi8(t.hi1, high1));
  const __m256i r2 =
      _mm256_and_si256(_mm256_shuffle_epi8(t.lo2, low2), _mm256_shuffle_epi8(t.hi2, high2));
  return _mm256_and_si256(r0, _mm256_and_si256(r1, r2));
}

// The positions [0, 32) of `at` where a window starts (reading 2 bytes past
// them); if any, their bucket bits go to buckets[g * 32 + position].
template <int G>
[[gnu::target("avx2"), gnu::always_inline]] inline uint32_t StepAvx2(const char* at,
                                                                     const Avx2Group& t0,
                                                                     const Avx2Group& t1,
                                                                     uint8_t* buckets,
                                                                     uint32_t& newlines) {
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
  newlines =
      static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, _mm256_set1_epi8('\n'))));
  const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + 1));
  const __m256i v2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at + 2));
  const __m256i low0 = _mm256_and_si256(v0, nibble);
  const __m256i high0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), nibble);
  const __m256i low1 = _mm256_and_si256(v1, nibble);
  const __m256i high1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), nibble);
  const __m256i low2 = _mm256_and_si256(v2, nibble);
  const __m256i high2 = _mm256_and_si256(_mm256_srli_epi16(v2, 4), nibble);
  const __m256i r0 = GroupAvx2(t0, low0, high0, low1, high1, low2, high2);
  __m256i any = r0;
  __m256i r1 = r0;
  if constexpr (G == 2) {
    r1 = GroupAvx2(t1, low0, high0, low1, high1, low2, high2);
    any = _mm256_or_si256(r0, r1);
  }
  const auto none =
      static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(any, _mm256_setzero_si256())));
  if (none != 0xFFFFFFFFu) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(buckets), r0);
    if constexpr (G == 2) _mm256_store_si256(reinterpret_cast<__m256i*>(buckets + 32), r1);
  }
  return ~none;
}

template <int G, typename Literal>
[[gnu::target("avx2")]] void ScanAvx2(const Literal* literals, const uint8_t (&lo)[2][3][16],
                                      const uint8_t (&hi)[2][3][16], const char* p, size_t n,
                                      std::vector<LiteralScanner::Hit>& hits) {
  const Avx2Group t0 = LoadAvx2(lo[0], hi[0]);
  const Avx2Group t1 = LoadAvx2(lo[G - 1], hi[G - 1]);
  alignas(32) uint8_t buckets[2 * 32];
  uint32_t lines = 0;
  uint32_t newlines;
  size_t i = 0;
  for (; i + 32 + kWindow - 1 <= n; i += 32) {
    const uint32_t candidates = StepAvx2<G>(p + i, t0, t1, buckets, newlines);
    if (candidates != 0) {
      ConfirmStep<G>(literals, 32, p, n, i, candidates, newlines, lines, buckets, hits);
    }
    lines += __builtin_popcount(newlines);
  }
  if (i < n) {
    // The last bytes, copied where the windows can read past them.
    alignas(32) char tail[2 * 32 + kWindow - 1] = {};
    std::memcpy(tail, p + i, n - i);
    for (size_t t = 0; i + t < n; t += 32) {
      uint32_t candidates = StepAvx2<G>(tail + t, t0, t1, buckets, newlines);
      if (n - i - t < 32) candidates &= (uint32_t{1} << (n - i - t)) - 1;
      if (candidates != 0) {
        ConfirmStep<G>(literals, 32, p, n, i + t, candidates, newlines, lines, buckets, hits);
      }
      lines += __builtin_popcount(newlines);
    }
  }
}

struct Avx512Group {
  __m512i lo0, lo1, lo2, hi0, hi1, hi2;
};

// Each 128-bit lane shuffles by its own copy of a table.
[[gnu::target("avx512bw")]] inline __m512i Broadcast16Avx512(const uint8_t* table) {
  alignas(64) uint8_t lanes[64];
  for (int lane = 0; lane < 4; ++lane) std::memcpy(lanes + 16 * lane, table, 16);
  return _mm512_load_si512(lanes);
}

[[gnu::target("avx512bw")]] inline Avx512Group LoadAvx512(const uint8_t (&lo)[3][16],
                                                          const uint8_t (&hi)[3][16]) {
  return {Broadcast16Avx512(lo[0]), Broadcast16Avx512(lo[1]), Broadcast16Avx512(lo[2]),
          Broadcast16Avx512(hi[0]), Broadcast16Avx512(hi[1]), Broadcast16Avx512(hi[2])};
}

[[gnu::target("avx512bw"), gnu::always_inline]] inline __m512i GroupAvx512(
    const Avx512Group& t, __m512i low0, __m512i high0, __m512i low1, __m512i high1, __m512i low2,
    __m512i high2) {
  const __m512i r0 =
      _mm512_and_si512(_mm512_shuffle_epi8(t.lo0, low0), _mm512_shuffle_epi8(t.hi0, high0));
  const __m512i r1 =
      _mm512_and_si512(_mm512_shuffle_epi8(t.lo1, low1), _mm512_shuffle_epi8(t.hi1, high1));
  const __m512i r2 =
      _mm512_and_si512(_mm512_shuffle_epi8(t.lo2, low2), _mm512_shuffle_epi8(t.hi2, high2));
  return _mm512_and_si512(r0, _mm512_and_si512(r1, r2));
}

template <int G>
[[gnu::target("avx512bw"), gnu::always_inline]] inline uint64_t StepAvx512(const char* at,
                                                                           const Avx512Group& t0,
                                                                           const Avx512Group& t1,
                                                                           uint8_t* buckets,
                                                                           uint64_t& newlines) {
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i v0 = _mm512_loadu_si512(at);
  newlines = _mm512_cmpeq_epi8_mask(v0, _mm512_set1_epi8('\n'));
  const __m512i v1 = _mm512_loadu_si512(at + 1);
  const __m512i v2 = _mm512_loadu_si512(at + 2);
  const __m512i low0 = _mm512_and_si512(v0, nibble);
  const __m512i high0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), nibble);
  const __m512i low1 = _mm512_and_si512(v1, nibble);
  const __m512i high1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), nibble);
  const __m512i low2 = _mm512_and_si512(v2, nibble);
  const __m512i high2 = _mm512_and_si512(_mm512_srli_epi16(v2, 4), nibble);
  const __m512i r0 = GroupAvx512(t0, low0, high0, low1, high1, low2, high2);
  __m512i any = r0;
  __m512i r1 = r0;
  if constexpr (G == 2) {
    r1 = GroupAvx512(t1, low0, high0, low1, high1, low2, high2);
    any = _mm512_or_si512(r0, r1);
  }
  const uint64_t candidates = _mm512_test_epi8_mask(any, any);
  if (candidates != 0) {
    _mm512_store_si512(buckets, r0);
    if constexpr (G == 2) _mm512_store_si512(buckets + 64, r1);
  }
  return candidates;
}

template <int G, typename Literal>
[[gnu::target("avx512bw")]] void ScanAvx512(const Literal* literals, const uint8_t (&lo)[2][3][16],
                                            const uint8_t (&hi)[2][3][16], const char* p, size_t n,
                                            std::vector<LiteralScanner::Hit>& hits) {
  const Avx512Group t0 = LoadAvx512(lo[0], hi[0]);
  const Avx512Group t1 = LoadAvx512(lo[G - 1], hi[G - 1]);
  alignas(64) uint8_t buckets[2 * 64];
  uint32_t lines = 0;
  uint64_t newlines;
  size_t i = 0;
  for (; i + 64 + kWindow - 1 <= n; i += 64) {
    const uint64_t candidates = StepAvx512<G>(p + i, t0, t1, buckets, newlines);
    if (candidates != 0) {
      ConfirmStep<G>(literals, 64, p, n, i, candidates, newlines, lines, buckets, hits);
    }
    lines += __builtin_popcountll(newlines);
  }
  if (i < n) {
    alignas(64) char tail[2 * 64 + kWindow - 1] = {};
    std::memcpy(tail, p + i, n - i);
    for (size_t t = 0; i + t < n; t += 64) {
      uint64_t candidates = StepAvx512<G>(tail + t, t0, t1, buckets, newlines);
      if (n - i - t < 64) candidates &= (uint64_t{1} << (n - i - t)) - 1;
      if (candidates != 0) {
        ConfirmStep<G>(literals, 64, p, n, i + t, candidates, newlines, lines, buckets, hits);
      }
      lines += __builtin_popcountll(newlines);
    }
  }
}

bool CpuHas(LiteralScanner::Isa isa) {
  // __builtin_cpu_supports also checks that the OS saves the wide registers.
  return isa == LiteralScanner::Isa::kAvx2 ? __builtin_cpu_supports("avx2")
                                           : __builtin_cpu_supports("avx512bw");
}

#else

bool CpuHas(LiteralScanner::Isa) { return false; }

#endif

}  // namespace

std::unique_ptr<LiteralScanner> LiteralScanner::Create(std::vector<std::string> literals) {
  return CreateForIsa(CpuHas(Isa::kAvx512bw) ? Isa::kAvx512bw : Isa::kAvx2, std::move(literals));
}

std::unique_ptr<LiteralScanner> LiteralScanner::CreateForIsa(Isa isa,
                                                             std::vector<std::string> literals) {
  if (literals.empty() || literals.size() > kMaxLiterals || !CpuHas(isa)) return nullptr;
  for (const std::string& literal : literals) {
    if (literal.empty() || literal.size() > std::numeric_limits<uint32_t>::max()) return nullptr;
  }
  return std::unique_ptr<LiteralScanner>(new LiteralScanner(isa, std::move(literals)));
}

LiteralScanner::LiteralScanner(Isa isa, std::vector<std::string> literals) : isa_(isa) {
  size_t windows = 0;
  for (std::string& bytes : literals) {
    Literal literal;
    literal.bytes = std::move(bytes);
    literal.size = static_cast<uint32_t>(literal.bytes.size());
    const std::string& b = literal.bytes;
    char first[16] = {};
    std::memcpy(first, b.data(), std::min<size_t>(b.size(), 16));
    for (size_t w = 0; w < 2; ++w) {
      literal.word[w] = Load64(first + 8 * w);
      const size_t in_word = std::min<size_t>(b.size() > 8 * w ? b.size() - 8 * w : 0, 8);
      literal.mask[w] = in_word == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * in_word)) - 1;
    }
    if (b.size() > kWindow) {
      int best = std::numeric_limits<int>::max();
      for (size_t a = 0; a + kWindow <= b.size() && a < kMaxWindowChoices; ++a) {
        int score = 0;
        for (int k = 0; k < kWindow; ++k) score += Commonness(b[a + k]);
        if (score < best) {
          best = score;
          literal.anchor = static_cast<uint32_t>(a);
        }
      }
      windows += std::min(b.size() - kWindow + 1, kMaxWindowChoices);
    }
    literals_.push_back(std::move(literal));
  }
  if (windows > 0) {
    tally_ = std::make_unique<Tally>();
    size_t slots = 64;
    while (slots < 4 * windows) slots *= 2;
    tally_->keys.assign(slots, kNoKey);
    tally_->counts.assign(slots, 0);
    tally_->shift = 32 - __builtin_ctzll(slots);
    for (const Literal& literal : literals_) {
      const std::string& b = literal.bytes;
      for (size_t a = 0; a + kWindow <= b.size() && a < kMaxWindowChoices; ++a) {
        tally_->Add(WindowKey(b.data() + a));
      }
    }
  }
  BuildTables();
}

LiteralScanner::~LiteralScanner() = default;

void LiteralScanner::BuildTables() {
  std::memset(lo_, 0, sizeof lo_);
  std::memset(hi_, 0, sizeof hi_);
  for (size_t i = 0; i < literals_.size(); ++i) {
    const Literal& literal = literals_[i];
    const size_t g = i / 8;
    const auto bucket = static_cast<uint8_t>(1u << (i % 8));
    for (int k = 0; k < kWindow; ++k) {
      if (static_cast<size_t>(k) < literal.bytes.size()) {
        const auto c = static_cast<unsigned char>(literal.bytes[literal.anchor + k]);
        lo_[g][k][c & 0x0F] |= bucket;
        hi_[g][k][c >> 4] |= bucket;
      } else {
        // A literal shorter than the window: any byte past it will do.
        for (int x = 0; x < 16; ++x) {
          lo_[g][k][x] |= bucket;
          hi_[g][k][x] |= bucket;
        }
      }
    }
  }
}

void LiteralScanner::Scan(const char* p, size_t n, std::vector<Hit>& hits) const {
#if defined(__x86_64__)
  const Literal* literals = literals_.data();
  const bool two_groups = literals_.size() > 8;
  if (isa_ == Isa::kAvx512bw) {
    two_groups ? ScanAvx512<2>(literals, lo_, hi_, p, n, hits)
               : ScanAvx512<1>(literals, lo_, hi_, p, n, hits);
  } else {
    two_groups ? ScanAvx2<2>(literals, lo_, hi_, p, n, hits)
               : ScanAvx2<1>(literals, lo_, hi_, p, n, hits);
  }
#else
  (void)p;
  (void)n;
  (void)hits;
#endif
}

void LiteralScanner::Observe(const char* p, size_t n) {
  if (tally_ == nullptr) return;
  Tally& t = *tally_;
  n = std::min(n, kTuneBytes - t.observed);
  for (size_t i = 0; i + kWindow <= n; ++i) {
    const uint32_t key = WindowKey(p + i);
    size_t slot = t.Slot(key);
    while (t.keys[slot] != kNoKey) {
      if (t.keys[slot] == key) {
        ++t.counts[slot];
        break;
      }
      slot = (slot + 1) & (t.keys.size() - 1);
    }
  }
  t.observed += n;
  if (t.observed < kTuneBytes) return;
  for (Literal& literal : literals_) {
    const std::string& b = literal.bytes;
    if (b.size() <= static_cast<size_t>(kWindow)) continue;
    // Ties keep the window chosen by the looks of its bytes.
    uint32_t best = t.Count(WindowKey(b.data() + literal.anchor));
    for (size_t a = 0; a + kWindow <= b.size() && a < kMaxWindowChoices; ++a) {
      const uint32_t count = t.Count(WindowKey(b.data() + a));
      if (count < best) {
        best = count;
        literal.anchor = static_cast<uint32_t>(a);
      }
    }
  }
  tally_.reset();
  BuildTables();
}

}  // namespace klaxon::probes_internal
