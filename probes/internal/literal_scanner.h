// LiteralScanner finds every occurrence of a few literals in a buffer in one
// SIMD pass; LogMatcher uses it for the `contains` matches of a log. Internal
// to probes/. Owned by one LogMatcher, which is non-copyable, and so is this;
// thread-compatible (Scan is const, Observe is not).
//
// How: each literal has a bucket (a bit of a byte) and a window of 3 of its
// bytes. At every position of the buffer, nibble-indexed byte shuffles give
// the buckets whose window is there (the technique of Hyperscan's "Teddy"
// literal matcher, here with one literal per bucket); where one is, the whole
// literal is compared with two masked word compares. Hyperscan confirms each
// such position through its general machinery, ~50 ns a position on the
// development machine: in an access log where most lines hold a frequent
// literal, that was most of the matching time.
//
// Cost, per 32 bytes (AVX2) or 64 bytes (AVX-512BW): ~25 vector instructions,
// with twice the shuffles for more than 8 literals; plus a few ns at each
// position where a window occurs. A window found on every line ("HTT" of
// "HTTP/2.0\"" in an access log) would pay that on every line, so each
// literal's window becomes the one least frequent in the first kTuneBytes the
// scanner is shown (Observe); until then it is the one of rarest-looking
// bytes. Memory: ~2 KiB of tables and literals, and a count table of at most
// 32 KiB until the windows are chosen.
#ifndef KLAXON_PROBES_INTERNAL_LITERAL_SCANNER_H_
#define KLAXON_PROBES_INTERNAL_LITERAL_SCANNER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace klaxon::probes_internal {

class LiteralScanner {
 public:
  static constexpr size_t kMaxLiterals = 16;
  // Bytes of text Observe counts windows in before it chooses them.
  static constexpr size_t kTuneBytes = 64 * 1024;

  enum class Isa { kAvx2, kAvx512bw };

  // Null (the caller then uses Hyperscan) unless there are 1 to kMaxLiterals
  // literals, none empty, and this CPU has AVX2. Uses AVX-512BW where the CPU
  // has it.
  static std::unique_ptr<LiteralScanner> Create(std::vector<std::string> literals);
  // The same with the given instruction set, for tests; null if this CPU
  // lacks it.
  static std::unique_ptr<LiteralScanner> CreateForIsa(Isa isa, std::vector<std::string> literals);

  LiteralScanner(const LiteralScanner&) = delete;
  LiteralScanner& operator=(const LiteralScanner&) = delete;
  ~LiteralScanner();

  struct Hit {
    uint32_t at;    // The offset of one byte of the occurrence (its window's first).
    uint32_t line;  // The number of '\n' before `at`.
    uint32_t id;    // The literal's index in Create's vector.
  };
  // Appends one Hit per occurrence of each literal in p[0, n), overlapping
  // ones included, in ascending order of `at`. n < 4 GiB.
  void Scan(const char* p, size_t n, std::vector<Hit>& hits) const;

  // True until kTuneBytes have been observed.
  bool tuning() const { return tally_ != nullptr; }
  // Counts the windows each literal could use in p[0, n); once kTuneBytes
  // have been seen, chooses the least frequent. Changes only the speed of
  // Scan, never its hits.
  void Observe(const char* p, size_t n);

 private:
  struct Literal;
  struct Tally;
  LiteralScanner(Isa isa, std::vector<std::string> literals);
  void BuildTables();

  Isa isa_;
  std::vector<Literal> literals_;
  // Per group of 8 literals and window byte: the buckets whose window byte has
  // this low (lo) or high (hi) nibble.
  alignas(16) uint8_t lo_[2][3][16] = {};
  alignas(16) uint8_t hi_[2][3][16] = {};
  std::unique_ptr<Tally> tally_;
};

}  // namespace klaxon::probes_internal

#endif  // KLAXON_PROBES_INTERNAL_LITERAL_SCANNER_H_
