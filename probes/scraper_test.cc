#include "probes/scraper.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "detector/clock.h"
#include "detector/http_server.h"
#include "detector/labels.h"
#include "detector/sample.h"
#include "detector/series_index.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr auto kWaitLimit = std::chrono::seconds(5);

// Collects what the scraper emits and lets the test wait, with a bound, until
// enough has arrived.
class Collector {
 public:
  SampleConsumer consumer() {
    return [this](SampleBatch batch) {
      std::lock_guard lock(mu_);
      batches_.push_back(std::move(batch));
      cv_.notify_all();
    };
  }

  // The first `n` batches, or fewer if they did not arrive within the bound.
  std::vector<SampleBatch> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kWaitLimit, [&] { return batches_.size() >= n; });
    return batches_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SampleBatch> batches_;
};

// A target on 127.0.0.1 whose answers the test scripts: the nth request gets
// the nth response, and the last one is repeated.
class Target {
 public:
  explicit Target(std::vector<HttpResponse> responses) : responses_(std::move(responses)) {
    auto server = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& request) {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      const size_t i = std::min(requests_.size(), responses_.size()) - 1;
      return responses_[i];
    });
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = std::move(*server);
  }
  explicit Target(std::function<HttpResponse(const HttpRequest&)> handler) {
    auto server = HttpServer::Start("127.0.0.1:0", std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = std::move(*server);
  }
  std::string Url() const { return absl::StrCat("http://", server_->address(), "/metrics"); }
  std::string Instance() const { return server_->address(); }
  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  void Stop() { server_->Stop(); }

 private:
  std::mutex mu_;
  std::vector<HttpResponse> responses_;
  std::vector<HttpRequest> requests_;
  std::unique_ptr<HttpServer> server_;
};

HttpResponse Text(std::string body, int status = 200) {
  HttpResponse response = HttpResponse::Text(status, std::move(body));
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return response;
}

HttpResponse OpenMetrics(std::string body) {
  HttpResponse response = HttpResponse::Text(200, std::move(body));
  response.content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
  return response;
}

ScrapeOptions Job(std::vector<std::string> targets) {
  ScrapeOptions options;
  options.job = "node";
  options.targets = std::move(targets);
  options.interval = absl::Milliseconds(100);
  options.timeout = absl::Milliseconds(100);
  return options;
}

// One scrape as the on-call person would read it: series by their notation.
struct Scrape {
  std::map<std::string, Sample> samples;  // by Labels::ToString()
  std::vector<std::string> stale;         // series given a stale marker
  std::string note;
  bool note_on_up = false;
  double up = -1;
  double samples_scraped = -1;
  double samples_post_relabeling = -1;
  double duration = -1;
  size_t sample_count = 0;
};

Scrape Decode(const SeriesIndex& index, const SampleBatch& batch) {
  Scrape scrape;
  SeriesId up = 0;
  scrape.sample_count = batch.samples.size();
  for (const Sample& sample : batch.samples) {
    const Labels& labels = index.Get(sample.series);
    const std::string series = labels.ToString();
    if (IsStaleNaN(sample.value)) {
      scrape.stale.push_back(series);
      continue;
    }
    scrape.samples[series] = sample;
    const absl::string_view metric = labels.MetricName();
    if (metric == "up") {
      scrape.up = sample.value;
      up = sample.series;
    } else if (metric == "scrape_samples_scraped") {
      scrape.samples_scraped = sample.value;
    } else if (metric == "scrape_samples_post_metric_relabeling") {
      scrape.samples_post_relabeling = sample.value;
    } else if (metric == "scrape_duration_seconds") {
      scrape.duration = sample.value;
    }
  }
  if (batch.notes.size() == 1) {
    scrape.note = batch.notes[0].text;
    scrape.note_on_up = batch.notes[0].series == up;
  }
  return scrape;
}

// Runs one job until `n` scrapes arrived and returns them decoded.
std::vector<Scrape> RunScrapes(ScrapeOptions job, SeriesIndex& index, size_t n = 1) {
  RealClock clock;
  Collector collector;
  Scraper scraper({std::move(job)}, index, clock, collector.consumer());
  const absl::Status started = scraper.Start();
  EXPECT_TRUE(started.ok()) << started;
  std::vector<SampleBatch> batches = collector.WaitFor(n);
  scraper.Stop();
  EXPECT_GE(batches.size(), n) << "scrapes did not arrive within the bound";
  std::vector<Scrape> scrapes;
  for (const SampleBatch& batch : batches) scrapes.push_back(Decode(index, batch));
  return scrapes;
}

// `name{...}` with the target's labels, as Labels::ToString writes it.
std::string Series(const Target& target, absl::string_view name) {
  return absl::StrCat(name, "{instance=\"", target.Instance(), "\", job=\"node\"}");
}

TEST(ScraperTest, SamplesCarryTargetLabelsAndTheScrapeTime) {
  Target target(
      {Text("# HELP node_load1 1m load average.\n"
            "# TYPE node_load1 gauge\n"
            "node_load1 0.5\n"
            "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 123.25\n"
            "with_timestamp 7 1700000000123\n")});
  SeriesIndex index;
  ScrapeOptions job = Job({target.Url()});
  job.labels = {{"env", "prod"}};
  const int64_t before_ms = absl::ToUnixMillis(absl::Now());
  const std::vector<Scrape> scrapes = RunScrapes(job, index);
  const int64_t after_ms = absl::ToUnixMillis(absl::Now());
  ASSERT_FALSE(scrapes.empty());
  const Scrape& s = scrapes[0];
  const std::string labels =
      absl::StrCat("env=\"prod\", instance=\"", target.Instance(), "\", job=\"node\"");
  ASSERT_EQ(s.samples.count(absl::StrCat("node_load1{", labels, "}")), 1u);
  const Sample load = s.samples.at(absl::StrCat("node_load1{", labels, "}"));
  EXPECT_EQ(load.value, 0.5);
  EXPECT_GE(load.timestamp_ms, before_ms);
  EXPECT_LE(load.timestamp_ms, after_ms);
  const std::string cpu =
      absl::StrCat("node_cpu_seconds_total{cpu=\"0\", ", labels, ", mode=\"idle\"}");
  ASSERT_EQ(s.samples.count(cpu), 1u);
  EXPECT_EQ(s.samples.at(cpu).value, 123.25);
  EXPECT_EQ(s.samples.at(cpu).timestamp_ms, load.timestamp_ms);
  const std::string timestamped = absl::StrCat("with_timestamp{", labels, "}");
  ASSERT_EQ(s.samples.count(timestamped), 1u);
  EXPECT_EQ(s.samples.at(timestamped).timestamp_ms, 1700000000123) << "honor_timestamps";

  EXPECT_EQ(s.up, 1);
  EXPECT_EQ(s.samples.at(absl::StrCat("up{", labels, "}")).timestamp_ms, load.timestamp_ms);
  EXPECT_EQ(s.samples_scraped, 3);
  EXPECT_EQ(s.samples_post_relabeling, 3);
  EXPECT_GE(s.duration, 0);
  EXPECT_LT(s.duration, 1);
  EXPECT_EQ(s.sample_count, 3u + 4u);
  EXPECT_EQ(s.note, "");
  EXPECT_TRUE(s.note_on_up);
  EXPECT_THAT(s.stale, IsEmpty());

  const std::vector<HttpRequest> requests = target.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].Header("accept"), kScrapeAcceptHeader);
  EXPECT_EQ(requests[0].Header("x-prometheus-scrape-timeout-seconds"), "0.1");
  EXPECT_EQ(requests[0].path, "/metrics");
}

TEST(ScraperTest, SteadyTargetIsInternedOnceAndScrapedEveryInterval) {
  Target target({Text("a{x=\"1\"} 1\na{x=\"2\"} 2\nb 3\n")});
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  Scraper scraper({Job({target.Url()})}, index, clock, collector.consumer());
  const size_t report_series = index.size();
  EXPECT_EQ(report_series, 4u) << "up and the scrape_* series are interned up front";
  ASSERT_TRUE(scraper.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(1);
  ASSERT_EQ(batches.size(), 1u);
  const size_t after_first = index.size();
  EXPECT_EQ(after_first, report_series + 3);
  batches = collector.WaitFor(4);
  scraper.Stop();
  ASSERT_GE(batches.size(), 4u);
  EXPECT_EQ(index.size(), after_first);
  for (const SampleBatch& batch : batches) {
    ASSERT_EQ(batch.samples.size(), batches[0].samples.size());
    for (size_t i = 0; i < batch.samples.size(); ++i) {
      EXPECT_EQ(batch.samples[i].series, batches[0].samples[i].series);
    }
  }
  // Scrapes start an interval apart (the scrape time is the timestamp).
  const int64_t first = batches[0].samples[0].timestamp_ms;
  const int64_t fourth = batches[3].samples[0].timestamp_ms;
  EXPECT_GE(fourth - first, 250);
}

TEST(ScraperTest, FailuresReportUpZeroWithTheReason) {
  Target failing({Text("oops", 500)});
  Target bad_body({Text("ok 1\nbad x\n")});
  Target big_body({Text(std::string(200, '#') + "\n")});
  // A port that was free a moment ago and has nobody listening now.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  const std::string refused = absl::StrCat("http://127.0.0.1:", port, "/metrics");

  SeriesIndex index;
  ScrapeOptions job = Job({failing.Url(), bad_body.Url(), big_body.Url(), refused});
  job.body_size_limit = 100;
  RealClock clock;
  Collector collector;
  Scraper scraper({job}, index, clock, collector.consumer());
  ASSERT_TRUE(scraper.Start().ok());
  const std::vector<SampleBatch> batches = collector.WaitFor(8);
  scraper.Stop();
  std::map<std::string, Scrape> by_instance;
  for (const SampleBatch& batch : batches) {
    const Scrape scrape = Decode(index, batch);
    by_instance[std::string(index.Get(batch.samples.back().series).Get("instance"))] = scrape;
  }
  ASSERT_EQ(by_instance.size(), 4u);
  const Scrape& status = by_instance[failing.Instance()];
  EXPECT_EQ(status.up, 0);
  EXPECT_EQ(status.note, "status 500");
  EXPECT_TRUE(status.note_on_up);
  EXPECT_EQ(status.samples_scraped, 0);

  const Scrape& parse = by_instance[bad_body.Instance()];
  EXPECT_EQ(parse.up, 0);
  EXPECT_EQ(parse.note, "line 2, column 5: invalid value \"x\"");
  EXPECT_EQ(parse.samples_scraped, 1) << "the samples before the error";
  EXPECT_EQ(parse.samples_post_relabeling, 0);
  EXPECT_EQ(parse.sample_count, 4u) << "only the report series: a failed scrape adds nothing";

  const Scrape& big = by_instance[big_body.Instance()];
  EXPECT_EQ(big.up, 0);
  EXPECT_EQ(big.note, "body larger than body_size_limit of 100 bytes");

  const Scrape& down = by_instance[absl::StrCat("127.0.0.1:", port)];
  EXPECT_EQ(down.up, 0);
  EXPECT_EQ(down.note, "connection refused");
}

TEST(ScraperTest, HonorLabelsFalseKeepsClashingLabelsAsExported) {
  Target target(
      {Text("m{job=\"app\",instance=\"x\",env=\"dev\",exported_env=\"y\",other=\"z\"} 1\n")});
  SeriesIndex index;
  ScrapeOptions job = Job({target.Url()});
  job.labels = {{"env", "prod"}};
  const std::vector<Scrape> scrapes = RunScrapes(job, index);
  ASSERT_FALSE(scrapes.empty());
  const std::string expected =
      absl::StrCat("m{env=\"prod\", exported_env=\"y\", exported_exported_env=\"dev\", ",
                   "exported_instance=\"x\", exported_job=\"app\", instance=\"", target.Instance(),
                   "\", job=\"node\", other=\"z\"}");
  EXPECT_EQ(scrapes[0].samples.count(expected), 1u);
  EXPECT_EQ(scrapes[0].up, 1);
}

TEST(ScraperTest, HonorLabelsTrueKeepsScrapedValues) {
  Target target({Text("m{job=\"app\",instance=\"x\",env=\"dev\"} 1\nn 2\n")});
  SeriesIndex index;
  ScrapeOptions job = Job({target.Url()});
  job.labels = {{"env", "prod"}};
  job.honor_labels = true;
  const std::vector<Scrape> scrapes = RunScrapes(job, index);
  ASSERT_FALSE(scrapes.empty());
  EXPECT_EQ(scrapes[0].samples.count("m{env=\"dev\", instance=\"x\", job=\"app\"}"), 1u);
  // Labels the sample does not have still come from the target.
  EXPECT_EQ(scrapes[0].samples.count(absl::StrCat("n{env=\"prod\", instance=\"", target.Instance(),
                                                  "\", job=\"node\"}")),
            1u);
  // The report series are the target's whatever the scraped labels say.
  EXPECT_EQ(scrapes[0].samples.count(absl::StrCat("up{env=\"prod\", instance=\"", target.Instance(),
                                                  "\", job=\"node\"}")),
            1u);
}

TEST(ScraperTest, SampleLimitFailsTheWholeScrape) {
  Target target({Text("a 1\nb 2\nc 3\n")});
  SeriesIndex index;
  ScrapeOptions job = Job({target.Url()});
  job.sample_limit = 2;
  const std::vector<Scrape> scrapes = RunScrapes(job, index);
  ASSERT_FALSE(scrapes.empty());
  EXPECT_EQ(scrapes[0].up, 0);
  EXPECT_EQ(scrapes[0].note, "sample_limit 2 exceeded: 3 samples");
  EXPECT_EQ(scrapes[0].samples_scraped, 3);
  EXPECT_EQ(scrapes[0].samples_post_relabeling, 0);
  EXPECT_EQ(scrapes[0].sample_count, 4u) << "none of the scraped samples";

  Target within({Text("a 1\nb 2\n")});
  job.targets = {within.Url()};
  const std::vector<Scrape> ok = RunScrapes(job, index);
  ASSERT_FALSE(ok.empty());
  EXPECT_EQ(ok[0].up, 1);
  EXPECT_EQ(ok[0].samples_scraped, 2);
}

TEST(ScraperTest, StaleMarkersForVanishedSeriesAndFailedScrapes) {
  Target target({
      Text("a 1\nb 2\nc 3 1700000000000\n"),  // c has its own timestamp
      Text("a 1\n"),                          // b and c go away
      Text("down", 503),                      // a goes stale with the target
      Text("down", 503),                      // nothing left to mark
      Text("a 1\nb 2\n"),                     // back
      Text("a 1\nb 2\n"),
  });
  SeriesIndex index;
  const std::vector<Scrape> s = RunScrapes(Job({target.Url()}), index, 6);
  ASSERT_GE(s.size(), 6u);
  const std::string a = Series(target, "a");
  const std::string b = Series(target, "b");
  EXPECT_EQ(s[0].up, 1);
  EXPECT_THAT(s[0].stale, IsEmpty());
  EXPECT_EQ(s[1].up, 1);
  EXPECT_THAT(s[1].stale, UnorderedElementsAre(b))
      << "c carried its own timestamp, so it gets no stale marker, as in Prometheus";
  EXPECT_EQ(s[1].samples.count(a), 1u);
  EXPECT_EQ(s[1].samples.at(a).timestamp_ms, s[1].samples.at(Series(target, "up")).timestamp_ms);
  EXPECT_EQ(s[2].up, 0);
  EXPECT_EQ(s[2].note, "status 503");
  EXPECT_THAT(s[2].stale, UnorderedElementsAre(a));
  EXPECT_EQ(s[3].up, 0);
  EXPECT_THAT(s[3].stale, IsEmpty());
  EXPECT_EQ(s[4].up, 1);
  EXPECT_EQ(s[4].note, "") << "success clears the reason";
  EXPECT_THAT(s[4].stale, IsEmpty());
  EXPECT_EQ(s[4].samples.count(b), 1u);
  EXPECT_THAT(s[5].stale, IsEmpty());
}

TEST(ScraperTest, RewrittenLineOfALiveSeriesIsNotStale) {
  Target target({Text("a{x=\"1\"} 1\n"), Text("a{ x = \"1\" } 2\n")});
  SeriesIndex index;
  const std::vector<Scrape> s = RunScrapes(Job({target.Url()}), index, 2);
  ASSERT_GE(s.size(), 2u);
  const std::string a =
      absl::StrCat("a{instance=\"", target.Instance(), "\", job=\"node\", x=\"1\"}");
  ASSERT_EQ(s[1].samples.count(a), 1u);
  EXPECT_EQ(s[1].samples.at(a).value, 2);
  EXPECT_THAT(s[1].stale, IsEmpty());
}

TEST(ScraperTest, ContentTypePicksOpenMetrics) {
  Target openmetrics({OpenMetrics("# TYPE x gauge\nx 1 1700000000.5\n# EOF\n")});
  // OpenMetrics requires # EOF: failing without it shows which parser ran.
  Target no_eof({OpenMetrics("x 1\n")});
  Target text({Text("x 1 1700000000500\n")});
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  Scraper scraper({Job({openmetrics.Url(), no_eof.Url(), text.Url()})}, index, clock,
                  collector.consumer());
  ASSERT_TRUE(scraper.Start().ok());
  const std::vector<SampleBatch> batches = collector.WaitFor(6);
  scraper.Stop();
  std::map<std::string, Scrape> by_instance;
  for (const SampleBatch& batch : batches) {
    by_instance[std::string(index.Get(batch.samples.back().series).Get("instance"))] =
        Decode(index, batch);
  }
  ASSERT_EQ(by_instance.size(), 3u);
  const Scrape& om = by_instance[openmetrics.Instance()];
  EXPECT_EQ(om.up, 1);
  ASSERT_EQ(om.samples.count(Series(openmetrics, "x")), 1u);
  EXPECT_EQ(om.samples.at(Series(openmetrics, "x")).timestamp_ms, 1700000000500)
      << "OpenMetrics timestamps are seconds";
  EXPECT_EQ(by_instance[no_eof.Instance()].up, 0);
  EXPECT_EQ(by_instance[no_eof.Instance()].note,
            "line 2, column 1: expected \"# EOF\" at the end of the input");
  const Scrape& plain = by_instance[text.Instance()];
  EXPECT_EQ(plain.up, 1);
  EXPECT_EQ(plain.samples.at(Series(text, "x")).timestamp_ms, 1700000000500);
}

TEST(ScraperTest, SlowTargetTimesOut) {
  // The handler blocks the server's only I/O thread, so it sleeps only a little
  // longer than the timeout and the server is stopped after the scraper.
  Target target([](const HttpRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return Text("late 1\n");
  });
  SeriesIndex index;
  ScrapeOptions job = Job({target.Url()});
  job.interval = absl::Seconds(1);
  job.timeout = absl::Milliseconds(200);
  const std::vector<Scrape> scrapes = RunScrapes(job, index);
  ASSERT_FALSE(scrapes.empty());
  EXPECT_EQ(scrapes[0].up, 0);
  EXPECT_EQ(scrapes[0].note, "timeout after 200ms waiting for the response");
  EXPECT_GE(scrapes[0].duration, 0.19);
  EXPECT_LT(scrapes[0].duration, 2.0);
  target.Stop();
}

TEST(ScraperTest, InvalidJobsAreRejectedByStartNamingTheJob) {
  SeriesIndex index;
  RealClock clock;
  auto start = [&](ScrapeOptions job) {
    Scraper scraper({std::move(job)}, index, clock, [](SampleBatch) {});
    return scraper.Start();
  };
  ScrapeOptions slow = Job({"http://127.0.0.1:1/metrics"});
  slow.timeout = absl::Seconds(1);
  EXPECT_EQ(start(slow), absl::InvalidArgumentError(
                             "scrape job \"node\": timeout 1s is longer than the interval 100ms"));
  ScrapeOptions bad_label = Job({"http://127.0.0.1:1/metrics"});
  bad_label.labels = {{"1x", "v"}};
  EXPECT_EQ(start(bad_label),
            absl::InvalidArgumentError("scrape job \"node\": \"1x\" is not a valid label name"));
  ScrapeOptions reserved = Job({"http://127.0.0.1:1/metrics"});
  reserved.labels = {{"__name__", "v"}};
  EXPECT_EQ(start(reserved).code(), absl::StatusCode::kInvalidArgument);
  ScrapeOptions bad_url = Job({"ftp://127.0.0.1/metrics"});
  EXPECT_EQ(start(bad_url), absl::InvalidArgumentError(
                                "scrape job \"node\": target \"ftp://127.0.0.1/metrics\": not an "
                                "http(s) URL"));
  ScrapeOptions twice = Job({"http://127.0.0.1:1/metrics", "http://127.0.0.1:1/metrics"});
  EXPECT_EQ(start(twice).code(), absl::StatusCode::kInvalidArgument);
  ScrapeOptions no_job = Job({"http://127.0.0.1:1/metrics"});
  no_job.job = "";
  EXPECT_EQ(start(no_job).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ScraperTest, InstanceIsHostAndPortAndConfiguredLabelsMayOverrideIt) {
  SeriesIndex index;
  RealClock clock;
  ScrapeOptions job = Job({"http://localhost/metrics", "https://example.invalid/m"});
  ScrapeOptions named = Job({"http://127.0.0.1:9/metrics"});
  named.job = "other";
  named.labels = {{"instance", "db-1"}};
  Scraper scraper({job, named}, index, clock, [](SampleBatch) {});
  auto has_up = [&](Labels labels) {
    const size_t before = index.size();
    index.Intern(labels);
    return index.size() == before;
  };
  EXPECT_TRUE(has_up({{"__name__", "up"}, {"job", "node"}, {"instance", "localhost:80"}}));
  EXPECT_TRUE(has_up({{"__name__", "up"}, {"job", "node"}, {"instance", "example.invalid:443"}}));
  EXPECT_TRUE(has_up({{"__name__", "up"}, {"job", "other"}, {"instance", "db-1"}}));
}

TEST(ScraperTest, StopReturnsPromptlyDuringAScrape) {
  absl::Notification in_handler;
  Target target([&](const HttpRequest&) {
    if (!in_handler.HasBeenNotified()) in_handler.Notify();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return Text("late 1\n");
  });
  SeriesIndex index;
  RealClock clock;
  ScrapeOptions job = Job({target.Url()});
  job.interval = absl::Seconds(1);
  job.timeout = absl::Seconds(1);
  Scraper scraper({job}, index, clock, [](SampleBatch) {});
  ASSERT_TRUE(scraper.Start().ok());
  ASSERT_TRUE(in_handler.WaitForNotificationWithTimeout(absl::FromChrono(kWaitLimit)));
  const auto start = std::chrono::steady_clock::now();
  scraper.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  scraper.Stop();  // idempotent
  EXPECT_EQ(scraper.Start().code(), absl::StatusCode::kOk) << "a stopped scraper starts again";
  scraper.Stop();
  target.Stop();
}

}  // namespace
}  // namespace klaxon
