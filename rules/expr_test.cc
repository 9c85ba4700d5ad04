#include "rules/expr.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/internal/format.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;

// The tree with every binary node parenthesized: "(+ 1 (* 2 3))"; other
// nodes print as ToString does, their operands in Sexp form.
std::string Sexp(const Expr& e) {
  if (const auto* n = std::get_if<NumberLiteral>(&e.node)) {
    return rules_internal::FormatFloat(n->value);
  }
  if (const auto* c = std::get_if<Call>(&e.node)) {
    std::vector<std::string> args;
    for (const ExprPtr& a : c->args) args.push_back(Sexp(*a));
    return absl::StrCat(c->function, "(", absl::StrJoin(args, ", "), ")");
  }
  if (const auto* a = std::get_if<AggregateExpr>(&e.node)) {
    return absl::StrCat("(", AggregateOpName(a->op), a->without ? " without(" : " by(",
                        absl::StrJoin(a->grouping, ","), ")",
                        a->param != nullptr ? absl::StrCat(" ", Sexp(*a->param)) : "", " ",
                        Sexp(*a->expr), ")");
  }
  const auto* b = std::get_if<BinaryExpr>(&e.node);
  if (b == nullptr) return ToString(e);
  static constexpr const char* kOps[] = {"+", "-",  "*", "/",  "%",     "^",   "==", "!=",
                                         "<", "<=", ">", ">=", "atan2", "and", "or", "unless"};
  std::string matching;
  const VectorMatching& m = b->matching;
  if (m.on || !m.labels.empty()) {
    absl::StrAppend(&matching, m.on ? " on(" : " ignoring(", absl::StrJoin(m.labels, ","), ")");
  }
  if (m.card == MatchCardinality::kManyToOne) {
    absl::StrAppend(&matching, " group_left(", absl::StrJoin(m.include, ","), ")");
  } else if (m.card == MatchCardinality::kOneToMany) {
    absl::StrAppend(&matching, " group_right(", absl::StrJoin(m.include, ","), ")");
  }
  return absl::StrCat("(", kOps[static_cast<int>(b->op)], b->return_bool ? " bool" : "", matching,
                      " ", Sexp(*b->lhs), " ", Sexp(*b->rhs), ")");
}

std::string ParseToSexp(absl::string_view text) {
  absl::StatusOr<ExprPtr> e = ParseExpr(text);
  if (!e.ok()) return std::string(e.status().ToString());
  return Sexp(**e);
}

// The error message ParseExpr gives, "" if it parsed.
std::string ParseError(absl::string_view text) {
  absl::StatusOr<ExprPtr> e = ParseExpr(text);
  if (e.ok()) return "";
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(e.status().message());
}

double ParseNumber(absl::string_view text) {
  absl::StatusOr<ExprPtr> e = ParseExpr(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status();
  if (!e.ok()) return -12345;
  const auto* n = std::get_if<NumberLiteral>(&(*e)->node);
  EXPECT_NE(n, nullptr) << text;
  return n == nullptr ? -12345 : n->value;
}

const VectorSelector& SelectorOf(const ExprPtr& e) { return std::get<VectorSelector>(e->node); }

TEST(ParseExprTest, Precedence) {
  EXPECT_EQ(ParseToSexp("1 + 2 * 3"), "(+ 1 (* 2 3))");
  EXPECT_EQ(ParseToSexp("1 * 2 + 3"), "(+ (* 1 2) 3)");
  EXPECT_EQ(ParseToSexp("2 * 3 ^ 2"), "(* 2 (^ 3 2))");
  EXPECT_EQ(ParseToSexp("a + b > c * d"), "(> (+ a b) (* c d))");
  EXPECT_EQ(ParseToSexp("a > b + c"), "(> a (+ b c))");
  EXPECT_EQ(ParseToSexp("(1 + 2) * 3"), "(* (+ 1 2) 3)");
  EXPECT_EQ(ParseToSexp("a % b * c / d"), "(/ (* (% a b) c) d)");
}

TEST(ParseExprTest, Associativity) {
  EXPECT_EQ(ParseToSexp("2 ^ 3 ^ 2"), "(^ 2 (^ 3 2))");  // right-associative
  EXPECT_EQ(ParseToSexp("1 - 2 - 3"), "(- (- 1 2) 3)");
  EXPECT_EQ(ParseToSexp("8 / 4 / 2"), "(/ (/ 8 4) 2)");
  EXPECT_EQ(ParseToSexp("a == bool b != bool c"), "(!= bool (== bool a b) c)");
}

TEST(ParseExprTest, UnaryOperators) {
  // PromQL gives unary minus the precedence of '*': -2 ^ 2 is -(2 ^ 2).
  EXPECT_EQ(ParseToSexp("-2 ^ 2"), "(* -1 (^ 2 2))");
  EXPECT_EQ(ParseToSexp("-2 * 3"), "(* -2 3)");
  EXPECT_EQ(ParseToSexp("1 - -2"), "(- 1 -2)");
  EXPECT_EQ(ParseToSexp("2 ^ -1"), "(^ 2 -1)");
  EXPECT_EQ(ParseToSexp("- - 3"), "3");
  EXPECT_EQ(ParseToSexp("+3"), "3");
  EXPECT_EQ(ParseToSexp("-(1)"), "-1");
  EXPECT_EQ(ParseToSexp("-up"), "(* -1 up)");
  EXPECT_EQ(ParseToSexp("+up"), "up");
}

TEST(ParseExprTest, Numbers) {
  EXPECT_EQ(ParseNumber("42"), 42);
  EXPECT_EQ(ParseNumber("1.5"), 1.5);
  EXPECT_EQ(ParseNumber(".5"), 0.5);
  EXPECT_EQ(ParseNumber("5."), 5);
  EXPECT_EQ(ParseNumber("1e3"), 1000);
  EXPECT_EQ(ParseNumber("1.5e-3"), 0.0015);
  EXPECT_EQ(ParseNumber("2E+2"), 200);
  EXPECT_EQ(ParseNumber("0x1F"), 31);
  EXPECT_EQ(ParseNumber("0Xff"), 255);
  EXPECT_EQ(ParseNumber("1_000"), 1000);
  // Go's ParseInt with base 0, as Prometheus: a leading zero means octal...
  EXPECT_EQ(ParseNumber("010"), 8);
  // ...unless the digits are not octal, when it is read as a decimal float.
  EXPECT_EQ(ParseNumber("09"), 9);
  EXPECT_EQ(ParseNumber("Inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(ParseNumber("+inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(ParseNumber("-Inf"), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(ParseNumber("NaN")));
  EXPECT_TRUE(std::isnan(ParseNumber("nan")));
  EXPECT_EQ(ParseNumber("-7"), -7);
  EXPECT_EQ(ParseNumber("1e-400"), 0);  // underflow is zero, as strconv.ParseFloat
}

TEST(ParseExprTest, BadNumbers) {
  EXPECT_EQ(ParseError("1e400"), "1:1: number \"1e400\" is out of range");
  EXPECT_EQ(ParseError("1a"), "1:1: bad number or duration syntax \"1a\"");
  EXPECT_EQ(ParseError("1 + 1.2.3"), "1:5: bad number or duration syntax \"1.2.3\"");
  EXPECT_EQ(ParseError("1__0"), "1:1: invalid number \"1__0\"");
  EXPECT_EQ(ParseError("0x"), "1:1: invalid number \"0x\"");
  EXPECT_EQ(ParseError("5m"), "1:1: unexpected duration \"5m\"");
}

TEST(ParseExprTest, SelectorWithEveryMatcherOp) {
  absl::StatusOr<ExprPtr> e =
      ParseExpr(R"(http_requests{job="api", path!="/health", code=~"5..", method!~'GET|HEAD',})");
  ASSERT_TRUE(e.ok()) << e.status();
  const VectorSelector& s = SelectorOf(*e);
  EXPECT_EQ(s.metric_name, "http_requests");
  ASSERT_EQ(s.matchers.size(), 5u);
  EXPECT_EQ(s.matchers[0].ToString(), R"(job="api")");
  EXPECT_EQ(s.matchers[0].op(), LabelMatcher::Op::kEqual);
  EXPECT_EQ(s.matchers[1].op(), LabelMatcher::Op::kNotEqual);
  EXPECT_EQ(s.matchers[1].value(), "/health");
  EXPECT_EQ(s.matchers[2].op(), LabelMatcher::Op::kRegexMatch);
  EXPECT_EQ(s.matchers[2].value(), "5..");
  EXPECT_EQ(s.matchers[3].op(), LabelMatcher::Op::kRegexNoMatch);
  EXPECT_EQ(s.matchers[3].value(), "GET|HEAD");
  // The metric name becomes a matcher too, last as in Prometheus.
  EXPECT_EQ(s.matchers[4].ToString(), R"(__name__="http_requests")");
}

TEST(ParseExprTest, SelectorForms) {
  absl::StatusOr<ExprPtr> by_name = ParseExpr(R"({__name__="up", job="api"})");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(SelectorOf(*by_name).metric_name, "");
  EXPECT_EQ(SelectorOf(*by_name).matchers.size(), 2u);

  absl::StatusOr<ExprPtr> empty_braces = ParseExpr("up{}");
  ASSERT_TRUE(empty_braces.ok()) << empty_braces.status();
  EXPECT_EQ(SelectorOf(*empty_braces).matchers.size(), 1u);

  // Colons in metric names (recording rules), keywords as names.
  absl::StatusOr<ExprPtr> recorded = ParseExpr("job:http_errors:rate5m");
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(SelectorOf(*recorded).metric_name, "job:http_errors:rate5m");
  absl::StatusOr<ExprPtr> keywords = ParseExpr(R"(sum{on="a", bool="b", offset="c"})");
  ASSERT_TRUE(keywords.ok()) << keywords.status();
  EXPECT_EQ(SelectorOf(*keywords).matchers.size(), 4u);

  // A matcher that cannot match "" is enough for a nameless selector.
  EXPECT_EQ(ParseError(R"({job!=""})"), "");
  EXPECT_EQ(ParseError(R"({job=~".+"})"), "");
}

TEST(ParseExprTest, StringsAndEscapes) {
  auto value_of = [](absl::string_view text) -> std::string {
    absl::StatusOr<ExprPtr> e = ParseExpr(absl::StrCat("{a=", text, "}"));
    if (!e.ok()) return std::string(e.status().message());
    return SelectorOf(*e).matchers[0].value();
  };
  EXPECT_EQ(value_of(R"("say \"hi\"")"), "say \"hi\"");
  EXPECT_EQ(value_of(R"('it\'s')"), "it's");
  EXPECT_EQ(value_of(R"('say "hi"')"), "say \"hi\"");
  EXPECT_EQ(value_of(R"("a\n\t\\b")"), "a\n\t\\b");
  EXPECT_EQ(value_of(R"("\x41\102")"), "AB");
  EXPECT_EQ(value_of(R"("\u00e9\U0001F600")"), "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(value_of(R"("é")"), "\xC3\xA9");
  EXPECT_EQ(value_of(R"(`\d+\n`)"), R"(\d+\n)");
  EXPECT_EQ(value_of("`two\nlines`"), "two\nlines");
}

TEST(ParseExprTest, CommentsAndNewlines) {
  EXPECT_EQ(ParseToSexp("up # is it?\n  == 0"), "(== up 0)");
  EXPECT_EQ(ParseToSexp("up{\n  job=\"a\", # the job\n}"), R"(up{job="a"})");
}

TEST(ParseExprTest, NodePositions) {
  absl::StatusOr<ExprPtr> e = ParseExpr("1 +\n  up{job=\"a\"}");
  ASSERT_TRUE(e.ok()) << e.status();
  const auto& b = std::get<BinaryExpr>((*e)->node);
  EXPECT_EQ(b.lhs->position.line, 1);
  EXPECT_EQ(b.lhs->position.column, 1);
  EXPECT_EQ(b.rhs->position.line, 2);
  EXPECT_EQ(b.rhs->position.column, 3);
}

TEST(ParseExprTest, SyntaxErrors) {
  EXPECT_EQ(ParseError(""), "1:1: unexpected end of input");
  EXPECT_EQ(ParseError("   # only a comment"), "1:20: unexpected end of input");
  EXPECT_EQ(ParseError("1 +"), "1:4: unexpected end of input");
  EXPECT_EQ(ParseError("(1 + 2"), "1:7: unexpected end of input, expected \")\"");
  EXPECT_EQ(ParseError("1 + 2)"), "1:6: unexpected \")\"");
  EXPECT_EQ(ParseError("foo bar"), "1:5: unexpected identifier \"bar\"");
  EXPECT_EQ(ParseError("1 + * 2"), "1:5: unexpected \"*\"");
  EXPECT_EQ(ParseError("1 + ,"), "1:5: unexpected \",\"");
  EXPECT_EQ(ParseError("foo && bar"), "1:5: unknown operator \"&&\"");
  EXPECT_EQ(ParseError("foo = 1"), "1:5: unknown operator \"=\", use \"==\" to compare");
  EXPECT_EQ(ParseError("1 + $x"), "1:5: unexpected character \"$\"");
}

TEST(ParseExprTest, SelectorErrors) {
  EXPECT_EQ(ParseError("up{job=}"),
            "1:8: unexpected \"}\", expected label value as a quoted string");
  EXPECT_EQ(ParseError(R"(up{job="a",,})"), "1:12: unexpected \",\", expected label name");
  EXPECT_EQ(ParseError(R"(up{"job"="a"})"), "1:4: unexpected string \"job\", expected label name");
  EXPECT_EQ(ParseError(R"(up{job="a" x="b"})"),
            "1:12: unexpected identifier \"x\", expected \",\" or \"}\"");
  EXPECT_EQ(ParseError(R"(up{job="a")"), "1:11: unexpected end of input, expected \",\" or \"}\"");
  EXPECT_EQ(ParseError(R"(up{job=="a"})"),
            "1:7: unexpected \"==\", expected label matching operator \"=\", \"!=\", \"=~\" or "
            "\"!~\"");
  EXPECT_EQ(ParseError(R"(up{a:b="x"})"), "1:5: unexpected \":\" in label name");
  EXPECT_EQ(ParseError(R"(up{job=~"("})"), "1:9: invalid regex \"(\": missing ): (");
  EXPECT_EQ(ParseError(R"(up{job!~"a**"})"),
            "1:9: invalid regex \"a**\": bad repetition operator: **");
  EXPECT_EQ(ParseError("{}"), "1:1: vector selector must contain at least one non-empty matcher");
  EXPECT_EQ(ParseError(R"(1 + {job=""})"),
            "1:5: vector selector must contain at least one non-empty matcher");
  EXPECT_EQ(ParseError(R"({job=~".*", env!="prod"})"),
            "1:1: vector selector must contain at least one non-empty matcher");
  EXPECT_EQ(ParseError(R"(foo{__name__="bar"})"),
            "1:1: metric name must not be set twice: \"foo\" or \"bar\"");
}

TEST(ParseExprTest, StringErrors) {
  EXPECT_EQ(ParseError(R"(up{job="api})"), "1:8: unterminated quoted string");
  EXPECT_EQ(ParseError("up{job=\"a\nb\"}"), "1:8: unterminated quoted string");
  EXPECT_EQ(ParseError("up{job=`api}"), "1:8: unterminated raw string");
  EXPECT_EQ(ParseError(R"(up{job="a\qb"})"), "1:10: unknown escape sequence \"\\q\"");
  EXPECT_EQ(ParseError(R"(up{job="\x4g"})"), "1:12: illegal character \"g\" in escape sequence");
  EXPECT_EQ(ParseError(R"(up{job="\ud800"})"),
            "1:9: escape sequence is an invalid Unicode code point");
  EXPECT_EQ(ParseError("up{job=\"\xff\"}"), "1:9: invalid UTF-8 in string");
  // The first error in the text wins, even when a later string is broken.
  EXPECT_EQ(ParseError(R"(1 + ) + up{job="x)"), "1:5: unexpected \")\"");
}

TEST(ParseExprTest, TypeErrors) {
  EXPECT_EQ(ParseError("1 == 1"), "1:3: comparisons between scalars must use BOOL modifier");
  EXPECT_EQ(ParseError("(1 + 2) > -3"), "1:9: comparisons between scalars must use BOOL modifier");
  EXPECT_EQ(ParseError("1 == bool 1"), "");
  EXPECT_EQ(ParseError("up == 1"), "");
  // At the operator, as Prometheus reports it.
  EXPECT_EQ(ParseError("1 + bool 2"),
            "1:3: bool modifier can only be used on comparison operators");
}

TEST(ParseExprTest, ErrorsCountLinesAndCharacters) {
  EXPECT_EQ(ParseError("up\n  > 0 and\n  rate(down)"),
            "3:8: expected type range vector in call to function \"rate\", got instant vector");
  EXPECT_EQ(ParseError("up{job=\"a\"}\n+\n  {job=}"),
            "3:8: unexpected \"}\", expected label value as a quoted string");
  // Columns count characters: "é" is two bytes but one column.
  EXPECT_EQ(ParseError(R"({a="é"} $)"), "1:9: unknown operator \"$\"");
}

TEST(ParseExprTest, UnsupportedConstructsSaySo) {
  EXPECT_EQ(ParseError("up @ 100"), "1:4: the @ modifier is not supported");
  EXPECT_EQ(ParseError("rate(up[5m:1m])"), "1:8: subqueries are not supported");
  EXPECT_EQ(ParseError("max_over_time(rate(up[5m])[1h:])"), "1:27: subqueries are not supported");
  EXPECT_EQ(ParseError("histogram_count(up)"),
            "1:1: unknown function with name \"histogram_count\"");
}

TEST(ParseExprTest, HostileNestingIsAnErrorNotACrash) {
  const std::string parens = std::string(100000, '(') + "1" + std::string(100000, ')');
  EXPECT_EQ(ParseError(parens), "1:501: expression nests deeper than 500 levels");
  std::string chain = "up";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  EXPECT_EQ(ParseError(chain), "1:2000: expression nests deeper than 500 levels");
  std::string signs(100000, '-');
  EXPECT_THAT(ParseError(signs + "1"), ::testing::HasSubstr("nests deeper than 500 levels"));
  // Real rules are nowhere near the limit.
  std::string long_rule = "up";
  for (int i = 0; i < 400; ++i) long_rule += " + up";
  EXPECT_EQ(ParseError(long_rule), "");
}

TEST(ParseExprTest, SetOperatorPrecedence) {
  EXPECT_EQ(ParseToSexp("a or b and c"), "(or a (and b c))");
  EXPECT_EQ(ParseToSexp("a and b or c"), "(or (and a b) c)");
  EXPECT_EQ(ParseToSexp("a unless b and c"), "(and (unless a b) c)");
  EXPECT_EQ(ParseToSexp("a or b or c"), "(or (or a b) c)");
  EXPECT_EQ(ParseToSexp("a > 1 and b < 2"), "(and (> a 1) (< b 2))");
  EXPECT_EQ(ParseToSexp("a or b == c"), "(or a (== b c))");
  EXPECT_EQ(ParseToSexp("a + b atan2 c * d"), "(+ a (* (atan2 b c) d))");
  EXPECT_EQ(ParseToSexp("a ^ b atan2 c"), "(atan2 (^ a b) c)");
  // Keywords in any case; names are case-sensitive.
  EXPECT_EQ(ParseToSexp("a AND b Or c UNLESS d"), "(or (and a b) (unless c d))");
}

TEST(ParseExprTest, VectorMatchingModifiers) {
  EXPECT_EQ(ParseToSexp("a / on(job) b"), "(/ on(job) a b)");
  EXPECT_EQ(ParseToSexp("a / ON (job, instance,) b"), "(/ on(job,instance) a b)");
  EXPECT_EQ(ParseToSexp("a * ignoring(x, y) group_left(z) b"),
            "(* ignoring(x,y) group_left(z) a b)");
  EXPECT_EQ(ParseToSexp("a + on(job) group_right b"), "(+ on(job) group_right() a b)");
  EXPECT_EQ(ParseToSexp("a > bool on(x) b"), "(> bool on(x) a b)");
  EXPECT_EQ(ParseToSexp("a and on() b"), "(and on() a b)");
  EXPECT_EQ(ParseToSexp("a or ignoring(x) b"), "(or ignoring(x) a b)");
  // A '(' right after group_left is its label list, as in Prometheus.
  EXPECT_EQ(ParseToSexp("a * on(x) group_left (y) b"), "(* on(x) group_left(y) a b)");
  // Keywords are label names inside the lists.
  EXPECT_EQ(ParseToSexp("a / on(by, on) b"), "(/ on(by,on) a b)");
  // Matching between a scalar and a vector is dropped, as Prometheus does.
  EXPECT_EQ(ParseToSexp("1 + ignoring() group_left a"), "(+ 1 a)");
}

TEST(ParseExprTest, VectorMatchingErrors) {
  EXPECT_EQ(ParseError("a * group_left b"),
            "1:5: unexpected \"group_left\", it needs on(...) or ignoring(...) before it");
  EXPECT_EQ(ParseError("a and on(x) group_left b"),
            "1:1: no grouping allowed for \"and\" operation");
  EXPECT_EQ(ParseError("a unless ignoring(x) group_right() b"),
            "1:1: no grouping allowed for \"unless\" operation");
  EXPECT_EQ(ParseError("1 and up"),
            "1:1: set operator \"and\" not allowed in binary scalar expression");
  EXPECT_EQ(ParseError("up or 1"),
            "1:1: set operator \"or\" not allowed in binary scalar expression");
  EXPECT_EQ(ParseError("1 + on(x) up"),
            "1:1: vector matching only allowed between instant vectors");
  EXPECT_EQ(ParseError("a + on(x) group_left(x) b"),
            "1:3: label \"x\" must not occur in ON and GROUP clause at once");
  EXPECT_EQ(ParseError("a and bool b"),
            "1:3: bool modifier can only be used on comparison operators");
  EXPECT_EQ(ParseError("a + on b"), "1:8: unexpected identifier \"b\", expected \"(\"");
  EXPECT_EQ(ParseError("a + on(x:y) b"), "1:9: unexpected \":\" in label name");
  EXPECT_EQ(ParseError("a + on(\"x\") b"), "1:8: unexpected string \"x\", expected label name");
  EXPECT_EQ(ParseError("a + up[5m]"),
            "1:5: binary expression must contain only scalar and instant vector types");
  EXPECT_EQ(ParseError("\"a\" + 1"),
            "1:1: binary expression must contain only scalar and instant vector types");
}

TEST(ParseExprTest, RangesAndOffsets) {
  absl::StatusOr<ExprPtr> e = ParseExpr("http_requests_total{job=\"api\"}[1h30m]");
  ASSERT_TRUE(e.ok()) << e.status();
  const auto* m = std::get_if<MatrixSelector>(&(*e)->node);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->range, absl::Minutes(90));
  EXPECT_EQ(m->selector.metric_name, "http_requests_total");
  EXPECT_EQ(m->selector.offset, absl::ZeroDuration());
  EXPECT_EQ(TypeOf(**e), ValueType::kRangeVector);

  e = ParseExpr("up offset 5m");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(SelectorOf(*e).offset, absl::Minutes(5));
  e = ParseExpr("up[5m] OFFSET -1w2d");
  ASSERT_TRUE(e.ok()) << e.status();
  m = std::get_if<MatrixSelector>(&(*e)->node);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->range, absl::Minutes(5));
  EXPECT_EQ(m->selector.offset, -absl::Hours(9 * 24));
  e = ParseExpr("up[100ms]");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(std::get<MatrixSelector>((*e)->node).range, absl::Milliseconds(100));
  // Offset binds tighter than any operator, unary minus included.
  EXPECT_EQ(ParseToSexp("a + b offset 1m"), "(+ a b offset 1m)");
  EXPECT_EQ(ParseToSexp("-b offset 1m"), "(* -1 b offset 1m)");
  EXPECT_EQ(ParseToSexp("rate(x[5m] offset 1h)"), "rate(x[5m] offset 1h)");
  // Keywords are metric names where an operand is expected.
  EXPECT_EQ(ParseToSexp("offset offset 1m"), "offset offset 1m");
  EXPECT_EQ(ParseToSexp("a and and"), "(and a and)");
}

TEST(ParseExprTest, RangeAndOffsetErrors) {
  EXPECT_EQ(ParseError("up[5m][5m]"), "1:7: ranges only allowed for vector selectors");
  EXPECT_EQ(ParseError("(up)[5m]"), "1:5: ranges only allowed for vector selectors");
  EXPECT_EQ(ParseError("rate(up[5m])[5m]"), "1:13: ranges only allowed for vector selectors");
  EXPECT_EQ(ParseError("up offset 5m [5m]"), "1:14: no offset modifiers allowed before range");
  EXPECT_EQ(ParseError("sum(up) offset 5m"),
            "1:1: offset modifier must be preceded by an instant vector selector or range vector "
            "selector or a subquery");
  EXPECT_EQ(ParseError("(up) offset 5m"),
            "1:1: offset modifier must be preceded by an instant vector selector or range vector "
            "selector or a subquery");
  EXPECT_EQ(ParseError("up offset 5m offset 1m"), "1:14: offset may not be set multiple times");
  EXPECT_EQ(ParseError("up[0s]"), "1:4: duration must be greater than 0");
  EXPECT_EQ(ParseError("up offset 0m"), "1:11: duration must be greater than 0");
  EXPECT_EQ(ParseError("up[5m5m]"), "1:4: not a valid duration string: \"5m5m\"");
  EXPECT_EQ(ParseError("up[1s5m]"), "1:4: not a valid duration string: \"1s5m\"");
  EXPECT_EQ(ParseError("up[5]"), "1:4: unexpected number \"5\", expected duration");
  EXPECT_EQ(ParseError("up[5m"), "1:6: unexpected end of input, expected \"]\"");
  EXPECT_EQ(ParseError("up offset"), "1:10: unexpected end of input, expected duration");
  EXPECT_EQ(ParseError("up[300y]"), "1:4: duration out of range");
  EXPECT_EQ(ParseError("-up[5m]"),
            "1:1: unary expression only allowed on expressions of type scalar or instant vector, "
            "got \"range vector\"");
}

TEST(ParseExprTest, FunctionCalls) {
  EXPECT_EQ(ParseToSexp("rate(http_requests_total[5m])"), "rate(http_requests_total[5m])");
  EXPECT_EQ(ParseToSexp("histogram_quantile(0.9, sum by (le) (rate(x[5m])))"),
            "histogram_quantile(0.9, (sum by(le) rate(x[5m])))");
  EXPECT_EQ(ParseToSexp("round(x)"), "round(x)");
  EXPECT_EQ(ParseToSexp("round(x, 0.5)"), "round(x, 0.5)");
  EXPECT_EQ(ParseToSexp("time()"), "time()");
  EXPECT_EQ(ParseToSexp("label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")"),
            "label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")");
  EXPECT_EQ(ParseToSexp("abs(-x) + 1"), "(+ abs((* -1 x)) 1)");
  EXPECT_EQ(ParseToSexp("last_over_time(x[1m])"), "last_over_time(x[1m])");
  EXPECT_EQ(ParseToSexp("day_of_week()"), "day_of_week()");
  // A metric may share a function's name when no '(' follows.
  EXPECT_EQ(ParseToSexp("rate + time()"), "(+ rate time())");
  EXPECT_EQ(TypeOf(*ParseExpr("time()").value()), ValueType::kScalar);
  EXPECT_EQ(TypeOf(*ParseExpr("scalar(x) * 2").value()), ValueType::kScalar);
  EXPECT_EQ(TypeOf(*ParseExpr("vector(1)").value()), ValueType::kInstantVector);
  EXPECT_EQ(TypeOf(*ParseExpr("\"s\"").value()), ValueType::kString);
}

TEST(ParseExprTest, FunctionErrors) {
  EXPECT_EQ(ParseError("rate(up)"),
            "1:6: expected type range vector in call to function \"rate\", got instant vector");
  EXPECT_EQ(ParseError("abs(up[5m])"),
            "1:5: expected type instant vector in call to function \"abs\", got range vector");
  EXPECT_EQ(ParseError("histogram_quantile(up, up)"),
            "1:20: expected type scalar in call to function \"histogram_quantile\", got instant "
            "vector");
  EXPECT_EQ(ParseError("label_replace(up, \"a\", \"b\", \"c\", 1)"),
            "1:34: expected type string in call to function \"label_replace\", got scalar");
  EXPECT_EQ(ParseError("vector(up)"),
            "1:8: expected type scalar in call to function \"vector\", got instant vector");
  EXPECT_EQ(ParseError("rate()"), "1:1: expected 1 argument(s) in call to \"rate\", got 0");
  EXPECT_EQ(ParseError("time(1)"), "1:1: expected 0 argument(s) in call to \"time\", got 1");
  EXPECT_EQ(ParseError("clamp(up, 1)"), "1:1: expected 3 argument(s) in call to \"clamp\", got 2");
  EXPECT_EQ(ParseError("round(up, 1, 2)"),
            "1:1: expected at most 2 argument(s) in call to \"round\", got 3");
  EXPECT_EQ(ParseError("label_join(up, \"a\")"),
            "1:1: expected at least 3 argument(s) in call to \"label_join\", got 2");
  EXPECT_EQ(ParseError("foo(up)"), "1:1: unknown function with name \"foo\"");
  EXPECT_EQ(ParseError("1 + Rate(up[5m])"), "1:5: unknown function with name \"Rate\"");
  EXPECT_EQ(ParseError("abs(up,)"), "1:7: trailing commas not allowed in function call args");
  EXPECT_EQ(ParseError("abs(up"), "1:7: unexpected end of input, expected \",\" or \")\"");
  // A parenthesized argument is reported where its '(' is, as Prometheus does.
  EXPECT_EQ(ParseError("rate((up))"),
            "1:6: expected type range vector in call to function \"rate\", got instant vector");
  // What Prometheus finds only when evaluating, literals let the parser find.
  EXPECT_EQ(ParseError("label_replace(up, \"dst\", \"$1\", \"src\", \"(.*\")"),
            "1:39: invalid regular expression in label_replace(): (.*");
  EXPECT_EQ(ParseError("label_replace(up, \"1dst\", \"$1\", \"src\", \"(.*)\")"),
            "1:19: invalid destination label name in label_replace(): 1dst");
  EXPECT_EQ(ParseError("label_join(up, \"dst\", \",\", \"a\", \"b-c\")"),
            "1:33: invalid source label name in label_join(): b-c");
  EXPECT_EQ(ParseError("label_join(up, \"d-st\", \",\", \"a\")"),
            "1:16: invalid destination label name in label_join(): d-st");
}

TEST(ParseExprTest, Aggregations) {
  EXPECT_EQ(ParseToSexp("sum by (job) (x)"), "(sum by(job) x)");
  EXPECT_EQ(ParseToSexp("sum(x) by (job)"), "(sum by(job) x)");
  EXPECT_EQ(ParseToSexp("SUM BY (job) (x)"), "(sum by(job) x)");
  EXPECT_EQ(ParseToSexp("avg without (a, b,) (x)"), "(avg without(a,b) x)");
  EXPECT_EQ(ParseToSexp("max(x) without ()"), "(max without() x)");
  EXPECT_EQ(ParseToSexp("sum by () (x)"), "(sum by() x)");
  EXPECT_EQ(ParseToSexp("topk(3, x)"), "(topk by() 3 x)");
  EXPECT_EQ(ParseToSexp("bottomk by (job) (1 + 1, x)"), "(bottomk by(job) (+ 1 1) x)");
  EXPECT_EQ(ParseToSexp("count_values(\"v\", x)"), "(count_values by() \"v\" x)");
  EXPECT_EQ(ParseToSexp("quantile(0.9, x) without (i)"), "(quantile without(i) 0.9 x)");
  EXPECT_EQ(ParseToSexp("group(x) + count(y) - stddev(z) / stdvar(w) - min(v)"),
            "(- (- (+ (group by() x) (count by() y)) (/ (stddev by() z) (stdvar by() w))) "
            "(min by() v))");
  // Without '(' or by/without after it, an aggregator's name is a metric name.
  EXPECT_EQ(ParseToSexp("sum + count{a=\"b\"}"), "(+ sum count{a=\"b\"})");
}

TEST(ParseExprTest, AggregationErrors) {
  EXPECT_EQ(ParseError("sum()"), "1:1: no arguments for aggregate expression provided");
  EXPECT_EQ(ParseError("topk(x)"),
            "1:1: wrong number of arguments for aggregate expression provided, expected 2, got 1");
  EXPECT_EQ(ParseError("sum(1, x)"),
            "1:1: wrong number of arguments for aggregate expression provided, expected 1, got 2");
  EXPECT_EQ(ParseError("sum(x[5m])"),
            "1:5: expected type instant vector in aggregation expression, got range vector");
  EXPECT_EQ(ParseError("sum(1)"),
            "1:5: expected type instant vector in aggregation expression, got scalar");
  EXPECT_EQ(ParseError("topk(x, y)"),
            "1:6: expected type scalar in aggregation parameter, got instant vector");
  EXPECT_EQ(ParseError("count_values(1, x)"),
            "1:14: expected type string in aggregation parameter, got scalar");
  EXPECT_EQ(ParseError("count_values(\"a b\", x)"), "1:14: invalid label name \"a b\"");
  EXPECT_EQ(ParseError("sum by (a:b) (x)"), "1:10: unexpected \":\" in label name");
  EXPECT_EQ(ParseError("sum by (job) (x) by (a)"), "1:18: unexpected identifier \"by\"");
  EXPECT_EQ(ParseError("sum by job (x)"), "1:8: unexpected identifier \"job\", expected \"(\"");
  EXPECT_EQ(ParseError("sum without (x)"), "1:16: unexpected end of input, expected \"(\"");
}

TEST(ParseExprTest, SyntaxErrorsWinOverTypeErrors) {
  // Prometheus type-checks only a tree that parsed, so a later syntax error is
  // the one reported.
  EXPECT_EQ(ParseError("rate(up) + )"), "1:12: unexpected \")\"");
  EXPECT_EQ(ParseError("{} + 1 +"), "1:9: unexpected end of input");
  // Of two type errors, the first found is reported.
  EXPECT_EQ(ParseError("rate(a) + abs(b[1m])"),
            "1:6: expected type range vector in call to function \"rate\", got instant vector");
}

TEST(ParseExprTest, StringsAreExpressions) {
  absl::StatusOr<ExprPtr> e = ParseExpr("'it''s'");
  EXPECT_FALSE(e.ok());
  e = ParseExpr("`raw\\n`");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(std::get<StringLiteral>((*e)->node).value, "raw\\n");
}

TEST(ErrorPositionTest, ReadsThePrefixBack) {
  absl::StatusOr<ExprPtr> e = ParseExpr("up\n  + {job=}");
  ASSERT_FALSE(e.ok());
  std::optional<ExprPosition> pos = ErrorPosition(e.status());
  ASSERT_TRUE(pos.has_value());
  EXPECT_EQ(pos->line, 2);
  EXPECT_EQ(pos->column, 10);
  EXPECT_EQ(ErrorMessage(e.status()), "unexpected \"}\", expected label value as a quoted string");

  const absl::Status other = absl::InvalidArgumentError("no position here");
  EXPECT_FALSE(ErrorPosition(other).has_value());
  EXPECT_EQ(ErrorMessage(other), "no position here");
  EXPECT_FALSE(ErrorPosition(absl::OkStatus()).has_value());
}

TEST(SelectorsTest, EverySelectorInTextOrder) {
  absl::StatusOr<ExprPtr> e = ParseExpr(R"(a{x="1"} / (b + 2) > bool c)");
  ASSERT_TRUE(e.ok()) << e.status();
  std::vector<std::string> names;
  for (const VectorSelector* s : Selectors(**e)) names.push_back(s->metric_name);
  EXPECT_THAT(names, ElementsAre("a", "b", "c"));
  EXPECT_TRUE(Selectors(*ParseExpr("1 + 2").value()).empty());
}

TEST(SelectorsTest, FindsSelectorsInsideEveryNodeKind) {
  absl::StatusOr<ExprPtr> e = ParseExpr(
      "topk(scalar(k), rate(a[5m])) / on(job) group_left sum by (job) (b offset 1m) or "
      "absent_over_time(c[1h]) and label_replace(d, \"x\", \"y\", \"z\", \".*\")");
  ASSERT_TRUE(e.ok()) << e.status();
  std::vector<std::string> names;
  for (const VectorSelector* s : Selectors(**e)) names.push_back(s->metric_name);
  EXPECT_THAT(names, ElementsAre("k", "a", "b", "c", "d"));
}

TEST(SelectorReachesTest, LookbackOrRangePlusOffset) {
  auto reaches = [](absl::string_view text) {
    std::vector<std::string> out;
    absl::StatusOr<ExprPtr> e = ParseExpr(text);
    EXPECT_TRUE(e.ok()) << text << ": " << e.status();
    if (!e.ok()) return out;
    for (const SelectorReach& r : SelectorReaches(**e, absl::Minutes(5))) {
      out.push_back(absl::StrCat(r.selector->metric_name, "=", absl::FormatDuration(r.reach)));
    }
    return out;
  };
  EXPECT_THAT(reaches("a"), ElementsAre("a=5m"));
  EXPECT_THAT(reaches("rate(a[10m])"), ElementsAre("a=10m"));
  EXPECT_THAT(reaches("a offset 1h"), ElementsAre("a=1h5m"));
  EXPECT_THAT(reaches("rate(a[5m] offset 1h)"), ElementsAre("a=1h5m"));
  EXPECT_THAT(reaches("a offset -2m"), ElementsAre("a=3m"));
  EXPECT_THAT(reaches("a offset -10m"), ElementsAre("a=0"));
  EXPECT_THAT(reaches("absent_over_time(a[30m]) or b"), ElementsAre("a=30m", "b=5m"));
  EXPECT_THAT(reaches("quantile_over_time(0.5, a[2h]) > on() group_left b offset 30s"),
              ElementsAre("a=2h", "b=5m30s"));
}

TEST(ToStringTest, PrintsPromQL) {
  auto print = [](absl::string_view text) -> std::string {
    absl::StatusOr<ExprPtr> e = ParseExpr(text);
    if (!e.ok()) return std::string(e.status().message());
    return ToString(**e);
  };
  EXPECT_EQ(print(R"(up{job="api",code=~'5..'})"), R"(up{job="api", code=~"5.."})");
  EXPECT_EQ(print(R"({__name__="up"})"), R"({__name__="up"})");
  EXPECT_EQ(print("up{}"), "up");
  EXPECT_EQ(print(R"({a="q\"\\\n\x01é"})"), R"({a="q\"\\\n\x01é"})");
  EXPECT_EQ(print("(1+2)*3"), "(1 + 2) * 3");
  EXPECT_EQ(print("1+(2*3)"), "1 + 2 * 3");
  EXPECT_EQ(print("2^3^2"), "2 ^ 3 ^ 2");
  EXPECT_EQ(print("(2^3)^2"), "(2 ^ 3) ^ 2");
  EXPECT_EQ(print("1-(2-3)"), "1 - (2 - 3)");
  EXPECT_EQ(print("-2^2"), "-1 * 2 ^ 2");
  EXPECT_EQ(print("(-2)^2"), "(-2) ^ 2");
  EXPECT_EQ(print("a >bool 1e6"), "a > bool 1e+06");
  EXPECT_EQ(print("0.5 * -Inf + NaN"), "0.5 * -Inf + NaN");
  EXPECT_EQ(print("rate(x[90m] OFFSET -60s)"), "rate(x[1h30m] offset -1m)");
  EXPECT_EQ(print("sum(x) BY (a,b)"), "sum by (a, b) (x)");
  EXPECT_EQ(print("sum without() (x)"), "sum without () (x)");
  EXPECT_EQ(print("topk (3,x)"), "topk(3, x)");
  EXPECT_EQ(print("a*on(b)group_left c"), "a * on(b) group_left() c");
  EXPECT_EQ(print("a+ignoring(b)c"), "a + ignoring(b) c");
  EXPECT_EQ(print("a>bool on()b"), "a > bool on() b");
  EXPECT_EQ(print("(a or b) and c"), "(a or b) and c");
  EXPECT_EQ(print("a or b and c"), "a or b and c");
  EXPECT_EQ(print("label_join(x,'d',`,`,\"a\")"), "label_join(x, \"d\", \",\", \"a\")");
}

TEST(ToStringTest, ReparsesToTheSameTree) {
  for (absl::string_view text : {
           "1 + 2 * 3 - 4 / 5 % 6",
           "2 ^ 3 ^ 2",
           "(2 ^ 3) ^ 2",
           "-2 ^ 2",
           "(-2) ^ 2",
           "2 ^ -3 ^ 2",
           "2 ^ ((-3) ^ 2)",
           "1 - (2 - (3 - 4))",
           "(a + b) * (c - d) > bool 0.001",
           "-a * -b",
           "a > b == c",
           R"({__name__=~"up|down", job!~`a\d`} != 0)",
           R"(x{a="\xff\n\t\"\\"} <= 1e-07)",
           "1.7976931348623157e308 + 5e-324 + 0.1 + 123456789",
           "rate(a{job=\"x\"}[5m] offset -1h30m) * on(job) group_left(team) b offset 1d",
           "a / ignoring(x) group_right() (b + c)",
           "a * on(x) group_left() (b - c)",
           "sum without (instance) (rate(x[1m])) > bool ignoring(le) y",
           "topk(3, sum by (a, b) (x)) or count_values(\"v\", y) unless z and on() w",
           "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
           "-sum(x) ^ 2",
           "label_replace(up, \"d\", \"$1\", \"s\", \"(.*)\")",
           "a atan2 b ^ c",
           "(a or b) and c",
           "count_values without () (\"v\", x)",
       }) {
    absl::StatusOr<ExprPtr> first = ParseExpr(text);
    ASSERT_TRUE(first.ok()) << text << ": " << first.status();
    const std::string printed = ToString(**first);
    absl::StatusOr<ExprPtr> second = ParseExpr(printed);
    ASSERT_TRUE(second.ok()) << printed << ": " << second.status();
    EXPECT_EQ(Sexp(**second), Sexp(**first)) << text << " printed as " << printed;
    EXPECT_EQ(ToString(**second), printed);
  }
}

TEST(IsComparisonTest, OnlyComparisonOperators) {
  for (BinaryOp op :
       {BinaryOp::kEq, BinaryOp::kNe, BinaryOp::kLt, BinaryOp::kLe, BinaryOp::kGt, BinaryOp::kGe}) {
    EXPECT_TRUE(IsComparison(op));
  }
  for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv,
                      BinaryOp::kMod, BinaryOp::kPow}) {
    EXPECT_FALSE(IsComparison(op));
  }
}

}  // namespace
}  // namespace klaxon
