// Summary templates: the two actions alert summaries need from Prometheus's Go
// templates, `{{ $labels.NAME }}` and `{{ $value }}`, rendered as Prometheus
// renders them.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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

// One `{{ ... }}` found in a template.
struct Action {
  enum class Kind { kValue, kLabel, kUnknown, kUnclosed };
  Kind kind;
  size_t begin;  // offset of "{{"
  size_t end;    // offset just past "}}" (the template's end when unclosed)
  std::string label;
};

bool IsLabelName(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// The next action at or after `from`, if any.
std::optional<Action> NextAction(absl::string_view tmpl, size_t from) {
  const size_t open = tmpl.find("{{", from);
  if (open == absl::string_view::npos) return std::nullopt;
  const size_t close = tmpl.find("}}", open + 2);
  if (close == absl::string_view::npos) {
    return Action{Action::Kind::kUnclosed, open, tmpl.size(), ""};
  }
  Action action{Action::Kind::kUnknown, open, close + 2, ""};
  absl::string_view inner = tmpl.substr(open + 2, close - open - 2);
  while (!inner.empty() && (inner.front() == ' ' || inner.front() == '\t')) inner.remove_prefix(1);
  while (!inner.empty() && (inner.back() == ' ' || inner.back() == '\t')) inner.remove_suffix(1);
  constexpr absl::string_view kLabelsPrefix = "$labels.";
  if (inner == "$value") {
    action.kind = Action::Kind::kValue;
  } else if (inner.substr(0, kLabelsPrefix.size()) == kLabelsPrefix &&
             IsLabelName(inner.substr(kLabelsPrefix.size()))) {
    action.kind = Action::Kind::kLabel;
    action.label = std::string(inner.substr(kLabelsPrefix.size()));
  }
  return action;
}

}  // namespace

std::string RenderTemplate(absl::string_view tmpl, const Labels& labels, double value) {
  std::string out;
  size_t pos = 0;
  while (std::optional<Action> action = NextAction(tmpl, pos)) {
    absl::StrAppend(&out, tmpl.substr(pos, action->begin - pos));
    switch (action->kind) {
      case Action::Kind::kValue:
        out += rules_internal::FormatFloat(value);
        break;
      case Action::Kind::kLabel:
        absl::StrAppend(&out, labels.Get(action->label));
        break;
      // Left as written: a summary with a typo still tells the reader something.
      case Action::Kind::kUnknown:
      case Action::Kind::kUnclosed:
        absl::StrAppend(&out, tmpl.substr(action->begin, action->end - action->begin));
        break;
    }
    pos = action->end;
  }
  absl::StrAppend(&out, tmpl.substr(pos));
  return out;
}

absl::Status CheckTemplate(absl::string_view tmpl) {
  size_t pos = 0;
  while (std::optional<Action> action = NextAction(tmpl, pos)) {
    pos = action->end;
    if (action->kind == Action::Kind::kValue || action->kind == Action::Kind::kLabel) continue;
    // Columns count characters; a multi-line template names the line too.
    int line = 1;
    int column = 1;
    for (size_t i = 0; i < action->begin; ++i) {
      if (tmpl[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(tmpl[i]) & 0xC0) != 0x80) {
        ++column;
      }
    }
    const std::string where = line == 1 ? absl::StrCat("column ", column)
                                        : absl::StrCat("line ", line, ", column ", column);
    if (action->kind == Action::Kind::kUnclosed) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"{{\" is never closed, expected \"}}\""));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unknown template action \"",
                     tmpl.substr(action->begin, action->end - action->begin),
                     "\", expected {{ $labels.NAME }} or {{ $value }}"));
  }
  return absl::OkStatus();
}

}  // namespace klaxon
