#include "probes/http_probe.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
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
#include "detector/series_index.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;

constexpr auto kWaitLimit = std::chrono::seconds(5);

// Collects what the prober emits and lets the test wait, with a bound, until
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

// The target: a local HttpServer whose behaviour each test picks.
class Target {
 public:
  explicit Target(std::function<HttpResponse(const HttpRequest&)> handler) {
    auto server = HttpServer::Start("127.0.0.1:0", std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = std::move(*server);
  }
  std::string Url(absl::string_view path = "/health") const {
    return absl::StrCat("http://", server_->address(), path);
  }
  void Stop() { server_->Stop(); }

 private:
  std::unique_ptr<HttpServer> server_;
};

HttpProbeOptions Probe(std::string url, std::string name = "checkout-home") {
  HttpProbeOptions options;
  options.name = std::move(name);
  options.service = "checkout";
  options.url = std::move(url);
  options.interval = absl::Milliseconds(100);
  options.timeout = absl::Seconds(2);
  return options;
}

struct Result {
  double success = -1;
  double duration = -1;
  double status = -1;
  std::string note;
  bool note_on_success_series = false;
};

// Decodes one batch by the metric names the index gives its series.
Result Decode(const SeriesIndex& index, const SampleBatch& batch) {
  Result result;
  SeriesId success_series = 0;
  for (const Sample& sample : batch.samples) {
    const absl::string_view metric = index.Get(sample.series).MetricName();
    if (metric == "probe_success") {
      result.success = sample.value;
      success_series = sample.series;
    } else if (metric == "probe_duration_seconds") {
      result.duration = sample.value;
    } else if (metric == "probe_http_status_code") {
      result.status = sample.value;
    }
  }
  if (batch.notes.size() == 1) {
    result.note = batch.notes[0].text;
    result.note_on_success_series = batch.notes[0].series == success_series;
  }
  return result;
}

// Runs one probe until its first result and returns it.
Result FirstResult(HttpProbeOptions options, SeriesIndex& index) {
  RealClock clock;
  Collector collector;
  HttpProber prober({std::move(options)}, index, clock, collector.consumer());
  EXPECT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(1);
  prober.Stop();
  if (batches.empty()) {
    ADD_FAILURE() << "no result within the bound";
    return {};
  }
  return Decode(index, batches[0]);
}

TEST(HttpProbeTest, SuccessEmitsOneStatus200AndEmptyNote) {
  std::atomic<int> requests = 0;
  std::string user_agent;
  std::mutex mu;
  Target target([&](const HttpRequest& request) {
    std::lock_guard lock(mu);
    ++requests;
    user_agent = std::string(request.Header("user-agent"));
    return HttpResponse::Text(200, "ok");
  });
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  HttpProber prober({Probe(target.Url())}, index, clock, collector.consumer());
  const int64_t before_ms = ToUnixMillis(clock.WallNow());
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(1);
  prober.Stop();
  ASSERT_FALSE(batches.empty());

  const SampleBatch& batch = batches[0];
  ASSERT_EQ(batch.samples.size(), 3u);
  const Result result = Decode(index, batch);
  EXPECT_EQ(result.success, 1);
  EXPECT_EQ(result.status, 200);
  EXPECT_GT(result.duration, 0);
  EXPECT_LT(result.duration, 2);
  EXPECT_EQ(result.note, "");
  EXPECT_TRUE(result.note_on_success_series);
  for (const Sample& sample : batch.samples) {
    EXPECT_GE(sample.timestamp_ms, before_ms);
    EXPECT_EQ(sample.timestamp_ms, batch.samples[0].timestamp_ms);
    const Labels& labels = index.Get(sample.series);
    EXPECT_EQ(labels.Get("probe"), "checkout-home");
    EXPECT_EQ(labels.Get("service"), "checkout");
    EXPECT_EQ(labels.size(), 3u);
  }
  std::lock_guard lock(mu);
  EXPECT_EQ(user_agent, "klaxon");
}

TEST(HttpProbeTest, SeriesAreInternedOnceAndServiceOmittedWhenEmpty) {
  SeriesIndex index;
  RealClock clock;
  HttpProbeOptions options = Probe("http://127.0.0.1:1/", "no-service");
  options.service = "";
  HttpProber prober({options}, index, clock, [](SampleBatch) {});
  EXPECT_EQ(index.size(), 3u);
  Labels expected({{std::string(kMetricNameLabel), "probe_success"}, {"probe", "no-service"}});
  const size_t size_before = index.size();
  EXPECT_EQ(index.Get(index.Intern(expected)), expected);
  EXPECT_EQ(index.size(), size_before) << "probe_success{probe=no-service} was already interned";
}

TEST(HttpProbeTest, Status503FailsWithReason) {
  Target target([](const HttpRequest&) { return HttpResponse::Text(503, "down"); });
  SeriesIndex index;
  const Result result = FirstResult(Probe(target.Url()), index);
  EXPECT_EQ(result.success, 0);
  EXPECT_EQ(result.status, 503);
  EXPECT_EQ(result.note, "status 503 (expected 2xx)");
}

TEST(HttpProbeTest, ExpectStatusList) {
  Target target([](const HttpRequest& request) {
    return HttpResponse::Text(request.path == "/missing" ? 404 : 204, "");
  });
  SeriesIndex index;
  HttpProbeOptions accepting = Probe(target.Url("/"), "accepts-204");
  accepting.expect_status = {200, 204};
  const Result ok = FirstResult(accepting, index);
  EXPECT_EQ(ok.success, 1);
  EXPECT_EQ(ok.status, 204);

  HttpProbeOptions missing = Probe(target.Url("/missing"), "gets-404");
  missing.expect_status = {200, 204};
  const Result failed = FirstResult(missing, index);
  EXPECT_EQ(failed.success, 0);
  EXPECT_EQ(failed.status, 404);
  EXPECT_EQ(failed.note, "status 404 (expected 200, 204)");

  HttpProbeOptions wants_404 = Probe(target.Url("/missing"), "wants-404");
  wants_404.expect_status = {404};
  EXPECT_EQ(FirstResult(wants_404, index).success, 1);
}

TEST(HttpProbeTest, ExpectBody) {
  Target target([](const HttpRequest&) { return HttpResponse::Text(200, "status: degraded"); });
  SeriesIndex index;
  HttpProbeOptions mismatch = Probe(target.Url(), "wants-ok");
  mismatch.expect_body = "ok";
  const Result failed = FirstResult(mismatch, index);
  EXPECT_EQ(failed.success, 0);
  EXPECT_EQ(failed.status, 200);
  EXPECT_EQ(failed.note, "body did not match \"ok\"");

  HttpProbeOptions match = Probe(target.Url(), "wants-status");
  match.expect_body = "status: (ok|degraded)";
  EXPECT_EQ(FirstResult(match, index).success, 1);
}

TEST(HttpProbeTest, InvalidRegexIsRejectedByStartNamingTheProbe) {
  SeriesIndex index;
  RealClock clock;
  HttpProbeOptions options = Probe("http://127.0.0.1:1/", "bad-regex");
  options.expect_body = "(unclosed";
  HttpProber prober({options}, index, clock, [](SampleBatch) {});
  const absl::Status status = prober.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("bad-regex"));
}

TEST(HttpProbeTest, ConnectionRefused) {
  // A port that was free a moment ago and has nobody listening now.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();

  SeriesIndex index;
  const Result result = FirstResult(Probe(absl::StrCat("http://127.0.0.1:", port, "/")), index);
  EXPECT_EQ(result.success, 0);
  EXPECT_EQ(result.status, 0);
  EXPECT_THAT(result.note, HasSubstr("connection refused"));
}

TEST(HttpProbeTest, SlowTargetTimesOut) {
  // The handler blocks the server's only I/O thread, so it sleeps only a little
  // longer than the probe's timeout and the server is stopped after the prober.
  Target target([](const HttpRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return HttpResponse::Text(200, "late");
  });
  SeriesIndex index;
  HttpProbeOptions options = Probe(target.Url());
  options.interval = absl::Seconds(1);
  options.timeout = absl::Milliseconds(200);
  const Result result = FirstResult(options, index);
  EXPECT_EQ(result.success, 0);
  EXPECT_THAT(result.note, HasSubstr("timeout after 200ms"));
  EXPECT_GE(result.duration, 0.19);
  target.Stop();
}

TEST(HttpProbeTest, DnsFailureNamesTheHost) {
  SeriesIndex index;
  // .invalid never resolves (RFC 2606), so no network is needed to fail.
  const Result result = FirstResult(Probe("http://klaxon-test.invalid/"), index);
  EXPECT_EQ(result.success, 0);
  EXPECT_THAT(result.note, HasSubstr("klaxon-test.invalid"));
}

TEST(HttpProbeTest, RunsRepeatedlyAtItsInterval) {
  std::atomic<int> requests = 0;
  Target target([&](const HttpRequest&) {
    ++requests;
    return HttpResponse::Text(200, "ok");
  });
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  HttpProber prober({Probe(target.Url(), "a"), Probe(target.Url(), "b")}, index, clock,
                    collector.consumer());
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(6);
  prober.Stop();
  ASSERT_GE(batches.size(), 6u);
  int a = 0;
  int b = 0;
  for (const SampleBatch& batch : batches) {
    const absl::string_view name = index.Get(batch.samples[0].series).Get("probe");
    a += name == "a";
    b += name == "b";
    EXPECT_EQ(Decode(index, batch).success, 1);
  }
  EXPECT_GE(a, 2);
  EXPECT_GE(b, 2);
  EXPECT_GE(requests.load(), 6);
}

TEST(HttpProbeTest, StopReturnsPromptlyDuringARun) {
  absl::Notification in_handler;
  Target target([&](const HttpRequest&) {
    if (!in_handler.HasBeenNotified()) in_handler.Notify();
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return HttpResponse::Text(200, "late");
  });
  SeriesIndex index;
  RealClock clock;
  HttpProbeOptions options = Probe(target.Url());
  options.timeout = absl::Seconds(30);
  HttpProber prober({options}, index, clock, [](SampleBatch) {});
  ASSERT_TRUE(prober.Start().ok());
  ASSERT_TRUE(in_handler.WaitForNotificationWithTimeout(absl::FromChrono(kWaitLimit)));
  const auto start = std::chrono::steady_clock::now();
  prober.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  prober.Stop();  // idempotent
  target.Stop();
}

TEST(HttpProbeTest, StopWithoutStartAndIdleStopAreFine) {
  SeriesIndex index;
  RealClock clock;
  HttpProbeOptions options = Probe("http://127.0.0.1:1/");
  options.interval = absl::Hours(1);
  {
    HttpProber never_started({options}, index, clock, [](SampleBatch) {});
    never_started.Stop();
  }
  HttpProber idle({options}, index, clock, [](SampleBatch) {});
  ASSERT_TRUE(idle.Start().ok());
  EXPECT_EQ(idle.Start().code(), absl::StatusCode::kFailedPrecondition);
  const auto start = std::chrono::steady_clock::now();
  idle.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

}  // namespace
}  // namespace klaxon
