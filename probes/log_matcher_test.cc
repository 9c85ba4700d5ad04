#include "probes/log_matcher.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re2/re2.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::string_literals;

LogMatchOptions Regex(std::string name, std::string regex, size_t max_label_sets = 100) {
  LogMatchOptions m;
  m.name = std::move(name);
  m.regex = std::move(regex);
  m.max_label_sets = max_label_sets;
  return m;
}

LogMatchOptions Literal(std::string name, std::string literal) {
  LogMatchOptions m;
  m.name = std::move(name);
  m.contains = std::move(literal);
  return m;
}

LogMatcherOptions Options(std::vector<LogMatchOptions> matches) {
  LogMatcherOptions o;
  o.log = "nginx";
  o.matches = std::move(matches);
  return o;
}

std::unique_ptr<LogMatcher> MustCreate(LogMatcherOptions options) {
  auto m = LogMatcher::Create(std::move(options));
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

absl::Status CreateError(LogMatcherOptions options) {
  auto m = LogMatcher::Create(std::move(options));
  return m.ok() ? absl::OkStatus() : m.status();
}

// The value of the series with exactly these labels, or nullopt if absent.
std::optional<double> Value(const LogMatcher& m, std::vector<Label> labels) {
  Labels want(std::move(labels));
  for (const auto& s : m.Snapshot()) {
    if (s.labels == want) return s.value;
  }
  return std::nullopt;
}

std::optional<double> Lines(const LogMatcher& m, absl::string_view counter = kLogLinesTotal) {
  return Value(m, {{"__name__", std::string(counter)}, {"log", "nginx"}});
}

std::optional<double> Matches(const LogMatcher& m, const std::string& match,
                              std::vector<Label> captures = {}) {
  captures.push_back({"__name__", std::string(kLogMatchesTotal)});
  captures.push_back({"log", "nginx"});
  captures.push_back({"match", match});
  return Value(m, std::move(captures));
}

std::optional<double> Dropped(const LogMatcher& m, const std::string& match) {
  return Value(m, {{"__name__", std::string(kLogMatchLabelSetsDroppedTotal)},
                   {"log", "nginx"},
                   {"match", match}});
}

// ---------------------------------------------------------------------------
// Options and errors.

TEST(LogMatcherCreateTest, RejectsBadLogOptions) {
  LogMatcherOptions o = Options({Literal("a", "x")});
  o.log = "";
  EXPECT_THAT(CreateError(o).message(), HasSubstr("log: the name is empty"));
  o = Options({Literal("a", "x")});
  o.max_line_bytes = 0;
  EXPECT_THAT(CreateError(o).message(), HasSubstr("max_line_bytes 0 is out of range"));
  o.max_line_bytes = (size_t{1} << 30) + 1;
  EXPECT_EQ(CreateError(o).code(), absl::StatusCode::kInvalidArgument);
  o.max_line_bytes = size_t{1} << 30;
  EXPECT_TRUE(CreateError(o).ok());
  o = Options({Literal("a", "x")});
  o.max_recent_line_bytes = 3;
  EXPECT_THAT(CreateError(o).message(), HasSubstr("max_recent_line_bytes"));
  o = Options({Literal("a", "x")});
  o.max_label_value_bytes = 0;
  EXPECT_THAT(CreateError(o).message(), HasSubstr("max_label_value_bytes"));
  o = Options({Literal("a", "x")});
  o.recent_lines = 100000;
  EXPECT_THAT(CreateError(o).message(), HasSubstr("recent_lines"));
}

TEST(LogMatcherCreateTest, RejectsBadMatchesNamingThem) {
  struct Case {
    LogMatchOptions match;
    std::string error;
  };
  LogMatchOptions both = Literal("both", "x");
  both.regex = "y";
  std::vector<Case> cases = {
      {Literal("", "x"), "log \"nginx\": a match has an empty name"},
      {both, "log \"nginx\" match \"both\": set either contains or regex, not both"},
      {Literal("neither", ""), "match \"neither\": set contains (a literal) or regex"},
      {Literal("nl", "a\nb"), "match \"nl\": contains holds a newline"},
      {Regex("paren", "(a"), "match \"paren\": regex '(a' is not valid RE2 syntax: missing )"},
      {Regex("backref", R"((a)\1)"), "match \"backref\": regex '(a)\\1' is not valid RE2"},
      {Regex("lookahead", "a(?=b)"), "match \"lookahead\": regex 'a(?=b)' is not valid RE2"},
      {Regex("greek", R"(\p{Greek})"),
       "match \"greek\": regex '\\p{Greek}' is not supported by Hyperscan: Pattern can never "
       "match"},
      {Regex("digit", "(?P<1st>a)"),
       "match \"digit\": named group '1st' is not a valid label name"},
      {Regex("log", "(?P<log>a)"), "named group 'log' is a reserved label name"},
      {Regex("match", "(?P<match>a)"), "named group 'match' is a reserved label name"},
      {Regex("name", "(?P<__name__>a)"), "named group '__name__' is a reserved label name"},
      {Regex("dunder", "(?P<__x>a)"), "named group '__x' is a reserved label name"},
      {Regex("twice", "(?P<a>x)|(?P<a>y)"), "match \"twice\": named group 'a' appears twice"},
      {Regex("zero", "(?P<code>5..)", 0), "match \"zero\": max_label_sets must be at least 1"},
  };
  for (const Case& c : cases) {
    absl::Status status = CreateError(Options({Literal("fine", "ok"), c.match}));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.error;
    EXPECT_THAT(status.message(), HasSubstr(c.error));
  }
  EXPECT_THAT(CreateError(Options({Literal("a", "x"), Regex("a", "y")})).message(),
              HasSubstr("match \"a\": the name is used twice in this log"));
  // Without named groups the label-set limit does not apply.
  EXPECT_TRUE(CreateError(Options({Regex("zero", "5..", 0)})).ok());
}

TEST(LogMatcherCreateTest, LogWithoutMatchesCountsLines) {
  auto m = MustCreate(Options({}));
  m->Consume("a\nb\n");
  EXPECT_EQ(Lines(*m), 2);
  EXPECT_EQ(m->Snapshot().size(), 4u);  // lines, truncated, invalid UTF-8, NUL
}

// ---------------------------------------------------------------------------
// Lines and matches.

TEST(LogMatcherTest, CountsLinesWithAndWithoutFinalNewline) {
  auto m = MustCreate(Options({Literal("a", "a")}));
  m->Consume("");
  EXPECT_EQ(Lines(*m), 0);
  m->Consume("\n");  // one empty line
  EXPECT_EQ(Lines(*m), 1);
  m->Consume("a\n\nb\n");
  EXPECT_EQ(Lines(*m), 4);
  m->Consume("x\na");  // the final piece is a line too
  EXPECT_EQ(Lines(*m), 6);
  EXPECT_EQ(Matches(*m, "a"), 2);
}

TEST(LogMatcherTest, SnapshotHasZeroSeriesBeforeAnyLine) {
  auto m = MustCreate(Options(
      {Literal("timeouts", "upstream timed out"), Regex("http_5xx", R"(" (?P<code>5\d\d) )")}));
  std::vector<std::string> series;
  for (const auto& s : m->Snapshot()) {
    series.push_back(absl::StrCat(s.labels.ToString(), " ", s.value));
  }
  EXPECT_THAT(
      series,
      ElementsAre("log_lines_total{log=\"nginx\"} 0", "log_lines_truncated_total{log=\"nginx\"} 0",
                  "log_lines_invalid_utf8_total{log=\"nginx\"} 0",
                  "log_lines_with_nul_total{log=\"nginx\"} 0",
                  "log_matches_total{log=\"nginx\", match=\"timeouts\"} 0",
                  "log_match_label_sets_dropped_total{log=\"nginx\", match=\"http_5xx\"} 0"));
}

TEST(LogMatcherTest, EachMatchCountsOncePerLineInOnePass) {
  auto m = MustCreate(Options({Literal("post", "POST "), Regex("api", R"(/api/v\d+/)"),
                               Regex("error", R"(" 5\d\d )"), Literal("never", "zzz")}));
  m->Consume(
      "1.2.3.4 - - \"POST /api/v1/orders HTTP/1.1\" 502 0 \"POST /api/v2/\" \" 503 \"\n"
      "1.2.3.4 - - \"GET /api/v1/orders HTTP/1.1\" 200 0\n"
      "POST POST POST\n");
  EXPECT_EQ(Lines(*m), 3);
  EXPECT_EQ(Matches(*m, "post"), 2);
  EXPECT_EQ(Matches(*m, "api"), 2);
  EXPECT_EQ(Matches(*m, "error"), 1);
  EXPECT_EQ(Matches(*m, "never"), 0);
}

TEST(LogMatcherTest, LiteralsAreBytesAndCaseSensitive) {
  auto m = MustCreate(
      Options({Literal("dot", "a.b"), Literal("nul", "x\0y"s), Literal("utf8", "héllo")}));
  m->Consume("a.b axb A.B\nx\0y\nhéllo hello\n"s);
  EXPECT_EQ(Matches(*m, "dot"), 1);
  EXPECT_EQ(Matches(*m, "nul"), 1);
  EXPECT_EQ(Matches(*m, "utf8"), 1);
}

TEST(LogMatcherTest, MatchesStayWithinTheirLine) {
  // `[^"]*` could run across '\n' over a whole buffer; lines are matched one
  // at a time, and a literal never spans two lines.
  auto m = MustCreate(Options({Regex("quoted", R"("[^"]*")"), Literal("ab", "ab"),
                               Regex("anchored", "^b$"), Regex("end", "a$")}));
  m->Consume("\"open\nclose\"\na\nb\n");
  EXPECT_EQ(Matches(*m, "quoted"), 0);
  EXPECT_EQ(Matches(*m, "ab"), 0);
  EXPECT_EQ(Matches(*m, "anchored"), 1);
  EXPECT_EQ(Matches(*m, "end"), 1);
}

TEST(LogMatcherTest, CarriageReturnStaysPartOfTheLine) {
  auto m = MustCreate(Options({Regex("end", "done$"), Regex("crlf", "done\\r$")}));
  m->Consume("done\r\ndone\n");
  EXPECT_EQ(Matches(*m, "end"), 1);
  EXPECT_EQ(Matches(*m, "crlf"), 1);
}

TEST(LogMatcherTest, PatternThatMatchesNothingMatchesEveryLine) {
  auto m = MustCreate(Options({Regex("any", "x*"), Regex("empty", "^$")}));
  m->Consume("\nabc\n\n");
  EXPECT_EQ(Matches(*m, "any"), 3);
  EXPECT_EQ(Matches(*m, "empty"), 2);
}

TEST(LogMatcherTest, KeepsRe2MeaningWhereHyperscanSyntaxDiffers) {
  auto m = MustCreate(Options({
      Regex("space", R"(a\sb)"),          // RE2's \s has no \v (\x0B)
      Regex("nonspace", R"(a\Sb)"),       // so \S takes it
      Regex("class_space", R"(a[\s]b)"),  // also in a class
      Regex("class_nonspace", R"(a[^\S]b)"),
      Regex("vtab", R"(a\vb)"),        // RE2's \v is \x0B alone
      Regex("octal", R"(\101\0102)"),  // octal escapes, never back references
      Regex("ungreedy", "(?U)a+b"),    // Hyperscan has no U flag
      Regex("ungreedy_group", "(?i-U:A+)B"),
      Regex("quoted", R"(\Q(a)\E)"),
      Regex("named", "(?P<x>a)(b)"),
  }));
  m->Consume(
      "a b\na\x0b"
      "b\na\rb\nAB\nA\x08"
      "2\nab\n(a)\n");
  EXPECT_EQ(Matches(*m, "space"), 2);  // "a b", "a\rb"
  EXPECT_EQ(Matches(*m, "nonspace"), 1);
  EXPECT_EQ(Matches(*m, "class_space"), 2);
  EXPECT_EQ(Matches(*m, "class_nonspace"), 2);
  EXPECT_EQ(Matches(*m, "vtab"), 1);
  EXPECT_EQ(Matches(*m, "octal"), 1);
  EXPECT_EQ(Matches(*m, "ungreedy"), 1);
  EXPECT_EQ(Matches(*m, "ungreedy_group"), 1);  // B stays case-sensitive
  EXPECT_EQ(Matches(*m, "quoted"), 1);
  EXPECT_EQ(Matches(*m, "named", {{"x", "a"}}), 1);
}

// Every line counts in a match as RE2 (bytes, Latin-1) says it matches, for
// patterns drawn from RE2's syntax and lines drawn from a small alphabet.
TEST(LogMatcherTest, AgreesWithRe2OnGeneratedPatterns) {
  std::mt19937 rng(7);
  auto pick = [&](const std::vector<std::string>& from) { return from[rng() % from.size()]; };
  const std::vector<std::string> atoms = {
      "a",       "b",       "c",         " ",         ".",           R"(\d)",
      R"(\D)",   R"(\w)",   R"(\W)",     R"(\s)",     R"(\S)",       R"(\v)",
      "[ab]",    "[^a]",    R"([\d\s])", R"([^\S])",  "[[:alpha:]]", "[[:^space:]]",
      R"(\x00)", R"(\xff)", R"(\x{e9})", R"(\pL)",    R"(\PN)",      R"(\C)",
      R"(\b)",   R"(\B)",   R"(\012)",   R"(\Q.*\E)", "(?i:A)",      "(?s:.)",
      "[a-c]",   "[]a]",    R"(\.)",     "\xc3\xa9"};
  const std::vector<std::string> quantifiers = {"",    "",      "",   "*",  "+",   "?",
                                                "{2}", "{1,3}", "*?", "+?", "{2,}"};
  std::function<std::string(int)> gen = [&](int depth) {
    std::string out;
    int parts = 1 + rng() % 3;
    for (int i = 0; i < parts; ++i) {
      std::string atom;
      switch (depth > 0 ? rng() % 6 : 0) {
        case 1:
          atom = absl::StrCat("(", gen(depth - 1), ")");
          break;
        case 2:
          atom = absl::StrCat("(?:", gen(depth - 1), "|", gen(depth - 1), ")");
          break;
        case 3:
          atom = absl::StrCat("(?U:", gen(depth - 1), ")");
          break;
        default:
          atom = pick(atoms);
      }
      bool assertion = atom == R"(\b)" || atom == R"(\B)";
      out += atom + (assertion ? "" : pick(quantifiers));
    }
    return out;
  };
  const std::string alphabet =
      "abcAB .\t\x0b\r\x00\xe9\xc3\xa9\xff\x80"
      "019_"s;
  std::vector<std::string> lines;
  for (int i = 0; i < 150; ++i) {
    std::string line;
    int len = rng() % 12;
    for (int k = 0; k < len; ++k) line += alphabet[rng() % alphabet.size()];
    lines.push_back(line);
  }
  std::string text;
  for (const auto& l : lines) text += l + "\n";

  RE2::Options re_options;
  re_options.set_encoding(RE2::Options::EncodingLatin1);
  re_options.set_log_errors(false);
  int checked = 0;
  for (int i = 0; i < 300; ++i) {
    // Hyperscan takes anchors only at the ends.
    std::string pattern =
        absl::StrCat(pick({"", "", "^", R"(\A)"}), gen(2), pick({"", "", "$", R"(\z)"}));
    RE2 re(pattern, re_options);
    if (!re.ok()) continue;
    auto m = LogMatcher::Create(Options({Regex("p", pattern)}));
    if (!m.ok()) continue;  // Hyperscan refuses some patterns, e.g. `a^b`; Create tells.
    (*m)->Consume(text);
    int expected = 0;
    for (const auto& l : lines) expected += RE2::PartialMatch(l, re);
    EXPECT_EQ(Matches(**m, "p"), expected) << "pattern " << pattern;
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

// ---------------------------------------------------------------------------
// Captures and the label-set limit.

TEST(LogMatcherTest, NamedGroupsBecomeLabels) {
  auto m =
      MustCreate(Options({Regex("http", R"(" (?P<code>\d\d\d) (?:\d+) "(?P<method>GET|POST)?)"),
                          Regex("status", R"((x)?(y)?(z)?(?P<status>\d{3}))")}));
  m->Consume(
      "\" 503 12 \"GET\n"
      "\" 503 0 \"GET\n"
      "\" 200 1 \"POST\n"
      "\" 404 1 \"HEAD\n"  // the method group matches nothing: its label is left out
      "no status\n");
  EXPECT_EQ(Matches(*m, "http", {{"code", "503"}, {"method", "GET"}}), 2);
  EXPECT_EQ(Matches(*m, "http", {{"code", "200"}, {"method", "POST"}}), 1);
  EXPECT_EQ(Matches(*m, "http", {{"code", "404"}}), 1);
  EXPECT_EQ(Matches(*m, "http"), std::nullopt);  // no label set without a code
  EXPECT_EQ(Dropped(*m, "http"), 0);
  EXPECT_EQ(Matches(*m, "status", {{"status", "503"}}), 2);
  EXPECT_EQ(Matches(*m, "status", {{"status", "404"}}), 1);
}

TEST(LogMatcherTest, LabelSetsOverTheLimitAreDroppedAndCounted) {
  auto m = MustCreate(Options({Regex("user", "user=(?P<user>\\w+)", 2)}));
  m->Consume("user=ann\nuser=bob\nuser=cy\nuser=ann\nuser=dee\nuser=bob\n");
  EXPECT_EQ(Matches(*m, "user", {{"user", "ann"}}), 2);
  EXPECT_EQ(Matches(*m, "user", {{"user", "bob"}}), 2);
  EXPECT_EQ(Matches(*m, "user", {{"user", "cy"}}), std::nullopt);
  EXPECT_EQ(Matches(*m, "user", {{"user", "dee"}}), std::nullopt);
  EXPECT_EQ(Dropped(*m, "user"), 2);
}

TEST(LogMatcherTest, CapturedValuesAreValidUtf8AndCut) {
  LogMatcherOptions o = Options({Regex("v", "v=(?P<v>\\S+)")});
  o.max_label_value_bytes = 16;
  auto m = MustCreate(o);
  m->Consume("v=ok\xff\xfe\nv=0123456789abcdefXYZ\nv=0123456789abcde\xc3\xa9\n");
  EXPECT_EQ(Matches(*m, "v", {{"v", "ok\uFFFD\uFFFD"}}), 1);
  EXPECT_EQ(Matches(*m, "v", {{"v", "0123456789abcdef"}}), 1);
  // Cut before a character that would not fit whole.
  EXPECT_EQ(Matches(*m, "v", {{"v", "0123456789abcde"}}), 1);
}

// ---------------------------------------------------------------------------
// What is handled specially.

TEST(LogMatcherTest, LongLinesAreMatchedOnTheirStartAndCounted) {
  LogMatcherOptions o =
      Options({Literal("head", "HEAD"), Literal("tail", "TAIL"), Regex("rhead", "^HEAD"),
               Regex("rtail", "TAIL"), Regex("end", "x$")});
  o.max_line_bytes = 100;
  auto m = MustCreate(o);
  std::string long_line = "HEAD" + std::string(200, 'x') + "TAIL";
  m->Consume("short TAIL\n" + long_line + "\n" + std::string(100, 'x') + "\n");
  EXPECT_EQ(Lines(*m), 3);
  EXPECT_EQ(Lines(*m, kLogLinesTruncatedTotal), 1);
  EXPECT_EQ(Matches(*m, "head"), 1);
  EXPECT_EQ(Matches(*m, "rhead"), 1);
  EXPECT_EQ(Matches(*m, "tail"), 1);  // only the short line
  EXPECT_EQ(Matches(*m, "rtail"), 1);
  EXPECT_EQ(Matches(*m, "end"), 2);  // the cut line now ends in x, and the 100-byte one
}

TEST(LogMatcherTest, MultiMegabyteLinesAreHandled) {
  auto m = MustCreate(
      Options({Literal("head", "HEAD"), Literal("tail", "TAIL"), Regex("digits", R"(\d{3})")}));
  std::string huge = "HEAD" + std::string(5 << 20, 'y') + "TAIL";
  m->Consume("a 123\n" + huge + "\nb 456\n" + huge);  // the last one without '\n'
  EXPECT_EQ(Lines(*m), 4);
  EXPECT_EQ(Lines(*m, kLogLinesTruncatedTotal), 2);
  EXPECT_EQ(Matches(*m, "head"), 2);
  EXPECT_EQ(Matches(*m, "tail"), 0);
  EXPECT_EQ(Matches(*m, "digits"), 2);
}

TEST(LogMatcherTest, LineLongerThanABlockIsWholeWhenAllowed) {
  LogMatcherOptions o = Options({Literal("tail", "TAIL"), Regex("rtail", "TAIL$")});
  o.max_line_bytes = 1 << 20;
  auto m = MustCreate(o);
  std::string line = std::string(600 << 10, 'z') + "TAIL";
  m->Consume("a\n" + line + "\n" + line + "\nTAIL");
  EXPECT_EQ(Lines(*m), 4);
  EXPECT_EQ(Lines(*m, kLogLinesTruncatedTotal), 0);
  EXPECT_EQ(Matches(*m, "tail"), 3);
  EXPECT_EQ(Matches(*m, "rtail"), 3);
}

TEST(LogMatcherTest, ManyLinesAcrossBlocksCountExactly) {
  // ~2.7 MB: lines of varied length cross every internal block boundary.
  auto m = MustCreate(Options({Literal("lit", "needle"), Regex("re", "needle \\d+$")}));
  std::string text;
  int expected = 0;
  std::mt19937 rng(1);
  for (int i = 0; i < 30000; ++i) {
    text += std::string(rng() % 150, '.');
    if (i % 7 == 0) {
      text += absl::StrCat("needle ", i);
      ++expected;
    }
    text += '\n';
  }
  m->Consume(text);
  EXPECT_EQ(Lines(*m), 30000);
  EXPECT_EQ(Matches(*m, "lit"), expected);
  EXPECT_EQ(Matches(*m, "re"), expected);
}

// Up to 16 literals are found by one engine, more by another (Hyperscan);
// both count a line once per literal, over the first max_line_bytes only, and
// keep the same recent lines.
TEST(LogMatcherTest, LiteralsCountAlikeWhateverTheirNumber) {
  for (size_t count : {3, 9, 16, 17, 40}) {
    std::mt19937 rng(static_cast<unsigned>(count));
    const std::string alphabet = "ab c/\"";
    auto random_string = [&](size_t n) {
      std::string s;
      for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
      return s;
    };
    std::vector<LogMatchOptions> matches;
    std::vector<std::string> literals;
    for (size_t i = 0; i < count; ++i) {
      literals.push_back(random_string(2 + rng() % 6));
      matches.push_back(Literal(absl::StrCat("l", i), literals.back()));
    }
    LogMatcherOptions options = Options(matches);
    options.max_line_bytes = 100;
    auto m = MustCreate(options);
    ASSERT_NE(m, nullptr);
    // ~1 MB: several blocks, some lines over max_line_bytes.
    std::vector<std::string> lines;
    std::string text;
    for (int i = 0; i < 10000; ++i) {
      lines.push_back(random_string(rng() % 10 == 0 ? 100 + rng() % 100 : rng() % 100));
      text += lines.back() + "\n";
    }
    m->Consume(text);
    EXPECT_EQ(Lines(*m, kLogLinesTruncatedTotal),
              std::count_if(lines.begin(), lines.end(),
                            [](const std::string& l) { return l.size() > 100; }));
    for (size_t i = 0; i < count; ++i) {
      std::vector<std::string> matching;
      for (const std::string& line : lines) {
        std::string seen = line.substr(0, 100);
        if (seen.find(literals[i]) != std::string::npos) matching.push_back(seen);
      }
      const std::string name = absl::StrCat("l", i);
      EXPECT_EQ(Matches(*m, name), matching.size()) << count << " literals, " << literals[i];
      matching.erase(matching.begin(), matching.end() - std::min<size_t>(matching.size(), 5));
      EXPECT_EQ(m->RecentLines(name), matching) << count << " literals, " << literals[i];
    }
  }
}

TEST(LogMatcherTest, NulAndInvalidUtf8AreCountedAndStillMatched) {
  auto m = MustCreate(Options({Literal("err", "error"), Regex("ff", R"(\xff)")}));
  std::string text = "fine\n";
  text += "nul\0 error\n"s;
  text += "bad \xff error\n";
  text += "overlong \xc0\xaf\n";
  text += "surrogate \xed\xa0\x80\n";
  text += "cut \xe2\x82\n";
  text += "ok \xe2\x82\xac \xf0\x9f\x99\x82\n";
  text += std::string(300, 'a') + "\xff" + std::string(300, 'a') + "\n";  // inside the vector loop
  text += "\0\xff\n"s;                                                    // both
  m->Consume(text);
  EXPECT_EQ(Lines(*m), 9);
  EXPECT_EQ(Lines(*m, kLogLinesWithNulTotal), 2);
  EXPECT_EQ(Lines(*m, kLogLinesInvalidUtf8Total), 6);
  EXPECT_EQ(Matches(*m, "err"), 2);
  EXPECT_EQ(Matches(*m, "ff"), 3);
}

// ---------------------------------------------------------------------------
// Recent lines.

TEST(LogMatcherTest, RecentLinesKeepTheNewestMatchingLines) {
  LogMatcherOptions o = Options({Literal("err", "error"), Regex("warn", "warn")});
  o.recent_lines = 3;
  auto m = MustCreate(o);
  m->Consume("error 1\nwarn 1\nerror 2\n");
  EXPECT_THAT(m->RecentLines("err"), ElementsAre("error 1", "error 2"));
  m->Consume("error 3\nerror 4\nerror 5\nok\n");
  EXPECT_THAT(m->RecentLines("err"), ElementsAre("error 3", "error 4", "error 5"));
  m->Consume("error 6");
  EXPECT_THAT(m->RecentLines("err"), ElementsAre("error 4", "error 5", "error 6"));
  EXPECT_THAT(m->RecentLines("warn"), ElementsAre("warn 1"));
  EXPECT_THAT(m->RecentLines("unknown"), IsEmpty());
}

TEST(LogMatcherTest, RecentLinesAreValidUtf8AndCut) {
  LogMatcherOptions o = Options({Literal("err", "error")});
  o.max_recent_line_bytes = 20;
  auto m = MustCreate(o);
  m->Consume(
      "error \xff\nerror 0123456789abcdef\nerror 012345678\xc3\xa9 tail\n"
      "error 0123456789\xc3\xa9 tail\n");
  EXPECT_THAT(m->RecentLines("err"),
              ElementsAre("error \uFFFD", "error 0123456789a\u2026", "error 012345678\u00e9\u2026",
                          "error 0123456789\u2026"));  // é would not fit with the ellipsis
}

TEST(LogMatcherTest, NoRecentLinesWhenNoneAreKept) {
  LogMatcherOptions o = Options({Literal("err", "error")});
  o.recent_lines = 0;
  auto m = MustCreate(o);
  m->Consume("error\n");
  EXPECT_EQ(Matches(*m, "err"), 1);
  EXPECT_THAT(m->RecentLines("err"), IsEmpty());
}

// ---------------------------------------------------------------------------
// Saved state.

std::vector<std::string> Render(const LogMatcher& m) {
  std::vector<std::string> out;
  for (const auto& s : m.Snapshot()) out.push_back(absl::StrCat(s.labels.ToString(), " ", s.value));
  return out;
}

TEST(LogMatcherStateTest, RestoreContinuesTheCounters) {
  LogMatcherOptions o = Options({Literal("err", "error"), Regex("code", "code=(?P<code>\\d+)", 2)});
  o.max_line_bytes = 16;
  auto a = MustCreate(o);
  a->Consume("error code=500\ncode=501\ncode=502 \0\ncode=503\n"s);
  a->Consume("error \xff and a very long line\n");
  std::string state = a->SaveState();

  auto b = MustCreate(o);
  ASSERT_TRUE(b->RestoreState(state).ok());
  EXPECT_EQ(Render(*b), Render(*a));
  a->Consume("code=500\nerror\n");
  b->Consume("code=500\nerror\n");
  EXPECT_EQ(Render(*b), Render(*a));
  EXPECT_EQ(Matches(*b, "code", {{"code", "500"}}), 2);
  EXPECT_EQ(Dropped(*b, "code"), 2);
  EXPECT_EQ(Lines(*b), 7);
  EXPECT_EQ(Lines(*b, kLogLinesTruncatedTotal), 1);
  EXPECT_EQ(Lines(*b, kLogLinesWithNulTotal), 1);
  EXPECT_EQ(Lines(*b, kLogLinesInvalidUtf8Total), 1);
}

TEST(LogMatcherStateTest, RestoreFollowsTheCurrentConfiguration) {
  auto a = MustCreate(Options({Literal("gone", "x"), Literal("kept", "x"),
                               Regex("regrouped", "(?P<a>x)"), Regex("sets", "(?P<v>\\w)")}));
  a->Consume("x\ny\nz\n");
  auto b = MustCreate(Options({Literal("kept", "x"), Literal("new", "x"),
                               Regex("regrouped", "(?P<b>x)"), Regex("sets", "(?P<v>\\w)", 1)}));
  ASSERT_TRUE(b->RestoreState(a->SaveState()).ok());
  EXPECT_EQ(Lines(*b), 3);
  EXPECT_EQ(Matches(*b, "kept"), 1);
  EXPECT_EQ(Matches(*b, "new"), 0);
  EXPECT_EQ(Matches(*b, "regrouped", {{"b", "x"}}), std::nullopt);  // starts from zero
  int sets = 0;
  for (const auto& s : b->Snapshot()) {
    sets += s.labels.Get("match") == "sets" && s.labels.MetricName() == kLogMatchesTotal;
  }
  EXPECT_EQ(sets, 1);  // within the new limit
}

TEST(LogMatcherStateTest, RejectsGarbageAndKeepsTheCounters) {
  auto m = MustCreate(Options({Literal("err", "error"), Regex("c", "(?P<c>\\d)")}));
  m->Consume("error 1\nerror 2\n");
  const std::string state = m->SaveState();
  const std::vector<std::string> before = Render(*m);

  auto rejects = [&](absl::string_view bad) {
    absl::Status s = m->RestoreState(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << absl::CHexEscape(bad);
    EXPECT_EQ(Render(*m), before);
  };
  rejects("");
  rejects("garbage");
  rejects(std::string(1000, '\xff'));
  for (size_t len = 0; len < state.size(); ++len) rejects(state.substr(0, len));
  for (size_t i = 0; i < state.size(); ++i) {
    std::string flipped = state;
    flipped[i] ^= 0x20;
    rejects(flipped);
  }
  rejects(state + "x");

  LogMatcherOptions other = Options({Literal("err", "error")});
  other.log = "syslog";
  auto o = MustCreate(other);
  absl::Status s = m->RestoreState(o->SaveState());
  EXPECT_THAT(s.message(), HasSubstr("for log \"syslog\""));
  EXPECT_TRUE(m->RestoreState(state).ok());
  EXPECT_EQ(Render(*m), before);
}

}  // namespace
}  // namespace klaxon
