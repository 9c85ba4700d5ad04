// The rule expression language: PromQL as Prometheus 2.42 reads it, less
// subqueries and the @ modifier. This header holds the syntax tree and the
// parser; the evaluator is in evaluator.h. Parsed trees are immutable and
// thread-safe to share.
//
// Grammar:
//   expr        := unary (binop bin_modifier unary)*   precedence as in PromQL
//   unary       := ('+' | '-')* postfix
//   postfix     := primary ['[' duration ']'] ['offset' ['-'] duration]
//   primary     := number | string | selector | '(' expr ')' | call | aggregation
//   selector    := metric_name ['{' [matcher (',' matcher)* [',']] '}']
//                | '{' matcher (',' matcher)* [','] '}'
//   matcher     := label_name ('=' | '!=' | '=~' | '!~') string
//   call        := function_name '(' [expr (',' expr)*] ')'
//   aggregation := aggr_op [grouping] '(' [expr ','] expr ')' [grouping]
//   grouping    := ('by' | 'without') labels
//   binop       := 'or' | 'and' | 'unless' | '==' | '!=' | '<' | '<=' | '>' | '>='
//                | '+' | '-' | '*' | '/' | '%' | 'atan2' | '^'
//   bin_modifier:= ['bool'] [('on' | 'ignoring') labels
//                    [('group_left' | 'group_right') [labels]]]
//   labels      := '(' [label_name (',' label_name)* [',']] ')'
// Precedence, loosest first: 'or'; 'and' 'unless'; comparisons; '+' '-';
// '*' '/' '%' 'atan2'; '^' (right-assoc). A range '[5m]' applies only to a bare
// selector and 'offset' only to a selector or a range, both binding tighter
// than any operator. Unary minus binds like '*' (so -2 ^ 2 is -4); on a number
// it folds into the literal, on anything else it is kept as `-1 * operand`,
// which PromQL evaluates the same way (the metric name is dropped). Keywords
// (operators, modifiers, aggregations) are case-insensitive; function and
// metric names are not. Durations are Prometheus durations ("5m", "1h30m"),
// units largest first. '#' starts a comment to end of line.
//
// The parser type-checks as Prometheus does (argument counts and types, vector
// matching rules) and also checks what Prometheus leaves to evaluation but a
// literal makes knowable here: label_replace's regex and label names,
// count_values's label name.
#ifndef KLAXON_RULES_EXPR_H_
#define KLAXON_RULES_EXPR_H_

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/label_matcher.h"

namespace klaxon {

// 1-based position inside the expression text.
struct ExprPosition {
  int line = 1;
  int column = 1;
};

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

// What an expression evaluates to, as PromQL's type checker sees it.
enum class ValueType { kScalar, kInstantVector, kRangeVector, kString };
// "scalar", "instant vector", "range vector", "string": the words of Prometheus's errors.
absl::string_view ValueTypeName(ValueType type);

struct NumberLiteral {
  double value;
};

struct StringLiteral {
  std::string value;
};

struct VectorSelector {
  std::string metric_name;             // "" when given only through matchers
  std::vector<LabelMatcher> matchers;  // includes __name__ when metric_name is set
  // `offset 5m` reads as of 5m before the evaluation instant; a negative
  // offset reads later samples.
  absl::Duration offset = absl::ZeroDuration();
};

// `selector[range]`: every sample in [t - offset - range, t - offset].
struct MatrixSelector {
  VectorSelector selector;
  absl::Duration range;
};

// A function call; `function` is one of the names the parser knows, with
// arguments of the types its signature asks for.
struct Call {
  std::string function;
  std::vector<ExprPtr> args;
};

enum class AggregateOp {
  kSum,
  kAvg,
  kCount,
  kMin,
  kMax,
  kGroup,
  kStddev,
  kStdvar,
  kTopK,
  kBottomK,
  kCountValues,
  kQuantile,
};
absl::string_view AggregateOpName(AggregateOp op);  // "sum", "count_values", ...

struct AggregateExpr {
  AggregateOp op;
  ExprPtr expr;
  ExprPtr param;  // topk/bottomk/quantile: a scalar; count_values: a string; else null
  std::vector<std::string> grouping;  // as written
  bool without = false;               // `without (...)` rather than `by (...)`
};

enum class BinaryOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAtan2,
  kAnd,
  kOr,
  kUnless,
};
bool IsComparison(BinaryOp op);
bool IsSetOperator(BinaryOp op);  // and, or, unless

enum class MatchCardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

// How two instant vectors pair their samples. The default (ignoring nothing,
// one-to-one) matches on every label but __name__.
struct VectorMatching {
  MatchCardinality card = MatchCardinality::kOneToOne;  // kManyToMany for set operators
  bool on = false;                   // `on(labels)`; otherwise `ignoring(labels)`
  std::vector<std::string> labels;   // as written
  std::vector<std::string> include;  // extra labels of group_left/group_right
};

struct BinaryExpr {
  BinaryOp op;
  ExprPtr lhs;
  ExprPtr rhs;
  bool return_bool = false;  // `bool` modifier on a comparison
  VectorMatching matching;   // meaningful when both sides are instant vectors
};

struct Expr {
  std::variant<NumberLiteral, VectorSelector, BinaryExpr, StringLiteral, MatrixSelector, Call,
               AggregateExpr>
      node;
  ExprPosition position;  // where the node starts
};

// On error returns kInvalidArgument whose message starts with "LINE:COLUMN: "
// (the position inside `text`), e.g. "1:15: unexpected end of input" or
// `1:6: expected type range vector in call to function "rate", got instant vector`.
absl::StatusOr<ExprPtr> ParseExpr(absl::string_view text);

// Reads the position back out of a ParseExpr error, for callers that map it
// onto a file location.
std::optional<ExprPosition> ErrorPosition(const absl::Status& status);
// The message without its "LINE:COLUMN: " prefix.
absl::string_view ErrorMessage(const absl::Status& status);

// The type a well-typed tree evaluates to (any tree ParseExpr returned).
ValueType TypeOf(const Expr& expr);

// Every selector of the expression in text order, those under a range
// included, for subscribing rules to their inputs.
std::vector<const VectorSelector*> Selectors(const Expr& expr);

// How far before the evaluation instant one selector reads: the lookback for
// an instant selector, the range for a range selector, plus any offset (never
// below zero). The engine keeps that much of every series the selector matches.
struct SelectorReach {
  const VectorSelector* selector;
  absl::Duration reach;
  bool instant;  // not under a range
};
std::vector<SelectorReach> SelectorReaches(const Expr& expr, absl::Duration lookback);

// PromQL text of the tree, for messages and the API; parses back to the same tree.
std::string ToString(const Expr& expr);

}  // namespace klaxon

#endif  // KLAXON_RULES_EXPR_H_
