// The rule expression language: a subset of PromQL with Prometheus's semantics
// where they overlap. This header holds the syntax tree and the parser; the
// evaluator is in evaluator.h. Parsed trees are immutable and thread-safe to share.
//
// Grammar so far (grows toward full PromQL):
//   expr     := operand (binop ['bool'] operand)*  precedence as in PromQL
//   operand  := ('+' | '-')* (number | selector | '(' expr ')')
//   selector := metric_name ['{' [matcher (',' matcher)* [',']] '}']
//             | '{' matcher (',' matcher)* [','] '}'
//   matcher  := label_name ('=' | '!=' | '=~' | '!~') string
//   binop    := '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%' | '^'
// Precedence, loosest first: comparisons; '+' '-'; '*' '/' '%'; '^' (right-assoc).
// Unary minus binds like '*' (so -2 ^ 2 is -4); on a number it folds into the
// literal, on anything else it is kept as `-1 * operand`, which PromQL evaluates
// the same way (the metric name is dropped). '#' starts a comment to end of line.
#ifndef KLAXON_RULES_EXPR_H_
#define KLAXON_RULES_EXPR_H_

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/strings/string_view.h"
#include "detector/label_matcher.h"

namespace klaxon {

// 1-based position inside the expression text.
struct ExprPosition {
  int line = 1;
  int column = 1;
};

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct NumberLiteral {
  double value;
};

struct VectorSelector {
  std::string metric_name;             // "" when given only through matchers
  std::vector<LabelMatcher> matchers;  // includes __name__ when metric_name is set
};

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kMod, kPow, kEq, kNe, kLt, kLe, kGt, kGe };
bool IsComparison(BinaryOp op);

struct BinaryExpr {
  BinaryOp op;
  ExprPtr lhs;
  ExprPtr rhs;
  bool return_bool = false;  // `bool` modifier on a comparison
};

struct Expr {
  std::variant<NumberLiteral, VectorSelector, BinaryExpr> node;
  ExprPosition position;  // where the node starts
};

// On error returns kInvalidArgument whose message starts with "LINE:COLUMN: "
// (the position inside `text`), e.g. "1:15: unexpected end of input, expected a number".
absl::StatusOr<ExprPtr> ParseExpr(absl::string_view text);

// Reads the position back out of a ParseExpr error, for callers that map it
// onto a file location.
std::optional<ExprPosition> ErrorPosition(const absl::Status& status);
// The message without its "LINE:COLUMN: " prefix.
absl::string_view ErrorMessage(const absl::Status& status);

// Every selector of the expression, for subscribing rules to their inputs.
std::vector<const VectorSelector*> Selectors(const Expr& expr);

// How far before the evaluation instant one selector reads: the lookback for
// an instant selector, the range for a range selector, plus any offset. The
// engine keeps that much of every series the selector matches.
struct SelectorReach {
  const VectorSelector* selector;
  absl::Duration reach;
};
std::vector<SelectorReach> SelectorReaches(const Expr& expr, absl::Duration lookback);

// PromQL text of the tree, for messages and the API.
std::string ToString(const Expr& expr);

}  // namespace klaxon

#endif  // KLAXON_RULES_EXPR_H_
