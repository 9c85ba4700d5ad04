// The source series half of /metrics is written by hand for speed; it must
// read exactly as prometheus-cpp's own serializer would write the same series.
#include "exporters/metrics_page.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "absl/strings/match.h"
#include "detector/labels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;

TEST(MetricsPageTest, SourceSeriesReadExactlyAsPrometheusCppWritesThem) {
  const std::vector<std::pair<Labels, double>> input = {
      {Labels({{"__name__", "probe_duration_seconds"}, {"probe", "a"}}), 0.1},
      {Labels({{"__name__", "probe_duration_seconds"}, {"probe", "b\"q\\\n"}}), 1.0 / 3},
      {Labels({{"__name__", "probe_success"}, {"probe", "a"}}), 1},
      {Labels({{"__name__", "log_matches_total"}, {"log", "nginx"}}), 12345678901234567.0},
      {Labels({{"__name__", "odd"}}), 1e-7},
      {Labels({{"__name__", "odd"}, {"x", "y"}}), std::numeric_limits<double>::quiet_NaN()},
      {Labels({{"__name__", "odd"}, {"x", "z"}}), -std::numeric_limits<double>::infinity()},
      {Labels({{"__name__", "odd"}, {"x", "w"}}), 2.5e300},
  };
  std::vector<SourceSeriesValue> series;
  for (const auto& [labels, value] : input) series.push_back({&labels, value});

  // The same series through prometheus-cpp, in the same families and order.
  std::map<std::string, prometheus::MetricFamily> families;
  for (const auto& [labels, value] : input) {
    std::string name(labels.MetricName());
    prometheus::MetricFamily& family = families[name];
    family.name = name;
    family.help = "Produced by a klaxon source";
    family.type = absl::EndsWith(name, "_total") ? prometheus::MetricType::Counter
                                                 : prometheus::MetricType::Gauge;
    prometheus::ClientMetric metric;
    for (LabelRef l : labels.items()) {
      if (l.name != "__name__") metric.label.push_back({std::string(l.name), std::string(l.value)});
    }
    metric.counter.value = value;
    metric.gauge.value = value;
    family.metric.push_back(metric);
  }
  std::vector<prometheus::MetricFamily> ordered;
  for (auto& [name, family] : families) ordered.push_back(family);
  std::ostringstream expected;
  expected.imbue(std::locale::classic());
  prometheus::TextSerializer().Serialize(expected, ordered);

  MetricsPage page("test");
  std::string text = page.Render({}, {}, {}, series, {}, {});
  ASSERT_THAT(text, HasSubstr("# HELP log_matches_total"));
  EXPECT_EQ(text.substr(text.find("# HELP log_matches_total")), expected.str());
}

// The engine's timings read as Prometheus histograms: cumulative buckets in
// seconds, then +Inf, _sum and _count.
TEST(MetricsPageTest, EngineTimingsAreHistograms) {
  DurationHistogram lateness;
  lateness.Observe(absl::Milliseconds(3));
  lateness.Observe(absl::Milliseconds(40));
  lateness.Observe(absl::Milliseconds(700));
  EngineFacts facts;
  facts.tick_lateness = lateness.Snapshot();
  MetricsPage page("test");
  std::string text = page.Render({}, {}, {}, {}, facts, {});
  EXPECT_THAT(text, HasSubstr("# TYPE klaxon_engine_timer_lateness_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_bucket{timer=\"tick\",le=\"0.005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_bucket{timer=\"tick\",le=\"0.05\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_bucket{timer=\"tick\",le=\"0.5\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_bucket{timer=\"tick\",le=\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_bucket{timer=\"tick\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_sum{timer=\"tick\"} 0.743\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_count{timer=\"tick\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_timer_lateness_seconds_count{timer=\"for\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("klaxon_engine_tick_duration_seconds_count 0\n"));
}

}  // namespace
}  // namespace klaxon
