#include "probes/log_matcher.h"

#include <hs/hs.h>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "probes/internal/literal_scanner.h"
#include "re2/re2.h"

namespace klaxon {
namespace {

// Literals are found by one scan over this many bytes of whole lines, so that
// the passes over a block (newlines, byte checks, literals, regexes) find it
// in the CPU cache.
constexpr size_t kBlockBytes = 256 * 1024;
// Keeps a block's offsets in 32 bits and its length in Hyperscan's unsigned int.
constexpr size_t kMaxLineBytesLimit = size_t{1} << 30;
constexpr uint32_t kNoLine = std::numeric_limits<uint32_t>::max();

constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD
constexpr absl::string_view kEllipsis = "\xE2\x80\xA6";              // U+2026
constexpr absl::string_view kStateMagic = "klaxon-log-matcher-state/1\n";

// ---------------------------------------------------------------------------
// Bytes and UTF-8.

// The length of the valid UTF-8 sequence at p[0..n), or 0 if p[0] starts none
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SequenceLength(const unsigned char* p, size_t n) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  auto cont = [&](size_t i, unsigned lo, unsigned hi) { return i < n && p[i] >= lo && p[i] <= hi; };
  if (c < 0xE0) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c < 0xF0) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c < 0xF5) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

inline uint64_t Load64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Nonzero iff one of the 8 bytes is NUL or non-ASCII: a NUL borrows into its
// high bit on subtraction, a non-ASCII byte has it set already.
inline uint64_t NulOrHighBits(uint64_t w) { return ((w - kOnes) | w) & kHighBits; }

// The first position at or after `from` holding a NUL or non-ASCII byte, or n.
// Most log text is plain ASCII, so this skips it 32 bytes at a time.
size_t FindNulOrNonAscii(const char* p, size_t n, size_t from) {
  size_t i = from;
  for (; i + 32 <= n; i += 32) {
    if (NulOrHighBits(Load64(p + i)) | NulOrHighBits(Load64(p + i + 8)) |
        NulOrHighBits(Load64(p + i + 16)) | NulOrHighBits(Load64(p + i + 24))) {
      break;
    }
  }
  for (; i < n; ++i) {
    unsigned char c = p[i];
    if (c == 0 || c >= 0x80) return i;
  }
  return n;
}

// The offsets of the line ends of a block: an array with room for a block of
// nothing but newlines, so that ScanLines stores without checking for room
// (pages never written are never committed).
class LineEnds {
 public:
  LineEnds() : ends_(new uint32_t[kBlockBytes + 1]) {}
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint32_t operator[](size_t i) const { return ends_[i]; }
  uint32_t back() const { return ends_[size_ - 1]; }
  const uint32_t* data() const { return ends_.get(); }
  void clear() { size_ = 0; }
  void push_back(uint32_t end) { ends_[size_++] = end; }
  // Where the next ends go; `added` of them are kept.
  uint32_t* next() { return ends_.get() + size_; }
  void grow(size_t added) { size_ += added; }

 private:
  std::unique_ptr<uint32_t[]> ends_;
  size_t size_ = 0;
};

// Newlines and NUL-or-non-ASCII bytes of 64 bytes, one bit per byte.
struct ByteMasks {
  uint64_t newline;
  uint64_t suspect;
};

// Records one 64-byte step of ScanLines: its newlines as line ends, and the
// lines (numbered by `ends`) that hold a suspect byte, once each.
[[gnu::always_inline]] inline void RecordMasks(ByteMasks m, size_t at, LineEnds& ends,
                                               std::vector<uint32_t>& suspects) {
  while (m.suspect != 0) {
    int b = __builtin_ctzll(m.suspect);
    auto line = static_cast<uint32_t>(ends.size() +
                                      __builtin_popcountll(m.newline & ((uint64_t{1} << b) - 1)));
    if (suspects.empty() || suspects.back() != line) suspects.push_back(line);
    // The rest of that line needs no look; go on after its '\n'.
    uint64_t later_newlines = m.newline & ~((uint64_t{2} << b) - 1);
    if (later_newlines == 0) break;
    m.suspect &= ~((later_newlines & (~later_newlines + 1)) - 1);
  }
  // Most steps hold no newline or one, in no pattern a branch predicts: the
  // first is stored whether there is one or not (in room past the ends, as
  // the step starts at or past the ends' count), and counted only if there is.
  uint32_t* out = ends.next();
  out[0] = static_cast<uint32_t>(at + __builtin_ctzll(m.newline | uint64_t{1} << 63));
  size_t added = m.newline != 0 ? 1 : 0;
  for (uint64_t rest = m.newline & (m.newline - 1); rest != 0; rest &= rest - 1) {
    out[added++] = static_cast<uint32_t>(at + __builtin_ctzll(rest));
  }
  ends.grow(added);
}

// Returns where the vector loop stopped; the caller finishes byte by byte.
#if defined(__x86_64__)
[[gnu::target("avx512bw")]] size_t ScanLinesAvx512(const char* p, size_t n, LineEnds& ends,
                                                   std::vector<uint32_t>& suspects) {
  const __m512i newline = _mm512_set1_epi8('\n');
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i v = _mm512_loadu_si512(p + i);
    ByteMasks m{_mm512_cmpeq_epi8_mask(v, newline),
                _mm512_movepi8_mask(v) | _mm512_testn_epi8_mask(v, v)};
    RecordMasks(m, i, ends, suspects);
  }
  return i;
}

[[gnu::target("avx2")]] size_t ScanLinesAvx2(const char* p, size_t n, LineEnds& ends,
                                             std::vector<uint32_t>& suspects) {
  const __m256i newline = _mm256_set1_epi8('\n');
  const __m256i zero = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32));
    auto nl_lo = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, newline)));
    auto nl_hi = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, newline)));
    auto bad_lo = static_cast<uint32_t>(_mm256_movemask_epi8(lo) |
                                        _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, zero)));
    auto bad_hi = static_cast<uint32_t>(_mm256_movemask_epi8(hi) |
                                        _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, zero)));
    ByteMasks m{nl_lo | uint64_t{nl_hi} << 32, bad_lo | uint64_t{bad_hi} << 32};
    RecordMasks(m, i, ends, suspects);
  }
  return i;
}
#endif

#if defined(__SSE2__)
size_t ScanLinesSse2(const char* p, size_t n, LineEnds& ends, std::vector<uint32_t>& suspects) {
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i zero = _mm_setzero_si128();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    ByteMasks m{0, 0};
    for (int k = 0; k < 4; ++k) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16 * k));
      m.newline |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)))}
                   << (16 * k);
      m.suspect |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(v) |
                                                  _mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)))}
                   << (16 * k);
    }
    RecordMasks(m, i, ends, suspects);
  }
  return i;
}
#endif

// Stores the offset of each '\n' in p[0, n) (n <= kBlockBytes) in the empty
// `ends`, and the index of each line (as numbered by `ends`) that holds a NUL
// or non-ASCII byte in `suspects`, ascending and once. One pass, 64 bytes a
// step.
void ScanLines(const char* p, size_t n, LineEnds& ends, std::vector<uint32_t>& suspects) {
  size_t i = 0;
#if defined(__x86_64__)
  static const bool has_avx512 = __builtin_cpu_supports("avx512bw");
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  i = has_avx512 ? ScanLinesAvx512(p, n, ends, suspects)
      : has_avx2 ? ScanLinesAvx2(p, n, ends, suspects)
                 : ScanLinesSse2(p, n, ends, suspects);
#elif defined(__SSE2__)
  i = ScanLinesSse2(p, n, ends, suspects);
#endif
  for (; i < n; ++i) {
    unsigned char c = p[i];
    if (c == '\n') {
      ends.push_back(static_cast<uint32_t>(i));
    } else if ((c == 0 || c >= 0x80) && (suspects.empty() || suspects.back() != ends.size())) {
      suspects.push_back(static_cast<uint32_t>(ends.size()));
    }
  }
}

bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(p + i, n - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// Appends `in` as valid UTF-8, each invalid byte as U+FFFD, as long as `out`
// stays within `max_size` bytes. Returns false if it had to stop early.
bool AppendSanitizedUtf8(std::string& out, absl::string_view in, size_t max_size) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    size_t len = Utf8SequenceLength(p + i, n - i);
    size_t out_len = len == 0 ? kReplacementCharacter.size() : len;
    if (out.size() + out_len > max_size) return false;
    if (len == 0) {
      out.append(kReplacementCharacter.data(), kReplacementCharacter.size());
      i += 1;
    } else {
      out.append(in.data() + i, len);
      i += len;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// RE2 syntax to Hyperscan syntax.

struct HyperscanPattern {
  std::string expression;
  std::vector<std::string> group_names;  // In order of appearance, repeats kept.
};

// Rewrites a pattern that RE2 (Latin-1 mode) accepted so that Hyperscan (byte
// mode) matches the same lines: Hyperscan rejects the ungreedy flag U, which
// changes no line's yes/no answer; its `\s` also takes \x0B and its `\v` is a
// class of vertical space, where RE2's are [\t\n\f\r ] and \x0B; `\12` could
// be a back reference for it. Group names are dropped as Hyperscan reports no
// groups. `\Q...\E` is copied untouched.
absl::StatusOr<HyperscanPattern> ToHyperscanSyntax(absl::string_view re) {
  HyperscanPattern out;
  std::string& hs = out.expression;
  bool in_class = false;
  bool class_start = false;  // Right after `[` or `[^`, where `]` is literal.
  size_t i = 0;
  const size_t n = re.size();
  auto copy_braced = [&](size_t from) {  // Copies `{...}` at `from`, if any.
    size_t close = re.find('}', from);
    size_t end = close == absl::string_view::npos ? n : close + 1;
    hs.append(re.data() + from, end - from);
    return end;
  };
  while (i < n) {
    char c = re[i];
    if (c == '\\') {
      class_start = false;
      if (i + 1 >= n) return absl::InvalidArgumentError("trailing backslash");
      char d = re[i + 1];
      switch (d) {
        case 'Q': {
          size_t e = re.find("\\E", i + 2);
          size_t end = e == absl::string_view::npos ? n : e + 2;
          hs.append(re.data() + i, end - i);
          i = end;
          continue;
        }
        case 'v':
          hs += "\\x0b";
          break;
        case 's':
          hs += in_class ? "\\t\\n\\f\\r\\x20" : "[\\t\\n\\f\\r\\x20]";
          break;
        case 'S':
          hs += in_class ? "\\x00-\\x08\\x0b\\x0e-\\x1f\\x21-\\xff" : "[^\\t\\n\\f\\r\\x20]";
          break;
        case 'p':
        case 'P':
          hs.append(re.data() + i, 2);
          if (i + 2 < n && re[i + 2] == '{') {
            i = copy_braced(i + 2);
          } else {
            if (i + 2 < n) hs += re[i + 2];
            i = std::min(n, i + 3);
          }
          continue;
        case 'x':
          hs += "\\x";
          if (i + 2 < n && re[i + 2] == '{') {
            i = copy_braced(i + 2);
          } else {
            size_t end = std::min(n, i + 4);
            hs.append(re.data() + i + 2, end - (i + 2));
            i = end;
          }
          continue;
        default:
          if (d >= '0' && d <= '7') {
            // RE2: a digit and up to two more octal digits.
            unsigned code = d - '0';
            size_t j = i + 2;
            for (int k = 0; k < 2 && j < n && re[j] >= '0' && re[j] <= '7'; ++k, ++j) {
              code = code * 8 + (re[j] - '0');
            }
            absl::StrAppendFormat(&hs, "\\x{%x}", code);
            i = j;
            continue;
          }
          hs.append(re.data() + i, 2);
          break;
      }
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < n && re[i + 1] == ':') {
        size_t close = re.find(":]", i + 2);
        size_t end = close == absl::string_view::npos ? n : close + 2;
        hs.append(re.data() + i, end - i);
        i = end;
        class_start = false;
        continue;
      }
      if (c == ']' && !class_start) in_class = false;
      class_start = false;
      hs += c;
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      class_start = true;
      hs += c;
      ++i;
      if (i < n && re[i] == '^') {
        hs += '^';
        ++i;
      }
      continue;
    }
    if (c == '(' && i + 1 < n && re[i + 1] == '?') {
      if (re.substr(i, 4) == "(?P<") {
        size_t close = re.find('>', i + 4);
        if (close == absl::string_view::npos) {
          return absl::InvalidArgumentError("unterminated group name");
        }
        out.group_names.emplace_back(re.substr(i + 4, close - (i + 4)));
        hs += '(';
        i = close + 1;
        continue;
      }
      size_t j = i + 2;
      std::string flags;
      while (j < n && re[j] != ')' && re[j] != ':') {
        if (re[j] != 'U') flags += re[j];
        ++j;
      }
      if (j >= n) return absl::InvalidArgumentError("unterminated group");
      if (!flags.empty() && flags.back() == '-') flags.pop_back();
      if (re[j] == ')') {
        if (!flags.empty()) absl::StrAppend(&hs, "(?", flags, ")");
      } else {
        absl::StrAppend(&hs, "(?", flags, ":");
      }
      i = j + 1;
      continue;
    }
    hs += c;
    ++i;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The state format: fields as LEB128 varints and length-prefixed strings,
// closed by an FNV-1a 64 checksum of everything before it.

uint64_t Fnv1a64(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void PutString(std::string& out, absl::string_view s) {
  PutVarint(out, s.size());
  out.append(s.data(), s.size());
}

class StateReader {
 public:
  explicit StateReader(absl::string_view in) : in_(in) {}
  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      auto b = static_cast<unsigned char>(in_[0]);
      in_.remove_prefix(1);
      if (shift == 63 && b > 1) return false;
      v |= uint64_t{b & 0x7Fu} << shift;
      if (b < 0x80) return true;
    }
    return false;
  }
  bool String(absl::string_view& s) {
    uint64_t len;
    if (!Varint(len) || len > in_.size()) return false;
    s = in_.substr(0, len);
    in_.remove_prefix(len);
    return true;
  }
  // A count of items that take at least one byte each: more than the bytes
  // left is corrupt, and checking it bounds what the reader allocates.
  bool Count(uint64_t& v) { return Varint(v) && v <= in_.size(); }
  bool done() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

// Captured values are kept per label set as one string: each value as a
// 4-byte little-endian length and its bytes, in group order.
void AppendKeyValue(std::string& key, absl::string_view value, size_t max_bytes) {
  size_t at = key.size();
  key.append(4, '\0');
  std::string sanitized;
  bool valid =
      FindNulOrNonAscii(value.data(), value.size(), 0) == value.size() || IsValidUtf8(value);
  if (valid && value.size() <= max_bytes) {
    key.append(value.data(), value.size());
  } else {
    AppendSanitizedUtf8(sanitized, value, max_bytes);
    key += sanitized;
  }
  auto len = static_cast<uint32_t>(key.size() - at - 4);
  for (int b = 0; b < 4; ++b) key[at + b] = static_cast<char>((len >> (8 * b)) & 0xFF);
}

std::vector<absl::string_view> DecodeKey(absl::string_view key) {
  std::vector<absl::string_view> values;
  while (key.size() >= 4) {
    uint32_t len = 0;
    for (int b = 0; b < 4; ++b) len |= uint32_t{static_cast<unsigned char>(key[b])} << (8 * b);
    key.remove_prefix(4);
    values.push_back(key.substr(0, len));
    key.remove_prefix(std::min<size_t>(len, key.size()));
  }
  return values;
}

struct RecentLine {
  std::string bytes;  // Raw, at most max_recent_line_bytes.
  bool cut;
};

struct MatchState {
  std::string name;
  bool literal = false;
  // Only for regexes with named groups: finds the values on matched lines.
  std::unique_ptr<RE2> re;
  std::vector<std::string> label_names;  // In group order.
  std::vector<int> group_indexes;        // RE2 submatch of each label.
  int submatches = 0;                    // 1 + the regex's groups.
  size_t max_label_sets = 0;

  uint64_t count = 0;  // Without named groups.
  absl::flat_hash_map<std::string, uint64_t> label_sets;
  uint64_t dropped = 0;

  // The last recent_lines matching lines of the Consume() call under way, as
  // a ring of views into its text; copied into `recent` when it ends.
  std::vector<absl::string_view> pending;
  size_t pending_next = 0;
  size_t pending_total = 0;
  // The kept lines, a ring as long as `pending` whose oldest is at
  // recent_next once it is full; the strings' buffers are reused.
  std::vector<RecentLine> recent;
  size_t recent_next = 0;
};

// Context of a scan of the literal database over lines of a block.
struct LiteralScan {
  const uint32_t* ends;           // Block offset of each line's end ('\n' or end of text).
  uint64_t offset;                // Block offset where the scan starts.
  size_t cursor;                  // The line of the previous match.
  uint32_t* last_line;            // Per literal: the line it last counted.
  std::vector<uint64_t>* events;  // (line << 32 | literal id), once per line.
  bool disorder;
};

int OnLiteralMatch(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                   unsigned int /*flags*/, void* context) {
  auto& s = *static_cast<LiteralScan*>(context);
  // A literal holds no '\n' and is not empty, so the match lies within the
  // line whose end is the first at or after its end. Hyperscan mostly reports
  // in order of `to`, so the line is found walking forward from the last one.
  const uint64_t end = to + s.offset;
  size_t line = s.cursor;
  if (end > s.ends[line]) {
    do ++line;
    while (s.ends[line] < end);
  } else if (line > 0 && s.ends[line - 1] >= end) {
    line = std::lower_bound(s.ends, s.ends + line, static_cast<uint32_t>(end)) - s.ends;
    s.disorder = true;
  }
  s.cursor = line;
  if (s.last_line[id] == line) return 0;
  s.last_line[id] = static_cast<uint32_t>(line);
  s.events->push_back(uint64_t{line} << 32 | id);
  return 0;
}

// Context of a scan of one line; each id is reported once (SINGLEMATCH, or
// `seen` for the literal database, which is built to report every match).
struct LineScan {
  unsigned* hits;
  size_t count;
  uint8_t* seen;  // Null when the database reports each id once.
};

int OnLineMatch(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
                unsigned int /*flags*/, void* context) {
  auto& s = *static_cast<LineScan*>(context);
  if (s.seen != nullptr) {
    if (s.seen[id]) return 0;
    s.seen[id] = 1;
  }
  s.hits[s.count++] = id;
  return 0;
}

}  // namespace

struct LogMatcher::Impl {
  LogMatcherOptions options;
  std::vector<MatchState> matches;
  std::vector<size_t> literal_matches;  // Literal database id -> matches index.
  std::vector<size_t> regex_matches;    // Regex database id -> matches index.
  // Finds the literals; where it cannot (no AVX2, too many literals), the
  // Hyperscan literal database does.
  std::unique_ptr<probes_internal::LiteralScanner> literal_scanner;
  hs_database_t* literal_db = nullptr;
  hs_database_t* regex_db = nullptr;
  hs_scratch_t* scratch = nullptr;

  uint64_t lines = 0;
  uint64_t truncated = 0;
  uint64_t invalid_utf8 = 0;
  uint64_t with_nul = 0;

  // The block being processed: its bytes, the offset of each line's end, and
  // the lines that hold a NUL or non-ASCII byte.
  const char* block = nullptr;
  LineEnds line_ends;
  std::vector<uint32_t> suspects;
  // Reused across calls so that the hot path does not allocate.
  std::vector<uint32_t> last_literal_line;
  std::vector<uint64_t> events;
  std::vector<probes_internal::LiteralScanner::Hit> literal_hits;
  std::vector<unsigned> hits;
  std::vector<uint8_t> seen;
  std::vector<re2::StringPiece> groups;
  std::string key;
  std::vector<MatchState*> with_pending;

  ~Impl() {
    hs_free_scratch(scratch);
    hs_free_database(literal_db);
    hs_free_database(regex_db);
  }

  absl::string_view Line(size_t i) const {
    size_t start = i == 0 ? 0 : line_ends[i - 1] + 1;
    return absl::string_view(block + start, line_ends[i] - start);
  }
  // The length of the block's longest line, in one pass without branches:
  // most blocks have no line to cut, and need no look at each line.
  size_t LongestLine() const {
    if (line_ends.empty()) return 0;
    const uint32_t* ends = line_ends.data();
    uint32_t longest = ends[0];
    for (size_t i = 1; i < line_ends.size(); ++i) {
      longest = std::max(longest, ends[i] - ends[i - 1] - 1);
    }
    return longest;
  }
  void Consume(absl::string_view text);
  void ProcessBlock();
  void MatchLines(size_t first, size_t last);
  void MatchLongLine(absl::string_view prefix);
  void CheckBytes(absl::string_view line) {
    if (std::memchr(line.data(), '\0', line.size()) != nullptr) ++with_nul;
    if (!IsValidUtf8(line)) ++invalid_utf8;
  }
  void Count(MatchState& m, absl::string_view line);
  void CountLabelSet(MatchState& m, absl::string_view line);
  void FlushRecent();
  std::string KeyFor(const MatchState& m, const std::vector<absl::string_view>& values);
};

void LogMatcher::Impl::Consume(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    block = text.data() + pos;
    const size_t limit = std::min(text.size() - pos, kBlockBytes);
    line_ends.clear();
    suspects.clear();
    ScanLines(block, limit, line_ends, suspects);
    if (pos + limit == text.size()) {
      // The last block; a final piece without '\n' is a line too.
      if (line_ends.empty() || line_ends.back() + 1 != limit) {
        line_ends.push_back(static_cast<uint32_t>(limit));
      }
    } else if (line_ends.empty()) {
      // One line longer than a block: it is a block of its own.
      const char* nl =
          static_cast<const char*>(std::memchr(block + limit, '\n', text.size() - pos - limit));
      size_t len = nl != nullptr ? nl - block : text.size() - pos;
      if (len > options.max_line_bytes) {
        ++lines;
        ++truncated;
        CheckBytes(absl::string_view(block, len));
        MatchLongLine(absl::string_view(block, options.max_line_bytes));
        pos += nl != nullptr ? len + 1 : len;
        continue;
      }
      line_ends.push_back(static_cast<uint32_t>(len));
      suspects.assign(1, 0);  // CheckBytes looks at the whole line.
    } else {
      // The piece after the last '\n' starts the next block.
      while (!suspects.empty() && suspects.back() >= line_ends.size()) suspects.pop_back();
    }
    ProcessBlock();
    pos += std::min<size_t>(line_ends.back() + 1, text.size() - pos);
  }
  FlushRecent();
}

void LogMatcher::Impl::ProcessBlock() {
  const size_t n = line_ends.size();
  lines += n;
  for (uint32_t i : suspects) CheckBytes(Line(i));
  size_t first = 0;
  if (options.max_line_bytes < kBlockBytes && LongestLine() > options.max_line_bytes) {
    for (size_t i = 0; i < n; ++i) {
      absl::string_view line = Line(i);
      if (line.size() <= options.max_line_bytes) continue;
      ++truncated;
      MatchLines(first, i);
      MatchLongLine(line.substr(0, options.max_line_bytes));
      first = i + 1;
    }
  }
  MatchLines(first, n);
}

void LogMatcher::Impl::MatchLines(size_t first, size_t last) {
  if (first >= last) return;
  const size_t start = first == 0 ? 0 : line_ends[first - 1] + 1;
  const size_t len = line_ends[last - 1] - start;
  if (literal_scanner != nullptr && len > 0) {
    if (literal_scanner->tuning()) literal_scanner->Observe(block + start, len);
    literal_hits.clear();
    literal_scanner->Scan(block + start, len, literal_hits);
    std::fill(last_literal_line.begin(), last_literal_line.end(), kNoLine);
    for (const probes_internal::LiteralScanner::Hit& hit : literal_hits) {
      const size_t line = first + hit.line;
      if (last_literal_line[hit.id] == line) continue;
      last_literal_line[hit.id] = static_cast<uint32_t>(line);
      Count(matches[literal_matches[hit.id]], Line(line));
    }
  } else if (literal_db != nullptr && len > 0) {
    events.clear();
    std::fill(last_literal_line.begin(), last_literal_line.end(), kNoLine);
    LiteralScan scan{line_ends.data(), start, first, last_literal_line.data(), &events, false};
    hs_scan(literal_db, block + start, static_cast<unsigned>(len), 0, scratch, OnLiteralMatch,
            &scan);
    if (scan.disorder) {
      std::sort(events.begin(), events.end());
      events.erase(std::unique(events.begin(), events.end()), events.end());
    }
    for (uint64_t e : events) {
      Count(matches[literal_matches[e & 0xFFFFFFFF]], Line(e >> 32));
    }
  }
  if (regex_db != nullptr) {
    for (size_t i = first; i < last; ++i) {
      absl::string_view line = Line(i);
      LineScan scan{hits.data(), 0, nullptr};
      hs_scan(regex_db, line.data(), static_cast<unsigned>(line.size()), 0, scratch, OnLineMatch,
              &scan);
      for (size_t h = 0; h < scan.count; ++h) Count(matches[regex_matches[hits[h]]], line);
    }
  }
}

void LogMatcher::Impl::MatchLongLine(absl::string_view prefix) {
  if (literal_scanner != nullptr) {
    std::fill(seen.begin(), seen.end(), 0);
    literal_hits.clear();
    literal_scanner->Scan(prefix.data(), prefix.size(), literal_hits);
    for (const probes_internal::LiteralScanner::Hit& hit : literal_hits) {
      if (seen[hit.id]) continue;
      seen[hit.id] = 1;
      Count(matches[literal_matches[hit.id]], prefix);
    }
  } else if (literal_db != nullptr) {
    std::fill(seen.begin(), seen.end(), 0);
    LineScan scan{hits.data(), 0, seen.data()};
    hs_scan(literal_db, prefix.data(), static_cast<unsigned>(prefix.size()), 0, scratch,
            OnLineMatch, &scan);
    for (size_t h = 0; h < scan.count; ++h) Count(matches[literal_matches[hits[h]]], prefix);
  }
  if (regex_db != nullptr) {
    LineScan scan{hits.data(), 0, nullptr};
    hs_scan(regex_db, prefix.data(), static_cast<unsigned>(prefix.size()), 0, scratch, OnLineMatch,
            &scan);
    for (size_t h = 0; h < scan.count; ++h) Count(matches[regex_matches[hits[h]]], prefix);
  }
}

void LogMatcher::Impl::Count(MatchState& m, absl::string_view line) {
  if (m.re != nullptr) {
    CountLabelSet(m, line);
  } else {
    ++m.count;
  }
  if (!m.pending.empty()) {
    if (m.pending_total == 0) {
      with_pending.push_back(&m);
      m.pending_next = 0;
    }
    m.pending[m.pending_next] = line;
    if (++m.pending_next == m.pending.size()) m.pending_next = 0;
    ++m.pending_total;
  }
}

void LogMatcher::Impl::CountLabelSet(MatchState& m, absl::string_view line) {
  // Hyperscan said the line matches; if RE2 disagreed the line still counts,
  // with no values, so that counts follow one engine only.
  bool found = m.re->Match(re2::StringPiece(line.data(), line.size()), 0, line.size(),
                           RE2::UNANCHORED, groups.data(), m.submatches);
  key.clear();
  for (int g : m.group_indexes) {
    absl::string_view value;
    if (found && groups[g].data() != nullptr) value = {groups[g].data(), groups[g].size()};
    AppendKeyValue(key, value, options.max_label_value_bytes);
  }
  auto it = m.label_sets.find(key);
  if (it != m.label_sets.end()) {
    ++it->second;
  } else if (m.label_sets.size() < m.max_label_sets) {
    m.label_sets.emplace(key, 1);
  } else {
    ++m.dropped;
  }
}

void LogMatcher::Impl::FlushRecent() {
  for (MatchState* m : with_pending) {
    const size_t ring = m->pending.size();
    const size_t keep = std::min(m->pending_total, ring);
    for (size_t k = m->pending_total - keep; k < m->pending_total; ++k) {
      absl::string_view line = m->pending[k % ring];
      bool cut = line.size() > options.max_recent_line_bytes;
      absl::string_view kept = line.substr(0, options.max_recent_line_bytes);
      if (m->recent.size() < ring) {
        m->recent.push_back(RecentLine{std::string(kept), cut});
      } else {
        m->recent[m->recent_next].bytes.assign(kept.data(), kept.size());
        m->recent[m->recent_next].cut = cut;
        m->recent_next = (m->recent_next + 1) % ring;
      }
    }
    m->pending_total = 0;
  }
  with_pending.clear();
}

std::string LogMatcher::Impl::KeyFor(const MatchState& m,
                                     const std::vector<absl::string_view>& values) {
  std::string k;
  for (size_t i = 0; i < m.label_names.size(); ++i) {
    AppendKeyValue(k, i < values.size() ? values[i] : absl::string_view(),
                   options.max_label_value_bytes);
  }
  return k;
}

LogMatcher::LogMatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogMatcher::~LogMatcher() = default;

absl::StatusOr<std::unique_ptr<LogMatcher>> LogMatcher::Create(LogMatcherOptions options) {
  const std::string& log = options.log;
  if (log.empty()) return absl::InvalidArgumentError("log: the name is empty");
  if (!IsValidUtf8(log)) {
    return absl::InvalidArgumentError(absl::StrCat("log \"", log, "\": the name is not UTF-8"));
  }
  auto log_error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("log \"", log, "\": ", what));
  };
  if (options.max_line_bytes == 0 || options.max_line_bytes > kMaxLineBytesLimit) {
    return log_error(absl::StrCat("max_line_bytes ", options.max_line_bytes,
                                  " is out of range (1 byte to 1 GiB)"));
  }
  if (options.max_recent_line_bytes < 16) {
    return log_error("max_recent_line_bytes must be at least 16");
  }
  if (options.max_label_value_bytes < 16) {
    return log_error("max_label_value_bytes must be at least 16");
  }
  if (options.recent_lines > 1000) return log_error("recent_lines must be at most 1000");
  if (hs_valid_platform() != HS_SUCCESS) {
    return absl::FailedPreconditionError(
        "this CPU cannot run Hyperscan, which log matching needs (SSSE3)");
  }

  auto impl = std::make_unique<Impl>();
  std::vector<std::string> literal_bytes;
  std::vector<std::string> regex_expressions;
  absl::flat_hash_set<std::string> names;
  size_t max_groups = 0;
  for (const LogMatchOptions& mo : options.matches) {
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("log \"", log, "\" match \"", mo.name, "\": ", what));
    };
    if (mo.name.empty()) return log_error("a match has an empty name");
    if (!IsValidUtf8(mo.name)) return error("the name is not UTF-8");
    if (!names.insert(mo.name).second) return error("the name is used twice in this log");
    bool has_literal = !mo.contains.empty();
    bool has_regex = !mo.regex.empty();
    if (has_literal == has_regex) {
      return error(has_literal ? "set either contains or regex, not both"
                               : "set contains (a literal) or regex (a non-empty pattern)");
    }
    MatchState m;
    m.name = mo.name;
    m.literal = has_literal;
    m.max_label_sets = mo.max_label_sets;
    m.pending.resize(options.recent_lines);
    m.recent.reserve(options.recent_lines);
    if (has_literal) {
      if (mo.contains.find('\n') != std::string::npos) {
        return error("contains holds a newline, but lines are matched one at a time");
      }
      impl->literal_matches.push_back(impl->matches.size());
      literal_bytes.push_back(mo.contains);
    } else {
      RE2::Options re_options;
      // Lines are bytes: a pattern must not depend on them being UTF-8.
      re_options.set_encoding(RE2::Options::EncodingLatin1);
      re_options.set_log_errors(false);
      auto re = std::make_unique<RE2>(mo.regex, re_options);
      if (!re->ok()) {
        return error(absl::StrCat("regex '", mo.regex, "' is not valid RE2 syntax: ", re->error()));
      }
      auto converted = ToHyperscanSyntax(mo.regex);
      if (!converted.ok()) {
        return error(absl::StrCat("regex '", mo.regex, "': ", converted.status().message()));
      }
      absl::flat_hash_set<std::string> group_names;
      for (const std::string& g : converted->group_names) {
        if (!IsLabelName(g)) {
          return error(absl::StrCat("named group '", g,
                                    "' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
        }
        if (g == "log" || g == "match" || absl::StartsWith(g, "__")) {
          return error(
              absl::StrCat("named group '", g, "' is a reserved label name (log, match, __*)"));
        }
        if (!group_names.insert(g).second) {
          return error(absl::StrCat("named group '", g, "' appears twice"));
        }
      }
      if (!converted->group_names.empty()) {
        if (mo.max_label_sets == 0) return error("max_label_sets must be at least 1");
        std::vector<std::pair<int, std::string>> by_index;
        for (const auto& [name, index] : re->NamedCapturingGroups()) {
          by_index.emplace_back(index, name);
        }
        std::sort(by_index.begin(), by_index.end());
        for (auto& [index, name] : by_index) {
          m.group_indexes.push_back(index);
          m.label_names.push_back(std::move(name));
        }
        m.submatches = re->NumberOfCapturingGroups() + 1;
        max_groups = std::max<size_t>(max_groups, m.submatches);
        m.re = std::move(re);
      }
      impl->regex_matches.push_back(impl->matches.size());
      regex_expressions.push_back(std::move(converted->expression));
    }
    impl->matches.push_back(std::move(m));
  }

  hs_compile_error_t* compile_error = nullptr;
  auto hs_error = [&](const std::vector<size_t>& ids, absl::string_view kind) {
    std::string message = compile_error->message;
    int expression = compile_error->expression;
    hs_free_compile_error(compile_error);
    if (expression >= 0 && static_cast<size_t>(expression) < ids.size()) {
      const LogMatchOptions& mo = options.matches[ids[expression]];
      return absl::InvalidArgumentError(absl::StrCat(
          "log \"", log, "\" match \"", mo.name, "\": ", kind, " '",
          mo.regex.empty() ? mo.contains : mo.regex, "' is not supported by Hyperscan: ", message));
    }
    return log_error(absl::StrCat("Hyperscan cannot compile the ", kind, "s: ", message));
  };
  if (!literal_bytes.empty())
    impl->literal_scanner = probes_internal::LiteralScanner::Create(literal_bytes);
  if (!literal_bytes.empty() && impl->literal_scanner == nullptr) {
    std::vector<const char*> expressions;
    std::vector<size_t> lengths;
    std::vector<unsigned> flags(literal_bytes.size(), 0);
    std::vector<unsigned> ids;
    for (size_t i = 0; i < literal_bytes.size(); ++i) {
      expressions.push_back(literal_bytes[i].data());
      lengths.push_back(literal_bytes[i].size());
      ids.push_back(static_cast<unsigned>(i));
    }
    if (hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                             static_cast<unsigned>(expressions.size()), HS_MODE_BLOCK, nullptr,
                             &impl->literal_db, &compile_error) != HS_SUCCESS) {
      return hs_error(impl->literal_matches, "literal");
    }
  }
  if (!regex_expressions.empty()) {
    std::vector<const char*> expressions;
    // SINGLEMATCH: a line counts once per match however often it matches.
    // ALLOWEMPTY: a pattern that can match nothing matches every line, as in RE2.
    std::vector<unsigned> flags(regex_expressions.size(), HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY);
    std::vector<unsigned> ids;
    for (size_t i = 0; i < regex_expressions.size(); ++i) {
      expressions.push_back(regex_expressions[i].c_str());
      ids.push_back(static_cast<unsigned>(i));
    }
    if (hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                         static_cast<unsigned>(expressions.size()), HS_MODE_BLOCK, nullptr,
                         &impl->regex_db, &compile_error) != HS_SUCCESS) {
      return hs_error(impl->regex_matches, "regex");
    }
  }
  for (hs_database_t* db : {impl->literal_db, impl->regex_db}) {
    if (db != nullptr && hs_alloc_scratch(db, &impl->scratch) != HS_SUCCESS) {
      return absl::ResourceExhaustedError(
          absl::StrCat("log \"", log, "\": cannot allocate Hyperscan scratch space"));
    }
  }
  impl->last_literal_line.resize(impl->literal_matches.size());
  impl->seen.resize(impl->literal_matches.size());
  impl->hits.resize(std::max(impl->literal_matches.size(), impl->regex_matches.size()));
  impl->groups.resize(max_groups);
  impl->options = std::move(options);
  return std::unique_ptr<LogMatcher>(new LogMatcher(std::move(impl)));
}

void LogMatcher::Consume(absl::string_view text) { impl_->Consume(text); }

const LogMatcherOptions& LogMatcher::options() const { return impl_->options; }

std::vector<LogMatcher::SeriesValue> LogMatcher::Snapshot() const {
  const Impl& s = *impl_;
  const std::string& log = s.options.log;
  std::vector<SeriesValue> out;
  auto line_counter = [&](absl::string_view name, uint64_t value) {
    out.push_back(
        SeriesValue{Labels({{std::string(kMetricNameLabel), std::string(name)}, {"log", log}}),
                    static_cast<double>(value)});
  };
  line_counter(kLogLinesTotal, s.lines);
  line_counter(kLogLinesTruncatedTotal, s.truncated);
  line_counter(kLogLinesInvalidUtf8Total, s.invalid_utf8);
  line_counter(kLogLinesWithNulTotal, s.with_nul);
  for (const MatchState& m : s.matches) {
    auto base = [&](absl::string_view name) {
      return std::vector<Label>{
          {std::string(kMetricNameLabel), std::string(name)}, {"log", log}, {"match", m.name}};
    };
    if (m.re == nullptr) {
      out.push_back(SeriesValue{Labels(base(kLogMatchesTotal)), static_cast<double>(m.count)});
      continue;
    }
    std::vector<SeriesValue> sets;
    for (const auto& [key, count] : m.label_sets) {
      std::vector<Label> labels = base(kLogMatchesTotal);
      std::vector<absl::string_view> values = DecodeKey(key);
      for (size_t i = 0; i < m.label_names.size() && i < values.size(); ++i) {
        labels.push_back(Label{m.label_names[i], std::string(values[i])});
      }
      sets.push_back(SeriesValue{Labels(std::move(labels)), static_cast<double>(count)});
    }
    std::sort(sets.begin(), sets.end(),
              [](const SeriesValue& a, const SeriesValue& b) { return a.labels < b.labels; });
    for (auto& v : sets) out.push_back(std::move(v));
    out.push_back(
        SeriesValue{Labels(base(kLogMatchLabelSetsDroppedTotal)), static_cast<double>(m.dropped)});
  }
  return out;
}

std::vector<std::string> LogMatcher::RecentLines(absl::string_view match) const {
  std::vector<std::string> out;
  for (const MatchState& m : impl_->matches) {
    if (m.name != match) continue;
    const size_t max = impl_->options.max_recent_line_bytes;
    for (size_t k = 0; k < m.recent.size(); ++k) {
      const RecentLine& r = m.recent[(m.recent_next + k) % m.recent.size()];
      std::string line;
      bool whole = AppendSanitizedUtf8(line, r.bytes, max);
      if (r.cut || !whole) {
        // Room for the ellipsis, cutting at a character.
        std::string shorter;
        AppendSanitizedUtf8(shorter, line, max - kEllipsis.size());
        line = std::move(shorter);
        line.append(kEllipsis.data(), kEllipsis.size());
      }
      out.push_back(std::move(line));
    }
  }
  return out;
}

std::string LogMatcher::SaveState() const {
  const Impl& s = *impl_;
  std::string out(kStateMagic);
  PutString(out, s.options.log);
  PutVarint(out, s.lines);
  PutVarint(out, s.truncated);
  PutVarint(out, s.invalid_utf8);
  PutVarint(out, s.with_nul);
  PutVarint(out, s.matches.size());
  for (const MatchState& m : s.matches) {
    PutString(out, m.name);
    PutVarint(out, m.count);
    PutVarint(out, m.dropped);
    PutVarint(out, m.label_names.size());
    for (const std::string& name : m.label_names) PutString(out, name);
    PutVarint(out, m.label_sets.size());
    for (const auto& [key, count] : m.label_sets) {
      for (absl::string_view value : DecodeKey(key)) PutString(out, value);
      PutVarint(out, count);
    }
  }
  uint64_t checksum = Fnv1a64(out);
  for (int b = 0; b < 8; ++b) out += static_cast<char>((checksum >> (8 * b)) & 0xFF);
  return out;
}

absl::Status LogMatcher::RestoreState(absl::string_view state) {
  Impl& s = *impl_;
  auto corrupt = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("log \"", s.options.log, "\": saved matcher state is ", what));
  };
  if (state.size() < kStateMagic.size() + 8 || state.substr(0, kStateMagic.size()) != kStateMagic) {
    return corrupt("not a log matcher state");
  }
  absl::string_view body = state.substr(0, state.size() - 8);
  uint64_t checksum = 0;
  for (int b = 0; b < 8; ++b) {
    checksum |= uint64_t{static_cast<unsigned char>(state[state.size() - 8 + b])} << (8 * b);
  }
  if (checksum != Fnv1a64(body)) return corrupt("corrupted (checksum mismatch)");

  struct SavedMatch {
    uint64_t count = 0, dropped = 0;
    std::vector<absl::string_view> label_names;
    std::vector<std::pair<std::vector<absl::string_view>, uint64_t>> sets;
  };
  StateReader r(body.substr(kStateMagic.size()));
  absl::string_view log;
  uint64_t lines, truncated, invalid_utf8, with_nul, match_count;
  if (!r.String(log) || !r.Varint(lines) || !r.Varint(truncated) || !r.Varint(invalid_utf8) ||
      !r.Varint(with_nul) || !r.Count(match_count)) {
    return corrupt("truncated");
  }
  if (log != s.options.log) {
    return corrupt(absl::StrCat("for log \"", absl::CHexEscape(log), "\""));
  }
  absl::flat_hash_map<absl::string_view, SavedMatch> saved;
  for (uint64_t i = 0; i < match_count; ++i) {
    absl::string_view name;
    SavedMatch m;
    uint64_t label_count, set_count;
    if (!r.String(name) || !r.Varint(m.count) || !r.Varint(m.dropped) || !r.Count(label_count)) {
      return corrupt("truncated");
    }
    for (uint64_t l = 0; l < label_count; ++l) {
      absl::string_view label;
      if (!r.String(label)) return corrupt("truncated");
      m.label_names.push_back(label);
    }
    if (!r.Count(set_count)) return corrupt("truncated");
    for (uint64_t k = 0; k < set_count; ++k) {
      std::vector<absl::string_view> values(label_count);
      for (auto& v : values) {
        if (!r.String(v)) return corrupt("truncated");
      }
      uint64_t count;
      if (!r.Varint(count)) return corrupt("truncated");
      m.sets.emplace_back(std::move(values), count);
    }
    if (!saved.emplace(name, std::move(m)).second) return corrupt("inconsistent (a match twice)");
  }
  if (!r.done()) return corrupt("followed by unexpected bytes");

  s.lines = lines;
  s.truncated = truncated;
  s.invalid_utf8 = invalid_utf8;
  s.with_nul = with_nul;
  for (MatchState& m : s.matches) {
    m.count = 0;
    m.dropped = 0;
    m.label_sets.clear();
    auto it = saved.find(m.name);
    if (it == saved.end()) continue;
    SavedMatch& sm = it->second;
    if (!std::equal(sm.label_names.begin(), sm.label_names.end(), m.label_names.begin(),
                    m.label_names.end())) {
      continue;
    }
    m.count = sm.count;
    m.dropped = sm.dropped;
    for (const auto& [values, count] : sm.sets) {
      std::string k = s.KeyFor(m, values);
      auto set = m.label_sets.find(k);
      if (set != m.label_sets.end()) {
        set->second += count;
      } else if (m.label_sets.size() < m.max_label_sets) {
        m.label_sets.emplace(std::move(k), count);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace klaxon
