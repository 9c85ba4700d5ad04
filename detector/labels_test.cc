#include "detector/labels.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

MATCHER_P2(IsLabel, name, value, "") { return arg.name == name && arg.value == value; }

TEST(LabelsTest, SortsByNameWhateverTheInputOrder) {
  Labels labels{{"job", "api"}, {"__name__", "up"}, {"instance", "a:1"}};
  EXPECT_THAT(labels.items(), ElementsAre(IsLabel("__name__", "up"), IsLabel("instance", "a:1"),
                                          IsLabel("job", "api")));
  EXPECT_EQ(labels, (Labels{{"instance", "a:1"}, {"job", "api"}, {"__name__", "up"}}));
}

TEST(LabelsTest, LaterDuplicateWinsAndEmptyValuesAreDropped) {
  Labels labels{{"job", "old"}, {"env", ""}, {"job", "new"}};
  EXPECT_THAT(labels.items(), ElementsAre(IsLabel("job", "new")));
  EXPECT_FALSE(labels.Has("env"));
}

TEST(LabelsTest, GetTreatsAbsentAsEmpty) {
  Labels labels{{"__name__", "up"}, {"job", "api"}};
  EXPECT_EQ(labels.Get("job"), "api");
  EXPECT_EQ(labels.Get("missing"), "");
  EXPECT_TRUE(labels.Has("job"));
  EXPECT_FALSE(labels.Has("missing"));
  EXPECT_EQ(labels.MetricName(), "up");
}

TEST(LabelsTest, SetInsertsInOrderReplacesAndRemoves) {
  Labels labels{{"b", "2"}};
  labels.Set("c", "3");
  labels.Set("a", "1");
  EXPECT_THAT(labels.items(), ElementsAre(IsLabel("a", "1"), IsLabel("b", "2"), IsLabel("c", "3")));
  labels.Set("b", "two");
  EXPECT_EQ(labels.Get("b"), "two");
  labels.Set("b", "");
  EXPECT_THAT(labels.items(), ElementsAre(IsLabel("a", "1"), IsLabel("c", "3")));
  labels.Set("absent", "");
  EXPECT_EQ(labels.size(), 2u);
}

TEST(LabelsTest, WithoutMetricName) {
  Labels labels{{"__name__", "up"}, {"job", "api"}};
  EXPECT_EQ(labels.WithoutMetricName(), (Labels{{"job", "api"}}));
  EXPECT_EQ(labels.MetricName(), "up");  // the original is unchanged
}

TEST(LabelsTest, ToStringUsesPrometheusNotation) {
  EXPECT_EQ((Labels{{"__name__", "up"}}).ToString(), "up");
  EXPECT_EQ((Labels{{"__name__", "up"}, {"job", "api"}, {"env", "prod"}}).ToString(),
            "up{env=\"prod\", job=\"api\"}");
  EXPECT_EQ((Labels{{"job", "api"}}).ToString(), "{job=\"api\"}");
  EXPECT_EQ(Labels().ToString(), "{}");
  EXPECT_EQ((Labels{{"__name__", "m"}, {"v", "a\"b\\c\nd"}}).ToString(),
            "m{v=\"a\\\"b\\\\c\\nd\"}");
}

TEST(LabelsTest, FingerprintIsStableAcrossBuildsAndRuns) {
  // A literal: changing the hash would re-key every incident in existing ledgers.
  Labels labels{{"__name__", "up"}, {"job", "api"}, {"instance", "host:9100"}};
  EXPECT_EQ(labels.Fingerprint(), 15228048671138501047ull);
  EXPECT_EQ(Labels().Fingerprint(), 14695981039346656037ull);  // FNV-1a offset basis
}

TEST(LabelsTest, FingerprintDependsOnContentNotOrder) {
  Labels a{{"job", "api"}, {"env", "prod"}};
  Labels b{{"env", "prod"}, {"job", "api"}};
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  EXPECT_NE(a.Fingerprint(), (Labels{{"job", "api"}, {"env", "dev"}}).Fingerprint());
  // The separator keeps a name/value boundary from sliding.
  EXPECT_NE((Labels{{"ab", "c"}}).Fingerprint(), (Labels{{"a", "bc"}}).Fingerprint());
}

TEST(LabelsTest, KeepsNamesAndValuesOfAnyLength) {
  const std::string long_value(70000, 'v');
  const std::string long_name(300, 'n');
  Labels labels{{"job", "api"}, {long_name, "x"}, {"z", long_value}, {"a", ""}};
  EXPECT_EQ(labels.size(), 3u);
  EXPECT_EQ(labels.Get("z"), long_value);
  EXPECT_EQ(labels.Get(long_name), "x");
  EXPECT_EQ(labels.Get("job"), "api");
  labels.Set("job", std::string(256, 'j'));
  EXPECT_EQ(labels.Get("job"), std::string(256, 'j'));
  EXPECT_EQ(labels.Get("z"), long_value);
  EXPECT_EQ(Labels(labels.ToVector()), labels);
}

// Ordered as the (name, value) pairs are, which Select relies on for output
// order: by the first name that differs, then its value, then the shorter set.
TEST(LabelsTest, OrdersAsTheSequenceOfPairs) {
  EXPECT_LT((Labels{{"a", "1"}}), (Labels{{"a", "2"}}));
  EXPECT_LT((Labels{{"a", "9"}}), (Labels{{"b", "1"}}));
  EXPECT_LT((Labels{{"a", "1"}}), (Labels{{"a", "1"}, {"b", "1"}}));
  EXPECT_LT((Labels{{"a", "1"}, {"b", "1"}}), (Labels{{"a", "10"}}));
  // Not the byte order of the encoding, which puts lengths first.
  EXPECT_LT((Labels{{"a", "zz"}}), (Labels{{"b", "a"}}));
  EXPECT_LT((Labels{{"a", "ab"}}), (Labels{{"a", "b"}}));
  EXPECT_TRUE(((Labels{{"b", "2"}, {"a", "1"}}) <=> (Labels{{"a", "1"}, {"b", "2"}})) == 0);
}

TEST(LabelsTest, FilterKeepsWhatItsPredicateAccepts) {
  Labels labels{{"__name__", "up"}, {"job", "api"}, {"instance", "a:1"}};
  EXPECT_EQ(labels.Filter([](LabelRef l) { return l.name == "job"; }), (Labels{{"job", "api"}}));
  EXPECT_EQ(labels.Filter([](LabelRef) { return false; }), Labels());
  EXPECT_EQ(labels.Filter([](LabelRef) { return true; }), labels);
}

TEST(ParseSeriesTest, ParsesTheThreeShapes) {
  EXPECT_EQ(*ParseSeries("up"), (Labels{{"__name__", "up"}}));
  EXPECT_EQ(*ParseSeries("up{job=\"api\"}"), (Labels{{"__name__", "up"}, {"job", "api"}}));
  EXPECT_EQ(*ParseSeries("{__name__=\"up\"}"), (Labels{{"__name__", "up"}}));
  EXPECT_EQ(*ParseSeries(" http_requests_total { code = \"500\" , method=\"GET\", } "),
            (Labels{{"__name__", "http_requests_total"}, {"code", "500"}, {"method", "GET"}}));
  EXPECT_EQ(*ParseSeries("ns:rate5m{a=\"x\\\"y\"}"),
            (Labels{{"__name__", "ns:rate5m"}, {"a", "x\"y"}}));
}

TEST(ParseSeriesTest, RoundTripsThroughToString) {
  Labels labels{{"__name__", "m"}, {"a", "1"}, {"b", "q\"uote"}};
  EXPECT_EQ(*ParseSeries(labels.ToString()), labels);
}

TEST(ParseSeriesTest, RejectsMalformedSeries) {
  for (const char* text : {"", "{}", "up{", "up{job}", "up{job=api}", "up{job=\"api\"",
                           "up{job=\"api\" env=\"x\"}", "up extra", "1up", "up{=\"x\"}"}) {
    EXPECT_EQ(ParseSeries(text).status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << text << "\"";
  }
  EXPECT_THAT(ParseSeries("up{job=api}").status().message(), HasSubstr("quoted label value"));
  EXPECT_THAT(ParseSeries("up{job=api}").status().message(), HasSubstr("column 8"));
}

}  // namespace
}  // namespace klaxon
