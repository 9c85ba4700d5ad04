#include "probes/http_probe.h"

#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
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
#include "detector/series_index.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "probes/connectivity.h"
#include "probes/internal/testing_tls_server.h"

namespace klaxon {
namespace {

using ::klaxon::probe_testing::MakeCertificates;
using ::klaxon::probe_testing::StallWatch;
using ::klaxon::probe_testing::TestCertificates;
using ::klaxon::probe_testing::TestingServer;
using ::klaxon::probe_testing::TestingServerOptions;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

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
  std::vector<SampleBatch> WaitFor(size_t n, std::chrono::seconds bound = kWaitLimit) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, bound, [&] { return batches_.size() >= n; });
    return batches_;
  }

  // Every batch so far, once `done` holds for them or the bound passed.
  std::vector<SampleBatch> WaitUntil(
      const std::function<bool(const std::vector<SampleBatch>&)>& done) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kWaitLimit, [&] { return done(batches_); });
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
  explicit Target(std::function<HttpResponse(const HttpRequest&)> handler,
                  absl::string_view listen = "127.0.0.1:0") {
    auto server = HttpServer::Start(listen, std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = std::move(*server);
  }
  std::string Url(absl::string_view path = "/health") const {
    return absl::StrCat("http://", server_->address(), path);
  }
  uint16_t port() const { return server_->port(); }
  void Stop() { server_->Stop(); }

 private:
  std::unique_ptr<HttpServer> server_;
};

// Requests as the target saw them.
class RequestLog {
 public:
  void Add(const HttpRequest& request) {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
  }
  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
};

// The first run comes at a spread offset within the interval: tests keep
// intervals short so that it comes soon.
HttpProbeOptions Probe(std::string url, std::string name = "checkout-home") {
  HttpProbeOptions options;
  options.name = std::move(name);
  options.service = "checkout";
  options.url = std::move(url);
  options.interval = absl::Milliseconds(100);
  options.timeout = absl::Seconds(2);
  return options;
}

// One result, by series: "probe_success", "probe_http_duration_seconds{connect}", ...
struct Result {
  std::map<std::string, double> values;
  std::string note;
  bool note_on_success_series = false;
  std::string probe;

  double Get(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? -1 : it->second;
  }
  double success() const { return Get("probe_success"); }
  double status() const { return Get("probe_http_status_code"); }
  double duration() const { return Get("probe_duration_seconds"); }
  double regex_failed() const { return Get("probe_failed_due_to_regex"); }
  double Phase(const std::string& phase) const {
    return Get(absl::StrCat("probe_http_duration_seconds{", phase, "}"));
  }
};

Result Decode(const SeriesIndex& index, const SampleBatch& batch) {
  Result result;
  SeriesId success_series = 0;
  for (const Sample& sample : batch.samples) {
    const Labels& labels = index.Get(sample.series);
    std::string key(labels.MetricName());
    if (labels.Has("phase")) absl::StrAppend(&key, "{", labels.Get("phase"), "}");
    result.values[key] = sample.value;
    if (labels.MetricName() == "probe_success") {
      success_series = sample.series;
      result.probe = std::string(labels.Get("probe"));
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
  const absl::Status started = prober.Start();
  EXPECT_TRUE(started.ok()) << started;
  std::vector<SampleBatch> batches = collector.WaitFor(1);
  prober.Stop();
  if (batches.empty()) {
    ADD_FAILURE() << "no result within the bound";
    return {};
  }
  return Decode(index, batches[0]);
}

Result FirstResult(HttpProbeOptions options) {
  SeriesIndex index;
  return FirstResult(std::move(options), index);
}

// A loopback port with nobody listening: bound a moment ago, closed now.
uint16_t ClosedPort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

// A file in a fresh temp dir, removed with it.
class TempFile {
 public:
  TempFile(absl::string_view name, absl::string_view contents) {
    char dir[] = "/tmp/klaxon-http-probe-XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = absl::StrCat(dir_, "/", name);
    std::ofstream(path_) << contents;
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

TEST(HttpProbeTest, SuccessEmitsEveryBlackboxSeriesAndEmptyNote) {
  RequestLog log;
  Target target([&](const HttpRequest& request) {
    log.Add(request);
    return HttpResponse::Text(200, "ok");
  });
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  HttpProber prober({Probe(target.Url())}, index, clock, collector.consumer());
  const int64_t before_ms = absl::ToUnixMillis(clock.WallNow());
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(1);
  prober.Stop();
  ASSERT_FALSE(batches.empty());

  const SampleBatch& batch = batches[0];
  const Result result = Decode(index, batch);
  EXPECT_EQ(result.success(), 1);
  EXPECT_EQ(result.status(), 200);
  EXPECT_GT(result.duration(), 0);
  EXPECT_LT(result.duration(), 2);
  EXPECT_EQ(result.Get("probe_http_redirects"), 0);
  EXPECT_EQ(result.Get("probe_http_ssl"), 0);
  EXPECT_EQ(result.regex_failed(), 0);
  EXPECT_EQ(result.Get("probe_ssl_earliest_cert_expiry"), -1) << "no TLS, no expiry series";
  EXPECT_EQ(result.note, "");
  EXPECT_TRUE(result.note_on_success_series);
  // The phases are the parts of the whole: none negative, none missing, and
  // together no longer than the probe (curl counts in microseconds).
  double sum = 0;
  for (const char* phase : {"resolve", "connect", "tls", "processing", "transfer"}) {
    const double value = result.Phase(phase);
    EXPECT_GE(value, 0) << phase;
    sum += value;
  }
  EXPECT_EQ(result.Phase("tls"), 0) << "plain HTTP has no TLS phase";
  EXPECT_LE(sum, result.duration() + 1e-6);
  EXPECT_GE(sum, result.duration() * 0.5);
  EXPECT_EQ(result.values.size(), 11u);
  for (const Sample& sample : batch.samples) {
    EXPECT_GE(sample.timestamp_ms, before_ms);
    EXPECT_EQ(sample.timestamp_ms, batch.samples[0].timestamp_ms);
    const Labels& labels = index.Get(sample.series);
    EXPECT_EQ(labels.Get("probe"), "checkout-home");
    EXPECT_EQ(labels.Get("service"), "checkout");
    EXPECT_EQ(labels.size(), labels.Has("phase") ? 4u : 3u);
  }
  ASSERT_GE(log.requests().size(), 1u);
  const HttpRequest request = log.requests()[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.path, "/health");
  EXPECT_EQ(request.Header("user-agent"), "klaxon");
  EXPECT_EQ(request.Header("authorization"), "");
}

TEST(HttpProbeTest, SeriesAreInternedOnceAndServiceOmittedWhenEmpty) {
  SeriesIndex index;
  RealClock clock;
  HttpProbeOptions options = Probe("http://127.0.0.1:1/", "no-service");
  options.service = "";
  HttpProber prober({options}, index, clock, [](SampleBatch) {});
  // success, duration, 5 phases, status, redirects, ssl, cert expiry, regex.
  EXPECT_EQ(index.size(), 12u);
  Labels expected({{std::string(kMetricNameLabel), "probe_success"}, {"probe", "no-service"}});
  const size_t size_before = index.size();
  EXPECT_EQ(index.Get(index.Intern(expected)), expected);
  EXPECT_EQ(index.size(), size_before) << "probe_success{probe=no-service} was already interned";
}

TEST(HttpProbeTest, Status503FailsWithReason) {
  Target target([](const HttpRequest&) { return HttpResponse::Text(503, "down"); });
  const Result result = FirstResult(Probe(target.Url()));
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.status(), 503);
  EXPECT_EQ(result.regex_failed(), 0);
  EXPECT_EQ(result.note, "status 503 (expected 2xx)");
}

TEST(HttpProbeTest, ExpectStatusCodesAndRanges) {
  Target target([](const HttpRequest& request) {
    return HttpResponse::Text(request.path == "/missing" ? 404 : 204, "");
  });
  HttpProbeOptions accepting = Probe(target.Url("/"), "accepts-204");
  accepting.expect_status = {{200, 200}, {204, 204}};
  const Result ok = FirstResult(accepting);
  EXPECT_EQ(ok.success(), 1);
  EXPECT_EQ(ok.status(), 204);

  HttpProbeOptions missing = Probe(target.Url("/missing"), "gets-404");
  missing.expect_status = {{200, 200}, {204, 204}};
  const Result failed = FirstResult(missing);
  EXPECT_EQ(failed.success(), 0);
  EXPECT_EQ(failed.status(), 404);
  EXPECT_EQ(failed.note, "status 404 (expected 200, 204)");

  HttpProbeOptions ranges = Probe(target.Url("/missing"), "ranges");
  ranges.expect_status = {{200, 299}, {301, 302}};
  EXPECT_EQ(FirstResult(ranges).note, "status 404 (expected 2xx, 301-302)");

  HttpProbeOptions wants_4xx = Probe(target.Url("/missing"), "wants-4xx");
  wants_4xx.expect_status = {{400, 499}};
  EXPECT_EQ(FirstResult(wants_4xx).success(), 1);
}

TEST(HttpProbeTest, ExpectBodyAndBodyNot) {
  Target target([](const HttpRequest&) {
    return HttpResponse::Text(200, "status: degraded, error count 3");
  });
  HttpProbeOptions mismatch = Probe(target.Url(), "wants-ok");
  mismatch.expect_body = "ok";
  const Result failed = FirstResult(mismatch);
  EXPECT_EQ(failed.success(), 0);
  EXPECT_EQ(failed.status(), 200);
  EXPECT_EQ(failed.regex_failed(), 1);
  EXPECT_EQ(failed.note, "body did not match \"ok\"");

  HttpProbeOptions match = Probe(target.Url(), "wants-status");
  match.expect_body = "status: (ok|degraded)";
  const Result passed = FirstResult(match);
  EXPECT_EQ(passed.success(), 1);
  EXPECT_EQ(passed.regex_failed(), 0);

  HttpProbeOptions forbidden = Probe(target.Url(), "no-errors");
  forbidden.expect_body_not = "error";
  const Result matched_forbidden = FirstResult(forbidden);
  EXPECT_EQ(matched_forbidden.success(), 0);
  EXPECT_EQ(matched_forbidden.regex_failed(), 1);
  EXPECT_EQ(matched_forbidden.note, "body matched forbidden \"error\"");

  HttpProbeOptions clean = Probe(target.Url(), "no-panic");
  clean.expect_body_not = "panic";
  EXPECT_EQ(FirstResult(clean).success(), 1);
}

TEST(HttpProbeTest, ExpectHeader) {
  Target target([](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text(200, "ok");
    response.headers.push_back({"X-Version", "1.2.3"});
    return response;
  });
  HttpProbeOptions matching = Probe(target.Url(), "version-1");
  matching.expect_header = {{"x-version", "^1\\."}, {"Content-Type", "text/plain"}};
  EXPECT_EQ(FirstResult(matching).success(), 1);

  HttpProbeOptions wrong = Probe(target.Url(), "version-2");
  wrong.expect_header = {{"X-Version", "^2\\."}};
  const Result mismatch = FirstResult(wrong);
  EXPECT_EQ(mismatch.success(), 0);
  EXPECT_EQ(mismatch.regex_failed(), 1);
  EXPECT_EQ(mismatch.note, "header \"X-Version\" value \"1.2.3\" did not match \"^2\\.\"");

  HttpProbeOptions absent = Probe(target.Url(), "wants-etag");
  absent.expect_header = {{"ETag", "."}};
  const Result missing = FirstResult(absent);
  EXPECT_EQ(missing.success(), 0);
  EXPECT_EQ(missing.regex_failed(), 1);
  EXPECT_EQ(missing.note, "header \"ETag\" missing");
}

TEST(HttpProbeTest, MethodHeadersAndBodyReachTheTarget) {
  RequestLog log;
  Target target([&](const HttpRequest& request) {
    log.Add(request);
    return HttpResponse::Text(200, "ok");
  });
  HttpProbeOptions post = Probe(target.Url("/submit"), "post");
  post.method = "POST";
  post.body = R"({"ping":true})";
  post.headers = {{"Content-Type", "application/json"}, {"X-Probe", "klaxon-1"}};
  EXPECT_EQ(FirstResult(post).success(), 1);

  HttpProbeOptions put = Probe(target.Url("/thing"), "put");
  put.method = "PUT";
  put.body = "payload";
  EXPECT_EQ(FirstResult(put).success(), 1);

  HttpProbeOptions del = Probe(target.Url("/thing"), "delete");
  del.method = "DELETE";
  EXPECT_EQ(FirstResult(del).success(), 1);

  HttpProbeOptions head = Probe(target.Url("/thing"), "head");
  head.method = "HEAD";
  const Result head_result = FirstResult(head);
  EXPECT_EQ(head_result.success(), 1);
  EXPECT_LT(head_result.duration(), 1) << "HEAD must not wait for a body";

  const std::vector<HttpRequest> requests = log.requests();
  ASSERT_GE(requests.size(), 4u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/submit");
  EXPECT_EQ(requests[0].body, R"({"ping":true})");
  EXPECT_EQ(requests[0].Header("content-type"), "application/json");
  EXPECT_EQ(requests[0].Header("x-probe"), "klaxon-1");
  EXPECT_EQ(requests[1].method, "PUT");
  EXPECT_EQ(requests[1].body, "payload");
  EXPECT_EQ(requests[2].method, "DELETE");
  EXPECT_EQ(requests[2].body, "");
  EXPECT_EQ(requests[3].method, "HEAD");
}

TEST(HttpProbeTest, BasicAndBearerAuthReachTheTargetAndNeverAReason) {
  RequestLog log;
  Target target([&](const HttpRequest& request) {
    log.Add(request);
    // An echo of what the probe sent: the reason quotes it below.
    HttpResponse response = HttpResponse::Text(200, "ok");
    response.headers.push_back({"X-Echo", std::string(request.Header("authorization"))});
    return response;
  });
  HttpProbeOptions basic = Probe(target.Url(), "basic");
  basic.basic_auth_user = "ops";
  basic.basic_auth_password = "hunter2-secret";
  basic.expect_header = {{"X-Echo", "^Digest"}};
  const Result basic_result = FirstResult(basic);

  HttpProbeOptions bearer = Probe(target.Url(), "bearer");
  bearer.bearer_token = "tok-abc123";
  bearer.expect_header = {{"X-Echo", "^Digest"}};
  const Result bearer_result = FirstResult(bearer);

  const std::vector<HttpRequest> requests = log.requests();
  ASSERT_GE(requests.size(), 2u);
  // base64("ops:hunter2-secret")
  EXPECT_EQ(requests[0].Header("authorization"), "Basic b3BzOmh1bnRlcjItc2VjcmV0");
  EXPECT_EQ(requests[1].Header("authorization"), "Bearer tok-abc123");

  EXPECT_EQ(basic_result.success(), 0);
  EXPECT_THAT(basic_result.note, HasSubstr("X-Echo"));
  EXPECT_EQ(bearer_result.success(), 0);
  EXPECT_THAT(bearer_result.note,
              AllOf(HasSubstr("X-Echo"), HasSubstr("<redacted>"), Not(HasSubstr("tok-abc123"))));
}

TEST(HttpProbeTest, MaxLatency) {
  Target target([](const HttpRequest& request) {
    if (request.path == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return HttpResponse::Text(200, "ok");
  });
  HttpProbeOptions slow = Probe(target.Url("/slow"), "slow");
  slow.interval = absl::Milliseconds(400);
  slow.max_latency = absl::Milliseconds(100);
  const Result failed = FirstResult(slow);
  EXPECT_EQ(failed.success(), 0);
  EXPECT_EQ(failed.status(), 200);
  EXPECT_GE(failed.duration(), 0.3);
  EXPECT_THAT(failed.note, AllOf(StartsWith("slow: "), HasSubstr("ms, max_latency 100ms")));

  HttpProbeOptions fast = Probe(target.Url("/fast"), "fast");
  fast.max_latency = absl::Seconds(1);
  EXPECT_EQ(FirstResult(fast).success(), 1);
}

TEST(HttpProbeTest, FollowRedirectsOnAndOff) {
  Target target([](const HttpRequest& request) {
    if (request.path == "/old") {
      HttpResponse response = HttpResponse::Text(302, "moved");
      response.headers.push_back({"Location", "/new"});
      return response;
    }
    return HttpResponse::Text(request.path == "/new" ? 200 : 404, "new");
  });
  const Result followed = FirstResult(Probe(target.Url("/old"), "follows"));
  EXPECT_EQ(followed.success(), 1);
  EXPECT_EQ(followed.status(), 200);
  EXPECT_EQ(followed.Get("probe_http_redirects"), 1);

  HttpProbeOptions stays = Probe(target.Url("/old"), "stays");
  stays.follow_redirects = false;
  const Result stayed = FirstResult(stays);
  EXPECT_EQ(stayed.success(), 0);
  EXPECT_EQ(stayed.status(), 302);
  EXPECT_EQ(stayed.Get("probe_http_redirects"), 0);
  EXPECT_EQ(stayed.note, "status 302 (expected 2xx)");
}

TEST(HttpProbeTest, IpFamilyPicksBetweenIpv4AndIpv6) {
  // "localhost" is 127.0.0.1 and ::1 to curl, whatever /etc/hosts says. This
  // test needs ::1: a sandbox without it must fail here, not pass quietly.
  Target v6([](const HttpRequest&) { return HttpResponse::Text(200, "v6"); }, "[::1]:0");
  ASSERT_NE(v6.port(), 0) << "cannot listen on [::1]";
  const std::string v6_url = absl::StrCat("http://localhost:", v6.port(), "/");

  HttpProbeOptions over_v6 = Probe(v6_url, "over-v6");
  over_v6.ip_family = IpFamily::kIPv6;
  EXPECT_EQ(FirstResult(over_v6).success(), 1);

  HttpProbeOptions over_v4 = Probe(v6_url, "over-v4");
  over_v4.ip_family = IpFamily::kIPv4;
  const Result v4_result = FirstResult(over_v4);
  EXPECT_EQ(v4_result.success(), 0);
  EXPECT_EQ(v4_result.note, "connection refused");

  Target v4([](const HttpRequest&) { return HttpResponse::Text(200, "v4"); });
  const std::string v4_url = absl::StrCat("http://localhost:", v4.port(), "/");
  HttpProbeOptions v4_over_v6 = Probe(v4_url, "v4-over-v6");
  v4_over_v6.ip_family = IpFamily::kIPv6;
  EXPECT_EQ(FirstResult(v4_over_v6).success(), 0);
  HttpProbeOptions v4_over_v4 = Probe(v4_url, "v4-over-v4");
  v4_over_v4.ip_family = IpFamily::kIPv4;
  EXPECT_EQ(FirstResult(v4_over_v4).success(), 1);

  HttpProbeOptions literal = Probe(absl::StrCat("http://[::1]:", v6.port(), "/"), "literal");
  literal.ip_family = IpFamily::kIPv6;
  EXPECT_EQ(FirstResult(literal).success(), 1);
}

constexpr char kOkResponse[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

std::unique_ptr<TestingServer> TlsServer(const TestCertificates& certs) {
  TestingServerOptions options;
  options.tls = certs;
  options.reply = kOkResponse;
  auto server = TestingServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(HttpProbeTest, TlsUntrustedTrustedByCaFileAndUnverified) {
  absl::StatusOr<TestCertificates> certs = MakeCertificates(absl::Hours(24 * 30));
  ASSERT_TRUE(certs.ok()) << certs.status();
  std::unique_ptr<TestingServer> server = TlsServer(*certs);
  ASSERT_NE(server, nullptr);
  TempFile ca_file("ca.pem", certs->ca_pem);

  const Result untrusted = FirstResult(Probe(server->Url("/"), "untrusted"));
  EXPECT_EQ(untrusted.success(), 0);
  EXPECT_EQ(untrusted.status(), 0);
  EXPECT_EQ(untrusted.note,
            "TLS certificate not trusted: self-signed certificate in certificate chain");

  HttpProbeOptions trusting = Probe(server->Url("/"), "trusting");
  trusting.tls_ca_file = ca_file.path();
  const Result trusted = FirstResult(trusting);
  EXPECT_EQ(trusted.success(), 1) << trusted.note;
  EXPECT_EQ(trusted.status(), 200);
  EXPECT_EQ(trusted.Get("probe_http_ssl"), 1);
  EXPECT_EQ(trusted.Get("probe_ssl_earliest_cert_expiry"), certs->leaf_not_after);
  EXPECT_GT(trusted.Phase("tls"), 0);
  EXPECT_LE(trusted.Phase("tls"), trusted.duration());

  HttpProbeOptions unverified = Probe(server->Url("/"), "unverified");
  unverified.tls_verify = false;
  const Result accepted = FirstResult(unverified);
  EXPECT_EQ(accepted.success(), 1) << accepted.note;
  EXPECT_EQ(accepted.Get("probe_http_ssl"), 1);
  EXPECT_EQ(accepted.Get("probe_ssl_earliest_cert_expiry"), certs->leaf_not_after);
}

TEST(HttpProbeTest, TlsMinDays) {
  // An hour over whole days, so that the days left do not round down while
  // the test runs.
  absl::StatusOr<TestCertificates> short_lived = MakeCertificates(absl::Hours(24 * 3 + 1));
  absl::StatusOr<TestCertificates> long_lived = MakeCertificates(absl::Hours(24 * 30 + 1));
  ASSERT_TRUE(short_lived.ok() && long_lived.ok());
  std::unique_ptr<TestingServer> expiring = TlsServer(*short_lived);
  std::unique_ptr<TestingServer> fine = TlsServer(*long_lived);
  ASSERT_TRUE(expiring != nullptr && fine != nullptr);

  HttpProbeOptions soon = Probe(expiring->Url("/"), "expiring");
  soon.tls_verify = false;
  soon.tls_min_days = 14;
  const Result failed = FirstResult(soon);
  EXPECT_EQ(failed.success(), 0);
  EXPECT_EQ(failed.status(), 200);
  EXPECT_EQ(failed.note, "TLS certificate expires in 3 days (tls_min_days 14)");
  EXPECT_EQ(failed.Get("probe_ssl_earliest_cert_expiry"), short_lived->leaf_not_after);

  HttpProbeOptions later = Probe(fine->Url("/"), "fine");
  later.tls_verify = false;
  later.tls_min_days = 14;
  EXPECT_EQ(FirstResult(later).success(), 1);
}

TEST(HttpProbeTest, EarliestExpiryIsTheEarliestOfTheChain) {
  // A CA that expires before its leaf: the chain expires with the CA.
  absl::StatusOr<TestCertificates> certs =
      MakeCertificates(absl::Hours(24 * 90), /*ca_valid=*/absl::Hours(24 * 20));
  ASSERT_TRUE(certs.ok());
  std::unique_ptr<TestingServer> server = TlsServer(*certs);
  ASSERT_NE(server, nullptr);
  HttpProbeOptions options = Probe(server->Url("/"), "chain");
  options.tls_verify = false;
  options.tls_min_days = 30;
  const Result result = FirstResult(options);
  EXPECT_EQ(result.Get("probe_ssl_earliest_cert_expiry"), certs->ca_not_after);
  EXPECT_EQ(result.success(), 0);
  EXPECT_THAT(result.note, HasSubstr("expires in 19 days (tls_min_days 30)"));
}

TEST(HttpProbeTest, TimeoutNamesThePhase) {
  // Connecting: a listener whose one-slot backlog is already full drops the
  // probe's SYN, so the connection never completes.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor full(ioc);
  full.open(boost::asio::ip::tcp::v4());
  full.bind({boost::asio::ip::address_v4::loopback(), 0});
  full.listen(0);
  boost::asio::ip::tcp::socket filler(ioc);
  filler.connect(full.local_endpoint());
  HttpProbeOptions connecting =
      Probe(absl::StrCat("http://127.0.0.1:", full.local_endpoint().port(), "/"), "connecting");
  connecting.timeout = absl::Milliseconds(300);
  connecting.interval = absl::Milliseconds(400);
  const Result connect_result = FirstResult(connecting);
  EXPECT_EQ(connect_result.success(), 0);
  EXPECT_EQ(connect_result.note, "timeout after 300ms while connecting");
  EXPECT_GE(connect_result.duration(), 0.29);

  // TLS: a server that accepts and never answers the handshake.
  absl::StatusOr<TestCertificates> certs = MakeCertificates(absl::Hours(24 * 30));
  ASSERT_TRUE(certs.ok());
  TestingServerOptions silent;
  silent.tls = *certs;
  silent.handshake = false;
  auto stalled_tls = TestingServer::Start(silent);
  ASSERT_TRUE(stalled_tls.ok());
  HttpProbeOptions handshake = Probe((*stalled_tls)->Url("/"), "handshake");
  handshake.timeout = absl::Milliseconds(300);
  handshake.interval = absl::Milliseconds(400);
  EXPECT_EQ(FirstResult(handshake).note, "timeout after 300ms during the TLS handshake");

  // Body: headers and part of the body, then nothing.
  TestingServerOptions partial;
  partial.reply = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf";
  partial.hold = true;
  auto stalled_body = TestingServer::Start(partial);
  ASSERT_TRUE(stalled_body.ok());
  HttpProbeOptions body = Probe((*stalled_body)->Url("/"), "body");
  body.timeout = absl::Milliseconds(300);
  body.interval = absl::Milliseconds(400);
  const Result body_result = FirstResult(body);
  EXPECT_EQ(body_result.note, "timeout after 300ms reading the body");
  EXPECT_EQ(body_result.status(), 200);
}

TEST(HttpProbeTest, SlowTargetTimesOutWaitingForTheResponse) {
  // The handler blocks the server's only I/O thread, so it sleeps only a little
  // longer than the probe's timeout and the server is stopped after the prober.
  Target target([](const HttpRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return HttpResponse::Text(200, "late");
  });
  HttpProbeOptions options = Probe(target.Url());
  options.interval = absl::Milliseconds(400);
  options.timeout = absl::Milliseconds(200);
  const Result result = FirstResult(options);
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.note, "timeout after 200ms waiting for the response");
  EXPECT_GE(result.duration(), 0.19);
  target.Stop();
}

TEST(HttpProbeTest, ConnectionRefused) {
  const Result result = FirstResult(Probe(absl::StrCat("http://127.0.0.1:", ClosedPort(), "/")));
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.status(), 0);
  EXPECT_EQ(result.note, "connection refused");
}

TEST(HttpProbeTest, DnsFailureNamesTheHost) {
  // .invalid never resolves (RFC 2606), so no network is needed to fail; the
  // probe's timeout bounds the lookup if a resolver does not answer.
  HttpProbeOptions options = Probe("http://klaxon-test.invalid/");
  options.timeout = absl::Seconds(3);
  const Result result = FirstResult(options);
  EXPECT_EQ(result.success(), 0);
  EXPECT_THAT(result.note, AnyOf(Eq("DNS lookup failed for klaxon-test.invalid"),
                                 Eq("timeout after 3s resolving the host name")));
}

TEST(HttpProbeTest, InvalidOptionsAreRejectedByStartNamingTheProbe) {
  SeriesIndex index;
  RealClock clock;
  auto start_error = [&](HttpProbeOptions options) {
    HttpProber prober({options}, index, clock, [](SampleBatch) {});
    return prober.Start();
  };
  HttpProbeOptions bad_regex = Probe("http://127.0.0.1:1/", "bad-regex");
  bad_regex.expect_body = "(unclosed";
  absl::Status status = start_error(bad_regex);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("bad-regex"), HasSubstr("expect_body")));

  HttpProbeOptions bad_header = Probe("http://127.0.0.1:1/", "bad-header");
  bad_header.headers = {{"X-Injected", "a\r\nEvil: yes"}};
  EXPECT_THAT(start_error(bad_header).message(), HasSubstr("line break"));

  HttpProbeOptions bad_method = Probe("http://127.0.0.1:1/", "bad-method");
  bad_method.method = "GET /x";
  EXPECT_EQ(start_error(bad_method).code(), absl::StatusCode::kInvalidArgument);

  HttpProbeOptions bad_url = Probe("http://user:pw-secret@[::1/", "bad-url");
  status = start_error(bad_url);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), Not(HasSubstr("pw-secret")));

  HttpProbeOptions ftp = Probe("ftp://127.0.0.1/", "ftp");
  EXPECT_THAT(start_error(ftp).message(), HasSubstr("not http or https"));

  HttpProbeOptions bad_range = Probe("http://127.0.0.1:1/", "bad-range");
  bad_range.expect_status = {{299, 200}};
  EXPECT_EQ(start_error(bad_range).code(), absl::StatusCode::kInvalidArgument);

  HttpProbeOptions no_ca = Probe("https://127.0.0.1:1/", "no-ca");
  no_ca.tls_ca_file = "/nonexistent/ca.pem";
  EXPECT_THAT(start_error(no_ca).message(), HasSubstr("tls_ca_file"));
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
    const Result result = Decode(index, batch);
    a += result.probe == "a";
    b += result.probe == "b";
    EXPECT_EQ(result.success(), 1);
  }
  EXPECT_GE(a, 2);
  EXPECT_GE(b, 2);
  EXPECT_GE(requests.load(), 6);
}

TEST(HttpProbeTest, FreshConnectionPerRunUnlessReuseConnection) {
  // A keep-alive server: a probe that reuses needs one connection for all its
  // runs, one that does not opens one per run, as a first visit would.
  TestingServerOptions keep_alive;
  keep_alive.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  keep_alive.keep_alive = true;
  auto fresh_server = TestingServer::Start(keep_alive);
  auto reuse_server = TestingServer::Start(keep_alive);
  ASSERT_TRUE(fresh_server.ok() && reuse_server.ok());
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  HttpProbeOptions fresh = Probe((*fresh_server)->Url("/"), "fresh");
  HttpProbeOptions reuse = Probe((*reuse_server)->Url("/"), "reuse");
  fresh.interval = reuse.interval = absl::Milliseconds(50);
  reuse.reuse_connection = true;
  HttpProber prober({fresh, reuse}, index, clock, collector.consumer());
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(8);
  prober.Stop();
  ASSERT_GE(batches.size(), 8u);
  int fresh_runs = 0;
  int reuse_runs = 0;
  for (const SampleBatch& batch : batches) {
    const Result result = Decode(index, batch);
    EXPECT_EQ(result.success(), 1) << result.probe << ": " << result.note;
    fresh_runs += result.probe == "fresh";
    reuse_runs += result.probe == "reuse";
  }
  ASSERT_GE(fresh_runs, 2);
  ASSERT_GE(reuse_runs, 2);
  EXPECT_GE((*fresh_server)->connections(), fresh_runs);
  EXPECT_EQ((*reuse_server)->connections(), 1);
}

TEST(HttpProbeTest, FirstRunsAreSpreadOverTheInterval) {
  Target target([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  constexpr int kProbes = 40;
  std::vector<HttpProbeOptions> options;
  for (int i = 0; i < kProbes; ++i) {
    HttpProbeOptions probe = Probe(target.Url(), absl::StrCat("spread-", i));
    probe.interval = absl::Seconds(1);
    options.push_back(probe);
  }
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  HttpProber prober(options, index, clock, collector.consumer());
  StallWatch machine;
  const int64_t start_ms = absl::ToUnixMillis(clock.WallNow());
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(kProbes);
  prober.Stop();
  const int64_t stall_ms = absl::ToInt64Milliseconds(machine.Stop());
  ASSERT_GE(batches.size(), static_cast<size_t>(kProbes));
  std::map<std::string, int64_t> first_ms;
  for (const SampleBatch& batch : batches) {
    const Result result = Decode(index, batch);
    first_ms.try_emplace(result.probe, batch.samples[0].timestamp_ms - start_ms);
  }
  ASSERT_EQ(first_ms.size(), static_cast<size_t>(kProbes)) << "each probe ran once in 1s";
  // Evenly spread, 40 first runs make 8 per 200ms; a stalled machine bunches
  // those due during the stall with the next ones.
  int buckets[5] = {};
  int64_t earliest = 1000;
  int64_t latest = 0;
  for (const auto& [name, ms] : first_ms) {
    EXPECT_LT(ms, 1000 + 200 + stall_ms) << name;
    earliest = std::min(earliest, ms);
    latest = std::max(latest, ms);
    ++buckets[std::clamp<int64_t>(ms / 200, 0, 4)];
  }
  EXPECT_GE(latest - earliest, 500) << "first runs bunched together";
  for (int count : buckets) EXPECT_LE(count, 16 + kProbes * stall_ms / 1000);
}

TEST(HttpProbeTest, ManyProbesStartOnTime) {
  Target target([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  constexpr int kProbes = 500;
  std::vector<HttpProbeOptions> options;
  for (int i = 0; i < kProbes; ++i) {
    HttpProbeOptions probe = Probe(target.Url(), absl::StrCat("load-", i));
    probe.interval = absl::Seconds(1);
    options.push_back(probe);
  }
  SeriesIndex index;
  RealClock clock;
  std::atomic<int> results = 0;
  std::atomic<int> failures = 0;
  HttpProber prober(options, index, clock, [&](SampleBatch batch) {
    ++results;
    if (batch.samples[0].value != 1) ++failures;
  });
  StallWatch machine;
  ASSERT_TRUE(prober.Start().ok());
  // Two full intervals: every probe starts twice.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (results.load() < 2 * kProbes && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  prober.Stop();
  // A machine that kept every thread off the CPU for a while makes any run due
  // then late by as much; beyond that, lateness is the prober's.
  const absl::Duration stall = machine.Stop();
  const ProberStats stats = prober.stats();
  EXPECT_GE(results.load(), 2 * kProbes);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(stats.runs_started, 2u * kProbes);
  EXPECT_EQ(stats.runs_skipped, 0u);
  EXPECT_LE(stats.max_start_lateness, absl::Milliseconds(100) + stall)
      << stats.started_late << " runs started more than 100ms late; the machine stalled " << stall;
  if (stall < absl::Milliseconds(20)) EXPECT_EQ(stats.started_late, 0u);
  EXPECT_EQ(stats.lateness_buckets[0] + stats.lateness_buckets[1] + stats.lateness_buckets[2] +
                stats.lateness_buckets[3],
            stats.runs_started);
}

TEST(HttpProbeTest, CanariesFailingMarkOtherFailuresAsMonitorCutOff) {
  const uint16_t closed = ClosedPort();
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  ConnectivityMonitor monitor({"canary-a", "canary-b"}, index, clock, collector.consumer());
  HttpProbeOptions canary_a = Probe(absl::StrCat("http://127.0.0.1:", closed, "/a"), "canary-a");
  HttpProbeOptions canary_b = Probe(absl::StrCat("http://127.0.0.1:", closed, "/b"), "canary-b");
  canary_a.canary = canary_b.canary = true;
  HttpProbeOptions target = Probe(absl::StrCat("http://127.0.0.1:", closed, "/"), "target");
  HttpProber prober({canary_a, canary_b, target}, index, clock, collector.consumer(), &monitor);
  ASSERT_TRUE(prober.Start().ok());
  // By the target's third run both canaries (same interval) have reported.
  auto target_results = [&](const std::vector<SampleBatch>& batches) {
    std::vector<Result> results;
    for (const SampleBatch& batch : batches) {
      Result result = Decode(index, batch);
      if (result.probe == "target") results.push_back(std::move(result));
    }
    return results;
  };
  std::vector<SampleBatch> batches = collector.WaitUntil(
      [&](const std::vector<SampleBatch>& b) { return target_results(b).size() >= 3; });
  prober.Stop();
  const std::vector<Result> results = target_results(batches);
  ASSERT_GE(results.size(), 3u);
  EXPECT_EQ(results.back().success(), 0);
  EXPECT_EQ(results.back().note, "monitor cut off (connection refused)");
  EXPECT_TRUE(monitor.CutOff());
  double connectivity_up = -1;
  for (const SampleBatch& batch : batches) {
    for (const Sample& sample : batch.samples) {
      if (index.Get(sample.series).MetricName() == "klaxon_connectivity_up") {
        connectivity_up = sample.value;
      }
    }
    // Canaries are probes too: their own results carry their own reasons.
    const Result result = Decode(index, batch);
    if (result.probe == "canary-a") EXPECT_EQ(result.note, "connection refused");
  }
  EXPECT_EQ(connectivity_up, 0);
}

TEST(HttpProbeTest, OneCanaryUpKeepsReasonsAsTheyAre) {
  Target up([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  const uint16_t closed = ClosedPort();
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  ConnectivityMonitor monitor({"canary-up", "canary-down"}, index, clock, collector.consumer());
  HttpProbeOptions canary_up = Probe(up.Url(), "canary-up");
  HttpProbeOptions canary_down =
      Probe(absl::StrCat("http://127.0.0.1:", closed, "/"), "canary-down");
  canary_up.canary = canary_down.canary = true;
  HttpProbeOptions target = Probe(absl::StrCat("http://127.0.0.1:", closed, "/"), "target");
  HttpProber prober({canary_up, canary_down, target}, index, clock, collector.consumer(), &monitor);
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitUntil([&](const std::vector<SampleBatch>& b) {
    int target_runs = 0;
    for (const SampleBatch& batch : b) target_runs += Decode(index, batch).probe == "target";
    return target_runs >= 3;
  });
  prober.Stop();
  std::string last_target_note;
  double connectivity_up = -1;
  for (const SampleBatch& batch : batches) {
    const Result result = Decode(index, batch);
    if (result.probe == "target") last_target_note = result.note;
    for (const Sample& sample : batch.samples) {
      if (index.Get(sample.series).MetricName() == "klaxon_connectivity_up") {
        connectivity_up = sample.value;
      }
    }
  }
  EXPECT_EQ(last_target_note, "connection refused");
  EXPECT_EQ(connectivity_up, 1);
  EXPECT_FALSE(monitor.CutOff());
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
