#include "rules/expr.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
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
#include "absl/strings/string_view.h"
#include "rules/internal/format.h"

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
        AppendUtf8(out, v);
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
// Parser: precedence climbing (a Pratt loop) over the token stream.
//
// PromQL's binary precedence, loosest first. Levels 1 (or) and 2 (and, unless)
// are reserved for the set operators; atan2 will join '*' at level 5.
constexpr int kComparisonPrecedence = 3;
constexpr int kAddPrecedence = 4;
constexpr int kMulPrecedence = 5;
constexpr int kPowPrecedence = 6;
constexpr int kAtomPrecedence = 100;

struct OperatorInfo {
  BinaryOp op;
  int precedence;
  bool right_assoc;
};

std::optional<OperatorInfo> BinaryOperatorOf(Tok kind) {
  switch (kind) {
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
    default:
      return std::nullopt;
  }
}

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
  }
  return "?";
}

int PrecedenceOf(BinaryOp op) {
  if (IsComparison(op)) return kComparisonPrecedence;
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
      return kAddPrecedence;
    case BinaryOp::kPow:
      return kPowPrecedence;
    default:
      return kMulPrecedence;
  }
}

bool IsAggregator(absl::string_view lower) {
  static constexpr absl::string_view kAggregators[] = {
      "sum",    "avg",  "count",   "min",          "max",      "group",  "stddev",
      "stdvar", "topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio"};
  return std::find(std::begin(kAggregators), std::end(kAggregators), lower) !=
         std::end(kAggregators);
}

// Far beyond any real rule; keeps recursion over trees within the stack.
constexpr int kMaxDepth = 500;

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
    return expr;
  }

 private:
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

  ExprPtr Make(std::variant<NumberLiteral, VectorSelector, BinaryExpr> node, size_t offset) {
    return MakeAt(std::move(node), PositionOf(offset));
  }

  // Every node is made here, so that its type and depth are known without
  // walking the tree again: a long chain `1 + 1 + ...` stays linear.
  ExprPtr MakeAt(std::variant<NumberLiteral, VectorSelector, BinaryExpr> node, ExprPosition pos) {
    NodeInfo info{std::holds_alternative<NumberLiteral>(node), 1};
    if (const auto* b = std::get_if<BinaryExpr>(&node)) {
      const NodeInfo& l = info_.at(b->lhs.get());
      const NodeInfo& r = info_.at(b->rhs.get());
      info = NodeInfo{l.scalar && r.scalar, 1 + std::max(l.depth, r.depth)};
    }
    ExprPtr e = std::make_shared<const Expr>(Expr{std::move(node), pos});
    info_[e.get()] = info;
    return e;
  }

  bool IsScalar(const ExprPtr& e) const { return info_.at(e.get()).scalar; }

  // Constructs that follow an operand in full PromQL and are not in the
  // language yet get a message saying so rather than a bare "unexpected".
  absl::Status CheckNotYetSupportedAfterOperand(const Token& tok) const {
    switch (tok.kind) {
      case Tok::kUnknown:
        return ErrorAt(tok.begin, absl::StrCat("unknown operator \"", TextOf(tok), "\""));
      case Tok::kAssign:
        return ErrorAt(tok.begin, "unknown operator \"=\", use \"==\" to compare");
      case Tok::kLeftBracket:
        return ErrorAt(tok.begin, "range selectors are not supported yet");
      case Tok::kAt:
        return ErrorAt(tok.begin, "the @ modifier is not supported yet");
      case Tok::kIdentifier: {
        const std::string word = absl::AsciiStrToLower(TextOf(tok));
        if (word == "and" || word == "or" || word == "unless" || word == "atan2") {
          return ErrorAt(tok.begin, absl::StrCat("operator \"", word, "\" is not supported yet"));
        }
        if (word == "offset") return ErrorAt(tok.begin, "the offset modifier is not supported yet");
        return absl::OkStatus();
      }
      default:
        return absl::OkStatus();
    }
  }

  absl::StatusOr<ExprPtr> ParseBinary(int min_precedence) {
    // Bounds the recursion (parentheses, unary signs, '^' chains) and the tree
    // depth, so that hostile input is an error rather than a stack overflow in
    // the parser, the printer or the evaluator.
    if (++recursion_ > kMaxDepth) {
      return ErrorAt(Peek().begin,
                     absl::StrCat("expression nests deeper than ", kMaxDepth, " levels"));
    }
    absl::StatusOr<ExprPtr> result = ParseBinaryLoop(min_precedence);
    --recursion_;
    return result;
  }

  absl::StatusOr<ExprPtr> ParseBinaryLoop(int min_precedence) {
    absl::StatusOr<ExprPtr> lhs = ParseUnary();
    if (!lhs.ok()) return lhs;
    while (true) {
      const std::optional<OperatorInfo> info = BinaryOperatorOf(Peek().kind);
      if (!info.has_value()) {
        if (absl::Status s = CheckNotYetSupportedAfterOperand(Peek()); !s.ok()) return s;
        return lhs;
      }
      if (info->precedence < min_precedence) return lhs;
      const Token op = Take();
      BinaryExpr binary{info->op, nullptr, nullptr, false};
      if (IsWord(Peek(), "bool")) {
        const Token modifier = Take();
        if (!IsComparison(info->op)) {
          return ErrorAt(modifier.begin, "bool modifier can only be used on comparison operators");
        }
        binary.return_bool = true;
      }
      for (absl::string_view word : {"on", "ignoring", "group_left", "group_right"}) {
        if (IsWord(Peek(), word)) {
          return ErrorAt(Peek().begin,
                         absl::StrCat("vector matching modifier \"", word,
                                      "\" is not supported yet; matching is on all labels"));
        }
      }
      absl::StatusOr<ExprPtr> rhs =
          ParseBinary(info->right_assoc ? info->precedence : info->precedence + 1);
      if (!rhs.ok()) return rhs;
      if (IsComparison(info->op) && !binary.return_bool && IsScalar(*lhs) && IsScalar(*rhs)) {
        return ErrorAt(op.begin, "comparisons between scalars must use BOOL modifier");
      }
      const ExprPosition start = (*lhs)->position;
      binary.lhs = *std::move(lhs);
      binary.rhs = *std::move(rhs);
      lhs = MakeAt(std::move(binary), start);
      if (info_.at(lhs->get()).depth > kMaxDepth) {
        return ErrorAt(op.begin,
                       absl::StrCat("expression nests deeper than ", kMaxDepth, " levels"));
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseUnary() {
    const Tok kind = Peek().kind;
    if (kind != Tok::kAdd && kind != Tok::kSub) return ParsePrimary();
    const Token sign = Take();
    // Unary operators bind like '*' in PromQL: only '^' binds tighter.
    absl::StatusOr<ExprPtr> operand = ParseBinary(kPowPrecedence);
    if (!operand.ok()) return operand;
    if (const auto* number = std::get_if<NumberLiteral>(&(*operand)->node)) {
      return Make(NumberLiteral{kind == Tok::kSub ? -number->value : number->value}, sign.begin);
    }
    if (kind == Tok::kAdd) return operand;
    return Make(
        BinaryExpr{BinaryOp::kMul, Make(NumberLiteral{-1}, sign.begin), *std::move(operand), false},
        sign.begin);
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token& tok = Peek();
    switch (tok.kind) {
      case Tok::kNumber: {
        const Token number = Take();
        return Make(NumberLiteral{number.number}, number.begin);
      }
      case Tok::kLeftParen: {
        Take();
        absl::StatusOr<ExprPtr> inner = ParseBinary(0);
        if (!inner.ok()) return inner;
        if (Peek().kind != Tok::kRightParen) return Unexpected(Peek(), "\")\"");
        Take();
        return inner;
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
    if (Peek(1).kind == Tok::kLeftParen ||
        (IsAggregator(word) && (IsWord(Peek(1), "by") || IsWord(Peek(1), "without")))) {
      if (IsAggregator(word)) {
        return ErrorAt(tok.begin, absl::StrCat("aggregation \"", word, "\" is not supported yet"));
      }
      return ErrorAt(tok.begin,
                     absl::StrCat("function \"", TextOf(tok), "\" is not supported yet"));
    }
    if (word == "bool" || word == "on" || word == "ignoring" || word == "group_left" ||
        word == "group_right" || word == "atan2") {
      return Unexpected(tok);
    }
    return ParseSelector(Take());
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
          return ErrorAt(start, absl::StrCat("metric name must not be set twice: \"",
                                             selector.metric_name, "\" or \"", m.value(), "\""));
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
        return ErrorAt(start, "vector selector must contain at least one non-empty matcher");
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
  struct NodeInfo {
    bool scalar;  // no selector below: the value is a scalar
    int depth;
  };
  absl::flat_hash_map<const Expr*, NodeInfo> info_;
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

void Print(const Expr& e, std::string& out) {
  if (const auto* n = std::get_if<NumberLiteral>(&e.node)) {
    out += rules_internal::FormatFloat(n->value);
  } else if (const auto* s = std::get_if<VectorSelector>(&e.node)) {
    out += s->metric_name;
    bool skipped_name = false;
    bool first = true;
    for (const LabelMatcher& m : s->matchers) {
      // The metric name is printed outside the braces; its matcher is implied.
      if (!s->metric_name.empty() && !skipped_name && m.name() == kMetricNameLabel &&
          m.op() == LabelMatcher::Op::kEqual && m.value() == s->metric_name) {
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
    } else if (s->metric_name.empty()) {
      out += "{}";
    }
  } else {
    const auto& b = std::get<BinaryExpr>(e.node);
    const int p = PrecedenceOf(b.op);
    const bool right_assoc = b.op == BinaryOp::kPow;
    const int lp = PrintPrecedence(*b.lhs);
    PrintOperand(*b.lhs, lp < p || (lp == p && right_assoc), out);
    absl::StrAppend(&out, " ", OperatorText(b.op), b.return_bool ? " bool " : " ");
    // A unary minus on the right reads back as a unary minus wherever it is.
    const bool literal = std::holds_alternative<NumberLiteral>(b.rhs->node);
    const int rp = PrintPrecedence(*b.rhs);
    PrintOperand(*b.rhs, !literal && (rp < p || (rp == p && !right_assoc)), out);
  }
}

void CollectSelectors(const Expr& e, std::vector<const VectorSelector*>& out) {
  if (const auto* s = std::get_if<VectorSelector>(&e.node)) {
    out.push_back(s);
  } else if (const auto* b = std::get_if<BinaryExpr>(&e.node)) {
    CollectSelectors(*b->lhs, out);
    CollectSelectors(*b->rhs, out);
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

std::vector<const VectorSelector*> Selectors(const Expr& expr) {
  std::vector<const VectorSelector*> out;
  CollectSelectors(expr, out);
  return out;
}

std::vector<SelectorReach> SelectorReaches(const Expr& expr, absl::Duration lookback) {
  // Instant selectors only, so far: each reads back one lookback.
  std::vector<SelectorReach> out;
  for (const VectorSelector* selector : Selectors(expr)) out.push_back({selector, lookback});
  return out;
}

std::string ToString(const Expr& expr) {
  std::string out;
  Print(expr, out);
  return out;
}

}  // namespace klaxon
