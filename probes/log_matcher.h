// LogMatcher counts the lines of one configured `[[log]]` and, per
// `[[log.match]]`, the lines that match, and turns the counts into the log_*
// series. Owned by the log source that feeds the log; thread-compatible: one
// thread feeds it and takes its snapshots.
//
// Patterns. `contains` is a literal; `regex` is RE2 syntax, unanchored
// (`^`/`$` anchor at the line's ends). Both match the bytes of a line without
// its '\n' (a '\r' before it stays part of the line), never across lines:
// `.`, classes and `\xHH` are per byte, a non-ASCII character in a pattern
// matches its UTF-8 bytes, and `(?i)` folds ASCII letters only. Named groups
// `(?P<name>...)` become labels of log_matches_total; a group that matched
// nothing leaves its label out. Every regex must compile in RE2 and, after
// the rewrites that keep RE2's meaning (`(?U)` dropped, `\s`, `\v`, octal and
// group names spelled out), in Hyperscan: Create() rejects lookarounds and
// backreferences (RE2), anchors inside a pattern such as `(a$)+`, and
// `\p{Script}` classes, which match no byte (Hyperscan).
//
// Cost. All literals of a log are found with one SIMD pass over each block of
// lines (~256 KiB) that also numbers their lines (probes/internal/
// literal_scanner.h; AVX2 or AVX-512BW), or, with more than 16 literals or
// without AVX2, one Hyperscan scan per block; all regexes with one Hyperscan
// scan per line. RE2 runs only on lines where a regex with named groups
// matched, to extract the values. Each match counts at most once per line. On
// one core of the development machine (log_matcher_benchmark.cc, an nginx
// access log): ~6.5M lines/s with 10 literals and regexes, ~3.5M when two of
// the regexes match most lines, ~4 GB/s with 10 literals. Memory: the
// compiled patterns, one Hyperscan scratch, the line offsets of one block, at
// most `max_label_sets` label sets and `recent_lines` lines per match.
#ifndef KLAXON_PROBES_LOG_MATCHER_H_
#define KLAXON_PROBES_LOG_MATCHER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "detector/labels.h"

namespace klaxon {

// The series a LogMatcher exports, all counters.
inline constexpr absl::string_view kLogLinesTotal = "log_lines_total";  // {log}
// {log, match, <named groups>...}
inline constexpr absl::string_view kLogMatchesTotal = "log_matches_total";
// {log}: lines longer than max_line_bytes, matched on their first bytes only.
inline constexpr absl::string_view kLogLinesTruncatedTotal = "log_lines_truncated_total";
// {log}: lines that are not valid UTF-8 (matched on their bytes all the same).
inline constexpr absl::string_view kLogLinesInvalidUtf8Total = "log_lines_invalid_utf8_total";
// {log}: lines holding a NUL byte (matched on their bytes all the same).
inline constexpr absl::string_view kLogLinesWithNulTotal = "log_lines_with_nul_total";
// {log, match}: matching lines whose new label set was over max_label_sets.
inline constexpr absl::string_view kLogMatchLabelSetsDroppedTotal =
    "log_match_label_sets_dropped_total";

struct LogMatchOptions {
  std::string name;      // The `match` label; non-empty, unique within the log.
  std::string contains;  // A literal to find; non-empty, no '\n'. Or:
  std::string regex;     // An RE2 pattern. Exactly one of contains and regex is set.
  // Default: 100. Distinct label sets of named groups kept for this match; a
  // matching line with a further new set is counted in
  // log_match_label_sets_dropped_total instead. At least 1.
  size_t max_label_sets = 100;
};

struct LogMatcherOptions {
  std::string log;  // The `log` label; non-empty.
  std::vector<LogMatchOptions> matches;
  // Default: 64 KiB. Longer lines are matched on their first max_line_bytes
  // bytes and counted as truncated. 1 byte to 1 GiB.
  size_t max_line_bytes = 64 * 1024;
  // Default: 5. Matching lines kept per match, for an incident's timeline.
  size_t recent_lines = 5;
  // Default: 1 KiB. A kept line longer than this is cut at a character and
  // ends in "…".
  size_t max_recent_line_bytes = 1024;
  // Default: 1 KiB. A captured label value longer than this is cut at a
  // character, so that distinct long values may become one label set.
  size_t max_label_value_bytes = 1024;
};

class LogMatcher {
 public:
  // kInvalidArgument naming the log or match and what is wrong: an empty or
  // duplicate name, both or neither of contains and regex, an empty literal or
  // one holding '\n', a regex RE2 or Hyperscan rejects, a named group that is
  // no valid label name or is reserved ("log", "match", "__"-prefixed) or
  // repeated, out-of-range limits. kFailedPrecondition if this CPU cannot run
  // Hyperscan (it needs SSSE3).
  static absl::StatusOr<std::unique_ptr<LogMatcher>> Create(LogMatcherOptions options);

  // Non-copyable: owns Hyperscan databases and the scratch space a scan uses.
  LogMatcher(const LogMatcher&) = delete;
  LogMatcher& operator=(const LogMatcher&) = delete;
  ~LogMatcher();

  // `text` is zero or more complete lines each ending in '\n'; a final piece
  // without '\n' counts as one line too. Any bytes are accepted.
  void Consume(absl::string_view text);

  struct SeriesValue {
    Labels labels;  // Including __name__.
    double value;
  };
  // Every counter: the line counters and, per match, its label sets seen so
  // far; a match without named groups always has its (maybe zero) series, a
  // match with named groups always has its dropped counter. Label sets of one
  // match come sorted by their labels.
  std::vector<SeriesValue> Snapshot() const;

  // The last `recent_lines` lines that matched `match` (newest last), valid
  // UTF-8 (invalid bytes become U+FFFD), cut to max_recent_line_bytes. Empty
  // for an unknown match. Not kept across SaveState/RestoreState.
  std::vector<std::string> RecentLines(absl::string_view match) const;

  // The counter values as an opaque string, for the caller to persist with its
  // file offsets so that a restart continues the counters.
  std::string SaveState() const;
  // Replaces the counters with those of a SaveState() string. Matches no
  // longer configured are ignored; a match whose named groups changed starts
  // from zero; label sets over the current limit are left out. Garbage,
  // truncated or corrupted input, or the state of another log, is
  // kInvalidArgument and leaves the counters unchanged.
  absl::Status RestoreState(absl::string_view state);

  const LogMatcherOptions& options() const;

 private:
  struct Impl;
  explicit LogMatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_LOG_MATCHER_H_
