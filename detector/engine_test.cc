#include "detector/engine.h"

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;

// The engine on a fake clock, driven by hand through ProcessPending().
class EngineTest : public ::testing::Test {
 protected:
  EngineTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("klaxon-engine-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto config = LoadConfigString(R"(
[[service]]
name = "checkout"
[service.sla]
time_to_ticket = "1m"

[[rule]]
name = "CheckoutDown"
service = "checkout"
severity = "critical"
expr = 'probe_success{probe="home"} == 0'
for = "30s"
summary = "{{ $labels.probe }} down"

[[sink]]
name = "tickets"
type = "webhook"
url = "http://127.0.0.1:1/"
)",
                                   (dir_ / "klaxon.toml").string());
    EXPECT_TRUE(config.ok()) << config.status();
    config_ = *config;
    auto ledger = Ledger::Open((dir_ / "klaxon.db").string());
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = std::move(*ledger);
    probe_ = index_.Intern({{"__name__", "probe_success"}, {"probe", "home"}, {"service", "checkout"}});
    NewEngine();
  }
  ~EngineTest() override {
    engine_.reset();
    ledger_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Replaces the fixture's config; the ledger and series stay.
  void UseConfig(const std::string& text) {
    auto config = LoadConfigString(text, (dir_ / "klaxon.toml").string());
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    NewEngine();
  }
  void Push(SeriesId id, double value) {
    engine_->Ingest({{{id, absl::ToUnixMillis(clock_.WallNow()), value}}, {}});
    engine_->ProcessPending();
  }
  void NewEngine() {
    engine_ = std::make_unique<Engine>(
        config_, index_, *ledger_, clock_, [this] { ++wakeups_; },
        EngineOptionsFor(config_.rules_settings));
    ASSERT_TRUE(engine_->Init().ok());
  }
  void Probe(double success, const std::string& reason = "") {
    engine_->Ingest({{{probe_, absl::ToUnixMillis(clock_.WallNow()), success}}, {{probe_, reason}}});
    engine_->ProcessPending();
  }
  std::vector<Incident> Incidents() { return *ledger_->ListIncidents(std::nullopt); }

  std::filesystem::path dir_;
  Config config_;
  FakeClock clock_;
  SeriesIndex index_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Engine> engine_;
  SeriesId probe_;
  int wakeups_ = 0;
};

TEST_F(EngineTest, FiresAfterForWithoutWaitingForASample) {
  absl::Time first = clock_.WallNow();
  Probe(0, "connection refused");
  EXPECT_TRUE(Incidents().empty()) << "pending, not yet firing";
  clock_.Advance(absl::Seconds(29));
  engine_->ProcessPending();
  EXPECT_TRUE(Incidents().empty());
  // No new sample: the `for` deadline alone fires it.
  clock_.Advance(absl::Seconds(1));
  engine_->ProcessPending();
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  const Incident& incident = incidents[0];
  EXPECT_EQ(incident.id(), "INC-000001");
  EXPECT_EQ(incident.first_evidence, first);
  EXPECT_EQ(incident.opened_at, first + absl::Seconds(30));
  EXPECT_EQ(incident.reason, "connection refused");
  EXPECT_EQ(incident.summary, "home down");
  EXPECT_EQ(incident.labels.Get("alertname"), "CheckoutDown");
  EXPECT_EQ(incident.severity, "critical");
  EXPECT_GE(wakeups_, 1);
  auto row = ledger_->NextDelivery("tickets");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->event, "opened");
}

// How late a tick or a `for` deadline ran is what /metrics shows as
// klaxon_engine_timer_lateness_seconds: here the engine is woken 300 ms late.
TEST_F(EngineTest, RecordsHowLateTicksAndForDeadlinesRan) {
  Probe(0);  // the first tick: nothing was due before it
  EXPECT_EQ(engine_->tick_lateness().count, 0u);
  EXPECT_EQ(engine_->tick_duration().count, 1u);
  clock_.Advance(absl::Seconds(30) + absl::Milliseconds(300));
  engine_->ProcessPending();
  ASSERT_EQ(Incidents().size(), 1u);

  HistogramSnapshot tick = engine_->tick_lateness();
  EXPECT_EQ(tick.count, 1u);
  // 29.3 s late: the fake clock skipped 29 ticks.
  EXPECT_NEAR(tick.sum_seconds, 29.3, 1e-9);
  HistogramSnapshot deadline = engine_->for_lateness();
  ASSERT_EQ(deadline.count, 1u);
  EXPECT_NEAR(deadline.sum_seconds, 0.3, 1e-9);
  for (const auto& [bound, count] : deadline.cumulative) {
    EXPECT_EQ(count, bound < 0.3 ? 0u : 1u) << "le=" << bound;
  }
  EXPECT_EQ(engine_->tick_duration().count, 2u);
}

// A series read only by `probe_success == 0` keeps just its newest sample,
// unless a sample arrives stamped ahead of klaxon's clock (a pusher whose clock
// runs fast): until the clock reaches it, the rule must still see the sample
// before it, as Prometheus would, rather than nothing.
TEST_F(EngineTest, ASampleFromAheadOfTheClockDoesNotHideTheOneBeforeIt) {
  const absl::Time first = clock_.WallNow();
  Probe(0);
  clock_.Advance(absl::Seconds(1));
  engine_->Ingest({{{probe_, absl::ToUnixMillis(first + absl::Seconds(20)), 0}}, {}});
  engine_->ProcessPending();
  clock_.Advance(absl::Seconds(29));
  engine_->ProcessPending();
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u) << "the alert stayed pending from the first sample";
  EXPECT_EQ(incidents[0].first_evidence, first);
}

// A source faster than the engine waits in Ingest() once a million samples
// are queued, rather than queueing without bound; it goes on when the engine
// catches up.
TEST_F(EngineTest, IngestWaitsWhileTheEngineIsAMillionSamplesBehind) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> busy;
  bool signalled = false;
  // The engine's thread is held in the outbox callback of the first incident.
  engine_ = std::make_unique<Engine>(
      config_, index_, *ledger_, clock_,
      [&] {
        if (signalled) return;
        signalled = true;
        busy.set_value();
        released.wait_for(std::chrono::seconds(30));
      },
      EngineOptionsFor(config_.rules_settings));
  ASSERT_TRUE(engine_->Init().ok());
  engine_->Start();
  engine_->Ingest({{{probe_, absl::ToUnixMillis(clock_.WallNow()), 0}}, {}});
  for (int i = 0; i < 1000 && ledger_->PendingAlerts()->empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(ledger_->PendingAlerts()->empty());
  clock_.Advance(absl::Seconds(31));
  engine_->Ingest({{{probe_, absl::ToUnixMillis(clock_.WallNow()), 0}}, {}});
  ASSERT_EQ(busy.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);

  SeriesId other = index_.Intern({{"__name__", "pushed"}});
  auto batch = [&](int64_t first_ms, int n) {
    SampleBatch b;
    for (int i = 0; i < n; ++i) b.samples.push_back({other, first_ms + i, 1.0});
    return b;
  };
  // Each starts under the bound, so each returns at once: 1.2 million queued.
  engine_->Ingest(batch(1, 600'000));
  engine_->Ingest(batch(600'001, 600'000));
  std::future<void> third = std::async(std::launch::async, [&] { engine_->Ingest(batch(1'200'001, 10)); });
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "1.2 million samples queued and the engine busy: the third batch waits";
  release.set_value();
  EXPECT_EQ(third.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  engine_->Stop();
  EXPECT_EQ(engine_->samples_ingested(), 1'200'012u);
}

// A rule whose evaluation is costly is evaluated on arrival at most once per
// 100 times its cost; the deferred evaluation still comes. Here opening the
// incident "costs" 4 ms of CPU, so samples cannot evaluate the rule again for
// 400 ms.
TEST_F(EngineTest, ACostlyRuleIsEvaluatedOnArrivalAtMostOncePerHundredTimesItsCost) {
  engine_ = std::make_unique<Engine>(
      config_, index_, *ledger_, clock_, [this] { clock_.AdvanceCpu(absl::Milliseconds(4)); },
      EngineOptionsFor(config_.rules_settings));
  ASSERT_TRUE(engine_->Init().ok());
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();  // the tick's evaluation opens the incident
  ASSERT_EQ(Incidents().size(), 1u);
  const absl::Time evaluated = clock_.WallNow();

  clock_.Advance(absl::Milliseconds(100));
  Probe(1);
  EXPECT_EQ(Incidents()[0].state, IncidentState::kOpen) << "too soon after a 4 ms evaluation";
  clock_.Advance(evaluated + absl::Milliseconds(400) - clock_.WallNow());
  engine_->ProcessPending();
  EXPECT_EQ(Incidents()[0].state, IncidentState::kResolved);
  EXPECT_EQ(Incidents()[0].resolved_at, evaluated + absl::Milliseconds(400));
}

// Ticks are budgeted too: a rule costing 15 ms is evaluated no sooner than
// 1.5 s after its last evaluation, so the tick 1 s later passes it by.
TEST_F(EngineTest, ACostlyRuleIsEvaluatedOnTicksAtMostOncePerHundredTimesItsCost) {
  engine_ = std::make_unique<Engine>(
      config_, index_, *ledger_, clock_, [this] { clock_.AdvanceCpu(absl::Milliseconds(15)); },
      EngineOptionsFor(config_.rules_settings));
  ASSERT_TRUE(engine_->Init().ok());
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();  // the tick's evaluation opens the incident
  ASSERT_EQ(Incidents().size(), 1u);
  const absl::Time evaluated = clock_.WallNow();
  clock_.Advance(evaluated + absl::Seconds(1) - clock_.WallNow());
  Probe(1);  // with the tick due
  EXPECT_EQ(Incidents()[0].state, IncidentState::kOpen) << "the tick came too soon";
  clock_.Advance(evaluated + absl::Milliseconds(1500) - clock_.WallNow());
  engine_->ProcessPending();
  EXPECT_EQ(Incidents()[0].state, IncidentState::kResolved);
  EXPECT_EQ(Incidents()[0].resolved_at, evaluated + absl::Milliseconds(1500));
}

// What the budget counts is CPU: an incident whose write waited 40 ms on the
// disk (the clock moved, the CPU did not) does not hold the rule back, and the
// next sample evaluates it at once.
TEST_F(EngineTest, WaitingOnTheDiskIsNotAnEvaluationsCost) {
  engine_ = std::make_unique<Engine>(
      config_, index_, *ledger_, clock_, [this] { clock_.Advance(absl::Milliseconds(40)); },
      EngineOptionsFor(config_.rules_settings));
  ASSERT_TRUE(engine_->Init().ok());
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  ASSERT_EQ(Incidents().size(), 1u);
  clock_.Advance(absl::Milliseconds(100));
  const absl::Time recovered = clock_.WallNow();
  Probe(1);
  EXPECT_EQ(Incidents()[0].state, IncidentState::kResolved);
  EXPECT_EQ(Incidents()[0].resolved_at, recovered);
}

TEST_F(EngineTest, AConditionThatClearsBeforeForOpensNothing) {
  Probe(0);
  clock_.Advance(absl::Seconds(10));
  Probe(1);
  clock_.Advance(absl::Seconds(60));
  engine_->ProcessPending();
  EXPECT_TRUE(Incidents().empty());
}

TEST_F(EngineTest, RecoveryResolvesAndStayingDownOpensNoSecondIncident) {
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(10));
    Probe(0);
  }
  ASSERT_EQ(Incidents().size(), 1u);
  clock_.Advance(absl::Seconds(10));
  Probe(1);
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].state, IncidentState::kResolved);
  EXPECT_EQ(incidents[0].resolved_at, clock_.WallNow());
}

TEST_F(EngineTest, AnIncidentOpenedBeforeARestartResolvesAfterIt) {
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  ASSERT_EQ(Incidents().size(), 1u);

  NewEngine();  // the process restarted: alert states are gone, the ledger is not
  clock_.Advance(absl::Seconds(10));
  Probe(1);
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].state, IncidentState::kResolved);
}

TEST_F(EngineTest, ARestartWithoutDataYetResolvesNothing) {
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  ASSERT_EQ(Incidents().size(), 1u);
  NewEngine();
  // Ticks with no sample: the engine knows nothing yet about the probe.
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(absl::Seconds(1));
    engine_->ProcessPending();
  }
  ASSERT_EQ(Incidents()[0].state, IncidentState::kOpen);
  // A sample of another series of the rule's metric says nothing about this one.
  SeriesId other = index_.Intern({{"__name__", "probe_success"}, {"probe", "home"}, {"service", "billing"}});
  engine_->Ingest({{{other, absl::ToUnixMillis(clock_.WallNow()), 1}}, {}});
  engine_->ProcessPending();
  ASSERT_EQ(Incidents()[0].state, IncidentState::kOpen);
  // Its own series reporting recovery does.
  clock_.Advance(absl::Seconds(1));
  Probe(1);
  EXPECT_EQ(Incidents()[0].state, IncidentState::kResolved);
}

TEST_F(EngineTest, ARestoredIncidentWhoseSeriesNeverReturnsResolvesAfterTheLookback) {
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  NewEngine();
  clock_.Advance(absl::Minutes(4));
  engine_->ProcessPending();
  ASSERT_EQ(Incidents()[0].state, IncidentState::kOpen);
  clock_.Advance(absl::Minutes(1) + absl::Seconds(1));
  engine_->ProcessPending();
  EXPECT_EQ(Incidents()[0].state, IncidentState::kResolved);
}

TEST_F(EngineTest, AnAlertFiringAgainAfterARestartJoinsTheOpenIncident) {
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  NewEngine();
  for (int i = 0; i < 8; ++i) {
    clock_.Advance(absl::Seconds(10));
    Probe(0);
  }
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].state, IncidentState::kOpen);
}

TEST_F(EngineTest, TheTicketClockBreachesOnItsOwnTimer) {
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  clock_.Advance(absl::Seconds(31));  // 61s after first evidence, no ticket confirmed
  engine_->ProcessPending();
  auto incident = ledger_->GetIncident(1);
  ASSERT_TRUE(incident.ok());
  ASSERT_EQ(incident->clocks.size(), 1u);
  EXPECT_EQ(incident->clocks[0].state, ClockState::kBreached);
  EXPECT_EQ(incident->clocks[0].stopped_at, incident->first_evidence + absl::Minutes(1));
  bool logged = false;
  for (const auto& e : incident->timeline) {
    if (e.kind == "sla_breached") {
      logged = true;
      EXPECT_THAT(e.text, HasSubstr("time_to_ticket"));
    }
  }
  EXPECT_TRUE(logged);
}

TEST_F(EngineTest, ASampleAtAnInstantAlreadySeenIsDropped) {
  Probe(0);
  Probe(1);  // same timestamp: Prometheus rejects it as a duplicate, so does klaxon
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  ASSERT_EQ(Incidents().size(), 1u);
}

TEST_F(EngineTest, AStaleMarkerEndsTheSeries) {
  Probe(0);
  clock_.Advance(absl::Seconds(10));
  engine_->Ingest({{{probe_, absl::ToUnixMillis(clock_.WallNow()), StaleNaN()}}, {}});
  engine_->ProcessPending();
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  EXPECT_TRUE(Incidents().empty()) << "the alert went away with its series";
  EXPECT_TRUE(engine_->SeriesSnapshot().empty());
}

TEST_F(EngineTest, ASeriesThatStopsReportingAgesOutOnTheTick) {
  Probe(0);
  clock_.Advance(absl::Seconds(30));
  engine_->ProcessPending();
  ASSERT_EQ(Incidents().size(), 1u);
  // The probe falls silent: no sample says it recovered, but after the 5m
  // lookback the condition has no evidence left, and the tick notices.
  clock_.Advance(absl::Minutes(5) + absl::Seconds(1));
  engine_->ProcessPending();
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].state, IncidentState::kResolved);
}

TEST_F(EngineTest, RecordedSeriesFeedAlertingRules) {
  UseConfig(R"(
[[record]]
record = "job:errors:ratio"
expr = 'errors_total / requests_total'

[[rule]]
name = "ErrorRatioHigh"
expr = 'job:errors:ratio > 0.5'
)");
  SeriesId errors = index_.Intern({{"__name__", "errors_total"}, {"job", "api"}});
  SeriesId requests = index_.Intern({{"__name__", "requests_total"}, {"job", "api"}});
  engine_->Ingest({{{errors, absl::ToUnixMillis(clock_.WallNow()), 9},
                    {requests, absl::ToUnixMillis(clock_.WallNow()), 10}},
                   {}});
  engine_->ProcessPending();
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].labels.Get("job"), "api");
  EXPECT_DOUBLE_EQ(incidents[0].value, 0.9);
  // The recorded series is a series like any other, on /metrics too.
  bool recorded = false;
  for (const SeriesValue& v : engine_->SeriesSnapshot()) {
    recorded |= index_.Get(v.series).MetricName() == "job:errors:ratio";
  }
  EXPECT_TRUE(recorded);
}

TEST_F(EngineTest, ARecordedSeriesThatVanishesGoesStale) {
  UseConfig(R"(
[[record]]
record = "up:down"
expr = 'up == 0'

[[rule]]
name = "Down"
expr = 'up:down'
)");
  SeriesId up = index_.Intern({{"__name__", "up"}, {"job", "api"}});
  Push(up, 0);
  ASSERT_EQ(Incidents().size(), 1u);
  clock_.Advance(absl::Seconds(1));
  Push(up, 1);  // `up == 0` is empty now; its recorded series ends at once
  EXPECT_EQ(Incidents()[0].state, IncidentState::kResolved);
}

TEST_F(EngineTest, AChildRuleAttachesToItsFiringParentInsteadOfTicketing) {
  UseConfig(R"(
[[rule]]
name = "ShopDown"
expr = 'probe_success{probe="shop"} == 0'
depends_on = ["UplinkDown"]

[[rule]]
name = "UplinkDown"
expr = 'probe_success{probe="uplink"} == 0'
)");
  SeriesId uplink = index_.Intern({{"__name__", "probe_success"}, {"probe", "uplink"}});
  SeriesId shop = index_.Intern({{"__name__", "probe_success"}, {"probe", "shop"}});
  // Both fail in the same instant; the parent is evaluated first whatever the file order.
  engine_->Ingest({{{uplink, absl::ToUnixMillis(clock_.WallNow()), 0},
                    {shop, absl::ToUnixMillis(clock_.WallNow()), 0}},
                   {}});
  engine_->ProcessPending();
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].rule, "UplinkDown");
  auto parent = ledger_->GetIncident(incidents[0].number);
  bool attached = false;
  for (const auto& e : parent->timeline) {
    if (e.kind == "attached") {
      attached = true;
      EXPECT_THAT(e.text, HasSubstr("ShopDown"));
    }
  }
  EXPECT_TRUE(attached);
  // The uplink comes back but the shop stays down: now it is the shop's own incident.
  clock_.Advance(absl::Seconds(1));
  Push(uplink, 1);
  clock_.Advance(absl::Seconds(1));
  Push(shop, 0);
  incidents = Incidents();
  ASSERT_EQ(incidents.size(), 2u);
  EXPECT_EQ(incidents[0].rule, "ShopDown");
  EXPECT_EQ(incidents[0].state, IncidentState::kOpen);
  EXPECT_EQ(incidents[1].state, IncidentState::kResolved);
}

TEST_F(EngineTest, AForWaitSurvivesARestart) {
  absl::Time first = clock_.WallNow();
  Probe(0);
  clock_.Advance(absl::Seconds(20));
  Probe(0);
  NewEngine();  // 20s into a 30s wait
  clock_.Advance(absl::Seconds(5));
  Probe(0);
  EXPECT_TRUE(Incidents().empty());
  clock_.Advance(absl::Seconds(5));  // 30s after the first evidence, 10s after the restart
  engine_->ProcessPending();
  std::vector<Incident> incidents = Incidents();
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0].first_evidence, first) << "the SLA clock keeps its start";
  EXPECT_TRUE(ledger_->PendingAlerts()->empty()) << "fired: the incident holds the start now";
}

TEST_F(EngineTest, SeriesNoRuleReadsAreKeptForMetricsButWakeNoRule) {
  SeriesId other = index_.Intern({{"__name__", "probe_success"}, {"probe", "elsewhere"}});
  engine_->Ingest({{{other, absl::ToUnixMillis(clock_.WallNow()), 0}}, {}});
  engine_->ProcessPending();
  clock_.Advance(absl::Minutes(2));
  engine_->ProcessPending();
  EXPECT_TRUE(Incidents().empty());
  std::vector<SeriesValue> snapshot = engine_->SeriesSnapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].series, other);
}

TEST_F(EngineTest, TheRulesLookbackDecidesWhenASilentSeriesIsGone) {
  UseConfig(R"(
[rules]
tick = "5s"
lookback = "1m"

[[rule]]
name = "Down"
expr = 'up == 0'
)");
  EngineOptions options = EngineOptionsFor(config_.rules_settings);
  EXPECT_EQ(options.tick, absl::Seconds(5));
  EXPECT_EQ(options.lookback, absl::Minutes(1));
  SeriesId up = index_.Intern({{"__name__", "up"}, {"job", "api"}});
  Push(up, 0);
  ASSERT_EQ(Incidents().size(), 1u);
  clock_.Advance(absl::Seconds(60));
  engine_->ProcessPending();
  EXPECT_EQ(Incidents()[0].state, IncidentState::kOpen) << "seen exactly a lookback ago";
  clock_.Advance(absl::Seconds(5));  // the next tick, with no sample for 65s
  engine_->ProcessPending();
  EXPECT_EQ(Incidents()[0].state, IncidentState::kResolved);
}

// A service behind an availability SLO of 99.9%, serving 100 requests a
// second; its counters are pushed as a scrape would deliver them.
class EngineSloTest : public EngineTest {
 protected:
  EngineSloTest() {
    UseConfig(R"(
[[service]]
name = "checkout"
[service.sla]
time_to_ticket = "5m"
[[service.slo]]
name = "availability"
objective = "99.9%"
errors = 'sum(http_requests_total{service="checkout",code="500"})'
total = 'sum(http_requests_total{service="checkout"})'

[[sink]]
name = "tickets"
type = "webhook"
url = "http://127.0.0.1:1/"
)");
    ok_ = index_.Intern(
        {{"__name__", "http_requests_total"}, {"service", "checkout"}, {"code", "200"}});
    failed_ = index_.Intern(
        {{"__name__", "http_requests_total"}, {"service", "checkout"}, {"code", "500"}});
  }

  // Serves for `duration` with `error_ratio` of the requests failing,
  // delivering the counters every `step`; stops early once an incident of
  // `rule` exists.
  void Serve(absl::Duration duration, absl::Duration step, double error_ratio,
             absl::string_view rule = "") {
    for (absl::Duration done; done < duration; done += step) {
      clock_.Advance(step);
      double requests = 100 * absl::ToDoubleSeconds(step);
      failed_count_ += requests * error_ratio;
      ok_count_ += requests * (1 - error_ratio);
      int64_t now_ms = absl::ToUnixMillis(clock_.WallNow());
      engine_->Ingest({{{ok_, now_ms, ok_count_}, {failed_, now_ms, failed_count_}}, {}});
      engine_->ProcessPending();
      if (!rule.empty() && Find(rule)) return;
    }
  }
  std::optional<Incident> Find(absl::string_view rule) {
    for (const Incident& incident : Incidents()) {
      if (incident.rule == rule) return incident;
    }
    return std::nullopt;
  }
  // The value klaxon exports for one series, by its labels.
  std::optional<double> Exported(absl::string_view series) {
    Labels want = ParseSeries(series).value();
    for (const SeriesValue& v : engine_->SeriesSnapshot()) {
      if (index_.Get(v.series) == want) return v.value;
    }
    return std::nullopt;
  }

  SeriesId ok_;
  SeriesId failed_;
  double ok_count_ = 0;
  double failed_count_ = 0;
};

TEST_F(EngineSloTest, ASustainedTwoPercentErrorRatePagesWhenTheWorkbookSays) {
  // Three healthy days first, so that every window is full, as in production.
  Serve(absl::Hours(72), absl::Minutes(1), 0);
  ASSERT_TRUE(Incidents().empty());
  absl::Time outage = clock_.WallNow();
  // 2% errors against a 0.1% budget burns 20x. The 5m window passes 14.4x
  // after 5m * 14.4 / 20 = 3.6m; the 1h window, all healthy before, after
  // 1h * 14.4 / 20 = 43.2m, which is when the page is due. (The 6h/30m pair
  // needs 6h * 6 / 20 = 1.8h, the ticket's 1d/2h pair 3.6h.)
  Serve(absl::Minutes(43), absl::Seconds(10), 0.02, "CheckoutAvailabilityBurnRatePage");
  EXPECT_TRUE(Incidents().empty()) << "paged before the 1h window reached 14.4x";
  Serve(absl::Minutes(1), absl::Seconds(10), 0.02, "CheckoutAvailabilityBurnRatePage");
  std::optional<Incident> page = Find("CheckoutAvailabilityBurnRatePage");
  ASSERT_TRUE(page.has_value()) << "no page 44m into a 20x burn";
  EXPECT_GE(page->opened_at - outage, absl::Seconds(2592));  // 43.2m
  EXPECT_LE(page->opened_at - outage, absl::Seconds(2600));  // the next 10s delivery
  EXPECT_EQ(page->service, "checkout");
  EXPECT_EQ(page->severity, "critical");
  EXPECT_EQ(page->labels, (Labels{{"alertname", "CheckoutAvailabilityBurnRatePage"},
                                  {"service", "checkout"},
                                  {"slo", "availability"}}));
  EXPECT_THAT(page->summary,
              HasSubstr("checkout availability SLO burning error budget 14.4x too fast"));
  ASSERT_EQ(page->clocks.size(), 1u) << "the service's SLA clocks apply as to any rule";
  EXPECT_EQ(Incidents().size(), 1u) << "no ticket alert yet";

  // The series behind it are on /metrics.
  EXPECT_NEAR(*Exported(R"(slo:burn_rate{service="checkout",slo="availability",window="5m"})"), 20,
              1e-6);
  EXPECT_NEAR(*Exported(R"(slo:error_ratio{service="checkout",slo="availability",window="5m"})"),
              0.02, 1e-9);
  EXPECT_GT(*Exported(R"(slo:burn_rate{service="checkout",slo="availability",window="1h"})"), 14.4);
  EXPECT_EQ(*Exported(R"(klaxon_slo_objective_ratio{service="checkout",slo="availability"})"),
            0.999);
  EXPECT_LT(
      *Exported(
          R"(klaxon_slo_error_budget_remaining_ratio{service="checkout",slo="availability"})"),
      1);

  // Recovery: the 5m window clears within 5m and the page resolves.
  Serve(absl::Minutes(6), absl::Seconds(10), 0);
  EXPECT_EQ(Find("CheckoutAvailabilityBurnRatePage")->state, IncidentState::kResolved);
}

TEST_F(EngineSloTest, AHealthyServiceOpensNoSloIncident) {
  // 0.05% errors burns half the budget's pace, in every window.
  Serve(absl::Hours(7), absl::Minutes(1), 0.0005);
  EXPECT_TRUE(Incidents().empty());
  EXPECT_NEAR(*Exported(R"(slo:burn_rate{service="checkout",slo="availability",window="6h"})"), 0.5,
              1e-6);
  EXPECT_NEAR(
      *Exported(
          R"(klaxon_slo_error_budget_remaining_ratio{service="checkout",slo="availability"})"),
      0.5, 1e-6);
}

}  // namespace
}  // namespace klaxon
