#include "absl/strings/string_view.h"
#include "detector/label_matcher.h"

#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace klaxon {

absl::StatusOr<LabelMatcher> LabelMatcher::Create(std::string name, Op op, std::string value) {
  std::shared_ptr<const re2::RE2> re;
  if (op == Op::kRegexMatch || op == Op::kRegexNoMatch) {
    // Anchored on both ends, as Prometheus does.
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_dot_nl(true);
    // Checked on its own first, so that an error quotes the user's pattern
    // rather than the anchored one klaxon compiles.
    re2::RE2 bare(value, options);
    if (!bare.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid regex \"", value, "\": ", bare.error()));
    }
    re = std::make_shared<re2::RE2>(absl::StrCat("^(?:", value, ")$"), options);
  }
  return LabelMatcher(std::move(name), op, std::move(value), std::move(re));
}

bool LabelMatcher::Matches(absl::string_view label_value) const {
  re2::StringPiece text(label_value.data(), label_value.size());
  switch (op_) {
    case Op::kEqual: return label_value == value_;
    case Op::kNotEqual: return label_value != value_;
    case Op::kRegexMatch: return re2::RE2::FullMatch(text, *re_);
    case Op::kRegexNoMatch: return !re2::RE2::FullMatch(text, *re_);
  }
  return false;
}

std::string LabelMatcher::ToString() const {
  static constexpr absl::string_view kOps[] = {"=", "!=", "=~", "!~"};
  std::string escaped;
  for (char c : value_) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return absl::StrCat(name_, kOps[static_cast<int>(op_)], "\"", escaped, "\"");
}

bool MatchesAll(const std::vector<LabelMatcher>& matchers, const Labels& labels) {
  for (const auto& m : matchers) {
    if (!m.Matches(labels)) return false;
  }
  return true;
}

}  // namespace klaxon
