// LabelMatcher selects series by one label, as in a PromQL selector: `=`, `!=`,
// `=~`, `!~`, regexes fully anchored (RE2). Immutable after construction and
// safe to share between threads.
#ifndef KLAXON_DETECTOR_LABEL_MATCHER_H_
#define KLAXON_DETECTOR_LABEL_MATCHER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "detector/labels.h"

namespace re2 {
class RE2;
}

namespace klaxon {

class LabelMatcher {
 public:
  enum class Op { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

  // Fails with kInvalidArgument on a regex RE2 does not accept.
  static absl::StatusOr<LabelMatcher> Create(std::string name, Op op, std::string value);

  bool Matches(absl::string_view label_value) const;
  bool Matches(const Labels& labels) const { return Matches(labels.Get(name_)); }

  const std::string& name() const { return name_; }
  Op op() const { return op_; }
  const std::string& value() const { return value_; }
  // `job="api"` in PromQL notation.
  std::string ToString() const;

 private:
  LabelMatcher(std::string name, Op op, std::string value, std::shared_ptr<const re2::RE2> re)
      : name_(std::move(name)), op_(op), value_(std::move(value)), re_(std::move(re)) {}

  std::string name_;
  Op op_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;  // set for the regex ops only
};

bool MatchesAll(const std::vector<LabelMatcher>& matchers, const Labels& labels);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_LABEL_MATCHER_H_
