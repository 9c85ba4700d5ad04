#include "rules/promtool_values.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "detector/sample.h"

namespace klaxon {
namespace {

// A typo such as "1x100000000" would otherwise allocate gigabytes before any
// test runs; 5M steps is 57 days at a 1s interval.
constexpr uint64_t kMaxValues = 5'000'000;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<std::vector<std::optional<double>>> Parse() {
    while (true) {
      while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
      if (pos_ >= text_.size()) break;
      if (absl::Status s = Item(); !s.ok()) return s;
    }
    return std::move(out_);
  }

 private:
  absl::Status Error(size_t at, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("column ", at + 1, ": ", what));
  }

  bool AtItemEnd() const { return pos_ >= text_.size() || IsSpace(text_[pos_]); }

  // What sits at `pos_`, for messages: the rest of the item.
  std::string Rest() const {
    size_t end = pos_;
    while (end < text_.size() && !IsSpace(text_[end])) ++end;
    return std::string(text_.substr(pos_, end - pos_));
  }

  absl::Status Append(std::optional<double> value, uint64_t times, size_t at) {
    if (out_.size() + times > kMaxValues) {
      return Error(at, absl::StrCat("expands to more than ", kMaxValues, " values"));
    }
    out_.insert(out_.end(), times, value);
    return absl::OkStatus();
  }

  // After 'x': the repetition count, a plain unsigned integer.
  absl::StatusOr<uint64_t> Count() {
    const size_t start = pos_;
    while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    uint64_t count = 0;
    if (pos_ == start || !absl::SimpleAtoi(text_.substr(start, pos_ - start), &count)) {
      return Error(start, absl::StrCat("expected a repetition count after \"x\", got \"",
                                       std::string(text_.substr(start, pos_ - start)), "\""));
    }
    if (!AtItemEnd()) {
      return Error(pos_, absl::StrCat("unexpected \"", Rest(), "\" after the repetition count"));
    }
    if (count >= kMaxValues) {
      return Error(start, absl::StrCat("expands to more than ", kMaxValues, " values"));
    }
    return count;
  }

  // A number with an optional sign: decimal digits with an optional fraction and
  // exponent, or Inf / NaN in any case. `allow_stale` admits the word "stale".
  // Returns whether the value was "stale" in `stale`.
  absl::StatusOr<double> Number(bool allow_stale, bool& stale) {
    stale = false;
    const size_t start = pos_;
    bool negative = false;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
      negative = text_[pos_] == '-';
      ++pos_;
    }
    const bool signed_number = pos_ > start;
    if (pos_ < text_.size() && absl::ascii_isalpha(static_cast<unsigned char>(text_[pos_]))) {
      size_t end = pos_;
      while (end < text_.size() && absl::ascii_isalpha(static_cast<unsigned char>(text_[end]))) {
        ++end;
      }
      std::string word = absl::AsciiStrToLower(text_.substr(pos_, end - pos_));
      // "Infx3" and "stalex3" lex as one word; the trailing x is the repetition.
      if (word != "inf" && word != "nan" && word != "stale" && word.size() > 1 &&
          word.back() == 'x' && end < text_.size() &&
          absl::ascii_isdigit(static_cast<unsigned char>(text_[end]))) {
        word.pop_back();
        --end;
      }
      if (word == "stale" && allow_stale && !signed_number) {
        pos_ = end;
        stale = true;
        return StaleNaN();
      }
      if (word == "inf" || word == "nan") {
        pos_ = end;
        double v = word == "inf" ? std::numeric_limits<double>::infinity()
                                 : std::numeric_limits<double>::quiet_NaN();
        return negative ? -v : v;
      }
      pos_ = start;
      return Error(start,
                   absl::StrCat("expected a number, \"stale\" or \"_\", got \"", Rest(), "\""));
    }
    const size_t digits = pos_;
    auto digit_run = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
        ++pos_;
      }
      return pos_ > from;
    };
    bool any = digit_run();
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      any = digit_run() || any;
    }
    if (!any) {
      pos_ = start;
      if (pos_ < text_.size() && !absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_])) &&
          text_[pos_] != '+' && text_[pos_] != '-' && text_[pos_] != '.') {
        return Error(pos_, absl::StrCat("unexpected character '", text_.substr(pos_, 1),
                                        "' in series values"));
      }
      return Error(start,
                   absl::StrCat("expected a number, \"stale\" or \"_\", got \"", Rest(), "\""));
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digit_run()) {
        return Error(digits, absl::StrCat("malformed number \"",
                                          std::string(text_.substr(digits, pos_ - digits)), "\""));
      }
    }
    double value = 0;
    const std::string number(text_.substr(digits, pos_ - digits));
    const std::from_chars_result r =
        std::from_chars(number.data(), number.data() + number.size(), value);
    if (r.ec == std::errc::result_out_of_range) {
      return Error(digits, absl::StrCat("number \"", number, "\" is out of range"));
    }
    if (r.ec != std::errc() || r.ptr != number.data() + number.size()) {
      return Error(digits, absl::StrCat("malformed number \"", number, "\""));
    }
    return negative ? -value : value;
  }

  absl::Status Item() {
    const size_t start = pos_;
    if (text_[pos_] == '_') {
      ++pos_;
      uint64_t times = 1;
      if (pos_ < text_.size() && text_[pos_] == 'x') {
        ++pos_;
        absl::StatusOr<uint64_t> count = Count();
        if (!count.ok()) return count.status();
        times = *count;  // "_xK" is K steps, not K+1, as in promtool
      } else if (!AtItemEnd()) {
        return Error(pos_, absl::StrCat("unexpected \"", Rest(), "\" after \"_\""));
      }
      return Append(std::nullopt, times, start);
    }
    bool stale = false;
    absl::StatusOr<double> value = Number(/*allow_stale=*/true, stale);
    if (!value.ok()) return value.status();
    if (AtItemEnd()) return Append(*value, 1, start);
    const char c = text_[pos_];
    if (c == 'x') {
      ++pos_;
      absl::StatusOr<uint64_t> count = Count();
      if (!count.ok()) return count.status();
      return Append(*value, *count + 1, start);
    }
    if (c == '+' || c == '-') {
      if (stale) return Error(pos_, "a stale marker cannot be incremented");
      const size_t delta_at = pos_;
      bool unused = false;
      absl::StatusOr<double> delta = Number(/*allow_stale=*/false, unused);
      if (!delta.ok()) return delta.status();
      if (pos_ >= text_.size() || text_[pos_] != 'x') {
        return Error(delta_at, absl::StrCat("expected \"x\" and a count after the increment \"",
                                            std::string(text_.substr(delta_at, pos_ - delta_at)),
                                            "\", as in \"0+10x5\""));
      }
      ++pos_;
      absl::StatusOr<uint64_t> count = Count();
      if (!count.ok()) return count.status();
      if (out_.size() + *count + 1 > kMaxValues) {
        return Error(start, absl::StrCat("expands to more than ", kMaxValues, " values"));
      }
      // Repeated addition, not start + i * delta, so that the values are the
      // ones promtool loads, float rounding included.
      double v = *value;
      for (uint64_t i = 0; i <= *count; ++i) {
        out_.push_back(v);
        v += *delta;
      }
      return absl::OkStatus();
    }
    return Error(pos_, absl::StrCat("unexpected \"", Rest(),
                                    "\" after a value; expected \"x\", "
                                    "\"+\", \"-\" or a space"));
  }

  absl::string_view text_;
  size_t pos_ = 0;
  std::vector<std::optional<double>> out_;
};

}  // namespace

absl::StatusOr<std::vector<std::optional<double>>> ParsePromtoolValues(absl::string_view text) {
  return Parser(text).Parse();
}

}  // namespace klaxon
