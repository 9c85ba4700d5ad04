// ExpositionParser reads the Prometheus text format 0.0.4 and OpenMetrics text
// 1.0.0 as Prometheus's own parser accepts them, for the scraper and the push
// endpoint. Thread-compatible: one parser per thread, reused across bodies.
//
// Syntax accepted, and where it is stricter or looser than Prometheus:
//  - Text format: `name[{l="v",...}] value [timestamp_ms]` lines, `# HELP`,
//    `# TYPE` and other `#` comments, blank and whitespace-only lines; spaces or
//    tabs between tokens; a trailing comma in the label block; a missing final
//    newline. A carriage return is an error (Prometheus rejects `\r\n` too).
//  - OpenMetrics: single spaces only; no blank lines and no comments besides
//    HELP, TYPE, UNIT and the mandatory final `# EOF` (nothing may follow it);
//    timestamps are seconds with a fraction and are delivered as milliseconds;
//    exemplars (` # {l="v"} value [ts]`) are checked and dropped; `_created`
//    lines are delivered as ordinary samples, as Prometheus does by default.
//  - Values: decimal floats with an optional exponent, `NaN`, `+Inf`, `-Inf`
//    (case-insensitive, also `Infinity`); hexadecimal floats, `p` exponents and
//    `_` separators are rejected; a value beyond the double range is an error.
//  - Label values unescape `\\`, `\"` and `\n`; other escapes stay as written,
//    as in Prometheus. Label values and HELP text must be valid UTF-8.
//  - Stricter than Prometheus: a NUL byte anywhere is an error; a label named
//    twice (or `__name__` inside the braces) is an error at parse time, where
//    Prometheus fails the scrape later. UTF-8 quoted names are not supported.
//
// Cost: no allocation per sample once the scratch has grown to the widest line;
// roughly one pass over each byte.
#ifndef KLAXON_PROBES_PROM_TEXT_H_
#define KLAXON_PROBES_PROM_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace klaxon {

enum class ExpositionFormat { kPrometheusText, kOpenMetrics };

// The format a response's Content-Type names: `application/openmetrics-text`
// (any parameters) is OpenMetrics; anything else, or nothing, is the text format.
ExpositionFormat ExpositionFormatFromContentType(absl::string_view content_type);

// kUntyped is also OpenMetrics's `unknown`.
enum class MetricType {
  kUntyped,
  kCounter,
  kGauge,
  kHistogram,
  kSummary,
  kGaugeHistogram,  // OpenMetrics only
  kInfo,            // OpenMetrics only
  kStateSet,        // OpenMetrics only
};

// "counter", "gauge", ... ("untyped" for kUntyped).
absl::string_view MetricTypeName(MetricType type);

// One sample line. Every view is valid only during the callback.
struct ExpositionSample {
  // The series exactly as written (name and label block), a cache key for
  // callers that intern series: equal text means equal labels.
  absl::string_view series_text;
  absl::string_view name;
  // In written order, values unescaped; never contains `__name__`.
  absl::Span<const std::pair<absl::string_view, absl::string_view>> labels;
  double value;
  std::optional<int64_t> timestamp_ms;  // UTC milliseconds, when the line has one
  // From the family's TYPE line when the name belongs to that family (the name
  // itself or its type's suffixes: _total, _bucket, _sum, _count, _created, ...).
  MetricType type;
};

// One HELP, TYPE or UNIT line. Views are valid only during the callback.
struct ExpositionMetadata {
  enum class Kind { kHelp, kType, kUnit };
  Kind kind;
  absl::string_view family;
  absl::string_view text;  // HELP text unescaped; the unit; the type as written
  MetricType type;         // for kType
};

class ExpositionParser {
 public:
  ExpositionParser() = default;
  // Non-copyable: owns scratch buffers whose views the callbacks receive.
  ExpositionParser(const ExpositionParser&) = delete;
  ExpositionParser& operator=(const ExpositionParser&) = delete;

  // Calls on_sample for every sample in order. Stops at the first error and
  // returns kInvalidArgument "line L, column C: what is wrong" (1-based; the
  // column counts bytes). Samples before the error have been delivered.
  absl::Status Parse(absl::string_view body, ExpositionFormat format,
                     absl::FunctionRef<void(const ExpositionSample&)> on_sample);
  // Also reports HELP, TYPE and UNIT lines, in order with the samples.
  absl::Status Parse(absl::string_view body, ExpositionFormat format,
                     absl::FunctionRef<void(const ExpositionSample&)> on_sample,
                     absl::FunctionRef<void(const ExpositionMetadata&)> on_metadata);

 private:
  struct Cursor;
  template <ExpositionFormat kFormat>
  absl::Status ParseBuffer(Cursor& cursor);

  std::vector<std::pair<absl::string_view, absl::string_view>> labels_;
  // Label values with escapes, unescaped; and which labels_ point into it.
  std::string unescaped_;
  std::vector<std::pair<uint32_t, uint32_t>> unescaped_at_;  // label index, offset
  std::vector<absl::string_view> sorted_names_;              // duplicate check of wide label sets
  std::string help_;                                         // unescaped HELP text
  std::string tail_;                                         // the last line, with a newline added
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_PROM_TEXT_H_
