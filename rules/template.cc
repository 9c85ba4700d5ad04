// Alert templates: the part of Prometheus's Go templates that alert labels and
// annotations use, rendered as Prometheus renders them. A template is text with
// actions `{{ pipeline }}`; a pipeline is commands joined by `|`, each command
// either an operand or a function applied to operands, the previous command's
// result being passed as the last argument.
//   operands:  $value .Value  $labels .Labels  $labels.NAME .Labels.NAME
//              "string" `raw string`  numbers  ( pipeline )
//   functions: humanize humanize1024 humanizePercentage humanizeDuration
//              humanizeTimestamp printf toUpper toLower title
// Also `{{- ` / ` -}}` (trim the whitespace before / after) and `{{/* comments */}}`.
// Every operand has a static type (float64, int, string, map), so wrong
// argument counts and types are found by CheckTemplate at load time, not at
// render time; what is left for render time is a label value that does not
// parse as a number where one is needed.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rules/alerting_rule.h"
#include "rules/internal/format.h"

namespace klaxon {
namespace rules_internal {

std::string FormatFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // The shortest digits that round-trip, as "d.ddde±XX"; Go's 'g' then picks
  // the layout from the exponent alone (precision 6 when shortest).
  char buf[64];
  const std::to_chars_result r =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  absl::string_view sci(buf, r.ptr - buf);
  std::string out;
  if (!sci.empty() && sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
    const int abs_exp = exp < 0 ? -exp : exp;
    absl::StrAppend(&out, exp < 0 ? "e-" : "e+", abs_exp < 10 ? "0" : "", abs_exp);
  } else if (exp >= 0) {
    const size_t int_digits = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_digits) {
      absl::StrAppend(&out, digits, std::string(int_digits - digits.size(), '0'));
    } else {
      absl::StrAppend(&out, digits.substr(0, int_digits), ".", digits.substr(int_digits));
    }
  } else {
    absl::StrAppend(&out, "0.", std::string(static_cast<size_t>(-exp - 1), '0'), digits);
  }
  return out;
}

}  // namespace rules_internal

namespace {

using rules_internal::FormatFloat;

// ---------------------------------------------------------------------------
// Values

enum class Type { kString, kFloat, kInt, kMap };

absl::string_view GoTypeName(Type type) {
  switch (type) {
    case Type::kString:
      return "string";
    case Type::kFloat:
      return "float64";
    case Type::kInt:
      return "int";
    case Type::kMap:
      return "map[string]string";
  }
  return "?";
}

struct Value {
  Type type = Type::kString;
  std::string s;
  double f = 0;
  int64_t i = 0;
  const Labels* map = nullptr;
};

Value StringValue(std::string s) {
  Value v;
  v.s = std::move(s);
  return v;
}

Value FloatValue(double f) {
  Value v;
  v.type = Type::kFloat;
  v.f = f;
  return v;
}

// fmt's %v, which is also how text/template prints a pipeline's result.
std::string PrintV(const Value& v) {
  switch (v.type) {
    case Type::kString:
      return v.s;
    case Type::kFloat:
      return FormatFloat(v.f);
    case Type::kInt:
      return absl::StrCat(v.i);
    case Type::kMap: {
      // Go prints maps with their keys sorted, which Labels already are.
      std::vector<std::string> pairs;
      for (LabelRef l : v.map->items()) pairs.push_back(absl::StrCat(l.name, ":", l.value));
      return absl::StrCat("map[", absl::StrJoin(pairs, " "), "]");
    }
  }
  return "";
}

// ---------------------------------------------------------------------------
// Go's fmt, for the verbs that make sense on the values a template can hold.

struct Spec {
  bool minus = false, plus = false, sharp = false, space = false, zero = false;
  int width = -1;
  int precision = -1;
};

size_t RuneCount(absl::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Pads to the width with spaces (or zeros after any sign when `zero_ok`).
std::string Pad(std::string s, const Spec& spec, bool zero_ok) {
  if (spec.width < 0) return s;
  const size_t runes = RuneCount(s);
  if (runes >= static_cast<size_t>(spec.width)) return s;
  const size_t fill = static_cast<size_t>(spec.width) - runes;
  if (spec.minus) return s + std::string(fill, ' ');
  if (spec.zero && zero_ok) {
    const size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-' || s[0] == ' ') ? 1 : 0;
    return s.insert(sign, fill, '0');
  }
  return std::string(fill, ' ') + s;
}

std::string BadVerb(char verb, const Value& v) {
  return absl::StrCat("%!", std::string(1, verb), "(", GoTypeName(v.type), "=", PrintV(v), ")");
}

std::string FormatGoFloat(char verb, const Spec& spec, double f) {
  if (std::isnan(f) || std::isinf(f)) {
    // Go keeps the sign of an infinity, shows a NaN's only when asked, and
    // never pads either with zeros.
    std::string s = std::isnan(f) ? "NaN" : (f > 0 ? "+Inf" : "-Inf");
    if (std::isnan(f) && (spec.plus || spec.space)) s.insert(0, spec.plus ? "+" : " ");
    if (!std::isnan(f) && f > 0 && spec.space && !spec.plus) s[0] = ' ';
    return Pad(std::move(s), spec, /*zero_ok=*/false);
  }
  if (verb == 'v') verb = 'g';
  std::string s;
  if ((verb == 'g' || verb == 'G') && spec.precision < 0) {
    // Shortest digits that round-trip, which C's printf has no verb for.
    s = FormatFloat(f);
    if (verb == 'G') s = absl::AsciiStrToUpper(s);
    if (f >= 0 && !std::signbit(f) && (spec.plus || spec.space)) s.insert(0, spec.plus ? "+" : " ");
    return Pad(std::move(s), spec, /*zero_ok=*/true);
  }
  std::string c_format = "%";
  if (spec.plus) c_format += '+';
  if (spec.space) c_format += ' ';
  if (spec.sharp) c_format += '#';
  int precision = spec.precision;
  char c_verb = verb;
  if (verb == 'x' || verb == 'X') {
    c_verb = verb == 'x' ? 'a' : 'A';
  } else if (precision < 0) {
    precision = 6;  // %e, %f: Go's default precision, as C's
  }
  if (precision >= 0) absl::StrAppend(&c_format, ".", precision);
  c_format += c_verb;
  char buf[512];
  int n = std::snprintf(buf, sizeof(buf), c_format.c_str(), f);
  if (n < 0) return BadVerb(verb, FloatValue(f));
  if (static_cast<size_t>(n) >= sizeof(buf)) {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(big.data(), big.size(), c_format.c_str(), f);
    big.resize(static_cast<size_t>(n));
    s = std::move(big);
  } else {
    s.assign(buf, static_cast<size_t>(n));
  }
  if (verb == 'x' || verb == 'X') {
    // Go writes the binary exponent with at least two digits ("p+00").
    const size_t p = s.find_first_of("pP");
    if (p != std::string::npos && p + 2 < s.size() + 1 && s.size() - (p + 2) < 2) {
      s.insert(p + 2, "0");
    }
  }
  return Pad(std::move(s), spec, /*zero_ok=*/true);
}

std::string GoQuote(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '"':
        out += "\\\"";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string FormatOne(char verb, const Spec& spec, const Value& v) {
  switch (v.type) {
    case Type::kFloat:
      if (absl::string_view("vgGeEfFxX").find(verb) == absl::string_view::npos) {
        return BadVerb(verb, v);
      }
      return FormatGoFloat(verb, spec, v.f);
    case Type::kInt: {
      std::string c_format = "%";
      if (spec.plus) c_format += '+';
      if (spec.space) c_format += ' ';
      if (spec.sharp) c_format += '#';
      if (spec.precision >= 0) absl::StrAppend(&c_format, ".", spec.precision);
      switch (verb) {
        case 'v':
        case 'd':
          c_format += "lld";
          break;
        case 'x':
        case 'X':
        case 'o':
          c_format += "ll";
          c_format += verb;
          break;
        default:
          return BadVerb(verb, v);
      }
      char buf[64];
      std::snprintf(buf, sizeof(buf), c_format.c_str(), static_cast<long long>(v.i));
      return Pad(buf, spec, /*zero_ok=*/spec.precision < 0);
    }
    case Type::kString: {
      std::string s;
      if (verb == 's' || verb == 'v') {
        s = v.s;
        if (spec.precision >= 0) {
          // Precision counts runes.
          size_t runes = 0, end = 0;
          for (; end < s.size(); ++end) {
            if ((static_cast<unsigned char>(s[end]) & 0xC0) != 0x80) {
              if (runes == static_cast<size_t>(spec.precision)) break;
              ++runes;
            }
          }
          s.resize(end);
        }
      } else if (verb == 'q') {
        s = GoQuote(v.s);
      } else if (verb == 'x' || verb == 'X') {
        for (unsigned char c : v.s) {
          char hex[3];
          std::snprintf(hex, sizeof(hex), verb == 'x' ? "%02x" : "%02X", c);
          s += hex;
        }
      } else {
        return BadVerb(verb, v);
      }
      return Pad(std::move(s), spec, /*zero_ok=*/true);
    }
    case Type::kMap:
      if (verb != 'v' && verb != 's') return BadVerb(verb, v);
      return Pad(PrintV(v), spec, /*zero_ok=*/false);
  }
  return BadVerb(verb, v);
}

// fmt.Sprintf, with Go's in-band error forms: %!d(string=x), %!f(MISSING),
// %!(EXTRA float64=1), %!(NOVERB). Argument indexes ("%[1]d") and '*' widths
// are not supported and print as bad verbs.
std::string GoSprintf(absl::string_view format, const std::vector<Value>& args) {
  std::string out;
  size_t next = 0;
  size_t i = 0;
  while (i < format.size()) {
    const char c = format[i++];
    if (c != '%') {
      out += c;
      continue;
    }
    Spec spec;
    for (; i < format.size(); ++i) {
      const char f = format[i];
      if (f == '-') {
        spec.minus = true;
        spec.zero = false;  // Go: '-' overrides '0'
      } else if (f == '+') {
        spec.plus = true;
      } else if (f == '#') {
        spec.sharp = true;
      } else if (f == ' ') {
        spec.space = true;
      } else if (f == '0') {
        spec.zero = !spec.minus;
      } else {
        break;
      }
    }
    auto number = [&]() {
      int n = -1;
      while (i < format.size() && absl::ascii_isdigit(static_cast<unsigned char>(format[i]))) {
        n = (n < 0 ? 0 : n) * 10 + (format[i++] - '0');
        if (n > 1'000'000) n = 1'000'000;  // a width of a million is already absurd
      }
      return n;
    };
    spec.width = number();
    if (i < format.size() && format[i] == '.') {
      ++i;
      spec.precision = std::max(number(), 0);
    }
    if (i >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    const char verb = format[i++];
    if (verb == '%') {
      out += '%';
      continue;
    }
    if (next >= args.size()) {
      absl::StrAppend(&out, "%!", std::string(1, verb), "(MISSING)");
      continue;
    }
    out += FormatOne(verb, spec, args[next++]);
  }
  if (next < args.size()) {
    std::vector<std::string> extra;
    for (; next < args.size(); ++next) {
      extra.push_back(absl::StrCat(GoTypeName(args[next].type), "=", PrintV(args[next])));
    }
    absl::StrAppend(&out, "%!(EXTRA ", absl::StrJoin(extra, ", "), ")");
  }
  return out;
}

// Go's "%.4g", which every humanize function ends with.
std::string G4(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// Go's strconv.ParseFloat for what label values hold: decimal numbers, Inf,
// Infinity and NaN in any case, with an optional sign.
absl::StatusOr<double> GoParseFloat(absl::string_view text) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("strconv.ParseFloat: parsing ", GoQuote(text), ": ", why));
  };
  absl::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  const std::string lower = absl::AsciiStrToLower(s);
  if (lower == "inf" || lower == "infinity") {
    return negative ? -HUGE_VAL : HUGE_VAL;
  }
  if (lower == "nan") return std::nan("");
  if (s.empty() || !(absl::ascii_isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.')) {
    return fail("invalid syntax");
  }
  double v = 0;
  const std::from_chars_result r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ptr != s.data() + s.size()) return fail("invalid syntax");
  if (r.ec == std::errc::result_out_of_range) return fail("value out of range");
  if (r.ec != std::errc()) return fail("invalid syntax");
  return negative ? -v : v;
}

absl::StatusOr<double> ToFloat(const Value& v) {
  switch (v.type) {
    case Type::kFloat:
      return v.f;
    case Type::kInt:
      return static_cast<double>(v.i);
    case Type::kString:
      return GoParseFloat(v.s);
    case Type::kMap:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("can't convert ", GoTypeName(v.type), " to float"));
}

std::string Humanize(double v) {
  if (v == 0 || std::isnan(v) || std::isinf(v)) return G4(v);
  if (std::fabs(v) >= 1) {
    absl::string_view prefix;
    for (absl::string_view p : {"k", "M", "G", "T", "P", "E", "Z", "Y"}) {
      if (std::fabs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
    return absl::StrCat(G4(v), prefix);
  }
  absl::string_view prefix;
  for (absl::string_view p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return absl::StrCat(G4(v), prefix);
}

std::string Humanize1024(double v) {
  if (std::fabs(v) <= 1 || std::isnan(v) || std::isinf(v)) return G4(v);
  absl::string_view prefix;
  for (absl::string_view p : {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"}) {
    if (std::fabs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return absl::StrCat(G4(v), prefix);
}

std::string HumanizeDuration(double v) {
  if (std::isnan(v) || std::isinf(v)) return G4(v);
  if (v == 0) return absl::StrCat(G4(v), "s");
  if (std::fabs(v) >= 1) {
    absl::string_view sign;
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    // int64(v) as Go converts on amd64 (Debian's promtool): truncation, and
    // 0x8000000000000000 (INT64_MIN) for a value past int64, as CVTTSD2SI gives.
    const int64_t whole = v >= 9223372036854775808.0 ? INT64_MIN : static_cast<int64_t>(v);
    const int64_t seconds = whole % 60;
    const int64_t minutes = (whole / 60) % 60;
    const int64_t hours = (whole / 60 / 60) % 24;
    const int64_t days = whole / 60 / 60 / 24;
    // From minutes up, seconds are shown as a whole number.
    if (days != 0) return absl::StrCat(sign, days, "d ", hours, "h ", minutes, "m ", seconds, "s");
    if (hours != 0) return absl::StrCat(sign, hours, "h ", minutes, "m ", seconds, "s");
    if (minutes != 0) return absl::StrCat(sign, minutes, "m ", seconds, "s");
    return absl::StrCat(sign, G4(v), "s");
  }
  absl::string_view prefix;
  for (absl::string_view p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return absl::StrCat(G4(v), prefix, "s");
}

std::string HumanizePercentage(double v) { return absl::StrCat(G4(v * 100), "%"); }

absl::StatusOr<std::string> HumanizeTimestamp(double v) {
  if (std::isnan(v) || std::isinf(v)) return G4(v);
  const double ns = v * 1e9;
  if (ns > 9.2e18 || ns < -9.2e18) {
    return absl::InvalidArgumentError(
        absl::StrCat(FormatFloat(v),
                     " cannot be represented as a nanoseconds timestamp since it overflows int64"));
  }
  // Go's time.Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST".
  // Milliseconds as Prometheus's model.Time keeps them.
  const absl::Time t = absl::FromUnixMillis(static_cast<int64_t>(ns) / 1'000'000);
  return absl::StrCat(absl::FormatTime("%Y-%m-%d %H:%M:%E*S", t, absl::UTCTimeZone()),
                      " +0000 UTC");
}

// Go's strings.Title over ASCII: a letter after a separator is upper-cased.
// Bytes of multi-byte characters count as letters and are left as they are.
std::string Title(absl::string_view s) {
  std::string out(s);
  bool after_separator = true;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (after_separator) c = absl::ascii_toupper(u);
    after_separator = u < 0x80 && !absl::ascii_isalnum(u) && u != '_';
  }
  return out;
}

// ---------------------------------------------------------------------------
// Syntax tree

struct Pipeline;

struct Operand {
  enum class Kind { kValue, kLabels, kLabel, kString, kFloat, kInt, kPipeline };
  Kind kind = Kind::kValue;
  size_t pos = 0;
  std::string text;  // the label name, or the string constant
  double f = 0;
  int64_t i = 0;
  std::shared_ptr<const Pipeline> pipeline;
};

struct Command {
  size_t pos = 0;
  std::string function;  // empty for a lone operand
  std::vector<Operand> args;
};

struct Pipeline {
  size_t pos = 0;
  std::vector<Command> commands;
};

struct Segment {
  std::string text;                        // printed as is
  std::shared_ptr<const Pipeline> action;  // or evaluated and printed
};

struct ParseError {
  size_t pos;
  std::string message;
};

constexpr absl::string_view kFunctions[] = {"humanize",
                                            "humanize1024",
                                            "humanizeDuration",
                                            "humanizePercentage",
                                            "humanizeTimestamp",
                                            "printf",
                                            "title",
                                            "toLower",
                                            "toUpper"};

bool IsFunction(absl::string_view name) {
  return std::find(std::begin(kFunctions), std::end(kFunctions), name) != std::end(kFunctions);
}

bool IsIdentStart(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsSpaceChar(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

class TemplateParser {
 public:
  explicit TemplateParser(absl::string_view tmpl) : t_(tmpl) {}

  std::optional<ParseError> Parse(std::vector<Segment>& out) {
    size_t pos = 0;
    bool trim_next = false;
    while (true) {
      size_t open = t_.find("{{", pos);
      std::string text(
          t_.substr(pos, open == absl::string_view::npos ? absl::string_view::npos : open - pos));
      if (trim_next) {
        const size_t first = text.find_first_not_of(" \t\r\n");
        text.erase(0, first == std::string::npos ? text.size() : first);
      }
      if (open == absl::string_view::npos) {
        out.push_back({std::move(text), nullptr});
        return std::nullopt;
      }
      size_t i = open + 2;
      // "{{- " trims the whitespace before the action; the space is required,
      // as "{{-3}}" is the number -3.
      if (i + 1 < t_.size() && t_[i] == '-' && IsSpaceChar(t_[i + 1])) {
        while (!text.empty() && IsSpaceChar(text.back())) text.pop_back();
        i += 2;
      }
      out.push_back({std::move(text), nullptr});
      open_ = open;
      while (i < t_.size() && IsSpaceChar(t_[i])) ++i;
      if (t_.substr(i, 2) == "/*") {
        const size_t end = t_.find("*/", i + 2);
        if (end == absl::string_view::npos) return ParseError{open, "unclosed comment"};
        size_t j = end + 2;
        trim_next = false;
        if (t_.substr(j, 4) == " -}}") {
          trim_next = true;
          j += 4;
        } else if (t_.substr(j, 2) == "}}") {
          j += 2;
        } else {
          return ParseError{end, "comment ends before closing delimiter"};
        }
        pos = j;
        continue;
      }
      pos_ = i;
      auto pipeline = std::make_shared<Pipeline>();
      if (std::optional<ParseError> e = ParsePipeline(*pipeline, /*in_parens=*/false)) return e;
      // ParsePipeline stops at the closing delimiter.
      trim_next = t_.substr(pos_, 4) == " -}}";
      pos = pos_ + (trim_next ? 4 : 2);
      out.push_back({"", std::move(pipeline)});
    }
  }

 private:
  void SkipSpace() {
    while (pos_ < t_.size() && IsSpaceChar(t_[pos_])) {
      if (t_.substr(pos_, 4) == " -}}") return;
      ++pos_;
    }
  }
  bool AtClose() const { return t_.substr(pos_, 2) == "}}" || t_.substr(pos_, 4) == " -}}"; }

  std::optional<ParseError> ParsePipeline(Pipeline& pipeline, bool in_parens) {
    SkipSpace();
    pipeline.pos = pos_;
    while (true) {
      Command command;
      SkipSpace();
      command.pos = pos_;
      while (true) {
        SkipSpace();
        if (pos_ >= t_.size()) return ParseError{open_, "\"{{\" is never closed, expected \"}}\""};
        if (AtClose()) {
          if (in_parens) return ParseError{pos_, "unclosed left paren"};
          break;
        }
        const char c = t_[pos_];
        if (c == '|' || (c == ')' && in_parens)) break;
        if (c == ')') return ParseError{pos_, "unexpected right paren"};
        if (!command.args.empty() || !command.function.empty()) {
          // Operands are separated by spaces: "$value|x" is fine, "$value$x" is not.
          if (!IsSpaceChar(t_[pos_ - 1]) && t_[pos_ - 1] != '(' && t_[pos_ - 1] != '|' &&
              t_[pos_ - 1] != ')' && c != '(') {
            return ParseError{pos_,
                              absl::StrCat("unexpected \"", t_.substr(pos_, 1), "\" in operand")};
          }
        }
        if (command.function.empty() && command.args.empty() && IsIdentStart(c)) {
          size_t end = pos_;
          while (end < t_.size() && IsIdentChar(t_[end])) ++end;
          std::string word(t_.substr(pos_, end - pos_));
          if (std::optional<ParseError> e = CheckWord(word, pos_)) return e;
          command.function = std::move(word);
          pos_ = end;
          continue;
        }
        if (IsIdentStart(c)) {
          size_t end = pos_;
          while (end < t_.size() && IsIdentChar(t_[end])) ++end;
          std::string word(t_.substr(pos_, end - pos_));
          if (std::optional<ParseError> e = CheckWord(word, pos_)) return e;
          return ParseError{
              pos_,
              absl::StrCat("function \"", word,
                           "\" is used as an argument; wrap it in parentheses: (", word, " ...)")};
        }
        Operand operand;
        if (std::optional<ParseError> e = ParseOperand(operand)) return e;
        command.args.push_back(std::move(operand));
      }
      if (command.function.empty() && command.args.empty()) {
        return ParseError{command.pos, "missing value for command"};
      }
      if (command.function.empty() && command.args.size() > 1) {
        return ParseError{command.args[1].pos,
                          "can't give argument to non-function; only functions take arguments"};
      }
      pipeline.commands.push_back(std::move(command));
      if (pos_ < t_.size() && t_[pos_] == '|') {
        ++pos_;
        continue;
      }
      return std::nullopt;  // at "}}" or, in parentheses, at ")"
    }
  }

  std::optional<ParseError> CheckWord(absl::string_view word, size_t at) {
    static constexpr absl::string_view kKeywords[] = {
        "if",    "else",  "end",      "range", "with",  "define", "template",
        "block", "break", "continue", "true",  "false", "nil"};
    if (std::find(std::begin(kKeywords), std::end(kKeywords), word) != std::end(kKeywords)) {
      return ParseError{at, absl::StrCat("\"", word, "\" is not supported in klaxon templates; ",
                                         "use $labels, $value and the functions ",
                                         absl::StrJoin(kFunctions, ", "))};
    }
    if (!IsFunction(word)) {
      return ParseError{at, absl::StrCat("function \"", word, "\" not defined (known: ",
                                         absl::StrJoin(kFunctions, ", "), ")")};
    }
    return std::nullopt;
  }

  // After "$labels" or ".Labels": an optional ".NAME".
  std::optional<ParseError> LabelsOperand(Operand& operand) {
    operand.kind = Operand::Kind::kLabels;
    if (pos_ < t_.size() && t_[pos_] == '.') {
      size_t end = pos_ + 1;
      while (end < t_.size() && IsIdentChar(t_[end])) ++end;
      if (end == pos_ + 1) return ParseError{pos_, "expected a label name after \".\""};
      operand.kind = Operand::Kind::kLabel;
      operand.text = std::string(t_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end;
    }
    if (pos_ < t_.size() && t_[pos_] == '.') {
      return ParseError{
          pos_, absl::StrCat("a label value has no fields (", operand.text, " is a string)")};
    }
    return std::nullopt;
  }

  std::optional<ParseError> ParseOperand(Operand& operand) {
    operand.pos = pos_;
    const char c = t_[pos_];
    if (c == '$' || c == '.') {
      size_t end = pos_ + 1;
      while (end < t_.size() && IsIdentChar(t_[end])) ++end;
      const absl::string_view name = t_.substr(pos_, end - pos_);
      if (c == '.' && end < t_.size() && name == "." && absl::ascii_isdigit(t_[end])) {
        return ParseNumber(operand);
      }
      pos_ = end;
      if (name == "$value" || name == ".Value") {
        operand.kind = Operand::Kind::kValue;
        if (pos_ < t_.size() && t_[pos_] == '.') {
          return ParseError{pos_, "$value is a number and has no fields"};
        }
        return std::nullopt;
      }
      if (name == "$labels" || name == ".Labels") return LabelsOperand(operand);
      if (c == '$') {
        return ParseError{operand.pos, absl::StrCat("undefined variable \"", name,
                                                    "\" (klaxon defines $labels and $value)")};
      }
      return ParseError{operand.pos, absl::StrCat("unsupported field \"", name,
                                                  "\" (klaxon has .Labels and .Value)")};
    }
    if (c == '"' || c == '`') return ParseString(operand);
    if (absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      return ParseNumber(operand);
    }
    if (c == '(') {
      ++pos_;
      auto inner = std::make_shared<Pipeline>();
      if (std::optional<ParseError> e = ParsePipeline(*inner, /*in_parens=*/true)) return e;
      ++pos_;  // ')'
      operand.kind = Operand::Kind::kPipeline;
      operand.pipeline = std::move(inner);
      return std::nullopt;
    }
    return ParseError{pos_, absl::StrCat("unexpected \"", t_.substr(pos_, 1), "\" in command")};
  }

  std::optional<ParseError> ParseString(Operand& operand) {
    operand.kind = Operand::Kind::kString;
    const char quote = t_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= t_.size() || (quote == '"' && t_[pos_] == '\n')) {
        return ParseError{operand.pos, "unterminated quoted string"};
      }
      char c = t_[pos_++];
      if (c == quote) break;
      if (quote == '"' && c == '\\') {
        if (pos_ >= t_.size()) return ParseError{operand.pos, "unterminated quoted string"};
        const char e = t_[pos_++];
        switch (e) {
          case 'n':
            value += '\n';
            break;
          case 't':
            value += '\t';
            break;
          case 'r':
            value += '\r';
            break;
          case 'a':
            value += '\a';
            break;
          case 'b':
            value += '\b';
            break;
          case 'f':
            value += '\f';
            break;
          case 'v':
            value += '\v';
            break;
          case '\\':
            value += '\\';
            break;
          case '"':
            value += '"';
            break;
          case '\'':
            value += '\'';
            break;
          default:
            return ParseError{pos_ - 2, absl::StrCat("unknown escape sequence \"\\",
                                                     std::string(1, e), "\" in string")};
        }
        continue;
      }
      value += c;
    }
    operand.text = std::move(value);
    return std::nullopt;
  }

  std::optional<ParseError> ParseNumber(Operand& operand) {
    size_t end = pos_;
    if (end < t_.size() && (t_[end] == '+' || t_[end] == '-')) ++end;
    while (end < t_.size() &&
           (IsIdentChar(t_[end]) || t_[end] == '.' ||
            ((t_[end] == '+' || t_[end] == '-') && (t_[end - 1] == 'e' || t_[end - 1] == 'E')))) {
      ++end;
    }
    const std::string text(t_.substr(pos_, end - pos_));
    absl::string_view digits = text;
    bool negative = false;
    if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    const bool is_float = digits.find_first_of(".eE") != absl::string_view::npos;
    bool ok = !digits.empty();
    if (ok && !is_float) {
      int64_t i = 0;
      const std::from_chars_result r =
          std::from_chars(digits.data(), digits.data() + digits.size(), i);
      ok = r.ec == std::errc() && r.ptr == digits.data() + digits.size();
      operand.kind = Operand::Kind::kInt;
      operand.i = negative ? -i : i;
    } else if (ok) {
      double f = 0;
      const std::from_chars_result r =
          std::from_chars(digits.data(), digits.data() + digits.size(), f);
      ok = r.ec == std::errc() && r.ptr == digits.data() + digits.size();
      operand.kind = Operand::Kind::kFloat;
      operand.f = negative ? -f : f;
    }
    if (!ok) return ParseError{pos_, absl::StrCat("bad number syntax: \"", text, "\"")};
    pos_ = end;
    return std::nullopt;
  }

  absl::string_view t_;
  size_t pos_ = 0;
  size_t open_ = 0;  // the "{{" of the action being parsed
};

// ---------------------------------------------------------------------------
// Static types and evaluation

struct TypeError {
  size_t pos;
  std::string message;
};

std::optional<TypeError> TypeOf(const Pipeline& pipeline, Type& out);

std::optional<TypeError> TypeOfOperand(const Operand& operand, Type& out) {
  switch (operand.kind) {
    case Operand::Kind::kValue:
    case Operand::Kind::kFloat:
      out = Type::kFloat;
      return std::nullopt;
    case Operand::Kind::kInt:
      out = Type::kInt;
      return std::nullopt;
    case Operand::Kind::kLabels:
      out = Type::kMap;
      return std::nullopt;
    case Operand::Kind::kLabel:
    case Operand::Kind::kString:
      out = Type::kString;
      return std::nullopt;
    case Operand::Kind::kPipeline:
      return TypeOf(*operand.pipeline, out);
  }
  return std::nullopt;
}

std::optional<TypeError> TypeOf(const Pipeline& pipeline, Type& out) {
  std::optional<Type> piped;
  for (size_t k = 0; k < pipeline.commands.size(); ++k) {
    const Command& command = pipeline.commands[k];
    std::vector<Type> types;
    for (const Operand& operand : command.args) {
      Type t;
      if (std::optional<TypeError> e = TypeOfOperand(operand, t)) return e;
      types.push_back(t);
    }
    if (piped.has_value()) types.push_back(*piped);
    if (command.function.empty()) {
      if (piped.has_value()) {
        return TypeError{command.pos,
                         "can't give argument to non-function; only functions can "
                         "follow \"|\""};
      }
      piped = types[0];
      continue;
    }
    const std::string& f = command.function;
    if (f == "printf") {
      if (types.empty()) {
        return TypeError{command.pos, "wrong number of args for printf: want at least 1 got 0"};
      }
      if (types[0] != Type::kString) {
        return TypeError{command.pos, absl::StrCat("wrong type for value; expected string; got ",
                                                   GoTypeName(types[0]), " (printf's format)")};
      }
    } else {
      if (types.size() != 1) {
        return TypeError{command.pos, absl::StrCat("wrong number of args for ", f, ": want 1 got ",
                                                   types.size())};
      }
      const bool wants_string = f == "toUpper" || f == "toLower" || f == "title";
      if (wants_string && types[0] != Type::kString) {
        return TypeError{command.pos,
                         absl::StrCat("wrong type for value; expected string; got ",
                                      GoTypeName(types[0]), " (", f, " takes a string)")};
      }
      if (!wants_string && types[0] == Type::kMap) {
        return TypeError{command.pos, absl::StrCat("error calling ", f, ": can't convert ",
                                                   GoTypeName(types[0]), " to float")};
      }
    }
    piped = Type::kString;
  }
  out = *piped;
  return std::nullopt;
}

struct Data {
  absl::string_view tmpl;  // for the positions of errors
  const Labels& labels;
  double value;
};

std::string Where(absl::string_view tmpl, size_t pos);

absl::StatusOr<Value> Eval(const Pipeline& pipeline, const Data& data);

absl::StatusOr<Value> EvalOperand(const Operand& operand, const Data& data) {
  Value v;
  switch (operand.kind) {
    case Operand::Kind::kValue:
      return FloatValue(data.value);
    case Operand::Kind::kFloat:
      return FloatValue(operand.f);
    case Operand::Kind::kInt:
      v.type = Type::kInt;
      v.i = operand.i;
      return v;
    case Operand::Kind::kLabels:
      v.type = Type::kMap;
      v.map = &data.labels;
      return v;
    case Operand::Kind::kLabel:
      return StringValue(std::string(data.labels.Get(operand.text)));
    case Operand::Kind::kString:
      return StringValue(operand.text);
    case Operand::Kind::kPipeline:
      return Eval(*operand.pipeline, data);
  }
  return v;
}

absl::StatusOr<Value> Call(const Command& command, std::vector<Value> args) {
  const std::string& f = command.function;
  if (f == "printf") {
    const std::string format = args[0].s;
    args.erase(args.begin());
    return StringValue(GoSprintf(format, args));
  }
  if (f == "toUpper") return StringValue(absl::AsciiStrToUpper(args[0].s));
  if (f == "toLower") return StringValue(absl::AsciiStrToLower(args[0].s));
  if (f == "title") return StringValue(Title(args[0].s));
  absl::StatusOr<double> x = ToFloat(args[0]);
  if (!x.ok()) return x.status();
  if (f == "humanize") return StringValue(Humanize(*x));
  if (f == "humanize1024") return StringValue(Humanize1024(*x));
  if (f == "humanizeDuration") return StringValue(HumanizeDuration(*x));
  if (f == "humanizePercentage") return StringValue(HumanizePercentage(*x));
  absl::StatusOr<std::string> timestamp = HumanizeTimestamp(*x);
  if (!timestamp.ok()) return timestamp.status();
  return StringValue(*std::move(timestamp));
}

// Evaluation assumes TypeOf accepted the pipeline.
absl::StatusOr<Value> Eval(const Pipeline& pipeline, const Data& data) {
  std::optional<Value> piped;
  for (const Command& command : pipeline.commands) {
    std::vector<Value> args;
    for (const Operand& operand : command.args) {
      absl::StatusOr<Value> v = EvalOperand(operand, data);
      if (!v.ok()) return v.status();
      args.push_back(*std::move(v));
    }
    if (piped.has_value()) args.push_back(*std::move(piped));
    if (command.function.empty()) {
      piped = std::move(args[0]);
      continue;
    }
    absl::StatusOr<Value> result = Call(command, std::move(args));
    if (!result.ok()) {
      // Named by the column of the command, as Go names the failing call.
      return absl::Status(result.status().code(),
                          absl::StrCat(Where(data.tmpl, command.pos), ": error calling ",
                                       command.function, ": ", result.status().message()));
    }
    piped = *std::move(result);
  }
  return *std::move(piped);
}

// Parses and type-checks; an error carries its byte offset.
std::optional<ParseError> Compile(absl::string_view tmpl, std::vector<Segment>& segments) {
  if (std::optional<ParseError> e = TemplateParser(tmpl).Parse(segments)) return e;
  for (const Segment& segment : segments) {
    if (segment.action == nullptr) continue;
    Type type;
    if (std::optional<TypeError> e = TypeOf(*segment.action, type)) {
      return ParseError{e->pos, std::move(e->message)};
    }
  }
  return std::nullopt;
}

// "column C" or, past the first line, "line L, column C"; columns count
// characters, as editors do.
std::string Where(absl::string_view tmpl, size_t pos) {
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < pos && i < tmpl.size(); ++i) {
    if (tmpl[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(tmpl[i]) & 0xC0) != 0x80) {
      ++column;
    }
  }
  return line == 1 ? absl::StrCat("column ", column)
                   : absl::StrCat("line ", line, ", column ", column);
}

}  // namespace

std::string RenderTemplate(absl::string_view tmpl, const Labels& labels, double value) {
  if (tmpl.find("{{") == absl::string_view::npos) return std::string(tmpl);
  std::vector<Segment> segments;
  if (std::optional<ParseError> e = Compile(tmpl, segments)) {
    // As Prometheus: the text says what went wrong rather than vanishing.
    return absl::StrCat("<error expanding template: ", Where(tmpl, e->pos), ": ", e->message, ">");
  }
  const Data data{tmpl, labels, value};
  std::string out;
  for (const Segment& segment : segments) {
    if (segment.action == nullptr) {
      out += segment.text;
      continue;
    }
    absl::StatusOr<Value> v = Eval(*segment.action, data);
    if (!v.ok()) return absl::StrCat("<error expanding template: ", v.status().message(), ">");
    out += PrintV(*v);
  }
  return out;
}

absl::Status CheckTemplate(absl::string_view tmpl) {
  std::vector<Segment> segments;
  if (std::optional<ParseError> e = Compile(tmpl, segments)) {
    return absl::InvalidArgumentError(absl::StrCat(Where(tmpl, e->pos), ": ", e->message));
  }
  return absl::OkStatus();
}

}  // namespace klaxon
