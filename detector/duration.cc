#include "absl/strings/string_view.h"
#include "detector/duration.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace klaxon {

namespace {
struct Unit {
  absl::string_view suffix;
  absl::Duration length;
};
// Largest first; "ms" before "m" so that the longer suffix wins.
constexpr int kUnitCount = 7;
const Unit kUnits[kUnitCount] = {
    {"y", absl::Hours(24 * 365)}, {"w", absl::Hours(24 * 7)}, {"d", absl::Hours(24)},
    {"h", absl::Hours(1)},        {"m", absl::Minutes(1)},    {"s", absl::Seconds(1)},
    {"ms", absl::Milliseconds(1)},
};
}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid duration \"", text, "\": ", why,
                                                   " (examples: \"500ms\", \"30s\", \"1h30m\")"));
  };
  if (text == "0") return absl::ZeroDuration();
  if (text.empty()) return bad("empty");
  absl::Duration total = absl::ZeroDuration();
  int next_unit = 0;  // units must appear largest first, each once
  size_t i = 0;
  while (i < text.size()) {
    size_t digits = i;
    while (digits < text.size() && absl::ascii_isdigit(text[digits])) ++digits;
    if (digits == i) return bad(absl::StrCat("expected a number at position ", i + 1));
    int64_t n = 0;
    if (!absl::SimpleAtoi(text.substr(i, digits - i), &n)) return bad("number too large");
    size_t end = digits;
    while (end < text.size() && absl::ascii_isalpha(text[end])) ++end;
    absl::string_view suffix = text.substr(digits, end - digits);
    if (suffix.empty()) return bad("missing unit (ms, s, m, h, d, w, y)");
    int u = 0;
    while (u < kUnitCount && kUnits[u].suffix != suffix) ++u;
    if (u == kUnitCount) return bad(absl::StrCat("unknown unit \"", suffix, "\""));
    if (u < next_unit) return bad("units must go from largest to smallest, each once");
    next_unit = u + 1;
    total += n * kUnits[u].length;
    i = end;
  }
  return total;
}

std::string DurationToString(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  std::string out;
  if (d < absl::ZeroDuration()) {
    out = "-";
    d = -d;
  }
  for (const Unit& unit : kUnits) {
    int64_t n = absl::IDivDuration(d, unit.length, &d);
    if (n > 0) absl::StrAppend(&out, n, unit.suffix);
  }
  return out;
}

absl::StatusOr<double> ParsePercent(absl::string_view text) {
  absl::string_view number = absl::StripAsciiWhitespace(text);
  if (number.empty() || number.back() != '%') {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid percentage \"", text, "\": expected a number followed by '%', such as \"99.9%\""));
  }
  number.remove_suffix(1);
  double value = 0;
  if (!absl::SimpleAtod(number, &value) || !std::isfinite(value) || value < 0 || value > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid percentage \"", text, "\": expected a number from 0 to 100 before '%'"));
  }
  return value / 100.0;
}

}  // namespace klaxon
