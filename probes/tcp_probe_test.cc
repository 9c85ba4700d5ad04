#include "probes/tcp_probe.h"

#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

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
#include "detector/clock.h"
#include "detector/labels.h"
#include "detector/series_index.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "probes/connectivity.h"
#include "probes/internal/testing_tls_server.h"

namespace klaxon {
namespace {

using ::klaxon::probe_testing::StallWatch;
using ::klaxon::probe_testing::TestingServer;
using ::klaxon::probe_testing::TestingServerOptions;
using ::testing::AnyOf;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr auto kWaitLimit = std::chrono::seconds(5);

class Collector {
 public:
  SampleConsumer consumer() {
    return [this](SampleBatch batch) {
      std::lock_guard lock(mu_);
      batches_.push_back(std::move(batch));
      cv_.notify_all();
    };
  }

  std::vector<SampleBatch> WaitUntil(
      const std::function<bool(const std::vector<SampleBatch>&)>& done) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kWaitLimit, [&] { return done(batches_); });
    return batches_;
  }

  std::vector<SampleBatch> WaitFor(size_t n) {
    return WaitUntil([n](const std::vector<SampleBatch>& b) { return b.size() >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SampleBatch> batches_;
};

struct Result {
  std::map<std::string, double> values;
  std::string note;
  std::string probe;
  double success() const { return Get("probe_success"); }
  double duration() const { return Get("probe_duration_seconds"); }
  double regex_failed() const { return Get("probe_failed_due_to_regex"); }
  double Get(const std::string& metric) const {
    auto it = values.find(metric);
    return it == values.end() ? -1 : it->second;
  }
};

Result Decode(const SeriesIndex& index, const SampleBatch& batch) {
  Result result;
  for (const Sample& sample : batch.samples) {
    const Labels& labels = index.Get(sample.series);
    result.values[std::string(labels.MetricName())] = sample.value;
    if (labels.MetricName() == "probe_success") {
      result.probe = std::string(labels.Get("probe"));
      for (const SeriesNote& note : batch.notes) {
        if (note.series == sample.series) result.note = note.text;
      }
    }
  }
  return result;
}

TcpProbeOptions Probe(std::string address, std::string name = "smtp") {
  TcpProbeOptions options;
  options.name = std::move(name);
  options.service = "mail";
  options.address = std::move(address);
  options.interval = absl::Milliseconds(100);
  options.timeout = absl::Seconds(2);
  return options;
}

Result FirstResult(TcpProbeOptions options) {
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  TcpProber prober({std::move(options)}, index, clock, collector.consumer());
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

std::unique_ptr<TestingServer> Server(TestingServerOptions options, bool ipv6 = false) {
  auto server = TestingServer::Start(std::move(options), ipv6);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

std::string Address(const TestingServer& server) {
  return absl::StrCat("127.0.0.1:", server.port());
}

uint16_t ClosedPort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

TEST(TcpProbeTest, ConnectSucceeds) {
  TestingServerOptions options;
  options.request_end = "";
  options.hold = true;
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  TcpProber prober({Probe(Address(*server))}, index, clock, collector.consumer());
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitFor(1);
  prober.Stop();
  ASSERT_FALSE(batches.empty());
  const Result result = Decode(index, batches[0]);
  EXPECT_EQ(result.success(), 1);
  EXPECT_EQ(result.note, "");
  EXPECT_EQ(result.regex_failed(), 0);
  EXPECT_GT(result.duration(), 0);
  EXPECT_LT(result.duration(), 1);
  EXPECT_EQ(result.values.size(), 3u);
  for (const Sample& sample : batches[0].samples) {
    EXPECT_EQ(index.Get(sample.series).Get("probe"), "smtp");
    EXPECT_EQ(index.Get(sample.series).Get("service"), "mail");
  }
  // The server's accept may run after the probe saw the connection complete.
  const auto accepted_by = std::chrono::steady_clock::now() + kWaitLimit;
  while (server->connections() == 0 && std::chrono::steady_clock::now() < accepted_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(server->connections(), 1);
}

TEST(TcpProbeTest, ConnectionRefused) {
  const Result result = FirstResult(Probe(absl::StrCat("127.0.0.1:", ClosedPort())));
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.note, "connection refused");
  EXPECT_EQ(result.regex_failed(), 0);
}

TEST(TcpProbeTest, SendAndExpectMatch) {
  TestingServerOptions options;
  options.request_end = "\n";
  options.reply = "+OK first\r\n+PONG\r\n";
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  TcpProbeOptions probe = Probe(Address(*server), "redis");
  probe.send = "PING";
  probe.expect = "^\\+PONG$";  // the line without its \r\n
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.success(), 1) << result.note;
  EXPECT_EQ(result.regex_failed(), 0);
  EXPECT_EQ(server->last_request(), "PING\n");
}

TEST(TcpProbeTest, BannerWithoutSendingAndLastLineWithoutNewline) {
  TestingServerOptions options;
  options.request_end = "";
  options.reply = "SSH-2.0-OpenSSH_9.2";  // and close: no newline at all
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  TcpProbeOptions probe = Probe(Address(*server), "ssh");
  probe.expect = "^SSH-2\\.0-";
  EXPECT_EQ(FirstResult(probe).success(), 1);
}

TEST(TcpProbeTest, ReplyThatDoesNotMatchQuotesTheLastLine) {
  TestingServerOptions options;
  options.request_end = "\n";
  options.reply = "220-hello\r\n554 go away\r\n";
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  TcpProbeOptions probe = Probe(Address(*server));
  probe.send = "EHLO klaxon\n";
  probe.expect = "^250 ";
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.regex_failed(), 1);
  EXPECT_EQ(result.note, "reply did not match \"^250 \": last line \"554 go away\"");
  EXPECT_EQ(server->last_request(), "EHLO klaxon\n") << "a newline is not doubled";
}

TEST(TcpProbeTest, LongLastLineIsCut) {
  TestingServerOptions options;
  options.request_end = "";
  options.reply = std::string(500, 'x') + "\n";
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  TcpProbeOptions probe = Probe(Address(*server));
  probe.expect = "^y";
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.note, absl::StrCat("reply did not match \"^y\": last line \"",
                                      std::string(80, 'x'), "...\""));
}

TEST(TcpProbeTest, TimeoutWaitingForAReply) {
  TestingServerOptions silent;
  silent.request_end = "\n";
  silent.hold = true;  // reads the line, answers nothing, keeps the connection
  std::unique_ptr<TestingServer> server = Server(silent);
  ASSERT_NE(server, nullptr);
  TcpProbeOptions probe = Probe(Address(*server));
  probe.send = "HELLO";
  probe.expect = "^OK";
  probe.timeout = absl::Milliseconds(300);
  probe.interval = absl::Milliseconds(400);
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.note, "timeout after 300ms waiting for a reply");
  EXPECT_EQ(result.regex_failed(), 0);
  EXPECT_GE(result.duration(), 0.29);

  TestingServerOptions wrong;
  wrong.request_end = "\n";
  wrong.reply = "BUSY\n";
  wrong.hold = true;
  std::unique_ptr<TestingServer> busy = Server(wrong);
  ASSERT_NE(busy, nullptr);
  probe.address = Address(*busy);
  const Result mismatch = FirstResult(probe);
  EXPECT_EQ(mismatch.note, "reply did not match \"^OK\" within 300ms: last line \"BUSY\"");
  EXPECT_EQ(mismatch.regex_failed(), 1);
}

TEST(TcpProbeTest, TimeoutWhileConnecting) {
  // A one-slot backlog already full: the probe's SYN is dropped.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor full(ioc);
  full.open(boost::asio::ip::tcp::v4());
  full.bind({boost::asio::ip::address_v4::loopback(), 0});
  full.listen(0);
  boost::asio::ip::tcp::socket filler(ioc);
  filler.connect(full.local_endpoint());
  TcpProbeOptions probe = Probe(absl::StrCat("127.0.0.1:", full.local_endpoint().port()));
  probe.timeout = absl::Milliseconds(300);
  probe.interval = absl::Milliseconds(400);
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.note, "timeout after 300ms while connecting");
}

TEST(TcpProbeTest, ConnectionClosedWithoutAReply) {
  TestingServerOptions options;
  options.request_end = "\n";  // reads the line, then closes without a word
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  TcpProbeOptions probe = Probe(Address(*server));
  probe.send = "QUIT";
  probe.expect = "^221";
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.success(), 0);
  EXPECT_EQ(result.note, "connection closed without a reply");
}

TEST(TcpProbeTest, IpFamilyPicksBetweenIpv4AndIpv6) {
  // Needs ::1: a sandbox without it must fail here, not pass quietly.
  TestingServerOptions options;
  options.request_end = "";
  options.hold = true;
  std::unique_ptr<TestingServer> v6 = Server(options, /*ipv6=*/true);
  ASSERT_NE(v6, nullptr) << "cannot listen on [::1]";
  const std::string localhost = absl::StrCat("localhost:", v6->port());

  TcpProbeOptions over_v6 = Probe(localhost, "over-v6");
  over_v6.ip_family = IpFamily::kIPv6;
  EXPECT_EQ(FirstResult(over_v6).success(), 1);

  TcpProbeOptions any = Probe(localhost, "any");
  EXPECT_EQ(FirstResult(any).success(), 1);

  TcpProbeOptions over_v4 = Probe(localhost, "over-v4");
  over_v4.ip_family = IpFamily::kIPv4;
  const Result refused = FirstResult(over_v4);
  EXPECT_EQ(refused.success(), 0);
  EXPECT_EQ(refused.note, "connection refused");

  TcpProbeOptions literal = Probe(absl::StrCat("[::1]:", v6->port()), "literal");
  EXPECT_EQ(FirstResult(literal).success(), 1);
  literal.ip_family = IpFamily::kIPv4;
  EXPECT_EQ(FirstResult(literal).note, "no IPv4 address for ::1");
}

TEST(TcpProbeTest, DnsFailureNamesTheHost) {
  TcpProbeOptions probe = Probe("klaxon-test.invalid:25");
  probe.timeout = absl::Seconds(3);
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.success(), 0);
  EXPECT_THAT(result.note, AnyOf(StartsWith("DNS lookup failed for klaxon-test.invalid"),
                                 Eq("timeout after 3s resolving klaxon-test.invalid")));
}

TEST(TcpProbeTest, HostNameGoesThroughTheSystemResolver) {
  // localhost and literals never reach the resolver; this machine's own name
  // does, and it is 127.0.0.1 only where /etc/hosts says so.
  char name[256] = {};
  ASSERT_EQ(gethostname(name, sizeof(name) - 1), 0);
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  bool loopback = false;
  if (getaddrinfo(name, nullptr, &hints, &found) == 0) {
    loopback = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr.s_addr ==
               htonl(INADDR_LOOPBACK);
    freeaddrinfo(found);
  }
  if (!loopback) GTEST_SKIP() << "host name " << name << " is not 127.0.0.1 here";
  TestingServerOptions options;
  options.request_end = "";
  options.reply = "hello\n";
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  TcpProbeOptions probe = Probe(absl::StrCat(name, ":", server->port()), "by-name");
  probe.expect = "^hello$";
  const Result result = FirstResult(probe);
  EXPECT_EQ(result.success(), 1) << result.note;
  probe.ip_family = IpFamily::kIPv6;
  EXPECT_THAT(FirstResult(probe).note,
              AnyOf(StartsWith(absl::StrCat("DNS lookup failed for ", name, " (IPv6 only)")),
                    Eq(absl::StrCat("timeout after 2s resolving ", name))));
}

TEST(TcpProbeTest, InvalidOptionsAreRejectedByStartNamingTheProbe) {
  SeriesIndex index;
  RealClock clock;
  auto start_error = [&](TcpProbeOptions options) {
    TcpProber prober({options}, index, clock, [](SampleBatch) {});
    return prober.Start();
  };
  for (const char* address : {"no-port", "host:0", "host:99999", "::1:25", ":25", "[nope]:25"}) {
    const absl::Status status = start_error(Probe(address, "bad-address"));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(status.message(), HasSubstr("bad-address")) << address;
  }
  TcpProbeOptions bad_regex = Probe("127.0.0.1:25", "bad-regex");
  bad_regex.expect = "(";
  EXPECT_THAT(start_error(bad_regex).message(), HasSubstr("expect"));
}

TEST(TcpProbeTest, ManyProbesStartOnTimeAndRepeat) {
  TestingServerOptions options;
  options.request_end = "";
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  constexpr int kProbes = 200;
  std::vector<TcpProbeOptions> probes;
  for (int i = 0; i < kProbes; ++i) {
    TcpProbeOptions probe = Probe(Address(*server), absl::StrCat("tcp-", i));
    probe.interval = absl::Milliseconds(500);
    probes.push_back(probe);
  }
  SeriesIndex index;
  RealClock clock;
  std::atomic<int> results = 0;
  std::atomic<int> failures = 0;
  TcpProber prober(probes, index, clock, [&](SampleBatch batch) {
    ++results;
    if (batch.samples[0].value != 1) ++failures;
  });
  StallWatch machine;
  ASSERT_TRUE(prober.Start().ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (results.load() < 2 * kProbes && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  prober.Stop();
  // Lateness beyond what the machine did to every thread is the prober's.
  const absl::Duration stall = machine.Stop();
  const ProberStats stats = prober.stats();
  EXPECT_GE(results.load(), 2 * kProbes);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(stats.runs_started, 2u * kProbes);
  EXPECT_EQ(stats.runs_skipped, 0u);
  EXPECT_LE(stats.max_start_lateness, absl::Milliseconds(100) + stall)
      << stats.started_late << " runs started more than 100ms late; the machine stalled " << stall;
  if (stall < absl::Milliseconds(20)) EXPECT_EQ(stats.started_late, 0u);
}

TEST(TcpProbeTest, StopReturnsPromptlyDuringARun) {
  TestingServerOptions silent;
  silent.request_end = "\n";
  silent.hold = true;
  std::unique_ptr<TestingServer> server = Server(silent);
  ASSERT_NE(server, nullptr);
  SeriesIndex index;
  RealClock clock;
  TcpProbeOptions probe = Probe(Address(*server));
  probe.send = "X";
  probe.expect = "never";
  probe.timeout = absl::Seconds(30);
  TcpProber prober({probe}, index, clock, [](SampleBatch) {});
  ASSERT_TRUE(prober.Start().ok());
  const auto connected_by = std::chrono::steady_clock::now() + kWaitLimit;
  while (server->connections() == 0 && std::chrono::steady_clock::now() < connected_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(server->connections(), 1);
  const auto start = std::chrono::steady_clock::now();
  prober.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  prober.Stop();  // idempotent
  EXPECT_EQ(prober.Start().code(), absl::StatusCode::kOk) << "restartable after Stop";
  prober.Stop();
}

// Canaries and the monitor through the TCP prober: when both canaries fail,
// klaxon is cut off and blames itself, not the target.
TEST(ConnectivityTest, CanariesFailingMarkOtherFailuresAsMonitorCutOff) {
  const uint16_t closed = ClosedPort();
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  ConnectivityMonitor monitor({"canary-a", "canary-b"}, index, clock, collector.consumer());
  TcpProbeOptions canary_a = Probe(absl::StrCat("127.0.0.1:", closed), "canary-a");
  TcpProbeOptions canary_b = Probe(absl::StrCat("127.0.0.1:", closed), "canary-b");
  canary_a.canary = canary_b.canary = true;
  TcpProbeOptions target = Probe(absl::StrCat("127.0.0.1:", closed), "target");
  TcpProber prober({canary_a, canary_b, target}, index, clock, collector.consumer(), &monitor);
  ASSERT_TRUE(prober.Start().ok());
  auto target_notes = [&](const std::vector<SampleBatch>& batches) {
    std::vector<std::string> notes;
    for (const SampleBatch& batch : batches) {
      const Result result = Decode(index, batch);
      if (result.probe == "target") notes.push_back(result.note);
    }
    return notes;
  };
  // By the target's third run both canaries (same interval) have reported.
  std::vector<SampleBatch> batches = collector.WaitUntil(
      [&](const std::vector<SampleBatch>& b) { return target_notes(b).size() >= 3; });
  prober.Stop();
  const std::vector<std::string> notes = target_notes(batches);
  ASSERT_GE(notes.size(), 3u);
  EXPECT_EQ(notes.back(), "monitor cut off (connection refused)");
  std::vector<double> up;
  for (const SampleBatch& batch : batches) {
    for (const Sample& sample : batch.samples) {
      const Labels& labels = index.Get(sample.series);
      if (labels.MetricName() != "klaxon_connectivity_up") continue;
      EXPECT_EQ(labels.size(), 1u) << "no labels but the name";
      up.push_back(sample.value);
    }
  }
  ASSERT_FALSE(up.empty());
  EXPECT_EQ(up.back(), 0);
}

TEST(ConnectivityTest, OneCanaryUpKeepsReasonsAsTheyAre) {
  TestingServerOptions options;
  options.request_end = "";
  std::unique_ptr<TestingServer> server = Server(options);
  ASSERT_NE(server, nullptr);
  const uint16_t closed = ClosedPort();
  SeriesIndex index;
  RealClock clock;
  Collector collector;
  ConnectivityMonitor monitor({"canary-up", "canary-down"}, index, clock, collector.consumer());
  TcpProbeOptions canary_up = Probe(Address(*server), "canary-up");
  TcpProbeOptions canary_down = Probe(absl::StrCat("127.0.0.1:", closed), "canary-down");
  canary_up.canary = canary_down.canary = true;
  TcpProbeOptions target = Probe(absl::StrCat("127.0.0.1:", closed), "target");
  TcpProber prober({canary_up, canary_down, target}, index, clock, collector.consumer(), &monitor);
  ASSERT_TRUE(prober.Start().ok());
  std::vector<SampleBatch> batches = collector.WaitUntil([&](const std::vector<SampleBatch>& b) {
    int runs = 0;
    for (const SampleBatch& batch : b) runs += Decode(index, batch).probe == "target";
    return runs >= 3;
  });
  prober.Stop();
  std::string last_note;
  double up = -1;
  for (const SampleBatch& batch : batches) {
    const Result result = Decode(index, batch);
    if (result.probe == "target") last_note = result.note;
    for (const Sample& sample : batch.samples) {
      if (index.Get(sample.series).MetricName() == "klaxon_connectivity_up") up = sample.value;
    }
  }
  EXPECT_EQ(last_note, "connection refused");
  EXPECT_EQ(up, 1);
}

TEST(ConnectivityTest, MonitorJudgesOnlyOnceEveryCanaryReported) {
  SeriesIndex index;
  FakeClock clock;
  std::vector<SampleBatch> emitted;
  ConnectivityMonitor monitor({"a", "b"}, index, clock,
                              [&](SampleBatch batch) { emitted.push_back(std::move(batch)); });
  EXPECT_FALSE(monitor.CutOff()) << "nothing known yet";
  monitor.RecordCanary("a", false);
  EXPECT_FALSE(monitor.CutOff()) << "b has not reported";
  monitor.RecordCanary("b", false);
  EXPECT_TRUE(monitor.CutOff());
  monitor.RecordCanary("a", true);
  EXPECT_FALSE(monitor.CutOff());
  monitor.RecordCanary("a", false);
  EXPECT_TRUE(monitor.CutOff());
  ASSERT_EQ(emitted.size(), 4u);
  const double expected[] = {1, 0, 1, 0};
  for (size_t i = 0; i < emitted.size(); ++i) {
    ASSERT_EQ(emitted[i].samples.size(), 1u);
    EXPECT_EQ(emitted[i].samples[0].value, expected[i]) << i;
    EXPECT_EQ(emitted[i].samples[0].timestamp_ms, absl::ToUnixMillis(clock.WallNow()));
    EXPECT_EQ(index.Get(emitted[i].samples[0].series).MetricName(), "klaxon_connectivity_up");
  }

  ConnectivityMonitor without_canaries({}, index, clock, [](SampleBatch) {});
  EXPECT_FALSE(without_canaries.CutOff());
}

}  // namespace
}  // namespace klaxon
