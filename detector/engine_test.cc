#include "detector/engine.h"

#include <filesystem>

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
  void NewEngine() {
    engine_ = std::make_unique<Engine>(config_, index_, *ledger_, clock_, [this] { ++wakeups_; });
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

}  // namespace
}  // namespace klaxon
