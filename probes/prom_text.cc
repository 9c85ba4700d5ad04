#include "probes/prom_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace klaxon {
namespace {

// Every scanning loop below stops at '\n', and every buffer the parser walks
// ends with '\n' (the body up to its last newline, or a copy of the last line
// with one added). That sentinel is what lets the loops run without bounds
// checks: nothing reads past a '\n' without first stopping on it.

enum : uint8_t {
  kNameStart = 1 << 0,   // [a-zA-Z_:]
  kNameChar = 1 << 1,    // [a-zA-Z0-9_:]
  kLabelStart = 1 << 2,  // [a-zA-Z_]
  kLabelChar = 1 << 3,   // [a-zA-Z0-9_]
  // Ends a value or timestamp token. Text: `[^{ \t\n]+` as Prometheus lexes it;
  // OpenMetrics: `[^ \n]+`. NUL and CR stop both so that the error names them.
  kTextValueStop = 1 << 4,
  kOmValueStop = 1 << 5,
  // Needs a look inside a label value: the closing quote, an escape, a line
  // break, NUL, and non-ASCII bytes (validated as UTF-8).
  kLabelValueStop = 1 << 6,
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    uint8_t v = 0;
    if (alpha || c == '_' || c == ':') v |= kNameStart | kNameChar;
    if (digit) v |= kNameChar | kLabelChar;
    if (alpha || c == '_') v |= kLabelStart | kLabelChar;
    if (c == '{' || c == ' ' || c == '\t' || c == '\n' || c == '\0' || c == '\r') {
      v |= kTextValueStop;
    }
    if (c == ' ' || c == '\n' || c == '\0' || c == '\r') v |= kOmValueStop;
    if (c == '"' || c == '\\' || c == '\n' || c == '\0' || c >= 0x80) v |= kLabelValueStop;
    t[c] = v;
  }
  return t;
}

constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

inline bool Is(char c, uint8_t cls) { return (kClasses[static_cast<unsigned char>(c)] & cls) != 0; }

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Whether q starts with word. Compares byte by byte so that it stops at the
// line's '\n' and never reads past the buffer.
inline bool StartsWithWord(const char* q, const char* word) {
  for (; *word != '\0'; ++q, ++word) {
    if (*q != *word) return false;
  }
  return true;
}

// The length of the valid UTF-8 sequence at p (whose first byte is >= 0x80),
// or 0. Rejects overlong forms, surrogates and code points past U+10FFFF, as
// Go's utf8.Valid. Reads a byte only after the previous one proved to be part
// of the sequence, so it stays before the buffer's final '\n'.
int Utf8SequenceLength(const char* s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  const unsigned c = p[0];
  auto cont = [](unsigned char b) { return (b & 0xC0) == 0x80; };
  if (c < 0xC2) return 0;
  if (c < 0xE0) return cont(p[1]) ? 2 : 0;
  if (c < 0xF0) {
    if (!cont(p[1])) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;
    if (c == 0xED && p[1] >= 0xA0) return 0;
    return cont(p[2]) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (!cont(p[1])) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;
    if (c == 0xF4 && p[1] >= 0x90) return 0;
    if (!cont(p[2])) return 0;
    return cont(p[3]) ? 4 : 0;
  }
  return 0;
}

// How an error message names the byte it stopped at.
std::string Got(const char* p) {
  const unsigned char c = static_cast<unsigned char>(*p);
  switch (c) {
    case '\n':
      return "end of line";
    case '\0':
      return "a NUL byte";
    case '\r':
      return "a carriage return (lines must end with \"\\n\" alone)";
    case '\t':
      return "a tab";
    case '\'':
      return "\"'\"";
    default:
      if (c >= 0x20 && c < 0x7f) return absl::StrCat("'", absl::string_view(p, 1), "'");
      return absl::StrFormat("byte 0x%02x", c);
  }
}

// A token quoted for an error message, cut short when long.
std::string Quote(absl::string_view token) {
  constexpr size_t kMax = 64;
  if (token.size() > kMax) {
    return absl::StrCat("\"", absl::CHexEscape(token.substr(0, kMax)), "...\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(token), "\"");
}

enum class FloatError { kNone, kSyntax, kRange };

// Clinger's fast path: a mantissa of at most 19 digits that stays below 2^53
// and a decimal exponent within +-22 are both exact doubles, so one multiply
// or divide gives the correctly rounded result. Most exposed values qualify;
// false sends the rest (and every malformed token) to std::from_chars.
bool FastDecimal(const char* p, const char* e, double* out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t mantissa = 0;
  int digits = 0;
  int exponent = 0;
  for (; p != e && IsDigit(*p); ++p) {
    if (++digits > 19) return false;
    mantissa = mantissa * 10 + (*p - '0');
  }
  if (p != e && *p == '.') {
    for (++p; p != e && IsDigit(*p); ++p) {
      if (++digits > 19) return false;
      mantissa = mantissa * 10 + (*p - '0');
      --exponent;
    }
  }
  if (digits == 0) return false;
  if (p != e && (*p == 'e' || *p == 'E')) {
    ++p;
    bool negative = false;
    if (p != e && (*p == '+' || *p == '-')) negative = *p++ == '-';
    if (p == e) return false;
    int written = 0;
    for (; p != e && IsDigit(*p); ++p) {
      if (written > 1000) return false;
      written = written * 10 + (*p - '0');
    }
    exponent += negative ? -written : written;
  }
  if (p != e || mantissa > (uint64_t{1} << 53) || exponent < -22 || exponent > 22) return false;
  const double m = static_cast<double>(mantissa);
  *out = exponent < 0 ? m / kPow10[-exponent] : m * kPow10[exponent];
  return true;
}

// Go's strconv.ParseFloat as Prometheus calls it: decimal with optional sign
// and exponent, inf/infinity with optional sign, nan without sign (any case).
// Hexadecimal (which Prometheus rejects for its 'p'), '_' and "nan(...)" fail.
FloatError ParseFloat(const char* b, const char* e, double* out) {
  if (b == e) return FloatError::kSyntax;
  const char* s = b;
  bool negative = false;
  if (*s == '+' || *s == '-') {
    negative = *s == '-';
    ++s;
    if (s == e) return FloatError::kSyntax;
  }
  if (!IsDigit(*s) && *s != '.') {
    const absl::string_view word(s, e - s);
    if (absl::EqualsIgnoreCase(word, "inf") || absl::EqualsIgnoreCase(word, "infinity")) {
      *out = negative ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
      return FloatError::kNone;
    }
    if (s == b && absl::EqualsIgnoreCase(word, "nan")) {
      *out = std::numeric_limits<double>::quiet_NaN();
      return FloatError::kNone;
    }
    return FloatError::kSyntax;
  }
  double v = 0;
  if (FastDecimal(s, e, &v)) {
    *out = negative ? -v : v;
    return FloatError::kNone;
  }
  const std::from_chars_result r = std::from_chars(s, e, v, std::chars_format::general);
  if (r.ptr != e) return FloatError::kSyntax;
  if (r.ec == std::errc()) {
    *out = negative ? -v : v;
    return FloatError::kNone;
  }
  if (r.ec != std::errc::result_out_of_range) return FloatError::kSyntax;
  // Out of range is either past the largest double (an error in Go too) or
  // below the smallest (Go rounds to zero). The decimal exponent of the first
  // significant digit tells which.
  int64_t magnitude = 0;
  bool seen_point = false;
  bool found = false;
  const char* p = s;
  int64_t int_digits = 0;
  int64_t leading_fraction_zeros = 0;
  for (; p != e && (IsDigit(*p) || *p == '.'); ++p) {
    if (*p == '.') {
      seen_point = true;
      continue;
    }
    if (!found && *p != '0') {
      found = true;
      magnitude = seen_point ? -leading_fraction_zeros - 1 : 0;
    }
    if (!seen_point && found) ++int_digits;
    if (seen_point && !found) ++leading_fraction_zeros;
  }
  if (found && magnitude == 0) magnitude = int_digits - 1;
  int64_t exponent = 0;
  if (p != e && (*p == 'e' || *p == 'E')) {
    ++p;
    bool exp_negative = false;
    if (p != e && (*p == '+' || *p == '-')) exp_negative = *p++ == '-';
    for (; p != e; ++p) exponent = std::min<int64_t>(exponent * 10 + (*p - '0'), 1'000'000'000);
    if (exp_negative) exponent = -exponent;
  }
  if (magnitude + exponent > 0) return FloatError::kRange;
  *out = negative ? -0.0 : 0.0;
  return FloatError::kNone;
}

// OpenMetrics timestamps are seconds. A plain decimal converts digit by digit
// so that 1520879607.789 is exactly ...789 ms; other spellings go through the
// double, truncated toward zero as Prometheus does.
bool SecondsToMillis(const char* b, const char* e, double seconds, int64_t* out) {
  const char* s = b;
  bool negative = false;
  if (s != e && (*s == '+' || *s == '-')) negative = *s++ == '-';
  const char* int_begin = s;
  while (s != e && IsDigit(*s)) ++s;
  const char* int_end = s;
  const char* frac_begin = s;
  const char* frac_end = s;
  if (s != e && *s == '.') {
    frac_begin = ++s;
    while (s != e && IsDigit(*s)) ++s;
    frac_end = s;
  }
  if (s == e && int_end - int_begin <= 15) {
    int64_t ms = 0;
    for (const char* p = int_begin; p != int_end; ++p) ms = ms * 10 + (*p - '0');
    int64_t frac = 0;
    int digits = 0;
    for (const char* p = frac_begin; p != frac_end && digits < 3; ++p, ++digits) {
      frac = frac * 10 + (*p - '0');
    }
    for (; digits < 3; ++digits) frac *= 10;
    ms = ms * 1000 + frac;
    *out = negative ? -ms : ms;
    return true;
  }
  const double ms = seconds * 1000;
  if (!(std::fabs(ms) < 9.2e18)) return false;
  *out = static_cast<int64_t>(ms);
  return true;
}

MetricType ParseType(absl::string_view word, bool openmetrics, bool* ok) {
  *ok = true;
  if (word == "counter") return MetricType::kCounter;
  if (word == "gauge") return MetricType::kGauge;
  if (word == "histogram") return MetricType::kHistogram;
  if (word == "summary") return MetricType::kSummary;
  if (!openmetrics && word == "untyped") return MetricType::kUntyped;
  if (openmetrics) {
    if (word == "unknown") return MetricType::kUntyped;
    if (word == "gaugehistogram") return MetricType::kGaugeHistogram;
    if (word == "info") return MetricType::kInfo;
    if (word == "stateset") return MetricType::kStateSet;
  }
  *ok = false;
  return MetricType::kUntyped;
}

// Whether a sample name belongs to the family of a TYPE line, so that it takes
// that type: the family name itself, or it with one of its type's suffixes.
bool InFamily(absl::string_view name, absl::string_view family, MetricType type) {
  if (type == MetricType::kCounter) absl::ConsumeSuffix(&family, "_total");
  if (type == MetricType::kInfo) absl::ConsumeSuffix(&family, "_info");
  if (!absl::ConsumePrefix(&name, family)) return false;
  if (name.empty()) return true;
  switch (type) {
    case MetricType::kCounter:
      return name == "_total" || name == "_created";
    case MetricType::kHistogram:
      return name == "_bucket" || name == "_sum" || name == "_count" || name == "_created";
    case MetricType::kGaugeHistogram:
      return name == "_bucket" || name == "_gsum" || name == "_gcount";
    case MetricType::kSummary:
      return name == "_sum" || name == "_count" || name == "_created";
    case MetricType::kInfo:
      return name == "_info";
    default:
      return false;
  }
}

}  // namespace

ExpositionFormat ExpositionFormatFromContentType(absl::string_view content_type) {
  const absl::string_view media_type =
      absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';')));
  return absl::EqualsIgnoreCase(media_type, "application/openmetrics-text")
             ? ExpositionFormat::kOpenMetrics
             : ExpositionFormat::kPrometheusText;
}

absl::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kUntyped:
      return "untyped";
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kGaugeHistogram:
      return "gaugehistogram";
    case MetricType::kInfo:
      return "info";
    case MetricType::kStateSet:
      return "stateset";
  }
  return "untyped";
}

struct ExpositionParser::Cursor {
  const char* p;
  const char* end;  // end[-1] == '\n'
  // More of the body follows this buffer: the copied last line.
  bool has_more = false;
  // Where the record being parsed started, and its line number, for error
  // positions (a text-format label value may span lines).
  const char* record_start = nullptr;
  int64_t record_line = 1;
  int64_t line = 1;  // of p
  // Set when a label value ran into the end of this buffer while the body goes
  // on: the record is parsed again from here with the rest of the body.
  const char* restart = nullptr;
  bool saw_eof = false;

  absl::string_view family;
  MetricType family_type = MetricType::kUntyped;

  const absl::FunctionRef<void(const ExpositionSample&)>* on_sample = nullptr;
  const absl::FunctionRef<void(const ExpositionMetadata&)>* on_metadata = nullptr;

  absl::Status Error(const char* at, absl::string_view what) const {
    int64_t line_number = record_line;
    const char* line_start = record_start;
    for (const char* q = record_start; q < at; ++q) {
      if (*q == '\n') {
        ++line_number;
        line_start = q + 1;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_number, ", column ", at - line_start + 1, ": ", what));
  }
};

absl::Status ExpositionParser::Parse(absl::string_view body, ExpositionFormat format,
                                     absl::FunctionRef<void(const ExpositionSample&)> on_sample) {
  return Parse(body, format, on_sample, [](const ExpositionMetadata&) {});
}

absl::Status ExpositionParser::Parse(
    absl::string_view body, ExpositionFormat format,
    absl::FunctionRef<void(const ExpositionSample&)> on_sample,
    absl::FunctionRef<void(const ExpositionMetadata&)> on_metadata) {
  Cursor cursor;
  cursor.on_sample = &on_sample;
  cursor.on_metadata = &on_metadata;
  auto run = [&](Cursor& c) {
    return format == ExpositionFormat::kOpenMetrics
               ? ParseBuffer<ExpositionFormat::kOpenMetrics>(c)
               : ParseBuffer<ExpositionFormat::kPrometheusText>(c);
  };

  const size_t last_newline = body.rfind('\n');
  const size_t main_size = last_newline == absl::string_view::npos ? 0 : last_newline + 1;
  const absl::string_view tail = body.substr(main_size);
  cursor.p = body.data();
  cursor.end = body.data() + main_size;
  cursor.has_more = !tail.empty();
  absl::Status status = run(cursor);
  if (!status.ok()) return status;

  if (!cursor.saw_eof && (cursor.restart != nullptr || !tail.empty())) {
    // Prometheus appends the missing final newline too.
    const char* from = cursor.restart != nullptr ? cursor.restart : tail.data();
    if (cursor.restart != nullptr) cursor.line = cursor.record_line;
    tail_.assign(from, body.data() + body.size() - from);
    tail_.push_back('\n');
    cursor.p = tail_.data();
    cursor.end = tail_.data() + tail_.size();
    cursor.has_more = false;
    cursor.restart = nullptr;
    status = run(cursor);
    if (!status.ok()) return status;
  }

  if (format == ExpositionFormat::kOpenMetrics && !cursor.saw_eof) {
    const int64_t line = tail.empty() ? cursor.line : cursor.line - 1;
    return absl::InvalidArgumentError(absl::StrCat("line ", line, ", column ", tail.size() + 1,
                                                   ": expected \"# EOF\" at the end of the input"));
  }
  return absl::OkStatus();
}

template <ExpositionFormat kFormat>
absl::Status ExpositionParser::ParseBuffer(Cursor& c) {
  constexpr bool kText = kFormat == ExpositionFormat::kPrometheusText;
  constexpr uint8_t kValueStop = kText ? kTextValueStop : kOmValueStop;
  const char* p = c.p;
  const char* const end = c.end;
  size_t label_count = 0;  // of labels_, for the sample being parsed

  auto skip_blanks = [](const char*& q) {
    if constexpr (kText) {
      while (*q == ' ' || *q == '\t') ++q;
    }
  };

  // Parses `name="value",...}` after the opening brace; p ends past the '}'.
  // With record false (exemplars) the labels are checked and dropped.
  auto parse_label_block = [&](bool record) -> absl::Status {
    skip_blanks(p);
    while (true) {
      if (*p == '}') {
        ++p;
        return absl::OkStatus();
      }
      if (!Is(*p, kLabelStart)) {
        return c.Error(p, absl::StrCat("expected a label name or '}', got ", Got(p)));
      }
      const char* name_begin = p++;
      while (Is(*p, kLabelChar)) ++p;
      const absl::string_view name(name_begin, p - name_begin);
      skip_blanks(p);
      if (*p != '=') {
        return c.Error(
            p, absl::StrCat("expected '=' after label name ", Quote(name), ", got ", Got(p)));
      }
      ++p;
      skip_blanks(p);
      if (*p != '"') {
        return c.Error(p, absl::StrCat("expected '\"' to open the value of label ", Quote(name),
                                       ", got ", Got(p)));
      }
      const char* value_begin = ++p;
      while (!Is(*p, kLabelValueStop)) ++p;
      bool escaped = false;
      size_t escaped_offset = 0;
      const char* run = value_begin;  // not yet copied to unescaped_
      while (*p != '"') {
        const char ch = *p;
        if (ch == '\\') {
          const char next = p[1];
          if (next == '\n' || next == '\0') {
            return c.Error(p, absl::StrCat("invalid escape in the value of label ", Quote(name)));
          }
          if (record) {
            if (!escaped) {
              escaped = true;
              escaped_offset = unescaped_.size();
            }
            unescaped_.append(run, p - run);
            if (next == '\\' || next == '"' || next == 'n') {
              unescaped_.push_back(next == 'n' ? '\n' : next);
              run = p + 2;
            } else {
              // Prometheus keeps unknown escapes as written.
              run = p;
            }
          }
          // The escaped byte is taken as is, except a non-ASCII one, which the
          // loop validates as UTF-8 like any other.
          p += (next == '\\' || next == '"' || static_cast<unsigned char>(next) < 0x80) ? 2 : 1;
        } else if (ch == '\n') {
          if (kText && p + 1 != end) {
            ++p;  // Prometheus's lexer takes a raw line break inside a value.
            ++c.line;
          } else if (kText && c.has_more) {
            c.restart = c.record_start;
            return absl::OkStatus();
          } else {
            return c.Error(p, absl::StrCat(kText ? "unterminated value of label "
                                                 : "line break inside the value of label ",
                                           Quote(name)));
          }
        } else if (ch == '\0') {
          return c.Error(p, absl::StrCat("a NUL byte in the value of label ", Quote(name)));
        } else {
          const int n = Utf8SequenceLength(p);
          if (n == 0) {
            return c.Error(p, absl::StrCat("invalid UTF-8 in the value of label ", Quote(name)));
          }
          p += n;
        }
        while (!Is(*p, kLabelValueStop)) ++p;
      }
      if (record) {
        absl::string_view value(value_begin, p - value_begin);
        if (escaped) {
          unescaped_.append(run, p - run);
          // Points into unescaped_ once the block is done: it may still grow.
          value = absl::string_view(value_begin, unescaped_.size() - escaped_offset);
          unescaped_at_.emplace_back(static_cast<uint32_t>(label_count),
                                     static_cast<uint32_t>(escaped_offset));
        }
        // Grown by hand and never shrunk: no per-sample vector bookkeeping.
        if (label_count == labels_.size()) labels_.resize(std::max<size_t>(16, 2 * label_count));
        labels_[label_count++] = {name, value};
      }
      ++p;
      skip_blanks(p);
      if (*p == ',') {
        ++p;
        skip_blanks(p);
      } else if (*p != '}' && !(kText && Is(*p, kLabelStart))) {
        // Prometheus's text parser also takes labels with no comma between.
        return c.Error(p, absl::StrCat("expected ',' or '}' after the value of label ", Quote(name),
                                       ", got ", Got(p)));
      }
    }
  };

  // A label named twice, or `__name__` beside the metric name.
  auto check_label_names = [&]() -> absl::Status {
    const size_t n = label_count;
    const absl::string_view* duplicate = nullptr;
    for (size_t i = 0; i < n && duplicate == nullptr; ++i) {
      if (labels_[i].first == "__name__") duplicate = &labels_[i].first;
    }
    if (duplicate == nullptr && n > 1) {
      if (n <= 16) {
        for (size_t i = 1; i < n && duplicate == nullptr; ++i) {
          for (size_t j = 0; j < i; ++j) {
            if (labels_[i].first == labels_[j].first) {
              duplicate = &labels_[i].first;
              break;
            }
          }
        }
      } else {
        sorted_names_.clear();
        for (size_t i = 0; i < n; ++i) sorted_names_.push_back(labels_[i].first);
        std::sort(sorted_names_.begin(), sorted_names_.end());
        const auto it = std::adjacent_find(sorted_names_.begin(), sorted_names_.end());
        if (it != sorted_names_.end()) {
          // Report the second occurrence, where a reader would see the repeat.
          bool first_seen = false;
          for (size_t i = 0; i < n; ++i) {
            const auto& label = labels_[i];
            if (label.first != *it) continue;
            if (first_seen) {
              duplicate = &label.first;
              break;
            }
            first_seen = true;
          }
        }
      }
    }
    if (duplicate == nullptr) return absl::OkStatus();
    if (*duplicate == "__name__") {
      return c.Error(duplicate->data(), "label \"__name__\" repeats the metric name");
    }
    return c.Error(duplicate->data(), absl::StrCat("duplicate label name ", Quote(*duplicate)));
  };

  // `# HELP`, `# TYPE`, `# UNIT` after the keyword and its separator.
  auto parse_metadata = [&](ExpositionMetadata::Kind kind,
                            absl::string_view keyword) -> absl::Status {
    skip_blanks(p);
    if (!Is(*p, kNameStart)) {
      return c.Error(
          p, absl::StrCat("expected a metric name after \"# ", keyword, "\", got ", Got(p)));
    }
    const char* name_begin = p++;
    while (Is(*p, kNameChar)) ++p;
    const absl::string_view family(name_begin, p - name_begin);
    const char* text_begin;
    if (kText && *p == '\n') {
      text_begin = p;
    } else if (*p == ' ' || (kText && *p == '\t')) {
      text_begin = p + 1;
    } else {
      return c.Error(p, absl::StrCat("expected a space after the metric name in \"# ", keyword,
                                     "\", got ", Got(p)));
    }
    const char* text_end =
        static_cast<const char*>(std::memchr(text_begin, '\n', end - text_begin));
    if (const void* nul = std::memchr(text_begin, '\0', text_end - text_begin)) {
      return c.Error(static_cast<const char*>(nul), "unexpected NUL byte");
    }
    absl::string_view text(text_begin, text_end - text_begin);
    ExpositionMetadata metadata{kind, family, text, MetricType::kUntyped};
    if (kind == ExpositionMetadata::Kind::kHelp) {
      help_.clear();
      const char* run = text_begin;
      for (const char* q = text_begin; q < text_end;) {
        const unsigned char ch = static_cast<unsigned char>(*q);
        if (ch >= 0x80) {
          const int n = Utf8SequenceLength(q);
          if (n == 0) return c.Error(q, "help text is not valid UTF-8");
          q += n;
        } else if (ch == '\\' && q + 1 < text_end &&
                   (q[1] == '\\' || q[1] == 'n' || (!kText && q[1] == '"'))) {
          // The text format unescapes only \\ and \n in HELP; OpenMetrics
          // also \".
          help_.append(run, q - run);
          help_.push_back(q[1] == 'n' ? '\n' : q[1]);
          q += 2;
          run = q;
        } else {
          ++q;
        }
      }
      if (run != text_begin) {
        help_.append(run, text_end - run);
        metadata.text = help_;
      }
    } else if (kind == ExpositionMetadata::Kind::kType) {
      bool ok = false;
      metadata.type = ParseType(text, !kText, &ok);
      if (!ok) return c.Error(text_begin, absl::StrCat("invalid metric type ", Quote(text)));
      c.family = family;
      c.family_type = metadata.type;
    } else {
      if (!text.empty() && !(absl::EndsWith(family, text) && family.size() > text.size() &&
                             family[family.size() - text.size() - 1] == '_')) {
        return c.Error(text_begin,
                       absl::StrCat("unit ", Quote(text), " is not a suffix of the metric name ",
                                    Quote(family)));
      }
    }
    p = text_end + 1;
    ++c.line;
    (*c.on_metadata)(metadata);
    return absl::OkStatus();
  };

  // An OpenMetrics exemplar after ` # `: `{labels} value [timestamp]`.
  auto parse_exemplar = [&]() -> absl::Status {
    if (*p != '{')
      return c.Error(p, absl::StrCat("expected '{' to open an exemplar, got ", Got(p)));
    ++p;
    absl::Status status = parse_label_block(false);
    if (!status.ok()) return status;
    if (*p != ' ') {
      return c.Error(p, absl::StrCat("expected a space and a value after the exemplar's labels, "
                                     "got ",
                                     Got(p)));
    }
    ++p;
    const char* value_begin = p;
    while (!Is(*p, kOmValueStop)) ++p;
    double ignored;
    if (ParseFloat(value_begin, p, &ignored) != FloatError::kNone) {
      return c.Error(value_begin, absl::StrCat("invalid exemplar value ",
                                               Quote({value_begin, size_t(p - value_begin)})));
    }
    if (*p == ' ') {
      const char* ts_begin = ++p;
      while (!Is(*p, kOmValueStop)) ++p;
      double ts = 0;
      if (ParseFloat(ts_begin, p, &ts) != FloatError::kNone || !std::isfinite(ts)) {
        return c.Error(ts_begin, absl::StrCat("invalid exemplar timestamp ",
                                              Quote({ts_begin, size_t(p - ts_begin)})));
      }
    }
    if (*p != '\n') {
      return c.Error(p, absl::StrCat("expected end of line after the exemplar, got ", Got(p)));
    }
    return absl::OkStatus();
  };

  while (p != end) {
    c.record_start = p;
    c.record_line = c.line;
    if constexpr (kText) {
      skip_blanks(p);
      if (*p == '\n') {
        ++p;
        ++c.line;
        continue;
      }
    }
    if (*p == '#') {
      if constexpr (kText) {
        const char* q = p + 1;
        if (*q == ' ' || *q == '\t') {
          skip_blanks(q);
          const bool help = StartsWithWord(q, "HELP");
          const bool type = !help && StartsWithWord(q, "TYPE");
          if ((help || type) && (q[4] == ' ' || q[4] == '\t')) {
            p = q + 5;
            absl::Status status = parse_metadata(
                help ? ExpositionMetadata::Kind::kHelp : ExpositionMetadata::Kind::kType,
                help ? "HELP" : "TYPE");
            if (!status.ok()) return status;
            continue;
          }
        }
        const char* nl = static_cast<const char*>(std::memchr(q, '\n', end - q));
        if (const void* nul = std::memchr(q, '\0', nl - q)) {
          return c.Error(static_cast<const char*>(nul), "unexpected NUL byte");
        }
        p = nl + 1;
        ++c.line;
        continue;
      } else {
        if (p[1] != ' ') {
          return c.Error(p + 1, absl::StrCat("expected a space after '#', got ", Got(p + 1)));
        }
        const char* q = p + 2;
        auto keyword = [&](const char* word) { return StartsWithWord(q, word); };
        if (keyword("HELP ") || keyword("TYPE ") || keyword("UNIT ")) {
          const ExpositionMetadata::Kind kind = q[0] == 'H'   ? ExpositionMetadata::Kind::kHelp
                                                : q[0] == 'T' ? ExpositionMetadata::Kind::kType
                                                              : ExpositionMetadata::Kind::kUnit;
          const absl::string_view name(q, 4);
          p = q + 5;
          absl::Status status = parse_metadata(kind, name);
          if (!status.ok()) return status;
          continue;
        }
        if (keyword("EOF")) {
          q += 3;
          if (*q == '\n') ++q;
          if (q != end || c.has_more) {
            return c.Error(q, "unexpected data after \"# EOF\"");
          }
          c.saw_eof = true;
          c.line += 1;
          c.p = q;
          return absl::OkStatus();
        }
        return c.Error(q,
                       "expected HELP, TYPE, UNIT or EOF after '# ' (OpenMetrics allows no "
                       "other comments)");
      }
    }
    if (!Is(*p, kNameStart)) {
      if (!kText && *p == '\n') return c.Error(p, "empty line (OpenMetrics allows none)");
      return c.Error(p, absl::StrCat("expected a metric name or '#', got ", Got(p)));
    }

    // A sample: name, labels, value, timestamp.
    const char* name_begin = p++;
    while (Is(*p, kNameChar)) ++p;
    const absl::string_view name(name_begin, p - name_begin);
    const char* series_end = p;
    label_count = 0;
    unescaped_.clear();
    unescaped_at_.clear();
    const char* after_name = p;
    skip_blanks(p);
    if (*p == '{') {
      ++p;
      absl::Status status = parse_label_block(true);
      if (!status.ok()) return status;
      if (c.restart != nullptr) return absl::OkStatus();
      series_end = p;
      for (const auto& [index, offset] : unescaped_at_) {
        labels_[index].second =
            absl::string_view(unescaped_.data() + offset, labels_[index].second.size());
      }
      status = check_label_names();
      if (!status.ok()) return status;
      skip_blanks(p);
      if constexpr (!kText) {
        if (*p != ' ') {
          return c.Error(p, absl::StrCat("expected a space after the labels, got ", Got(p)));
        }
        ++p;
      }
    } else if (*p == '\n') {
      return c.Error(p, "expected a value after the metric name, got end of line");
    } else if (kText ? p == after_name : *p != ' ') {
      return c.Error(p,
                     absl::StrCat("expected a space or '{' after the metric name, got ", Got(p)));
    } else if constexpr (!kText) {
      ++p;
    }

    const char* value_begin = p;
    while (!Is(*p, kValueStop)) ++p;
    if (p == value_begin) return c.Error(p, absl::StrCat("expected a value, got ", Got(p)));
    ExpositionSample sample;
    switch (ParseFloat(value_begin, p, &sample.value)) {
      case FloatError::kNone:
        break;
      case FloatError::kSyntax: {
        const absl::string_view token(value_begin, p - value_begin);
        absl::string_view digits = token;
        if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) digits.remove_prefix(1);
        const bool hex = absl::StartsWithIgnoreCase(digits, "0x");
        return c.Error(value_begin,
                       absl::StrCat(hex ? "hexadecimal values are not allowed: " : "invalid value ",
                                    Quote(token)));
      }
      case FloatError::kRange:
        return c.Error(value_begin, absl::StrCat("value out of range ",
                                                 Quote({value_begin, size_t(p - value_begin)})));
    }

    if constexpr (kText) {
      const char* q = p;
      skip_blanks(q);
      if (*q != '\n') {
        if (q == p || !IsDigit(*q)) {
          return c.Error(q, absl::StrCat("expected a timestamp or end of line, got ", Got(q)));
        }
        const char* ts_begin = q;
        int64_t ts = 0;
        bool overflow = false;
        for (; IsDigit(*q); ++q) {
          const int digit = *q - '0';
          if (ts > (std::numeric_limits<int64_t>::max() - digit) / 10) overflow = true;
          if (!overflow) ts = ts * 10 + digit;
        }
        if (overflow) {
          return c.Error(ts_begin, absl::StrCat("timestamp out of range ",
                                                Quote({ts_begin, size_t(q - ts_begin)})));
        }
        sample.timestamp_ms = ts;
        skip_blanks(q);
        if (*q != '\n') {
          return c.Error(q, absl::StrCat("expected end of line after the timestamp, got ", Got(q)));
        }
      }
      p = q;
    } else {
      if (*p == ' ') {
        ++p;
        if (p[0] == '#' && p[1] == ' ') {
          p += 2;
          absl::Status status = parse_exemplar();
          if (!status.ok()) return status;
        } else {
          const char* ts_begin = p;
          while (!Is(*p, kOmValueStop)) ++p;
          double seconds = 0;
          int64_t ms = 0;
          if (ParseFloat(ts_begin, p, &seconds) != FloatError::kNone || !std::isfinite(seconds) ||
              !SecondsToMillis(ts_begin, p, seconds, &ms)) {
            return c.Error(
                ts_begin,
                absl::StrCat(p == ts_begin ? "expected a timestamp, got " : "invalid timestamp ",
                             p == ts_begin ? Got(p) : Quote({ts_begin, size_t(p - ts_begin)})));
          }
          sample.timestamp_ms = ms;
          if (p[0] == ' ' && p[1] == '#' && p[2] == ' ') {
            p += 3;
            absl::Status status = parse_exemplar();
            if (!status.ok()) return status;
          }
        }
      }
      if (*p != '\n') {
        return c.Error(p, absl::StrCat("expected end of line after the value, got ", Got(p)));
      }
    }
    ++p;
    ++c.line;

    sample.series_text = absl::string_view(name_begin, series_end - name_begin);
    sample.name = name;
    sample.labels = absl::MakeConstSpan(labels_.data(), label_count);
    sample.type = c.family_type == MetricType::kUntyped || !InFamily(name, c.family, c.family_type)
                      ? MetricType::kUntyped
                      : c.family_type;
    (*c.on_sample)(sample);
  }
  c.p = p;
  return absl::OkStatus();
}

}  // namespace klaxon
