#include "rules/expr.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/charconv.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/duration.h"
#include "re2/re2.h"
#include "rules/internal/format.h"
#include "rules/internal/functions.h"

namespace klaxon {
namespace {

// ---------------------------------------------------------------------------
// Lexer
//
// Produces one token at a time so that the first error in text order wins: a
// syntax error early in the text is reported even if a later string is broken.
// Keywords are not token kinds: PromQL's keywords are contextual (`sum` and `by`
// are valid metric names, every keyword is a valid label name), so the parser
// decides by the identifier's text where it matters.

enum class Tok {
  kEof,
  kError,  // a lexical error; `value` holds the message, `error_at` the offset
  kIdentifier,
  kNumber,
  kDuration,
  kString,
  kLeftParen,
  kRightParen,
  kLeftBrace,
  kRightBrace,
  kLeftBracket,
  kRightBracket,
  kComma,
  kColon,  // only inside brackets (subqueries); elsewhere ':' is part of a metric name
  kAt,
  kAssign,        // =
  kRegexMatch,    // =~
  kRegexNoMatch,  // !~
  kEqlC,          // ==
  kNeq,           // !=
  kLss,
  kLte,
  kGtr,
  kGte,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kUnknown,  // characters that start no token, e.g. "&&"
};

struct Token {
  Tok kind = Tok::kEof;
  size_t begin = 0;  // byte offsets into the expression text
  size_t end = 0;
  std::string value;  // kString: the unquoted bytes; kError: the message
  double number = 0;  // kNumber
  size_t error_at = 0;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

// Length of the well-formed UTF-8 sequence starting at s[i], or 0.
size_t Utf8Length(absl::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t min;
  uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return 0;
  return len;
}


int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's rule for digit separators (strconv's underscoreOK): each '_' sits between
// two digits, or between a base prefix and a digit.
bool UnderscoresOk(absl::string_view s, bool hex) {
  char saw = '^';  // ^ start, 0 digit or base prefix, _ underscore, ! other
  size_t i = 0;
  if (hex) {
    i = 2;
    saw = '0';
  }
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (IsDigit(c) || (hex && HexValue(c) >= 0)) {
      saw = '0';
    } else if (c == '_') {
      if (saw != '0') return false;
      saw = '_';
    } else {
      if (saw == '_') return false;
      saw = '!';
    }
  }
  return saw != '_';
}

// The value of a lexed number, with Prometheus's reading: strconv.ParseInt with
// base 0 first (so 0x1f is hex and, as in Go, a leading 0 means octal: 010 is
// 8), then strconv.ParseFloat.
absl::StatusOr<double> NumberValue(absl::string_view text) {
  const bool hex = text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  if (!UnderscoresOk(text, hex)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid number \"", text, "\""));
  }
  std::string digits;
  for (char c : text) {
    if (c != '_') digits += c;
  }
  if (hex) {
    uint64_t v = 0;
    if (digits.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat("invalid number \"", text, "\""));
    }
    for (size_t i = 2; i < digits.size(); ++i) {
      const int d = HexValue(digits[i]);
      if (d < 0) return absl::InvalidArgumentError(absl::StrCat("invalid number \"", text, "\""));
      if (v > (uint64_t{INT64_MAX} - d) / 16) {
        // ParseFloat does not read hex without a 'p' exponent either.
        return absl::InvalidArgumentError(absl::StrCat("number \"", text, "\" is out of range"));
      }
      v = v * 16 + d;
    }
    return static_cast<double>(v);
  }
  if (digits.size() > 1 && digits[0] == '0' &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
    uint64_t v = 0;
    bool overflow = false;
    for (char c : digits) {
      if (v > (uint64_t{INT64_MAX} - (c - '0')) / 8) {
        overflow = true;
        break;
      }
      v = v * 8 + (c - '0');
    }
    if (!overflow) return static_cast<double>(v);
    // Like Go, an octal literal too large for int64 is read again as decimal.
  }
  // A decimal integer that fits int64 converts to the same double either way.
  double v = 0;
  const char* first = digits.data();
  const char* last = digits.data() + digits.size();
  const absl::from_chars_result r = absl::from_chars(first, last, v);
  if (r.ptr != last || r.ec == std::errc::invalid_argument) {
    return absl::InvalidArgumentError(absl::StrCat("invalid number \"", text, "\""));
  }
  if (r.ec == std::errc::result_out_of_range && (std::isinf(v) || std::fabs(v) > 1)) {
    return absl::InvalidArgumentError(absl::StrCat("number \"", text, "\" is out of range"));
  }
  return v;
}

class Lexer {
 public:
  explicit Lexer(absl::string_view text) : text_(text) {}

  Token Next() {
    SkipSpaceAndComments();
    Token tok;
    tok.begin = pos_;
    if (pos_ >= text_.size()) {
      tok.kind = Tok::kEof;
      tok.end = pos_;
      return tok;
    }
    const char c = text_[pos_];
    const char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    auto single = [&](Tok kind, size_t len = 1) {
      tok.kind = kind;
      pos_ += len;
      tok.end = pos_;
      return tok;
    };
    switch (c) {
      case '(':
        return single(Tok::kLeftParen);
      case ')':
        return single(Tok::kRightParen);
      case '{':
        return single(Tok::kLeftBrace);
      case '}':
        return single(Tok::kRightBrace);
      case '[':
        ++bracket_depth_;
        return single(Tok::kLeftBracket);
      case ']':
        if (bracket_depth_ > 0) --bracket_depth_;
        return single(Tok::kRightBracket);
      case ',':
        return single(Tok::kComma);
      case '@':
        return single(Tok::kAt);
      case '+':
        return single(Tok::kAdd);
      case '-':
        return single(Tok::kSub);
      case '*':
        return single(Tok::kMul);
      case '/':
        return single(Tok::kDiv);
      case '%':
        return single(Tok::kMod);
      case '^':
        return single(Tok::kPow);
      case '=':
        if (next == '=') return single(Tok::kEqlC, 2);
        if (next == '~') return single(Tok::kRegexMatch, 2);
        return single(Tok::kAssign);
      case '!':
        if (next == '=') return single(Tok::kNeq, 2);
        if (next == '~') return single(Tok::kRegexNoMatch, 2);
        break;  // a stray '!'
      case '<':
        return next == '=' ? single(Tok::kLte, 2) : single(Tok::kLss);
      case '>':
        return next == '=' ? single(Tok::kGte, 2) : single(Tok::kGtr);
      case '"':
      case '\'':
        return LexQuoted(tok, c);
      case '`':
        return LexRaw(tok);
      default:
        break;
    }
    if (IsDigit(c) || (c == '.' && IsDigit(next))) return LexNumberOrDuration(tok);
    if (c == ':' && bracket_depth_ > 0) return single(Tok::kColon);
    if (IsAlpha(c) || c == ':') {
      while (pos_ < text_.size() && (IsAlnum(text_[pos_]) || text_[pos_] == ':')) ++pos_;
      tok.kind = Tok::kIdentifier;
      tok.end = pos_;
      return tok;
    }
    // Something no token starts with. A run of operator-like characters is kept
    // together so that "&&" is reported as one unknown operator.
    static constexpr absl::string_view kStray = "&|~!?$\\;=";
    if (static_cast<unsigned char>(c) < 0x80) {
      ++pos_;
      if (kStray.find(c) != absl::string_view::npos) {
        while (pos_ < text_.size() && kStray.find(text_[pos_]) != absl::string_view::npos) ++pos_;
      }
    } else {
      pos_ += std::max<size_t>(1, Utf8Length(text_, pos_));
    }
    tok.kind = Tok::kUnknown;
    tok.end = pos_;
    return tok;
  }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      if (IsSpace(text_[pos_])) {
        ++pos_;
      } else if (text_[pos_] == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  Token Error(Token tok, size_t at, std::string message) {
    tok.kind = Tok::kError;
    tok.error_at = at;
    tok.value = std::move(message);
    tok.end = pos_;
    return tok;
  }

  // Copies one source character of a string literal, refusing invalid UTF-8.
  bool CopyChar(std::string& out) {
    const size_t len = Utf8Length(text_, pos_);
    if (len == 0) return false;
    absl::StrAppend(&out, text_.substr(pos_, len));
    pos_ += len;
    return true;
  }

  // "..." and '...' with Go's escapes, as PromQL reads them.
  Token LexQuoted(Token tok, char quote) {
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') {
        return Error(std::move(tok), tok.begin, "unterminated quoted string");
      }
      const char c = text_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\') {
        if (!CopyChar(out)) return Error(std::move(tok), pos_, "invalid UTF-8 in string");
        continue;
      }
      const size_t escape_at = pos_;
      ++pos_;
      if (pos_ >= text_.size()) {
        return Error(std::move(tok), escape_at, "escape sequence not terminated");
      }
      const char e = text_[pos_++];
      int digits = 0;
      int base = 0;
      uint32_t max = 0;
      switch (e) {
        case 'a':
          out += '\a';
          continue;
        case 'b':
          out += '\b';
          continue;
        case 'f':
          out += '\f';
          continue;
        case 'n':
          out += '\n';
          continue;
        case 'r':
          out += '\r';
          continue;
        case 't':
          out += '\t';
          continue;
        case 'v':
          out += '\v';
          continue;
        case '\\':
          out += '\\';
          continue;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
          --pos_;  // the first octal digit is part of the value
          digits = 3, base = 8, max = 255;
          break;
        case 'x':
          digits = 2, base = 16, max = 255;
          break;
        case 'u':
          digits = 4, base = 16, max = 0x10FFFF;
          break;
        case 'U':
          digits = 8, base = 16, max = 0x10FFFF;
          break;
        default:
          if (e == quote) {
            out += e;
            continue;
          }
          return Error(
              std::move(tok), escape_at,
              absl::StrCat("unknown escape sequence \"\\",
                           text_.substr(pos_ - 1, std::max<size_t>(1, Utf8Length(text_, pos_ - 1))),
                           "\""));
      }
      uint32_t v = 0;
      for (int k = 0; k < digits; ++k) {
        if (pos_ >= text_.size()) {
          return Error(std::move(tok), escape_at, "escape sequence not terminated");
        }
        const int d = HexValue(text_[pos_]);
        if (d < 0 || d >= base) {
          if (text_[pos_] == quote) {
            return Error(std::move(tok), escape_at, "escape sequence not terminated");
          }
          return Error(
              std::move(tok), pos_,
              absl::StrCat("illegal character \"", text_.substr(pos_, 1), "\" in escape sequence"));
        }
        v = v * base + d;
        ++pos_;
      }
      if (v > max || (v >= 0xD800 && v < 0xE000 && max > 255)) {
        return Error(std::move(tok), escape_at, "escape sequence is an invalid Unicode code point");
      }
      // As in Go, \x and octal escapes are single bytes; \u and \U are code points.
      if (max == 255) {
        out += static_cast<char>(v);
      } else {
        rules_internal::AppendUtf8(out, v);
      }
    }
    tok.kind = Tok::kString;
    tok.end = pos_;
    tok.value = std::move(out);
    return tok;
  }

  Token LexRaw(Token tok) {
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return Error(std::move(tok), tok.begin, "unterminated raw string");
      if (text_[pos_] == '`') {
        ++pos_;
        break;
      }
      if (!CopyChar(out)) return Error(std::move(tok), pos_, "invalid UTF-8 in string");
    }
    tok.kind = Tok::kString;
    tok.end = pos_;
    tok.value = std::move(out);
    return tok;
  }

  // True if text_[from, to) is a Prometheus duration such as 5m, 1h30m or 100ms.
  bool IsDuration(size_t from, size_t to) const {
    size_t i = from;
    if (i == to) return false;
    while (i < to) {
      const size_t digits_start = i;
      while (i < to && IsDigit(text_[i])) ++i;
      if (i == digits_start || i == to) return false;
      if (text_[i] == 'm' && i + 1 < to && text_[i + 1] == 's') {
        i += 2;
      } else if (absl::string_view("smhdwy").find(text_[i]) != absl::string_view::npos) {
        ++i;
      } else {
        return false;
      }
    }
    return true;
  }

  Token LexNumberOrDuration(Token tok) {
    const size_t start = pos_;
    auto at = [&](size_t i) { return i < text_.size() ? text_[i] : '\0'; };
    if (at(pos_) == '0' && (at(pos_ + 1) == 'x' || at(pos_ + 1) == 'X')) {
      pos_ += 2;
      while (HexValue(at(pos_)) >= 0 || at(pos_) == '_') ++pos_;
    } else {
      while (IsDigit(at(pos_)) || at(pos_) == '_') ++pos_;
      if (at(pos_) == '.') {
        ++pos_;
        while (IsDigit(at(pos_)) || at(pos_) == '_') ++pos_;
      }
      if ((at(pos_) == 'e' || at(pos_) == 'E') &&
          (IsDigit(at(pos_ + 1)) ||
           ((at(pos_ + 1) == '+' || at(pos_ + 1) == '-') && IsDigit(at(pos_ + 2))))) {
        pos_ += 2;
        while (IsDigit(at(pos_)) || at(pos_) == '_') ++pos_;
      }
    }
    if (IsAlnum(at(pos_)) || at(pos_) == '.') {
      // Not a number on its own: a duration, or garbage such as "1a" or "1.2.3".
      size_t end = pos_;
      while (IsAlnum(at(end)) || at(end) == '.') ++end;
      pos_ = end;
      if (IsDuration(start, end)) {
        tok.kind = Tok::kDuration;
        tok.end = end;
        return tok;
      }
      return Error(
          std::move(tok), start,
          absl::StrCat("bad number or duration syntax \"", text_.substr(start, end - start), "\""));
    }
    tok.end = pos_;
    absl::StatusOr<double> value = NumberValue(text_.substr(start, pos_ - start));
    if (!value.ok()) return Error(std::move(tok), start, std::string(value.status().message()));
    tok.kind = Tok::kNumber;
    tok.number = *value;
    return tok;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  int bracket_depth_ = 0;
};

// ---------------------------------------------------------------------------
// Durations: Prometheus's model.ParseDuration, units largest first, each once.

absl::StatusOr<absl::Duration> DurationValue(absl::string_view text) {
  static constexpr struct {
    absl::string_view unit;
    int64_t ms;
  } kUnits[] = {{"y", int64_t{365} * 24 * 3600 * 1000},
                {"w", int64_t{7} * 24 * 3600 * 1000},
                {"d", int64_t{24} * 3600 * 1000},
                {"h", int64_t{3600} * 1000},
                {"m", int64_t{60} * 1000},
                {"s", 1000},
                {"ms", 1}};
  const auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat("not a valid duration string: \"", text, "\""));
  };
  // Go's time.Duration holds nanoseconds in an int64: about 292 years.
  constexpr int64_t kMaxMs = INT64_MAX / 1000000;
  int64_t total_ms = 0;
  size_t next_unit = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t digits = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    if (i == digits) return invalid();
    const absl::string_view number = text.substr(digits, i - digits);
    size_t unit_end = i;
    while (unit_end < text.size() && !IsDigit(text[unit_end])) ++unit_end;
    const absl::string_view unit = text.substr(i, unit_end - i);
    size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].unit != unit) ++u;
    if (u == std::size(kUnits)) return invalid();
    next_unit = u + 1;
    i = unit_end;
    int64_t n = 0;
    for (char c : number) {
      if (n > (kMaxMs - (c - '0')) / 10) return absl::InvalidArgumentError("duration out of range");
      n = n * 10 + (c - '0');
    }
    if (n > (kMaxMs - total_ms) / kUnits[u].ms) {
      return absl::InvalidArgumentError("duration out of range");
    }
    total_ms += n * kUnits[u].ms;
  }
  if (total_ms == 0) return absl::InvalidArgumentError("duration must be greater than 0");
  return absl::Milliseconds(total_ms);
}

// ---------------------------------------------------------------------------
// Parser: precedence climbing (a Pratt loop) over the token stream.
//
// PromQL's binary precedence, loosest first.
constexpr int kOrPrecedence = 1;
constexpr int kAndPrecedence = 2;  // and, unless
constexpr int kComparisonPrecedence = 3;
constexpr int kAddPrecedence = 4;
constexpr int kMulPrecedence = 5;  // also atan2
constexpr int kPowPrecedence = 6;
constexpr int kAtomPrecedence = 100;

absl::string_view OperatorText(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kPow:
      return "^";
    case BinaryOp::kEq:
      return "==";
    case BinaryOp::kNe:
      return "!=";
    case BinaryOp::kLt:
      return "<";
    case BinaryOp::kLe:
      return "<=";
    case BinaryOp::kGt:
      return ">";
    case BinaryOp::kGe:
      return ">=";
    case BinaryOp::kAtan2:
      return "atan2";
    case BinaryOp::kAnd:
      return "and";
    case BinaryOp::kOr:
      return "or";
    case BinaryOp::kUnless:
      return "unless";
  }
  return "?";
}

int PrecedenceOf(BinaryOp op) {
  if (IsComparison(op)) return kComparisonPrecedence;
  switch (op) {
    case BinaryOp::kOr:
      return kOrPrecedence;
    case BinaryOp::kAnd:
    case BinaryOp::kUnless:
      return kAndPrecedence;
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
      return kAddPrecedence;
    case BinaryOp::kPow:
      return kPowPrecedence;
    default:
      return kMulPrecedence;
  }
}

std::optional<AggregateOp> AggregatorOf(absl::string_view lower) {
  static constexpr std::pair<absl::string_view, AggregateOp> kAggregators[] = {
      {"sum", AggregateOp::kSum},
      {"avg", AggregateOp::kAvg},
      {"count", AggregateOp::kCount},
      {"min", AggregateOp::kMin},
      {"max", AggregateOp::kMax},
      {"group", AggregateOp::kGroup},
      {"stddev", AggregateOp::kStddev},
      {"stdvar", AggregateOp::kStdvar},
      {"topk", AggregateOp::kTopK},
      {"bottomk", AggregateOp::kBottomK},
      {"count_values", AggregateOp::kCountValues},
      {"quantile", AggregateOp::kQuantile}};
  for (const auto& [name, op] : kAggregators) {
    if (name == lower) return op;
  }
  return std::nullopt;
}

// Far beyond any real rule; keeps recursion over trees within the stack.
constexpr int kMaxDepth = 500;

using Node = std::variant<NumberLiteral, VectorSelector, BinaryExpr, StringLiteral, MatrixSelector,
                          Call, AggregateExpr>;

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text), lexer_(text) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::StatusOr<ExprPtr> Parse() {
    absl::StatusOr<ExprPtr> expr = ParseBinary(0);
    if (!expr.ok()) return expr;
    if (Peek().kind != Tok::kEof) return Unexpected(Peek());
    // As Prometheus, type errors count only once the syntax is right.
    if (!deferred_.ok()) return deferred_;
    return expr;
  }

 private:
  struct NodeInfo {
    ValueType type;
    int depth;
    size_t begin;  // byte offset where the node's text starts, for errors
  };

  const Token& Peek(size_t ahead = 0) {
    while (lookahead_.size() <= ahead) lookahead_.push_back(lexer_.Next());
    return lookahead_[ahead];
  }

  Token Take() {
    Peek();
    Token tok = std::move(lookahead_.front());
    lookahead_.pop_front();
    return tok;
  }

  ExprPosition PositionOf(size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - 1;
    ExprPosition pos;
    pos.line = static_cast<int>(it - line_starts_.begin()) + 1;
    // Columns count characters, not bytes, so they match what an editor shows.
    pos.column = 1;
    for (size_t i = *it; i < offset && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++pos.column;
    }
    return pos;
  }

  absl::Status ErrorAt(size_t offset, absl::string_view what) const {
    const ExprPosition pos = PositionOf(offset);
    return absl::InvalidArgumentError(absl::StrCat(pos.line, ":", pos.column, ": ", what));
  }

  // A type error: Prometheus reports these only when the text parses, so the
  // first one is kept until the end.
  void Defer(size_t offset, absl::string_view what) {
    if (deferred_.ok()) deferred_ = ErrorAt(offset, what);
  }

  absl::string_view TextOf(const Token& tok) const {
    return text_.substr(tok.begin, tok.end - tok.begin);
  }

  std::string Describe(const Token& tok) const {
    switch (tok.kind) {
      case Tok::kEof:
        return "end of input";
      case Tok::kIdentifier:
        return absl::StrCat("identifier \"", TextOf(tok), "\"");
      case Tok::kNumber:
        return absl::StrCat("number \"", TextOf(tok), "\"");
      case Tok::kDuration:
        return absl::StrCat("duration \"", TextOf(tok), "\"");
      // The source text keeps its own quotes: string "up" or string 'up'.
      case Tok::kString:
        return absl::StrCat("string ", TextOf(tok));
      case Tok::kUnknown:
        return absl::StrCat("character \"", TextOf(tok), "\"");
      default:
        return absl::StrCat("\"", TextOf(tok), "\"");
    }
  }

  // The error for a token the grammar does not allow here. Lexical errors
  // surface here too, the first time the parser looks at the broken token.
  absl::Status Unexpected(const Token& tok, absl::string_view expected = "") const {
    if (tok.kind == Tok::kError) return ErrorAt(tok.error_at, tok.value);
    std::string what = absl::StrCat("unexpected ", Describe(tok));
    if (!expected.empty()) absl::StrAppend(&what, ", expected ", expected);
    return ErrorAt(tok.begin, what);
  }

  // Keywords are case-insensitive in PromQL; metric and label names are not.
  bool IsWord(const Token& tok, absl::string_view lower_word) const {
    return tok.kind == Tok::kIdentifier && absl::AsciiStrToLower(TextOf(tok)) == lower_word;
  }

  // Every node is made here, so that its type and depth are known without
  // walking the tree again: a long chain `1 + 1 + ...` stays linear.
  ExprPtr Make(Node node, size_t offset) {
    int depth = 1;
    ValueType type = ValueType::kInstantVector;
    auto child = [&](const ExprPtr& e) {
      if (e != nullptr) depth = std::max(depth, 1 + info_.at(e.get()).depth);
    };
    if (std::holds_alternative<NumberLiteral>(node)) {
      type = ValueType::kScalar;
    } else if (std::holds_alternative<StringLiteral>(node)) {
      type = ValueType::kString;
    } else if (std::holds_alternative<MatrixSelector>(node)) {
      type = ValueType::kRangeVector;
    } else if (const auto* b = std::get_if<BinaryExpr>(&node)) {
      child(b->lhs);
      child(b->rhs);
      if (TypeOfNode(b->lhs) == ValueType::kScalar && TypeOfNode(b->rhs) == ValueType::kScalar) {
        type = ValueType::kScalar;
      }
    } else if (const auto* c = std::get_if<Call>(&node)) {
      for (const ExprPtr& arg : c->args) child(arg);
      if (const rules_internal::FunctionSignature* f =
              rules_internal::LookupFunction(c->function)) {
        type = f->return_type;
      }
    } else if (const auto* a = std::get_if<AggregateExpr>(&node)) {
      child(a->param);
      child(a->expr);
    }
    ExprPtr e = std::make_shared<const Expr>(Expr{std::move(node), PositionOf(offset)});
    info_[e.get()] = NodeInfo{type, depth, offset};
    return e;
  }

  ValueType TypeOfNode(const ExprPtr& e) const { return info_.at(e.get()).type; }
  size_t BeginOf(const ExprPtr& e) const { return info_.at(e.get()).begin; }

  absl::Status CheckDepth(const ExprPtr& e, size_t offset) const {
    if (info_.at(e.get()).depth > kMaxDepth) {
      return ErrorAt(offset, absl::StrCat("expression nests deeper than ", kMaxDepth, " levels"));
    }
    return absl::OkStatus();
  }

  // Prometheus's checkAST message for an operand of the wrong type.
  void ExpectType(const ExprPtr& e, ValueType want, absl::string_view context) {
    const ValueType got = TypeOfNode(e);
    if (got != want) {
      Defer(BeginOf(e), absl::StrCat("expected type ", ValueTypeName(want), " in ", context,
                                     ", got ", ValueTypeName(got)));
    }
  }

  struct OperatorInfo {
    BinaryOp op;
    int precedence;
    bool right_assoc;
  };

  std::optional<OperatorInfo> BinaryOperatorOf(const Token& tok) const {
    switch (tok.kind) {
      case Tok::kEqlC:
        return OperatorInfo{BinaryOp::kEq, kComparisonPrecedence, false};
      case Tok::kNeq:
        return OperatorInfo{BinaryOp::kNe, kComparisonPrecedence, false};
      case Tok::kLss:
        return OperatorInfo{BinaryOp::kLt, kComparisonPrecedence, false};
      case Tok::kLte:
        return OperatorInfo{BinaryOp::kLe, kComparisonPrecedence, false};
      case Tok::kGtr:
        return OperatorInfo{BinaryOp::kGt, kComparisonPrecedence, false};
      case Tok::kGte:
        return OperatorInfo{BinaryOp::kGe, kComparisonPrecedence, false};
      case Tok::kAdd:
        return OperatorInfo{BinaryOp::kAdd, kAddPrecedence, false};
      case Tok::kSub:
        return OperatorInfo{BinaryOp::kSub, kAddPrecedence, false};
      case Tok::kMul:
        return OperatorInfo{BinaryOp::kMul, kMulPrecedence, false};
      case Tok::kDiv:
        return OperatorInfo{BinaryOp::kDiv, kMulPrecedence, false};
      case Tok::kMod:
        return OperatorInfo{BinaryOp::kMod, kMulPrecedence, false};
      case Tok::kPow:
        return OperatorInfo{BinaryOp::kPow, kPowPrecedence, true};
      case Tok::kIdentifier: {
        const std::string word = absl::AsciiStrToLower(TextOf(tok));
        if (word == "and") return OperatorInfo{BinaryOp::kAnd, kAndPrecedence, false};
        if (word == "unless") return OperatorInfo{BinaryOp::kUnless, kAndPrecedence, false};
        if (word == "or") return OperatorInfo{BinaryOp::kOr, kOrPrecedence, false};
        if (word == "atan2") return OperatorInfo{BinaryOp::kAtan2, kMulPrecedence, false};
        return std::nullopt;
      }
      default:
        return std::nullopt;
    }
  }

  // Tokens that follow an operand in full PromQL but not in this language, or
  // that look like a mistake, get a message saying so rather than a bare
  // "unexpected".
  absl::Status CheckAfterOperand(const Token& tok) const {
    switch (tok.kind) {
      case Tok::kUnknown:
        return ErrorAt(tok.begin, absl::StrCat("unknown operator \"", TextOf(tok), "\""));
      case Tok::kAssign:
        return ErrorAt(tok.begin, "unknown operator \"=\", use \"==\" to compare");
      default:
        return absl::OkStatus();
    }
  }

  absl::StatusOr<ExprPtr> ParseBinary(int min_precedence) {
    // Bounds the recursion (parentheses, unary signs, '^' chains, calls) and
    // the tree depth, so that hostile input is an error rather than a stack
    // overflow in the parser, the printer or the evaluator.
    if (++recursion_ > kMaxDepth) {
      return ErrorAt(Peek().begin,
                     absl::StrCat("expression nests deeper than ", kMaxDepth, " levels"));
    }
    absl::StatusOr<ExprPtr> result = ParseBinaryLoop(min_precedence);
    --recursion_;
    return result;
  }

  // `on(...)`, `ignoring(...)`, `(...)` after group_left: label names in parentheses.
  absl::Status ParseLabelList(std::vector<std::string>& out) {
    if (Peek().kind != Tok::kLeftParen) return Unexpected(Peek(), "\"(\"");
    Take();
    while (true) {
      if (Peek().kind == Tok::kRightParen) {
        Take();
        return absl::OkStatus();
      }
      if (Peek().kind != Tok::kIdentifier) return Unexpected(Peek(), "label name");
      const Token name = Take();
      const absl::string_view text = TextOf(name);
      if (const size_t colon = text.find(':'); colon != absl::string_view::npos) {
        return ErrorAt(name.begin + colon, "unexpected \":\" in label name");
      }
      out.emplace_back(text);
      if (Peek().kind == Tok::kComma) {
        Take();
      } else if (Peek().kind != Tok::kRightParen) {
        return Unexpected(Peek(), "\",\" or \")\"");
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseBinaryLoop(int min_precedence) {
    absl::StatusOr<ExprPtr> lhs = ParseUnary();
    if (!lhs.ok()) return lhs;
    while (true) {
      const std::optional<OperatorInfo> info = BinaryOperatorOf(Peek());
      if (!info.has_value()) {
        if (absl::Status s = CheckAfterOperand(Peek()); !s.ok()) return s;
        return lhs;
      }
      if (info->precedence < min_precedence) return lhs;
      const Token op = Take();
      BinaryExpr binary{info->op, nullptr, nullptr, false, VectorMatching{}};
      if (IsWord(Peek(), "bool")) {
        Take();
        binary.return_bool = true;
      }
      if (IsWord(Peek(), "on") || IsWord(Peek(), "ignoring")) {
        binary.matching.on = IsWord(Take(), "on");
        if (absl::Status s = ParseLabelList(binary.matching.labels); !s.ok()) return s;
        if (IsWord(Peek(), "group_left") || IsWord(Peek(), "group_right")) {
          binary.matching.card = IsWord(Take(), "group_left") ? MatchCardinality::kManyToOne
                                                              : MatchCardinality::kOneToMany;
          // As in Prometheus, a '(' right after group_x is its label list.
          if (Peek().kind == Tok::kLeftParen) {
            if (absl::Status s = ParseLabelList(binary.matching.include); !s.ok()) return s;
          }
        }
      } else if (IsWord(Peek(), "group_left") || IsWord(Peek(), "group_right")) {
        const Token group = Take();
        return ErrorAt(group.begin,
                       absl::StrCat("unexpected \"", TextOf(group),
                                    "\", it needs on(...) or ignoring(...) before it"));
      }
      absl::StatusOr<ExprPtr> rhs =
          ParseBinary(info->right_assoc ? info->precedence : info->precedence + 1);
      if (!rhs.ok()) return rhs;
      CheckBinary(binary, *lhs, *rhs, op.begin);
      const size_t start = BeginOf(*lhs);
      binary.lhs = *std::move(lhs);
      binary.rhs = *std::move(rhs);
      lhs = Make(std::move(binary), start);
      if (absl::Status s = CheckDepth(*lhs, op.begin); !s.ok()) return s;
    }
  }

  // Prometheus's checkAST for a binary expression; may reset the matching.
  void CheckBinary(BinaryExpr& b, const ExprPtr& lhs, const ExprPtr& rhs, size_t op_at) {
    const ValueType lt = TypeOfNode(lhs);
    const ValueType rt = TypeOfNode(rhs);
    const size_t start = BeginOf(lhs);
    if (b.return_bool && !IsComparison(b.op)) {
      Defer(op_at, "bool modifier can only be used on comparison operators");
    }
    if (IsComparison(b.op) && !b.return_bool && lt == ValueType::kScalar &&
        rt == ValueType::kScalar) {
      Defer(op_at, "comparisons between scalars must use BOOL modifier");
    }
    if (IsSetOperator(b.op) && b.matching.card == MatchCardinality::kOneToOne) {
      b.matching.card = MatchCardinality::kManyToMany;
    }
    if (b.matching.on) {
      for (const std::string& l : b.matching.labels) {
        if (std::find(b.matching.include.begin(), b.matching.include.end(), l) !=
            b.matching.include.end()) {
          Defer(op_at,
                absl::StrCat("label \"", l, "\" must not occur in ON and GROUP clause at once"));
        }
      }
    }
    if (lt != ValueType::kScalar && lt != ValueType::kInstantVector) {
      Defer(start, "binary expression must contain only scalar and instant vector types");
    }
    if (rt != ValueType::kScalar && rt != ValueType::kInstantVector) {
      Defer(BeginOf(rhs), "binary expression must contain only scalar and instant vector types");
    }
    if (lt != ValueType::kInstantVector || rt != ValueType::kInstantVector) {
      if (!b.matching.labels.empty()) {
        Defer(start, "vector matching only allowed between instant vectors");
      }
      b.matching = VectorMatching{};
    } else if (IsSetOperator(b.op)) {
      if (b.matching.card == MatchCardinality::kOneToMany ||
          b.matching.card == MatchCardinality::kManyToOne) {
        Defer(start,
              absl::StrCat("no grouping allowed for \"", OperatorText(b.op), "\" operation"));
      }
      if (b.matching.card != MatchCardinality::kManyToMany) {
        Defer(start, "set operations must always be many-to-many");
      }
    }
    if ((lt == ValueType::kScalar || rt == ValueType::kScalar) && IsSetOperator(b.op)) {
      Defer(start, absl::StrCat("set operator \"", OperatorText(b.op),
                                "\" not allowed in binary scalar expression"));
    }
  }

  absl::StatusOr<ExprPtr> ParseUnary() {
    const Tok kind = Peek().kind;
    if (kind != Tok::kAdd && kind != Tok::kSub) return ParsePostfix();
    const Token sign = Take();
    // Unary operators bind like '*' in PromQL: only '^' binds tighter.
    absl::StatusOr<ExprPtr> operand = ParseBinary(kPowPrecedence);
    if (!operand.ok()) return operand;
    if (const auto* number = std::get_if<NumberLiteral>(&(*operand)->node)) {
      return Make(NumberLiteral{kind == Tok::kSub ? -number->value : number->value}, sign.begin);
    }
    const ValueType t = TypeOfNode(*operand);
    if (t != ValueType::kScalar && t != ValueType::kInstantVector) {
      Defer(sign.begin, absl::StrCat("unary expression only allowed on expressions of type scalar "
                                     "or instant vector, got \"",
                                     ValueTypeName(t), "\""));
    }
    if (kind == Tok::kAdd) return operand;
    ExprPtr e = Make(BinaryExpr{BinaryOp::kMul, Make(NumberLiteral{-1}, sign.begin),
                                *std::move(operand), false, VectorMatching{}},
                     sign.begin);
    if (absl::Status s = CheckDepth(e, sign.begin); !s.ok()) return s;
    return e;
  }

  // A primary with its range and offset, which bind tighter than any operator.
  absl::StatusOr<ExprPtr> ParsePostfix() {
    bool parenthesized = false;
    absl::StatusOr<ExprPtr> operand = ParsePrimary(parenthesized);
    if (!operand.ok()) return operand;
    ExprPtr e = *std::move(operand);
    while (true) {
      const Token& next = Peek();
      if (next.kind == Tok::kLeftBracket) {
        const Token bracket = Take();
        if (Peek().kind == Tok::kColon)
          return ErrorAt(bracket.begin, "subqueries are not supported");
        if (Peek().kind != Tok::kDuration) return Unexpected(Peek(), "duration");
        const Token duration = Take();
        if (Peek().kind == Tok::kColon)
          return ErrorAt(bracket.begin, "subqueries are not supported");
        if (Peek().kind != Tok::kRightBracket) return Unexpected(Peek(), "\"]\"");
        Take();
        absl::StatusOr<absl::Duration> range = DurationValue(TextOf(duration));
        if (!range.ok()) return ErrorAt(duration.begin, range.status().message());
        const auto* vs = std::get_if<VectorSelector>(&e->node);
        if (vs == nullptr || parenthesized) {
          return ErrorAt(bracket.begin, "ranges only allowed for vector selectors");
        }
        if (vs->offset != absl::ZeroDuration()) {
          return ErrorAt(bracket.begin, "no offset modifiers allowed before range");
        }
        e = Make(MatrixSelector{*vs, *range}, BeginOf(e));
      } else if (IsWord(next, "offset")) {
        const Token offset = Take();
        bool negative = false;
        if (Peek().kind == Tok::kSub) {
          Take();
          negative = true;
        }
        if (Peek().kind != Tok::kDuration) return Unexpected(Peek(), "duration");
        const Token duration = Take();
        absl::StatusOr<absl::Duration> d = DurationValue(TextOf(duration));
        if (!d.ok()) return ErrorAt(duration.begin, d.status().message());
        if (negative) *d = -*d;
        VectorSelector* target = nullptr;
        VectorSelector vs;
        MatrixSelector ms;
        if (const auto* v = std::get_if<VectorSelector>(&e->node); v != nullptr && !parenthesized) {
          vs = *v;
          target = &vs;
        } else if (const auto* m = std::get_if<MatrixSelector>(&e->node);
                   m != nullptr && !parenthesized) {
          ms = *m;
          target = &ms.selector;
        } else {
          return ErrorAt(BeginOf(e),
                         "offset modifier must be preceded by an instant vector selector or range "
                         "vector selector or a subquery");
        }
        if (target->offset != absl::ZeroDuration()) {
          return ErrorAt(offset.begin, "offset may not be set multiple times");
        }
        target->offset = *d;
        if (target == &vs) {
          e = Make(std::move(vs), BeginOf(e));
        } else {
          e = Make(std::move(ms), BeginOf(e));
        }
      } else if (next.kind == Tok::kAt) {
        return ErrorAt(next.begin, "the @ modifier is not supported");
      } else {
        return e;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParsePrimary(bool& parenthesized) {
    const Token& tok = Peek();
    switch (tok.kind) {
      case Tok::kNumber: {
        const Token number = Take();
        return Make(NumberLiteral{number.number}, number.begin);
      }
      case Tok::kString: {
        Token str = Take();
        return Make(StringLiteral{std::move(str.value)}, str.begin);
      }
      case Tok::kLeftParen: {
        const Token paren = Take();
        absl::StatusOr<ExprPtr> inner = ParseBinary(0);
        if (!inner.ok()) return inner;
        if (Peek().kind != Tok::kRightParen) return Unexpected(Peek(), "\")\"");
        Take();
        parenthesized = true;
        // The parenthesized expression starts at '(' for positions, as in Prometheus.
        Node copy = (*inner)->node;
        return Make(std::move(copy), paren.begin);
      }
      case Tok::kLeftBrace:
        return ParseSelector(std::nullopt);
      case Tok::kIdentifier:
        break;
      default:
        return Unexpected(tok);
    }
    const std::string word = absl::AsciiStrToLower(TextOf(tok));
    // Inf and NaN are number literals in any case, as strconv.ParseFloat reads them.
    if (word == "inf" || word == "nan") {
      const Token number = Take();
      return Make(NumberLiteral{word == "inf" ? std::numeric_limits<double>::infinity()
                                              : std::numeric_limits<double>::quiet_NaN()},
                  number.begin);
    }
    if (const std::optional<AggregateOp> op = AggregatorOf(word);
        op.has_value() &&
        (Peek(1).kind == Tok::kLeftParen || IsWord(Peek(1), "by") || IsWord(Peek(1), "without"))) {
      return ParseAggregation(*op);
    }
    if (Peek(1).kind == Tok::kLeftParen) return ParseCall();
    if (word == "bool" || word == "on" || word == "ignoring" || word == "group_left" ||
        word == "group_right" || word == "atan2") {
      return Unexpected(tok);
    }
    return ParseSelector(Take());
  }

  // The arguments between parentheses of a call or an aggregation.
  absl::StatusOr<std::vector<ExprPtr>> ParseArgs() {
    std::vector<ExprPtr> args;
    if (Peek().kind != Tok::kLeftParen) return Unexpected(Peek(), "\"(\"");
    Take();
    if (Peek().kind == Tok::kRightParen) {
      Take();
      return args;
    }
    while (true) {
      absl::StatusOr<ExprPtr> arg = ParseBinary(0);
      if (!arg.ok()) return arg.status();
      args.push_back(*std::move(arg));
      if (Peek().kind == Tok::kComma) {
        const Token comma = Take();
        if (Peek().kind == Tok::kRightParen) {
          return ErrorAt(comma.begin, "trailing commas not allowed in function call args");
        }
        continue;
      }
      if (Peek().kind != Tok::kRightParen) return Unexpected(Peek(), "\",\" or \")\"");
      Take();
      return args;
    }
  }

  absl::StatusOr<ExprPtr> ParseCall() {
    const Token name = Take();
    const std::string function(TextOf(name));
    const rules_internal::FunctionSignature* sig = rules_internal::LookupFunction(function);
    if (sig == nullptr) {
      return ErrorAt(name.begin, absl::StrCat("unknown function with name \"", function, "\""));
    }
    absl::StatusOr<std::vector<ExprPtr>> args = ParseArgs();
    if (!args.ok()) return args.status();
    const int nargs = static_cast<int>(sig->arg_types.size());
    const int got = static_cast<int>(args->size());
    if (sig->variadic == 0) {
      if (nargs != got) {
        Defer(name.begin, absl::StrCat("expected ", nargs, " argument(s) in call to \"", function,
                                       "\", got ", got));
      }
    } else if (nargs - 1 > got) {
      Defer(name.begin, absl::StrCat("expected at least ", nargs - 1, " argument(s) in call to \"",
                                     function, "\", got ", got));
    } else if (sig->variadic > 0 && nargs - 1 + sig->variadic < got) {
      Defer(name.begin, absl::StrCat("expected at most ", nargs - 1 + sig->variadic,
                                     " argument(s) in call to \"", function, "\", got ", got));
    }
    const std::string context = absl::StrCat("call to function \"", function, "\"");
    bool types_ok = true;
    for (int i = 0; i < got; ++i) {
      int k = i;
      if (i >= nargs) {
        if (sig->variadic == 0) break;
        k = nargs - 1;
      }
      types_ok = types_ok && TypeOfNode((*args)[i]) == sig->arg_types[k];
      ExpectType((*args)[i], sig->arg_types[k], context);
    }
    if (types_ok) CheckLiteralArgs(sig->id, *args);
    ExprPtr e = Make(Call{function, *std::move(args)}, name.begin);
    if (absl::Status s = CheckDepth(e, name.begin); !s.ok()) return s;
    return e;
  }

  // What Prometheus checks only when it evaluates, knowable here from literals.
  void CheckLiteralArgs(rules_internal::FunctionId id, const std::vector<ExprPtr>& args) {
    auto str = [&](size_t i) -> const std::string* {
      if (i >= args.size()) return nullptr;
      const auto* s = std::get_if<StringLiteral>(&args[i]->node);
      return s == nullptr ? nullptr : &s->value;
    };
    if (id == rules_internal::FunctionId::kLabelReplace && args.size() == 5) {
      if (const std::string* regex = str(4)) {
        re2::RE2::Options options;
        options.set_log_errors(false);
        const re2::RE2 re(absl::StrCat("^(?:", *regex, ")$"), options);
        if (!re.ok()) {
          Defer(BeginOf(args[4]),
                absl::StrCat("invalid regular expression in label_replace(): ", *regex));
          return;
        }
      }
      if (const std::string* dst = str(1);
          dst != nullptr && !rules_internal::IsValidLabelName(*dst)) {
        Defer(BeginOf(args[1]),
              absl::StrCat("invalid destination label name in label_replace(): ", *dst));
      }
    } else if (id == rules_internal::FunctionId::kLabelJoin && args.size() >= 3) {
      for (size_t i = 3; i < args.size(); ++i) {
        if (const std::string* src = str(i);
            src != nullptr && !rules_internal::IsValidLabelName(*src)) {
          Defer(BeginOf(args[i]),
                absl::StrCat("invalid source label name in label_join(): ", *src));
          return;
        }
      }
      if (const std::string* dst = str(1);
          dst != nullptr && !rules_internal::IsValidLabelName(*dst)) {
        Defer(BeginOf(args[1]),
              absl::StrCat("invalid destination label name in label_join(): ", *dst));
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseAggregation(AggregateOp op) {
    const Token name = Take();
    AggregateExpr agg{op, nullptr, nullptr, {}, false};
    bool grouped = false;
    auto grouping = [&]() -> absl::Status {
      agg.without = IsWord(Take(), "without");
      grouped = true;
      return ParseLabelList(agg.grouping);
    };
    if (IsWord(Peek(), "by") || IsWord(Peek(), "without")) {
      if (absl::Status s = grouping(); !s.ok()) return s;
    }
    absl::StatusOr<std::vector<ExprPtr>> args = ParseArgs();
    if (!args.ok()) return args.status();
    if (!grouped && (IsWord(Peek(), "by") || IsWord(Peek(), "without"))) {
      if (absl::Status s = grouping(); !s.ok()) return s;
    }
    if (args->empty()) return ErrorAt(name.begin, "no arguments for aggregate expression provided");
    const bool with_param = op == AggregateOp::kTopK || op == AggregateOp::kBottomK ||
                            op == AggregateOp::kQuantile || op == AggregateOp::kCountValues;
    const size_t want = with_param ? 2 : 1;
    if (args->size() != want) {
      return ErrorAt(name.begin,
                     absl::StrCat("wrong number of arguments for aggregate expression provided, "
                                  "expected ",
                                  want, ", got ", args->size()));
    }
    agg.expr = args->back();
    if (with_param) agg.param = args->front();
    ExpectType(agg.expr, ValueType::kInstantVector, "aggregation expression");
    if (op == AggregateOp::kCountValues) {
      ExpectType(agg.param, ValueType::kString, "aggregation parameter");
      if (const auto* label = std::get_if<StringLiteral>(&agg.param->node);
          label != nullptr && !rules_internal::IsValidLabelName(label->value)) {
        Defer(BeginOf(agg.param),
              absl::StrCat("invalid label name ", rules_internal::QuoteString(label->value)));
      }
    } else if (with_param) {
      ExpectType(agg.param, ValueType::kScalar, "aggregation parameter");
    }
    ExprPtr e = Make(std::move(agg), name.begin);
    if (absl::Status s = CheckDepth(e, name.begin); !s.ok()) return s;
    return e;
  }

  // After an optional metric name: the braces, then Prometheus's checks.
  absl::StatusOr<ExprPtr> ParseSelector(std::optional<Token> name) {
    const size_t start = name.has_value() ? name->begin : Peek().begin;
    VectorSelector selector;
    if (name.has_value()) selector.metric_name = std::string(TextOf(*name));
    if (Peek().kind == Tok::kLeftBrace) {
      Take();
      if (absl::Status s = ParseMatchers(selector.matchers); !s.ok()) return s;
    }
    if (name.has_value()) {
      for (const LabelMatcher& m : selector.matchers) {
        if (m.name() == kMetricNameLabel) {
          Defer(start, absl::StrCat("metric name must not be set twice: \"", selector.metric_name,
                                    "\" or \"", m.value(), "\""));
          break;
        }
      }
      absl::StatusOr<LabelMatcher> name_matcher = LabelMatcher::Create(
          std::string(kMetricNameLabel), LabelMatcher::Op::kEqual, selector.metric_name);
      if (!name_matcher.ok()) return ErrorAt(start, name_matcher.status().message());
      selector.matchers.push_back(*std::move(name_matcher));
    } else {
      // As Prometheus: a selector must not match every series by accident.
      const bool has_non_empty = std::any_of(selector.matchers.begin(), selector.matchers.end(),
                                             [](const LabelMatcher& m) { return !m.Matches(""); });
      if (!has_non_empty) {
        Defer(start, "vector selector must contain at least one non-empty matcher");
      }
    }
    return Make(std::move(selector), start);
  }

  // The matchers between braces; the '{' is already taken.
  absl::Status ParseMatchers(std::vector<LabelMatcher>& out) {
    while (true) {
      if (Peek().kind == Tok::kRightBrace) {
        Take();
        return absl::OkStatus();
      }
      if (Peek().kind != Tok::kIdentifier) return Unexpected(Peek(), "label name");
      const Token name = Take();
      const absl::string_view name_text = TextOf(name);
      if (const size_t colon = name_text.find(':'); colon != absl::string_view::npos) {
        return ErrorAt(name.begin + colon, "unexpected \":\" in label name");
      }
      LabelMatcher::Op op;
      switch (Peek().kind) {
        case Tok::kAssign:
          op = LabelMatcher::Op::kEqual;
          break;
        case Tok::kNeq:
          op = LabelMatcher::Op::kNotEqual;
          break;
        case Tok::kRegexMatch:
          op = LabelMatcher::Op::kRegexMatch;
          break;
        case Tok::kRegexNoMatch:
          op = LabelMatcher::Op::kRegexNoMatch;
          break;
        default:
          return Unexpected(Peek(), "label matching operator \"=\", \"!=\", \"=~\" or \"!~\"");
      }
      Take();
      if (Peek().kind != Tok::kString) return Unexpected(Peek(), "label value as a quoted string");
      const Token value = Take();
      const std::string& matcher_value = value.value;
      absl::StatusOr<LabelMatcher> matcher =
          LabelMatcher::Create(std::string(name_text), op, matcher_value);
      if (!matcher.ok()) return ErrorAt(value.begin, matcher.status().message());
      out.push_back(*std::move(matcher));
      if (Peek().kind == Tok::kComma) {
        Take();
      } else if (Peek().kind != Tok::kRightBrace) {
        return Unexpected(Peek(), "\",\" or \"}\"");
      }
    }
  }

  absl::string_view text_;
  Lexer lexer_;
  std::deque<Token> lookahead_;
  std::vector<size_t> line_starts_;
  absl::flat_hash_map<const Expr*, NodeInfo> info_;
  absl::Status deferred_;
  int recursion_ = 0;
};

// ---------------------------------------------------------------------------
// Printing

// How tightly the printed form of `e` binds, to decide where parentheses go.
int PrintPrecedence(const Expr& e) {
  if (const auto* b = std::get_if<BinaryExpr>(&e.node)) return PrecedenceOf(b->op);
  if (const auto* n = std::get_if<NumberLiteral>(&e.node)) {
    // "-2" reads back as a unary minus, which binds like '*'.
    if (!std::isnan(n->value) && std::signbit(n->value)) return kMulPrecedence;
  }
  return kAtomPrecedence;
}

void Print(const Expr& e, std::string& out);

void PrintOperand(const Expr& e, bool parens, std::string& out) {
  if (parens) out += '(';
  Print(e, out);
  if (parens) out += ')';
}

void PrintLabelList(const std::vector<std::string>& labels, std::string& out) {
  absl::StrAppend(&out, "(", absl::StrJoin(labels, ", "), ")");
}

void PrintSelector(const VectorSelector& s, std::string& out) {
  out += s.metric_name;
  bool skipped_name = false;
  bool first = true;
  for (const LabelMatcher& m : s.matchers) {
    // The metric name is printed outside the braces; its matcher is implied.
    if (!s.metric_name.empty() && !skipped_name && m.name() == kMetricNameLabel &&
        m.op() == LabelMatcher::Op::kEqual && m.value() == s.metric_name) {
      skipped_name = true;
      continue;
    }
    out += first ? "{" : ", ";
    first = false;
    static constexpr absl::string_view kOps[] = {"=", "!=", "=~", "!~"};
    absl::StrAppend(&out, m.name(), kOps[static_cast<int>(m.op())],
                    rules_internal::QuoteString(m.value()));
  }
  if (!first) {
    out += '}';
  } else if (s.metric_name.empty()) {
    out += "{}";
  }
}

void PrintOffset(absl::Duration offset, std::string& out) {
  if (offset != absl::ZeroDuration()) absl::StrAppend(&out, " offset ", DurationToString(offset));
}

void Print(const Expr& e, std::string& out) {
  if (const auto* n = std::get_if<NumberLiteral>(&e.node)) {
    out += rules_internal::FormatFloat(n->value);
  } else if (const auto* str = std::get_if<StringLiteral>(&e.node)) {
    out += rules_internal::QuoteString(str->value);
  } else if (const auto* s = std::get_if<VectorSelector>(&e.node)) {
    PrintSelector(*s, out);
    PrintOffset(s->offset, out);
  } else if (const auto* m = std::get_if<MatrixSelector>(&e.node)) {
    PrintSelector(m->selector, out);
    absl::StrAppend(&out, "[", DurationToString(m->range), "]");
    PrintOffset(m->selector.offset, out);
  } else if (const auto* c = std::get_if<Call>(&e.node)) {
    absl::StrAppend(&out, c->function, "(");
    for (size_t i = 0; i < c->args.size(); ++i) {
      if (i > 0) out += ", ";
      Print(*c->args[i], out);
    }
    out += ')';
  } else if (const auto* a = std::get_if<AggregateExpr>(&e.node)) {
    absl::StrAppend(&out, AggregateOpName(a->op));
    if (a->without || !a->grouping.empty()) {
      out += a->without ? " without " : " by ";
      PrintLabelList(a->grouping, out);
      out += ' ';
    }
    out += '(';
    if (a->param != nullptr) {
      Print(*a->param, out);
      out += ", ";
    }
    Print(*a->expr, out);
    out += ')';
  } else {
    const auto& b = std::get<BinaryExpr>(e.node);
    const int p = PrecedenceOf(b.op);
    const bool right_assoc = b.op == BinaryOp::kPow;
    const int lp = PrintPrecedence(*b.lhs);
    PrintOperand(*b.lhs, lp < p || (lp == p && right_assoc), out);
    absl::StrAppend(&out, " ", OperatorText(b.op), b.return_bool ? " bool" : "");
    const VectorMatching& vm = b.matching;
    const bool grouped =
        vm.card == MatchCardinality::kManyToOne || vm.card == MatchCardinality::kOneToMany;
    if (vm.on || !vm.labels.empty() || grouped) {
      out += vm.on ? " on" : " ignoring";
      PrintLabelList(vm.labels, out);
    }
    if (grouped) {
      // Always with its list: a '(' after group_x would be read as the list.
      out += vm.card == MatchCardinality::kManyToOne ? " group_left" : " group_right";
      PrintLabelList(vm.include, out);
    }
    out += ' ';
    // A unary minus on the right reads back as a unary minus wherever it is.
    const bool literal = std::holds_alternative<NumberLiteral>(b.rhs->node);
    const int rp = PrintPrecedence(*b.rhs);
    PrintOperand(*b.rhs, !literal && (rp < p || (rp == p && !right_assoc)), out);
  }
}

// Calls `visit(selector, range)` for each selector in text order; `range` is
// set for one under a range.
template <typename Visit>
void VisitSelectors(const Expr& e, const Visit& visit) {
  if (const auto* s = std::get_if<VectorSelector>(&e.node)) {
    visit(*s, std::optional<absl::Duration>());
  } else if (const auto* m = std::get_if<MatrixSelector>(&e.node)) {
    visit(m->selector, std::optional<absl::Duration>(m->range));
  } else if (const auto* b = std::get_if<BinaryExpr>(&e.node)) {
    if (b->lhs != nullptr) VisitSelectors(*b->lhs, visit);
    if (b->rhs != nullptr) VisitSelectors(*b->rhs, visit);
  } else if (const auto* c = std::get_if<Call>(&e.node)) {
    for (const ExprPtr& arg : c->args) {
      if (arg != nullptr) VisitSelectors(*arg, visit);
    }
  } else if (const auto* a = std::get_if<AggregateExpr>(&e.node)) {
    if (a->param != nullptr) VisitSelectors(*a->param, visit);
    if (a->expr != nullptr) VisitSelectors(*a->expr, visit);
  }
}

// Splits "LINE:COLUMN: message"; nullopt if the status has no such prefix.
std::optional<std::pair<ExprPosition, size_t>> SplitPosition(absl::string_view message) {
  size_t i = 0;
  auto read_int = [&](int& v) {
    const size_t start = i;
    v = 0;
    while (i < message.size() && IsDigit(message[i]) && i - start < 9) {
      v = v * 10 + (message[i] - '0');
      ++i;
    }
    return i > start && v > 0;
  };
  ExprPosition pos;
  if (!read_int(pos.line) || i >= message.size() || message[i] != ':') return std::nullopt;
  ++i;
  if (!read_int(pos.column) || message.substr(i, 2) != ": ") return std::nullopt;
  return std::make_pair(pos, i + 2);
}

}  // namespace

namespace rules_internal {

std::string QuoteString(absl::string_view value) {
  std::string out = "\"";
  for (size_t i = 0; i < value.size();) {
    const char c = value[i];
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\a':
        out += "\\a";
        ++i;
        continue;
      case '\b':
        out += "\\b";
        ++i;
        continue;
      case '\f':
        out += "\\f";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\v':
        out += "\\v";
        ++i;
        continue;
      default:
        break;
    }
    const auto b = static_cast<unsigned char>(c);
    const size_t len = Utf8Length(value, i);
    if (b < 0x20 || b == 0x7F || len == 0) {
      static constexpr char kHex[] = "0123456789abcdef";
      absl::StrAppend(&out, "\\x", std::string(1, kHex[b >> 4]), std::string(1, kHex[b & 0xF]));
      ++i;
    } else {
      absl::StrAppend(&out, value.substr(i, len));
      i += len;
    }
  }
  out += '"';
  return out;
}

}  // namespace rules_internal

bool IsComparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::kEq:
    case BinaryOp::kNe:
    case BinaryOp::kLt:
    case BinaryOp::kLe:
    case BinaryOp::kGt:
    case BinaryOp::kGe:
      return true;
    default:
      return false;
  }
}

bool IsSetOperator(BinaryOp op) {
  return op == BinaryOp::kAnd || op == BinaryOp::kOr || op == BinaryOp::kUnless;
}

absl::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kInstantVector:
      return "instant vector";
    case ValueType::kRangeVector:
      return "range vector";
    case ValueType::kString:
      return "string";
  }
  return "?";
}

absl::string_view AggregateOpName(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSum:
      return "sum";
    case AggregateOp::kAvg:
      return "avg";
    case AggregateOp::kCount:
      return "count";
    case AggregateOp::kMin:
      return "min";
    case AggregateOp::kMax:
      return "max";
    case AggregateOp::kGroup:
      return "group";
    case AggregateOp::kStddev:
      return "stddev";
    case AggregateOp::kStdvar:
      return "stdvar";
    case AggregateOp::kTopK:
      return "topk";
    case AggregateOp::kBottomK:
      return "bottomk";
    case AggregateOp::kCountValues:
      return "count_values";
    case AggregateOp::kQuantile:
      return "quantile";
  }
  return "?";
}

absl::StatusOr<ExprPtr> ParseExpr(absl::string_view text) { return Parser(text).Parse(); }

std::optional<ExprPosition> ErrorPosition(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  auto split = SplitPosition(status.message());
  if (!split.has_value()) return std::nullopt;
  return split->first;
}

absl::string_view ErrorMessage(const absl::Status& status) {
  const absl::string_view message = status.message();
  auto split = SplitPosition(message);
  if (!split.has_value()) return message;
  return message.substr(split->second);
}

ValueType TypeOf(const Expr& expr) {
  if (std::holds_alternative<NumberLiteral>(expr.node)) return ValueType::kScalar;
  if (std::holds_alternative<StringLiteral>(expr.node)) return ValueType::kString;
  if (std::holds_alternative<MatrixSelector>(expr.node)) return ValueType::kRangeVector;
  if (const auto* c = std::get_if<Call>(&expr.node)) {
    const rules_internal::FunctionSignature* f = rules_internal::LookupFunction(c->function);
    return f == nullptr ? ValueType::kInstantVector : f->return_type;
  }
  if (const auto* b = std::get_if<BinaryExpr>(&expr.node)) {
    if (b->lhs != nullptr && b->rhs != nullptr && TypeOf(*b->lhs) == ValueType::kScalar &&
        TypeOf(*b->rhs) == ValueType::kScalar) {
      return ValueType::kScalar;
    }
  }
  return ValueType::kInstantVector;
}

std::vector<const VectorSelector*> Selectors(const Expr& expr) {
  std::vector<const VectorSelector*> out;
  VisitSelectors(
      expr, [&out](const VectorSelector& s, std::optional<absl::Duration>) { out.push_back(&s); });
  return out;
}

std::vector<SelectorReach> SelectorReaches(const Expr& expr, absl::Duration lookback) {
  std::vector<SelectorReach> out;
  VisitSelectors(expr, [&](const VectorSelector& s, std::optional<absl::Duration> range) {
    // A negative offset reads later samples: the window ends after the instant.
    const absl::Duration reach = range.value_or(lookback) + s.offset;
    out.push_back({&s, std::max(reach, absl::ZeroDuration()), !range.has_value()});
  });
  return out;
}

std::string ToString(const Expr& expr) {
  std::string out;
  Print(expr, out);
  return out;
}

namespace rules_internal {

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace rules_internal

}  // namespace klaxon
