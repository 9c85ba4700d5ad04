#include "rules/expr.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rules/internal/format.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;

// The tree with every binary node parenthesized: "(+ 1 (* 2 3))".
std::string Sexp(const Expr& e) {
  if (const auto* n = std::get_if<NumberLiteral>(&e.node)) {
    return rules_internal::FormatFloat(n->value);
  }
  if (std::holds_alternative<VectorSelector>(e.node)) return ToString(e);
  const auto& b = std::get<BinaryExpr>(e.node);
  static constexpr const char* kOps[] = {"+",  "-",  "*", "/",  "%", "^",
                                         "==", "!=", "<", "<=", ">", ">="};
  return absl::StrCat("(", kOps[static_cast<int>(b.op)], b.return_bool ? " bool " : " ",
                      Sexp(*b.lhs), " ", Sexp(*b.rhs), ")");
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
  EXPECT_EQ(ParseError("1 + 'a'"), "1:5: unexpected string 'a'");
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
  EXPECT_EQ(ParseError("1 + bool 2"),
            "1:5: bool modifier can only be used on comparison operators");
}

TEST(ParseExprTest, ErrorsCountLinesAndCharacters) {
  EXPECT_EQ(ParseError("up\n  > 0 and\n  down"), "2:7: operator \"and\" is not supported yet");
  EXPECT_EQ(ParseError("up{job=\"a\"}\n+\n  {job=}"),
            "3:8: unexpected \"}\", expected label value as a quoted string");
  // Columns count characters: "é" is two bytes but one column.
  EXPECT_EQ(ParseError(R"({a="é"} $)"), "1:9: unknown operator \"$\"");
}

TEST(ParseExprTest, NotYetSupportedConstructsSaySo) {
  EXPECT_EQ(ParseError("rate(errors[5m])"), "1:1: function \"rate\" is not supported yet");
  EXPECT_EQ(ParseError("sum(up)"), "1:1: aggregation \"sum\" is not supported yet");
  EXPECT_EQ(ParseError("sum by (job) (up)"), "1:1: aggregation \"sum\" is not supported yet");
  EXPECT_EQ(ParseError("up[5m]"), "1:3: range selectors are not supported yet");
  EXPECT_EQ(ParseError("up offset 5m"), "1:4: the offset modifier is not supported yet");
  EXPECT_EQ(ParseError("up @ 100"), "1:4: the @ modifier is not supported yet");
  EXPECT_EQ(ParseError("a / on(job) b"),
            "1:5: vector matching modifier \"on\" is not supported yet; matching is on all labels");
  EXPECT_EQ(ParseError("a or b"), "1:3: operator \"or\" is not supported yet");
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
