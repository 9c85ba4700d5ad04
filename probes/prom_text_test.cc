#include "probes/prom_text.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

constexpr ExpositionFormat kText = ExpositionFormat::kPrometheusText;
constexpr ExpositionFormat kOm = ExpositionFormat::kOpenMetrics;

// A sample copied out of the callback, where its views are still valid.
struct Parsed {
  std::string series_text;
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  std::optional<int64_t> timestamp_ms;
  MetricType type = MetricType::kUntyped;
};

struct Result {
  absl::Status status;
  std::vector<Parsed> samples;
  std::vector<std::string> metadata;  // "HELP name text", "TYPE name counter", ...
};

Result ParseWith(ExpositionParser& parser, absl::string_view body, ExpositionFormat format) {
  Result result;
  result.status = parser.Parse(
      body, format,
      [&](const ExpositionSample& s) {
        Parsed p;
        p.series_text = std::string(s.series_text);
        p.name = std::string(s.name);
        for (const auto& [name, value] : s.labels) p.labels.emplace_back(name, value);
        p.value = s.value;
        p.timestamp_ms = s.timestamp_ms;
        p.type = s.type;
        result.samples.push_back(std::move(p));
      },
      [&](const ExpositionMetadata& m) {
        const char* kind = m.kind == ExpositionMetadata::Kind::kHelp   ? "HELP"
                           : m.kind == ExpositionMetadata::Kind::kType ? "TYPE"
                                                                       : "UNIT";
        result.metadata.push_back(absl::StrCat(kind, " ", m.family, " ", m.text));
      });
  return result;
}

Result Parse(absl::string_view body, ExpositionFormat format = kText) {
  ExpositionParser parser;
  return ParseWith(parser, body, format);
}

// The error message of a body that must fail, or a failure when it parses.
std::string Error(absl::string_view body, ExpositionFormat format = kText) {
  const Result result = Parse(body, format);
  if (result.status.ok()) {
    ADD_FAILURE() << "parsed without error: " << body;
    return "";
  }
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status.message());
}

TEST(PromTextTest, NodeExporterLikeBody) {
  const Result r = Parse(
      "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
      "# TYPE node_cpu_seconds_total counter\n"
      "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12345.67\n"
      "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 89.5 1700000000123\n"
      "# HELP node_load1 1m load average.\n"
      "# TYPE node_load1 gauge\n"
      "node_load1 0.42\n"
      "something_else 7\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 4u);
  EXPECT_EQ(r.samples[0].name, "node_cpu_seconds_total");
  EXPECT_EQ(r.samples[0].series_text, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}");
  EXPECT_THAT(r.samples[0].labels, ElementsAre(Pair("cpu", "0"), Pair("mode", "idle")));
  EXPECT_EQ(r.samples[0].value, 12345.67);
  EXPECT_EQ(r.samples[0].timestamp_ms, std::nullopt);
  EXPECT_EQ(r.samples[0].type, MetricType::kCounter);
  EXPECT_EQ(r.samples[1].timestamp_ms, 1700000000123);
  EXPECT_EQ(r.samples[2].series_text, "node_load1");
  EXPECT_TRUE(r.samples[2].labels.empty());
  EXPECT_EQ(r.samples[2].type, MetricType::kGauge);
  EXPECT_EQ(r.samples[3].type, MetricType::kUntyped) << "not in node_load1's family";
  EXPECT_THAT(r.metadata,
              ElementsAre("HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.",
                          "TYPE node_cpu_seconds_total counter", "HELP node_load1 1m load average.",
                          "TYPE node_load1 gauge"));
}

TEST(PromTextTest, TypesFollowTheFamilySuffixes) {
  const Result r = Parse(
      "# TYPE rpc histogram\n"
      "rpc_bucket{le=\"0.1\"} 1\nrpc_bucket{le=\"+Inf\"} 2\nrpc_sum 0.3\nrpc_count 2\n"
      "rpc_total 1\n"
      "# TYPE lat summary\nlat{quantile=\"0.5\"} 1\nlat_sum 1\nlat_count 1\nlat_bucket 1\n"
      "# TYPE req counter\nreq_total 1\nreq 2\n"
      "# TYPE old untyped\nold 1\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::vector<MetricType> types;
  for (const Parsed& p : r.samples) types.push_back(p.type);
  using T = MetricType;
  EXPECT_THAT(types, ElementsAre(T::kHistogram, T::kHistogram, T::kHistogram, T::kHistogram,
                                 T::kUntyped, T::kSummary, T::kSummary, T::kSummary, T::kUntyped,
                                 T::kCounter, T::kCounter, T::kUntyped));
}

TEST(PromTextTest, SpecialValues) {
  const Result r = Parse(
      "a NaN\nb nan\nc +Inf\nd -Inf\ne Inf\nf inf\ng -infinity\nh 1e3\ni -1.5E-3\nj .5\nk 5.\n"
      "l +1\nm 1e-400\nn -0\no 00012\np 1.7976931348623157e308\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 16u);
  EXPECT_TRUE(std::isnan(r.samples[0].value));
  EXPECT_TRUE(std::isnan(r.samples[1].value));
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(r.samples[2].value, kInf);
  EXPECT_EQ(r.samples[3].value, -kInf);
  EXPECT_EQ(r.samples[4].value, kInf);
  EXPECT_EQ(r.samples[5].value, kInf);
  EXPECT_EQ(r.samples[6].value, -kInf);
  EXPECT_EQ(r.samples[7].value, 1000);
  EXPECT_EQ(r.samples[8].value, -0.0015);
  EXPECT_EQ(r.samples[9].value, 0.5);
  EXPECT_EQ(r.samples[10].value, 5);
  EXPECT_EQ(r.samples[11].value, 1);
  EXPECT_EQ(r.samples[12].value, 0) << "underflow rounds to zero, as Go's ParseFloat";
  EXPECT_TRUE(std::signbit(r.samples[13].value));
  EXPECT_EQ(r.samples[14].value, 12);
  EXPECT_EQ(r.samples[15].value, std::numeric_limits<double>::max());
}

TEST(PromTextTest, ValuesRoundExactlyAsFromChars) {
  // Every value, in the spellings exporters use, must give the same double
  // bits as the correctly rounded std::from_chars.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  std::string body;
  std::vector<std::string> tokens;
  for (int i = 0; i < 20'000; ++i) {
    const double magnitude = std::pow(10.0, static_cast<int>(rng() % 40) - 20);
    const double v = unit(rng) * magnitude;
    const char* formats[] = {"%.17g", "%.10g", "%.3f", "%e", "%.15e", "%.0f", "%.20f"};
    tokens.push_back(absl::StrFormat(formats[i % 7], v));
    if (i % 5 == 0) tokens.back() = absl::StrCat(rng() % (uint64_t{1} << 60));
    if (i % 11 == 0) tokens.back() = absl::StrCat("-", tokens.back());
    absl::StrAppend(&body, "m ", tokens.back(), "\n");
  }
  const Result r = Parse(body);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    double expected = 0;
    const std::string& t = tokens[i];
    std::from_chars(t.data(), t.data() + t.size(), expected);
    ASSERT_EQ(std::bit_cast<uint64_t>(r.samples[i].value), std::bit_cast<uint64_t>(expected)) << t;
  }
}

TEST(PromTextTest, InvalidValues) {
  EXPECT_EQ(Error("foo 1.2.3\n"), "line 1, column 5: invalid value \"1.2.3\"");
  EXPECT_EQ(Error("foo 0x1p3\n"),
            "line 1, column 5: hexadecimal values are not allowed: \"0x1p3\"");
  EXPECT_EQ(Error("foo 0x10\n"), "line 1, column 5: hexadecimal values are not allowed: \"0x10\"");
  EXPECT_EQ(Error("foo -0X1\n"), "line 1, column 5: hexadecimal values are not allowed: \"-0X1\"");
  EXPECT_EQ(Error("foo x\n"), "line 1, column 5: invalid value \"x\"");
  EXPECT_EQ(Error("foo 1_000\n"), "line 1, column 5: invalid value \"1_000\"");
  EXPECT_EQ(Error("foo 1e400\n"), "line 1, column 5: value out of range \"1e400\"");
  EXPECT_EQ(Error("foo -1e400\n"), "line 1, column 5: value out of range \"-1e400\"");
  EXPECT_EQ(Error("foo +nan\n"), "line 1, column 5: invalid value \"+nan\"");
  EXPECT_EQ(Error("foo nan(1)\n"), "line 1, column 5: invalid value \"nan(1)\"");
  EXPECT_EQ(Error("foo +-1\n"), "line 1, column 5: invalid value \"+-1\"");
  EXPECT_EQ(Error("foo 1e\n"), "line 1, column 5: invalid value \"1e\"");
  EXPECT_EQ(Error("foo .\n"), "line 1, column 5: invalid value \".\"");
  EXPECT_EQ(Error("foo infinit\n"), "line 1, column 5: invalid value \"infinit\"");
}

TEST(PromTextTest, LabelValueEscapes) {
  const Result r = Parse(
      "foo{a=\"back\\\\slash\",b=\"quote\\\"d\",c=\"line\\nbreak\",d=\"tab\\t\",e=\"plain\"} 1\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_THAT(r.samples[0].labels,
              ElementsAre(Pair("a", "back\\slash"), Pair("b", "quote\"d"), Pair("c", "line\nbreak"),
                          Pair("d", "tab\\t"),  // unknown escapes stay, as in Prometheus
                          Pair("e", "plain")));
  EXPECT_EQ(r.samples[0].series_text,
            "foo{a=\"back\\\\slash\",b=\"quote\\\"d\",c=\"line\\nbreak\",d=\"tab\\t\","
            "e=\"plain\"}");
}

TEST(PromTextTest, Utf8LabelValuesAndHelp) {
  const Result r = Parse("# HELP temp Température\ntemp{city=\"Zürich\",emoji=\"🔥\"} 21\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.samples[0].labels, ElementsAre(Pair("city", "Zürich"), Pair("emoji", "🔥")));
  EXPECT_EQ(Error("foo{a=\"\xff\"} 1\n"),
            "line 1, column 8: invalid UTF-8 in the value of label \"a\"");
  EXPECT_EQ(Error("foo{a=\"\xed\xa0\x80\"} 1\n"),
            "line 1, column 8: invalid UTF-8 in the value of label \"a\"")
      << "surrogates are not UTF-8";
  EXPECT_EQ(Error("foo{a=\"\xc3\"} 1\n"),
            "line 1, column 8: invalid UTF-8 in the value of label \"a\"");
  EXPECT_EQ(Error("# HELP foo bad \xc0\xaf\n"), "line 1, column 16: help text is not valid UTF-8");
}

TEST(PromTextTest, HelpUnescaping) {
  const Result text = Parse("# HELP foo a\\\\b\\nc \\\"q\\\" \\t\n");
  ASSERT_TRUE(text.status.ok()) << text.status;
  // The text format unescapes only \\ and \n in HELP.
  EXPECT_THAT(text.metadata, ElementsAre("HELP foo a\\b\nc \\\"q\\\" \\t"));
  const Result om = Parse("# HELP foo a\\\\b\\nc \\\"q\\\"\n# EOF\n", kOm);
  ASSERT_TRUE(om.status.ok()) << om.status;
  EXPECT_THAT(om.metadata, ElementsAre("HELP foo a\\b\nc \"q\""));
}

TEST(PromTextTest, LabelBlockShapes) {
  const Result r = Parse(
      "a{} 1\n"
      "b{x=\"1\",} 2\n"
      "c { x = \"1\" , y = \"2\" , } 3\n"
      "d{x=\"1\" y=\"2\"} 4\n"  // Prometheus's text parser takes a missing comma
      "e{x=\"1\"}5\n"
      "\tf\t6\t123\t\n"
      "g{x=\"\"} 7\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 7u);
  EXPECT_EQ(r.samples[0].series_text, "a{}");
  EXPECT_TRUE(r.samples[0].labels.empty());
  EXPECT_THAT(r.samples[1].labels, ElementsAre(Pair("x", "1")));
  EXPECT_EQ(r.samples[2].series_text, "c { x = \"1\" , y = \"2\" , }");
  EXPECT_THAT(r.samples[2].labels, ElementsAre(Pair("x", "1"), Pair("y", "2")));
  EXPECT_THAT(r.samples[3].labels, ElementsAre(Pair("x", "1"), Pair("y", "2")));
  EXPECT_EQ(r.samples[4].value, 5);
  EXPECT_EQ(r.samples[5].name, "f");
  EXPECT_EQ(r.samples[5].timestamp_ms, 123);
  EXPECT_THAT(r.samples[6].labels, ElementsAre(Pair("x", "")));
}

TEST(PromTextTest, NamesAndLabelNames) {
  const Result r = Parse("ns:rule_name:rate5m{_x=\"1\",A9=\"2\"} 1\n_private 2\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.samples[0].name, "ns:rule_name:rate5m");
  EXPECT_EQ(r.samples[1].name, "_private");
  EXPECT_EQ(Error("9lives 1\n"), "line 1, column 1: expected a metric name or '#', got '9'");
  EXPECT_EQ(Error("{a=\"b\"} 1\n"), "line 1, column 1: expected a metric name or '#', got '{'");
  EXPECT_EQ(Error("foo-bar 1\n"),
            "line 1, column 4: expected a space or '{' after the metric name, got '-'");
  EXPECT_EQ(Error("foo{1a=\"x\"} 1\n"), "line 1, column 5: expected a label name or '}', got '1'");
  EXPECT_EQ(Error("foo{a:b=\"x\"} 1\n"),
            "line 1, column 6: expected '=' after label name \"a\", got ':'");
  EXPECT_EQ(Error("foo{a=x} 1\n"),
            "line 1, column 7: expected '\"' to open the value of label \"a\", got 'x'");
  EXPECT_EQ(Error("foo{a=\"x\"!} 1\n"),
            "line 1, column 10: expected ',' or '}' after the value of label \"a\", got '!'");
  EXPECT_EQ(Error("foo{a=\"x\" 1\n"),
            "line 1, column 11: expected ',' or '}' after the value of label \"a\", got '1'");
  EXPECT_EQ(Error("foo{,} 1\n"), "line 1, column 5: expected a label name or '}', got ','");
  EXPECT_EQ(Error("foo{a=\"1\",,} 1\n"),
            "line 1, column 11: expected a label name or '}', got ','");
  EXPECT_EQ(Error("foo{a=\"x\"}{b=\"y\"} 1\n"), "line 1, column 11: expected a value, got '{'");
}

TEST(PromTextTest, DuplicateLabelNames) {
  EXPECT_EQ(Error("foo{a=\"1\",b=\"2\",a=\"3\"} 1\n"),
            "line 1, column 17: duplicate label name \"a\"");
  EXPECT_EQ(Error("foo{__name__=\"bar\"} 1\n"),
            "line 1, column 5: label \"__name__\" repeats the metric name");
  // A wide label set takes the sorting path.
  std::string wide = "foo{";
  for (int i = 0; i < 40; ++i) absl::StrAppend(&wide, "l", i, "=\"v\",");
  const size_t column = wide.size() + 1;
  absl::StrAppend(&wide, "l7=\"again\"} 1\n");
  EXPECT_EQ(Error(wide), absl::StrCat("line 1, column ", column, ": duplicate label name \"l7\""));
  std::string wide_ok = "foo{";
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&wide_ok, "l", i, "=\"v\",");
  wide_ok += "} 1\n";
  const Result r = Parse(wide_ok);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.samples[0].labels.size(), 1000u);
}

TEST(PromTextTest, Timestamps) {
  const Result r = Parse("a 1 0\nb 1 -0\n", kText);
  EXPECT_EQ(r.status.message(), "line 2, column 5: expected a timestamp or end of line, got '-'");
  ASSERT_EQ(r.samples.size(), 1u) << "samples before the error are delivered";
  EXPECT_EQ(r.samples[0].timestamp_ms, 0);
  EXPECT_EQ(Error("foo 1 12x\n"),
            "line 1, column 9: expected end of line after the timestamp, got 'x'");
  EXPECT_EQ(Error("foo 1 1.5\n"),
            "line 1, column 8: expected end of line after the timestamp, got '.'");
  EXPECT_EQ(Error("foo 1 2 3\n"),
            "line 1, column 9: expected end of line after the timestamp, got '3'");
  EXPECT_EQ(Error("foo 1 9223372036854775808\n"),
            "line 1, column 7: timestamp out of range \"9223372036854775808\"");
  const Result max = Parse("foo 1 9223372036854775807\n");
  ASSERT_TRUE(max.status.ok()) << max.status;
  EXPECT_EQ(max.samples[0].timestamp_ms, std::numeric_limits<int64_t>::max());
}

TEST(PromTextTest, CommentsBlankLinesAndMissingFinalNewline) {
  const Result r = Parse(
      "\n   \n\t\n# a comment\n#no space is a comment too\n#\n# HELPER is not HELP\n"
      "  # indented comment\n# HELP\n# TYPE\nfoo 1\nbar 2");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_EQ(r.samples[1].name, "bar");
  EXPECT_EQ(r.samples[1].value, 2);
  EXPECT_TRUE(r.metadata.empty());
  EXPECT_TRUE(Parse("").status.ok());
  EXPECT_TRUE(Parse("\n").status.ok());
  EXPECT_EQ(Error("foo"),
            "line 1, column 4: expected a value after the metric name, got end of line");
  EXPECT_EQ(Error("ok 1\nfoo{a=\"x"), "line 2, column 9: unterminated value of label \"a\"");
}

TEST(PromTextTest, MetadataErrors) {
  EXPECT_EQ(Error("# TYPE foo bar\n"), "line 1, column 12: invalid metric type \"bar\"");
  EXPECT_EQ(Error("# TYPE foo counter \n"), "line 1, column 12: invalid metric type \"counter \"");
  EXPECT_EQ(Error("# TYPE foo info\n"), "line 1, column 12: invalid metric type \"info\"")
      << "OpenMetrics-only types are not text-format types";
  EXPECT_EQ(Error("# TYPE foo\n"), "line 1, column 11: invalid metric type \"\"");
  EXPECT_EQ(Error("# HELP 1foo x\n"),
            "line 1, column 8: expected a metric name after \"# HELP\", got '1'");
  EXPECT_EQ(Error("# HELP foo{x\n"),
            "line 1, column 11: expected a space after the metric name in \"# HELP\", got '{'");
  const Result r = Parse("# HELP foo\n#\tTYPE\tfoo\tgauge\nfoo 1\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.metadata, ElementsAre("HELP foo ", "TYPE foo gauge"));
  EXPECT_EQ(r.samples[0].type, MetricType::kGauge);
}

TEST(PromTextTest, CarriageReturnsAreRejectedAsPrometheusDoes) {
  EXPECT_EQ(Error("foo 1\r\n"),
            "line 1, column 6: expected a timestamp or end of line, got a carriage return (lines "
            "must end with \"\\n\" alone)");
  EXPECT_EQ(Error("foo 1\nbar 2 3\r\n"),
            "line 2, column 8: expected end of line after the timestamp, got a carriage return "
            "(lines must end with \"\\n\" alone)");
  EXPECT_EQ(Error("\r\n"),
            "line 1, column 1: expected a metric name or '#', got a carriage return (lines must "
            "end with \"\\n\" alone)");
  // Inside a label value a CR is just a byte, as in Prometheus.
  const Result r = Parse("foo{a=\"x\ry\"} 1\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.samples[0].labels, ElementsAre(Pair("a", "x\ry")));
}

TEST(PromTextTest, NulBytesAreErrors) {
  using std::string_literals::operator""s;
  EXPECT_EQ(Error("foo 1\n\0"s), "line 2, column 1: expected a metric name or '#', got a NUL byte");
  EXPECT_EQ(Error("foo{a=\"x\0\"} 1\n"s),
            "line 1, column 9: a NUL byte in the value of label \"a\"");
  EXPECT_EQ(Error("# comment \0\n"s), "line 1, column 11: unexpected NUL byte");
  EXPECT_EQ(Error("# HELP foo \0\n"s), "line 1, column 12: unexpected NUL byte");
  EXPECT_EQ(Error("foo 1\0\n"s),
            "line 1, column 6: expected a timestamp or end of line, got a NUL byte");
  EXPECT_EQ(Error("fo\0o 1\n"s),
            "line 1, column 3: expected a space or '{' after the metric name, got a NUL byte");
  EXPECT_EQ(Error("foo 1\0"s, kOm),
            "line 1, column 6: expected end of line after the value, got a NUL byte");
}

TEST(PromTextTest, RawLineBreakInLabelValueCountsLines) {
  // Prometheus's lexer takes a raw line break inside a quoted value.
  const Result r = Parse("foo{a=\"x\ny\"} 1\nbar 2\n");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_THAT(r.samples[0].labels, ElementsAre(Pair("a", "x\ny")));
  EXPECT_EQ(Error("foo{a=\"x\ny\"} 1\nbar ?\n"), "line 3, column 5: invalid value \"?\"");
  // The same at the end of a body without a final newline.
  const Result tail = Parse("ok 0\nfoo{a=\"x\ny\"} 1");
  ASSERT_TRUE(tail.status.ok()) << tail.status;
  ASSERT_EQ(tail.samples.size(), 2u);
  EXPECT_THAT(tail.samples[1].labels, ElementsAre(Pair("a", "x\ny")));
  EXPECT_EQ(tail.samples[1].value, 1);
  EXPECT_EQ(Error("ok 0\nfoo{a=\"x\ny\"} ?"), "line 3, column 5: invalid value \"?\"");
}

TEST(PromTextTest, LineNumbersCountEveryLine) {
  EXPECT_EQ(Error("# HELP a x\n# TYPE a gauge\n\na 1\na{b=\"1\"} 2\n  a{b=\"2\"} three\n"),
            "line 6, column 12: invalid value \"three\"");
}

TEST(PromTextTest, OpenMetricsBody) {
  const Result r = Parse(
      "# TYPE acme_http_router_request_seconds summary\n"
      "# UNIT acme_http_router_request_seconds seconds\n"
      "# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n"
      "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n"
      "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n"
      "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n"
      "# TYPE foo counter\n"
      "foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n"
      "foo_total{a=\"b\"} 18 # {id=\"x\",} 6 1520879607.7\n"
      "foo_created 1520430000.123\n"
      "# TYPE x unknown\n"
      "x{a=\"1\"} NaN -1.5\n"
      "x{a=\"2\"} +Inf 1.5e3\n"
      "# EOF\n",
      kOm);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.samples.size(), 8u);
  EXPECT_EQ(r.samples[0].type, MetricType::kSummary);
  EXPECT_THAT(r.samples[0].labels, ElementsAre(Pair("path", "/api/v1"), Pair("method", "GET")));
  EXPECT_EQ(r.samples[2].name, "acme_http_router_request_seconds_created")
      << "_created lines are samples, as in Prometheus by default";
  EXPECT_EQ(r.samples[2].type, MetricType::kSummary);
  EXPECT_EQ(r.samples[3].timestamp_ms, 1520879607789) << "seconds to exact milliseconds";
  EXPECT_EQ(r.samples[3].value, 17);
  EXPECT_EQ(r.samples[3].type, MetricType::kCounter);
  EXPECT_EQ(r.samples[4].timestamp_ms, std::nullopt);
  EXPECT_EQ(r.samples[5].type, MetricType::kCounter);
  EXPECT_EQ(r.samples[6].timestamp_ms, -1500);
  EXPECT_TRUE(std::isnan(r.samples[6].value));
  EXPECT_EQ(r.samples[6].type, MetricType::kUntyped);
  EXPECT_EQ(r.samples[7].timestamp_ms, 1500000);
  EXPECT_THAT(r.metadata, ElementsAre("TYPE acme_http_router_request_seconds summary",
                                      "UNIT acme_http_router_request_seconds seconds",
                                      "HELP acme_http_router_request_seconds Latency though all "
                                      "of ACME's HTTP request router.",
                                      "TYPE foo counter", "TYPE x unknown"));
}

TEST(PromTextTest, OpenMetricsEof) {
  EXPECT_TRUE(Parse("# EOF\n", kOm).status.ok());
  EXPECT_TRUE(Parse("# EOF", kOm).status.ok()) << "the final newline is optional";
  EXPECT_TRUE(Parse("foo 1\n# EOF", kOm).status.ok());
  EXPECT_EQ(Error("", kOm), "line 1, column 1: expected \"# EOF\" at the end of the input");
  EXPECT_EQ(Error("foo 1\n", kOm), "line 2, column 1: expected \"# EOF\" at the end of the input");
  EXPECT_EQ(Error("foo 1", kOm), "line 1, column 6: expected \"# EOF\" at the end of the input");
  EXPECT_EQ(Error("# EOF\nfoo 1\n", kOm), "line 2, column 1: unexpected data after \"# EOF\"");
  EXPECT_EQ(Error("# EOF\n\n", kOm), "line 2, column 1: unexpected data after \"# EOF\"");
  EXPECT_EQ(Error("# EOF\nx", kOm), "line 2, column 1: unexpected data after \"# EOF\"");
  EXPECT_EQ(Error("# EOF \n", kOm), "line 1, column 6: unexpected data after \"# EOF\"");
  EXPECT_EQ(Error("# EOFX\n", kOm), "line 1, column 6: unexpected data after \"# EOF\"");
  EXPECT_EQ(Error("# E", kOm),
            "line 1, column 3: expected HELP, TYPE, UNIT or EOF after '# ' (OpenMetrics allows no "
            "other comments)");
  // The text format has no EOF marker: "# EOF" is a comment and may be followed.
  EXPECT_TRUE(Parse("# EOF\nfoo 1\n", kText).status.ok());
}

TEST(PromTextTest, OpenMetricsIsStricterAboutLayout) {
  EXPECT_EQ(Error("foo 1\n\n# EOF\n", kOm),
            "line 2, column 1: empty line (OpenMetrics allows none)");
  EXPECT_EQ(Error("# a comment\n# EOF\n", kOm),
            "line 1, column 3: expected HELP, TYPE, UNIT or EOF after '# ' (OpenMetrics allows no "
            "other comments)");
  EXPECT_EQ(Error("#x\n# EOF\n", kOm), "line 1, column 2: expected a space after '#', got 'x'");
  EXPECT_EQ(Error("foo  1\n# EOF\n", kOm), "line 1, column 5: expected a value, got ' '");
  EXPECT_EQ(Error("foo\t1\n# EOF\n", kOm),
            "line 1, column 4: expected a space or '{' after the metric name, got a tab");
  EXPECT_EQ(Error(" foo 1\n# EOF\n", kOm),
            "line 1, column 1: expected a metric name or '#', got ' '");
  EXPECT_EQ(Error("foo{a = \"b\"} 1\n# EOF\n", kOm),
            "line 1, column 6: expected '=' after label name \"a\", got ' '");
  EXPECT_EQ(Error("foo{a=\"1\"b=\"2\"} 1\n# EOF\n", kOm),
            "line 1, column 10: expected ',' or '}' after the value of label \"a\", got 'b'");
  EXPECT_EQ(Error("foo{a=\"1\"}1\n# EOF\n", kOm),
            "line 1, column 11: expected a space after the labels, got '1'");
  EXPECT_EQ(Error("foo{a=\"x\ny\"} 1\n# EOF\n", kOm),
            "line 1, column 9: line break inside the value of label \"a\"");
  EXPECT_EQ(Error("foo 1 \n# EOF\n", kOm),
            "line 1, column 7: expected a timestamp, got end of line");
  EXPECT_EQ(Error("foo 1 NaN\n# EOF\n", kOm), "line 1, column 7: invalid timestamp \"NaN\"");
  EXPECT_EQ(Error("foo 1 1e300\n# EOF\n", kOm), "line 1, column 7: invalid timestamp \"1e300\"");
  EXPECT_EQ(Error("foo 1 2 3\n# EOF\n", kOm),
            "line 1, column 8: expected end of line after the value, got ' '");
  EXPECT_EQ(Error("foo 1\r\n# EOF\n", kOm),
            "line 1, column 6: expected end of line after the value, got a carriage return (lines "
            "must end with \"\\n\" alone)");
  EXPECT_EQ(Error("# TYPE foo untyped\n# EOF\n", kOm),
            "line 1, column 12: invalid metric type \"untyped\"");
  EXPECT_EQ(Error("# HELP foo\n# EOF\n", kOm),
            "line 1, column 11: expected a space after the metric name in \"# HELP\", got end of "
            "line");
  EXPECT_EQ(Error("# UNIT foo_seconds bytes\n# EOF\n", kOm),
            "line 1, column 20: unit \"bytes\" is not a suffix of the metric name \"foo_seconds\"");
  EXPECT_TRUE(Parse("# UNIT foo_seconds seconds\n# UNIT bar \n# EOF\n", kOm).status.ok());
}

TEST(PromTextTest, OpenMetricsExemplarsAreCheckedAndDropped) {
  EXPECT_EQ(Error("foo_total 1 # {a=\"b\"}\n# EOF\n", kOm),
            "line 1, column 22: expected a space and a value after the exemplar's labels, got end "
            "of line");
  EXPECT_EQ(Error("foo_total 1 # {a=\"b\"} x\n# EOF\n", kOm),
            "line 1, column 23: invalid exemplar value \"x\"");
  EXPECT_EQ(Error("foo_total 1 # {a=\"b\"} 1 Inf\n# EOF\n", kOm),
            "line 1, column 25: invalid exemplar timestamp \"Inf\"");
  EXPECT_EQ(Error("foo_total 1 # a\n# EOF\n", kOm),
            "line 1, column 15: expected '{' to open an exemplar, got 'a'");
  EXPECT_EQ(Error("foo_total 1 # {a=\"b\"} 1 2 3\n# EOF\n", kOm),
            "line 1, column 26: expected end of line after the exemplar, got ' '");
  const Result r = Parse("foo_total{x=\"1\"} 1 # {trace_id=\"a\\\"b\"} 0.5\n# EOF\n", kOm);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.samples[0].labels, ElementsAre(Pair("x", "1")))
      << "exemplar labels stay out of the sample";
  EXPECT_EQ(Error("foo_total 1 # {a=\"b\"} 1\n# EOF\n", kText),
            "line 1, column 13: expected a timestamp or end of line, got '#'");
}

TEST(PromTextTest, ContentTypePicksTheFormat) {
  EXPECT_EQ(ExpositionFormatFromContentType("application/openmetrics-text; version=1.0.0; "
                                            "charset=utf-8"),
            kOm);
  EXPECT_EQ(ExpositionFormatFromContentType(" Application/OpenMetrics-Text "), kOm);
  EXPECT_EQ(ExpositionFormatFromContentType("text/plain; version=0.0.4; charset=utf-8"), kText);
  EXPECT_EQ(ExpositionFormatFromContentType(""), kText);
  EXPECT_EQ(ExpositionFormatFromContentType("application/json"), kText);
  EXPECT_EQ(MetricTypeName(MetricType::kGaugeHistogram), "gaugehistogram");
}

TEST(PromTextTest, ReusedParserKeepsNoStateBetweenBodies) {
  ExpositionParser parser;
  const Result first = ParseWith(parser, "# TYPE a counter\na{x=\"e\\\\\"} 1\n", kText);
  ASSERT_TRUE(first.status.ok());
  EXPECT_THAT(first.samples[0].labels, ElementsAre(Pair("x", "e\\")));
  const Result broken = ParseWith(parser, "a{x=\"1\"", kText);
  EXPECT_FALSE(broken.status.ok());
  const Result second = ParseWith(parser, "a{y=\"2\"} 2\n", kText);
  ASSERT_TRUE(second.status.ok()) << second.status;
  EXPECT_EQ(second.samples[0].type, MetricType::kUntyped) << "the TYPE line was another body's";
  EXPECT_THAT(second.samples[0].labels, ElementsAre(Pair("y", "2")));
}

TEST(PromTextTest, LargeInputs) {
  // 200k samples and one 1 MiB label value: linear, no recursion, no limits hit.
  std::string body;
  for (int i = 0; i < 200'000; ++i) {
    absl::StrAppend(&body, "metric_", i % 100, "{instance=\"host-", i, "\",job=\"node\"} ", i,
                    ".5\n");
  }
  absl::StrAppend(&body, "big{v=\"", std::string(1 << 20, 'x'), "\\n\"} 1\n");
  ExpositionParser parser;
  size_t count = 0;
  double sum = 0;
  size_t big_value_size = 0;
  const absl::Status status = parser.Parse(body, kText, [&](const ExpositionSample& s) {
    ++count;
    sum += s.value;
    if (s.name == "big") big_value_size = s.labels[0].second.size();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(count, 200'001u);
  EXPECT_EQ(sum, 200'000.0 * 199'999 / 2 + 200'000 * 0.5 + 1);
  EXPECT_EQ(big_value_size, (1u << 20) + 1);
  // An error on the very last line reports its real line number.
  body += "oops\n";
  EXPECT_EQ(parser.Parse(body, kText, [](const ExpositionSample&) {}).message(),
            "line 200002, column 5: expected a value after the metric name, got end of line");
}

}  // namespace
}  // namespace klaxon
