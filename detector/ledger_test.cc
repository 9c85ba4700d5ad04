#include "detector/ledger.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("klaxon-ledger-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  ~LedgerTest() override {
    ledger_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    ledger_.reset();
    auto ledger = Ledger::Open(path());
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = std::move(*ledger);
  }
  std::string path() const { return (dir_ / "klaxon.db").string(); }

  Incident NewIncident(const std::string& probe) {
    Incident incident;
    incident.labels = Labels{{"alertname", "Down"}, {"probe", probe}};
    incident.fingerprint = incident.labels.Fingerprint();
    incident.rule = "Down";
    incident.service = "checkout";
    incident.severity = "critical";
    incident.summary = probe + " is down";
    incident.first_evidence = t0_;
    incident.opened_at = t0_ + absl::Seconds(30);
    incident.value = 0;
    incident.reason = "connection refused";
    return incident;
  }

  std::vector<std::string> Kinds(int64_t number) {
    auto incident = ledger_->GetIncident(number);
    EXPECT_TRUE(incident.ok());
    std::vector<std::string> kinds;
    for (const auto& e : incident->timeline) kinds.push_back(e.kind);
    return kinds;
  }

  absl::Time t0_ = absl::FromUnixSeconds(1'790'000'000);
  std::filesystem::path dir_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, OpenRecordsIncidentClockAndOneOutboxRowPerSink) {
  auto opened = ledger_->OpenIncident(NewIncident("a"), {{"time_to_ticket", absl::Minutes(5)}},
                                      Routing{{"jira", "chat"}});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->id(), "INC-000001");
  ASSERT_EQ(opened->clocks.size(), 1u);
  EXPECT_EQ(opened->clocks[0].start, t0_);
  EXPECT_EQ(opened->clocks[0].deadline, t0_ + absl::Minutes(5));
  EXPECT_THAT(Kinds(1), ElementsAre("first_evidence", "opened", "sla_clock_started"));

  auto jira = ledger_->NextDelivery("jira");
  ASSERT_TRUE(jira.ok() && jira->has_value());
  EXPECT_EQ((*jira)->event, "opened");
  EXPECT_EQ((*jira)->incident.id(), "INC-000001");
  EXPECT_EQ((*jira)->incident.reason, "connection refused");
  EXPECT_EQ((*jira)->incident.labels.Get("probe"), "a");
  auto chat = ledger_->NextDelivery("chat");
  ASSERT_TRUE(chat.ok() && chat->has_value());
  EXPECT_NE((*chat)->idempotency_key(), (*jira)->idempotency_key());
  EXPECT_FALSE(ledger_->NextDelivery("nobody")->has_value());

  auto second = ledger_->OpenIncident(NewIncident("b"), {}, Routing{{"jira"}});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->id(), "INC-000002");
}

TEST_F(LedgerTest, ConfirmedDeliveryMeetsTheClockAndRecordsTheTicket) {
  ASSERT_TRUE(ledger_->OpenIncident(NewIncident("a"), {{"time_to_ticket", absl::Minutes(5)}},
                                    Routing{{"jira"}})
                  .ok());
  auto row = ledger_->NextDelivery("jira");
  ASSERT_TRUE(row.ok() && row->has_value());
  auto confirmed = ledger_->ConfirmDelivery((*row)->id, t0_ + absl::Seconds(40), {"OPS-7"});
  ASSERT_TRUE(confirmed.ok()) << confirmed.status();
  ASSERT_TRUE(confirmed->clock_met.has_value());
  EXPECT_EQ(confirmed->clock_met->stopped_at, t0_ + absl::Seconds(40));

  auto incident = ledger_->GetIncident(1);
  ASSERT_TRUE(incident.ok());
  EXPECT_EQ(incident->clocks[0].state, ClockState::kMet);
  ASSERT_EQ(incident->tickets.size(), 1u);
  EXPECT_EQ(incident->tickets[0].ref, "OPS-7");
  EXPECT_THAT(Kinds(1), ElementsAre("first_evidence", "opened", "sla_clock_started", "ticket",
                                    "sla_met"));
  EXPECT_FALSE(ledger_->NextDelivery("jira")->has_value());
  // A second confirmation of the same row is refused, not double-counted.
  EXPECT_FALSE(ledger_->ConfirmDelivery((*row)->id, t0_ + absl::Seconds(41), {}).ok());
}

TEST_F(LedgerTest, FailedAttemptsBackOffAndKeepTheSameKey) {
  ASSERT_TRUE(ledger_->OpenIncident(NewIncident("a"), {}, Routing{{"jira"}}).ok());
  auto first = ledger_->NextDelivery("jira");
  std::string key = (*first)->idempotency_key();
  ASSERT_TRUE(ledger_->RecordFailedAttempt((*first)->id, t0_, t0_ + absl::Seconds(2), "HTTP 500").ok());
  ASSERT_TRUE(ledger_->RecordFailedAttempt((*first)->id, t0_, t0_ + absl::Seconds(4), "HTTP 502").ok());
  auto again = ledger_->NextDelivery("jira");
  EXPECT_EQ((*again)->attempts, 2);
  EXPECT_EQ((*again)->next_attempt_at, t0_ + absl::Seconds(4));
  EXPECT_EQ((*again)->last_error, "HTTP 502");
  EXPECT_EQ((*again)->idempotency_key(), key);
  // Only the first failure goes on the timeline.
  auto kinds = Kinds(1);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "delivery_failed"), 1);
  ASSERT_TRUE(ledger_->ConfirmDelivery((*again)->id, t0_ + absl::Seconds(5), {}).ok());
  auto stats = ledger_->Stats();
  ASSERT_EQ(stats->failed_attempts.size(), 1u);
  EXPECT_EQ(stats->failed_attempts[0].count, 2);
  ASSERT_EQ(stats->delivered.size(), 1u);
  EXPECT_EQ(stats->delivered[0].count, 1);
}

TEST_F(LedgerTest, ResolveOwesResolvedToEverySinkTheOpenWentTo) {
  ASSERT_TRUE(ledger_->OpenIncident(NewIncident("a"), {}, Routing{{"jira", "chat"}}).ok());
  auto resolved = ledger_->ResolveIncident(1, t0_ + absl::Minutes(2), "condition cleared");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->state, IncidentState::kResolved);
  // In order: the open first, then the resolve.
  auto row = ledger_->NextDelivery("jira");
  EXPECT_EQ((*row)->event, "opened");
  ASSERT_TRUE(ledger_->ConfirmDelivery((*row)->id, t0_ + absl::Minutes(3), {}).ok());
  row = ledger_->NextDelivery("jira");
  EXPECT_EQ((*row)->event, "resolved");
  EXPECT_EQ((*row)->incident.state, IncidentState::kResolved);
  EXPECT_FALSE(ledger_->ResolveIncident(1, t0_ + absl::Minutes(4), "again").ok());
  EXPECT_FALSE(ledger_->FindUnresolved(NewIncident("a").fingerprint)->has_value());
}

TEST_F(LedgerTest, AResolveQueuedBeforeItsTicketExistedStillFindsTheTicket) {
  // The ticketing system is down when the incident opens and is still down
  // when it resolves: the "resolved" row is written before any ticket exists.
  ASSERT_TRUE(ledger_->OpenIncident(NewIncident("a"), {}, Routing{{"jira"}}).ok());
  ASSERT_TRUE(ledger_->ResolveIncident(1, t0_ + absl::Minutes(2), "condition cleared").ok());
  auto opened = ledger_->NextDelivery("jira");
  ASSERT_TRUE(opened.ok() && opened->has_value());
  ASSERT_EQ((*opened)->event, "opened");
  ASSERT_TRUE(ledger_->ConfirmDelivery((*opened)->id, t0_ + absl::Minutes(3), {"OPS-9"}).ok());

  auto resolved = ledger_->NextDelivery("jira");
  ASSERT_TRUE(resolved.ok() && resolved->has_value());
  EXPECT_EQ((*resolved)->event, "resolved");
  ASSERT_EQ((*resolved)->incident.tickets.size(), 1u);
  EXPECT_EQ((*resolved)->incident.tickets[0].sink, "jira");
  EXPECT_EQ((*resolved)->incident.tickets[0].ref, "OPS-9");
}

TEST_F(LedgerTest, ClocksBreachAtTheirDeadlineAndLateTicketsDoNotMeetThem) {
  ASSERT_TRUE(ledger_->OpenIncident(NewIncident("a"), {{"time_to_ticket", absl::Minutes(5)}},
                                    Routing{{"jira"}})
                  .ok());
  EXPECT_EQ(*ledger_->NextClockDeadline(), t0_ + absl::Minutes(5));
  EXPECT_TRUE(ledger_->BreachDueClocks(t0_ + absl::Minutes(4))->empty());
  auto breaches = ledger_->BreachDueClocks(t0_ + absl::Minutes(6));
  ASSERT_TRUE(breaches.ok());
  ASSERT_EQ(breaches->size(), 1u);
  EXPECT_EQ((*breaches)[0].incident_id, "INC-000001");
  EXPECT_EQ((*breaches)[0].service, "checkout");
  EXPECT_FALSE(ledger_->NextClockDeadline()->has_value());

  auto row = ledger_->NextDelivery("jira");
  auto confirmed = ledger_->ConfirmDelivery((*row)->id, t0_ + absl::Minutes(7), {});
  ASSERT_TRUE(confirmed.ok());
  EXPECT_FALSE(confirmed->clock_met.has_value());
  auto stats = ledger_->Stats();
  ASSERT_EQ(stats->clock_breaches.size(), 1u);
  EXPECT_EQ(stats->clock_breaches[0].count, 1);
  EXPECT_TRUE(stats->clock_met.empty());
}

TEST_F(LedgerTest, EverythingSurvivesReopening) {
  ASSERT_TRUE(ledger_->OpenIncident(NewIncident("a"), {{"time_to_ticket", absl::Minutes(5)}},
                                    Routing{{"jira"}})
                  .ok());
  Reopen();
  auto unresolved = ledger_->FindUnresolved(NewIncident("a").fingerprint);
  ASSERT_TRUE(unresolved.ok() && unresolved->has_value());
  EXPECT_EQ((*unresolved)->id(), "INC-000001");
  EXPECT_TRUE(ledger_->NextDelivery("jira")->has_value());
  EXPECT_EQ(*ledger_->NextClockDeadline(), t0_ + absl::Minutes(5));
  auto stats = ledger_->Stats();
  ASSERT_EQ(stats->open.size(), 1u);
  EXPECT_EQ(stats->open[0].service, "checkout");
  EXPECT_EQ(stats->outbox_pending[0].count, 1);
  // Numbering continues after a reopen.
  EXPECT_EQ(ledger_->OpenIncident(NewIncident("b"), {}, Routing{{}})->id(), "INC-000002");
}

TEST_F(LedgerTest, PendingAlertsSurviveReopening) {
  Labels a{{"alertname", "Down"}, {"probe", "a"}};
  Labels b{{"alertname", "Down"}, {"probe", "b"}};
  ASSERT_TRUE(ledger_->RecordPendingAlert("Down", a, t0_).ok());
  ASSERT_TRUE(ledger_->RecordPendingAlert("Down", b, t0_ + absl::Seconds(5)).ok());
  ASSERT_TRUE(ledger_->ForgetPendingAlert(b).ok());
  Reopen();
  auto pending = ledger_->PendingAlerts();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].rule, "Down");
  EXPECT_EQ((*pending)[0].labels, a);
  EXPECT_EQ((*pending)[0].active_at, t0_);
}

TEST_F(LedgerTest, ACorruptFileIsAnErrorNotACrash) {
  ledger_.reset();
  std::filesystem::remove(path());
  std::filesystem::remove(path() + "-wal");
  std::filesystem::remove(path() + "-shm");
  std::ofstream(path()) << std::string(8192, 'x');
  auto ledger = Ledger::Open(path());
  ASSERT_FALSE(ledger.ok());
  EXPECT_THAT(ledger.status().message(), HasSubstr("not a database"));
}

// A file written by the klaxon before schema 5 (its exact schema, with an
// incident and an undelivered row) opens, keeps both, and takes the new fields.
TEST_F(LedgerTest, ASchemaFourFileIsMigratedInPlace) {
  ledger_.reset();
  std::filesystem::remove(path());
  {
    auto db = internal::SqliteDb::Open(path());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec(R"sql(
CREATE TABLE IF NOT EXISTS incidents (
  number INTEGER PRIMARY KEY AUTOINCREMENT,
  fingerprint TEXT NOT NULL,
  rule TEXT NOT NULL,
  service TEXT NOT NULL,
  severity TEXT NOT NULL,
  summary TEXT NOT NULL,
  labels TEXT NOT NULL,
  state TEXT NOT NULL,
  first_evidence_ms INTEGER NOT NULL,
  opened_at_ms INTEGER NOT NULL,
  resolved_at_ms INTEGER,
  value REAL NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_unresolved ON incidents(fingerprint) WHERE state != 'resolved';
CREATE TABLE IF NOT EXISTS timeline (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  incident INTEGER NOT NULL REFERENCES incidents(number),
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_incident ON timeline(incident, at_ms);
CREATE TABLE IF NOT EXISTS clocks (
  incident INTEGER NOT NULL REFERENCES incidents(number),
  name TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL,
  state TEXT NOT NULL,
  stopped_at_ms INTEGER,
  PRIMARY KEY (incident, name)
);
CREATE INDEX IF NOT EXISTS clocks_running ON clocks(deadline_ms) WHERE state = 'running';
CREATE TABLE IF NOT EXISTS tickets (
  incident INTEGER NOT NULL REFERENCES incidents(number),
  sink TEXT NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY (incident, sink)
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sink TEXT NOT NULL,
  incident INTEGER NOT NULL REFERENCES incidents(number),
  event TEXT NOT NULL,
  snapshot TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  delivered_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(sink, id) WHERE delivered_at_ms IS NULL;
CREATE TABLE IF NOT EXISTS pending_alerts (
  fingerprint TEXT PRIMARY KEY,
  rule TEXT NOT NULL,
  labels TEXT NOT NULL,
  active_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  service TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  who TEXT NOT NULL,
  what TEXT NOT NULL,
  link TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS changes_service ON changes(service, at_ms);
CREATE TABLE IF NOT EXISTS log_state (
  log TEXT PRIMARY KEY,
  state BLOB NOT NULL
);
)sql").ok());
    ASSERT_TRUE(db->Exec(R"sql(
INSERT INTO incidents(fingerprint, rule, service, severity, summary, labels, state,
  first_evidence_ms, opened_at_ms, value, reason)
  VALUES ('00000000000000aa', 'Down', 'checkout', 'critical', 'down', '{"alertname":"Down"}',
          'open', 1000, 2000, 0, 'refused');
INSERT INTO outbox(sink, incident, event, snapshot, created_at_ms, next_attempt_ms)
  VALUES ('jira', 1, 'opened', '{"number":1,"fingerprint":"00000000000000aa","rule":"Down",
    "service":"checkout","severity":"critical","summary":"down","labels":{"alertname":"Down"},
    "state":"open","first_evidence_at":"1970-01-01T00:00:01.000Z",
    "opened_at":"1970-01-01T00:00:02.000Z","resolved_at":null,"value":0,"reason":"refused"}',
    2000, 2000);
PRAGMA user_version=4;
)sql").ok());
  }
  Reopen();
  ASSERT_NE(ledger_, nullptr);
  absl::StatusOr<Incident> incident = ledger_->GetIncident(1);
  ASSERT_TRUE(incident.ok()) << incident.status();
  EXPECT_EQ(incident->reason, "refused");
  EXPECT_EQ(incident->reopens, 0);
  EXPECT_TRUE(incident->suppressed_by.empty());
  absl::StatusOr<std::optional<OutboxRow>> row = ledger_->NextDelivery("jira");
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(row->has_value());
  EXPECT_EQ((*row)->event, "opened");
  EXPECT_TRUE((*row)->recipients.empty());
  // The new parts work on the old rows.
  ASSERT_TRUE(ledger_->ResolveIncident(1, absl::FromUnixMillis(3000), "cleared").ok());
  EXPECT_TRUE(ledger_->ReopenIncident(1, absl::FromUnixMillis(4000), "again", false).ok());
  EXPECT_EQ(ledger_->GetIncident(1)->reopens, 1);
}

TEST_F(LedgerTest, ANewerSchemaIsRefused) {
  ledger_.reset();
  {
    auto db = internal::SqliteDb::Open(path());
    ASSERT_TRUE(db->Exec("PRAGMA user_version=99").ok());
  }
  auto ledger = Ledger::Open(path());
  ASSERT_FALSE(ledger.ok());
  EXPECT_EQ(ledger.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace klaxon
