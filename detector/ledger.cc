#include "detector/ledger.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector/clock.h"
#include "detector/duration.h"

namespace klaxon {

using internal::SqliteDb;
using internal::SqliteStatement;

namespace {

// Bump with a migration step in Migrate() whenever the schema changes.
constexpr int kSchemaVersion = 5;

constexpr absl::string_view kSchema = R"sql(
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
  reason TEXT NOT NULL,
  reopens INTEGER NOT NULL DEFAULT 0,
  acknowledged_at_ms INTEGER,
  notifications INTEGER NOT NULL DEFAULT 0,
  escalation_step INTEGER NOT NULL DEFAULT 0,
  suppressed_by TEXT NOT NULL DEFAULT '',
  members TEXT NOT NULL DEFAULT '[]',
  notification_budget INTEGER NOT NULL DEFAULT 20
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
  delivered_at_ms INTEGER,
  recipients TEXT NOT NULL DEFAULT '[]',
  dead_at_ms INTEGER,
  notification INTEGER NOT NULL DEFAULT 0
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
CREATE TABLE IF NOT EXISTS silences (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  matchers TEXT NOT NULL,
  starts_at_ms INTEGER NOT NULL,
  ends_at_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  comment TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log_state (
  log TEXT PRIMARY KEY,
  state BLOB NOT NULL
);
)sql";

int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }

// Commits on Commit(); rolls back if destroyed before that. BEGIN IMMEDIATE
// takes the write lock up front so that a transaction never fails half way
// for want of it.
class Transaction {
 public:
  explicit Transaction(SqliteDb& db) : db_(db) { status_ = db_.Exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (status_.ok() && !committed_) db_.Exec("ROLLBACK").IgnoreError();
  }
  const absl::Status& status() const { return status_; }
  absl::Status Commit() {
    committed_ = true;
    return db_.Exec("COMMIT");
  }

 private:
  SqliteDb& db_;
  absl::Status status_;
  bool committed_ = false;
};

#define KLAXON_RETURN_IF_ERROR(expr)   \
  do {                                 \
    absl::Status _status = (expr);     \
    if (!_status.ok()) return _status; \
  } while (0)

#define KLAXON_ASSIGN_OR_RETURN_IMPL(var, tmp, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  var = std::move(*tmp)
#define KLAXON_CONCAT_INNER(a, b) a##b
#define KLAXON_CONCAT(a, b) KLAXON_CONCAT_INNER(a, b)
#define KLAXON_ASSIGN_OR_RETURN(var, expr) \
  KLAXON_ASSIGN_OR_RETURN_IMPL(var, KLAXON_CONCAT(_statusor_, __LINE__), expr)

IncidentState StateFromName(absl::string_view name) {
  if (name == "resolved") return IncidentState::kResolved;
  if (name == "acknowledged") return IncidentState::kAcknowledged;
  return IncidentState::kOpen;
}

ClockState ClockStateFromName(absl::string_view name) {
  if (name == "met") return ClockState::kMet;
  if (name == "breached") return ClockState::kBreached;
  return ClockState::kRunning;
}

std::string LabelsJson(const Labels& labels) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& l : labels.items()) out[l.name] = l.value;
  return out.dump();
}

Labels LabelsFromJson(const std::string& text) {
  std::vector<Label> labels;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_object()) {
    for (const auto& [name, value] : json.items()) {
      if (value.is_string()) labels.push_back({name, value.get<std::string>()});
    }
  }
  return Labels(std::move(labels));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path) {
  auto db = SqliteDb::Open(path);
  if (!db.ok()) return db.status();
  std::unique_ptr<Ledger> ledger(new Ledger(std::move(*db)));
  std::lock_guard lock(ledger->mu_);
  KLAXON_RETURN_IF_ERROR(ledger->Migrate());
  return ledger;
}

absl::Status Ledger::Migrate() {
  // synchronous=FULL: a transaction is on disk when COMMIT returns, which is
  // what lets callers treat a returned OK as durable.
  KLAXON_RETURN_IF_ERROR(db_.Exec("PRAGMA journal_mode=WAL"));
  KLAXON_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=FULL"));
  KLAXON_RETURN_IF_ERROR(db_.Exec("PRAGMA foreign_keys=ON"));
  KLAXON_ASSIGN_OR_RETURN(SqliteStatement version, db_.Prepare("PRAGMA user_version"));
  KLAXON_ASSIGN_OR_RETURN(bool has_row, version.Step());
  int64_t current = has_row ? version.Int(0) : 0;
  if (current > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema version ", current, " is newer than this klaxon (", kSchemaVersion,
        "): run the newer klaxon or point data_dir elsewhere"));
  }
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  if (current >= 1 && current < 5) {
    // Version 5: reopening, acknowledgement time, the notification budget,
    // escalation, suppression and groups on incidents; recipients and the
    // dead-letter state on outbox rows.
    KLAXON_RETURN_IF_ERROR(db_.Exec(R"sql(
ALTER TABLE incidents ADD COLUMN reopens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN acknowledged_at_ms INTEGER;
ALTER TABLE incidents ADD COLUMN notifications INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN suppressed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN members TEXT NOT NULL DEFAULT '[]';
ALTER TABLE incidents ADD COLUMN notification_budget INTEGER NOT NULL DEFAULT 20;
ALTER TABLE outbox ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';
ALTER TABLE outbox ADD COLUMN dead_at_ms INTEGER;
ALTER TABLE outbox ADD COLUMN notification INTEGER NOT NULL DEFAULT 0;
)sql"));
  }
  KLAXON_RETURN_IF_ERROR(db_.Exec(kSchema));
  KLAXON_RETURN_IF_ERROR(db_.Exec(absl::StrCat("PRAGMA user_version=", kSchemaVersion)));
  return tx.Commit();
}

absl::Status Ledger::InsertTimeline(int64_t number, const TimelineEntry& entry) {
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("INSERT INTO timeline(incident, at_ms, kind, text) VALUES (?, ?, ?, ?)"));
  return stmt.Bind(1, number).Bind(2, Ms(entry.at)).Bind(3, entry.kind).Bind(4, entry.text).Run();
}

absl::Status Ledger::InsertOutbox(const Incident& incident, const std::string& event,
                                  const std::string& sink, absl::Time at,
                                  const std::vector<std::string>& recipients, bool notification) {
  Incident snapshot = incident;
  // A post-mortem carries the whole timeline: it is the document. Any other
  // delivery carries only the entry that caused it ("acknowledged by alice:
  // on it"), for the ticket's note.
  if (event != "postmortem") {
    std::erase_if(snapshot.timeline, [&](const TimelineEntry& e) { return e.kind != event; });
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("INSERT INTO outbox(sink, incident, event, snapshot, created_at_ms, "
                  "next_attempt_ms, recipients, notification) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  return stmt.Bind(1, sink)
      .Bind(2, incident.number)
      .Bind(3, event)
      .Bind(4, IncidentToJson(snapshot).dump())
      .Bind(5, Ms(at))
      .Bind(6, Ms(at))
      .Bind(7, nlohmann::json(recipients).dump())
      .Bind(8, int64_t{notification ? 1 : 0})
      .Run();
}

absl::Status Ledger::StartClocks(Incident& incident, const std::vector<ClockSpec>& clocks,
                                 absl::Time first_evidence, absl::Time detected) {
  for (const ClockSpec& spec : clocks) {
    absl::Time start = spec.at_detection ? detected : first_evidence;
    SlaClock clock{spec.name, start, start + spec.budget, ClockState::kRunning, std::nullopt};
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_.Prepare("INSERT OR REPLACE INTO clocks(incident, name, start_ms, deadline_ms, state) "
                    "VALUES (?, ?, ?, ?, 'running')"));
    KLAXON_RETURN_IF_ERROR(stmt.Bind(1, incident.number)
                               .Bind(2, clock.name)
                               .Bind(3, Ms(clock.start))
                               .Bind(4, Ms(clock.deadline))
                               .Run());
    TimelineEntry entry{detected, "sla_clock_started",
                        absl::StrCat(clock.name, " clock started at ",
                                     start == first_evidence && !spec.at_detection
                                         ? "first evidence"
                                         : "detection",
                                     ", deadline ", FormatTimestamp(clock.deadline), " (",
                                     DurationToString(spec.budget), ")")};
    KLAXON_RETURN_IF_ERROR(InsertTimeline(incident.number, entry));
    incident.timeline.push_back(std::move(entry));
    incident.clocks.push_back(std::move(clock));
  }
  return absl::OkStatus();
}

absl::Status Ledger::OweOpened(const Incident& incident, const Routing& routing, absl::Time at) {
  for (const std::string& sink : routing.sinks) {
    KLAXON_RETURN_IF_ERROR(InsertOutbox(incident, "opened", sink, at, {}, false));
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement budget,
      db_.Prepare("UPDATE incidents SET notification_budget = ? WHERE number = ?"));
  KLAXON_RETURN_IF_ERROR(budget.Bind(1, int64_t{routing.max_notifications})
                             .Bind(2, incident.number)
                             .Run());
  // A notifier past the budget gets no "opened" row, and so nothing later
  // either: the budget is spent for good.
  int sent = 0;
  for (const std::string& sink : routing.notifiers) {
    if (sent >= routing.max_notifications) {
      KLAXON_RETURN_IF_ERROR(InsertTimeline(
          incident.number,
          {at, "notification_held",
           absl::StrCat("opened not sent to \"", sink, "\": notification budget of ",
                        routing.max_notifications, " spent")}));
      continue;
    }
    KLAXON_RETURN_IF_ERROR(InsertOutbox(incident, "opened", sink, at, routing.notify, true));
    ++sent;
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement count,
      db_.Prepare("UPDATE incidents SET notifications = notifications + ? WHERE number = ?"));
  return count.Bind(1, int64_t{sent}).Bind(2, incident.number).Run();
}

absl::StatusOr<Incident> Ledger::OpenIncident(const Incident& incident,
                                              const std::vector<ClockSpec>& clocks,
                                              const Routing& routing) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  nlohmann::json members = nlohmann::json::array();
  for (const Labels& member : incident.members) {
    members.push_back(nlohmann::json::parse(LabelsJson(member)));
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement insert,
      db_.Prepare("INSERT INTO incidents(fingerprint, rule, service, severity, summary, labels, "
                  "state, first_evidence_ms, opened_at_ms, value, reason, suppressed_by, members) "
                  "VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)"));
  KLAXON_RETURN_IF_ERROR(insert.Bind(1, absl::StrFormat("%016x", incident.fingerprint))
                             .Bind(2, incident.rule)
                             .Bind(3, incident.service)
                             .Bind(4, incident.severity)
                             .Bind(5, incident.summary)
                             .Bind(6, LabelsJson(incident.labels))
                             .Bind(7, Ms(incident.first_evidence))
                             .Bind(8, Ms(incident.opened_at))
                             .Bind(9, incident.value)
                             .Bind(10, incident.reason)
                             .Bind(11, incident.suppressed_by)
                             .Bind(12, members.dump())
                             .Run());
  Incident opened = incident;
  opened.number = db_.LastInsertRowId();
  opened.state = IncidentState::kOpen;
  opened.timeline.clear();
  opened.clocks.clear();
  opened.tickets.clear();

  std::string evidence = absl::StrCat(incident.labels.ToString(), " = ", incident.value);
  if (!incident.reason.empty()) absl::StrAppend(&evidence, " (", incident.reason, ")");
  std::vector<TimelineEntry> first = {
      {incident.first_evidence, "first_evidence", absl::StrCat("condition first seen: ", evidence)},
      {incident.opened_at, "opened",
       absl::StrCat("incident opened: ", incident.summary.empty() ? incident.rule : incident.summary,
                    "; evidence ", evidence)}};
  if (!incident.suppressed_by.empty()) {
    first.push_back({incident.opened_at, "suppressed",
                     absl::StrCat("suppressed by ", incident.suppressed_by,
                                  ": no ticket, notification or SLA clock while it lasts")});
  }
  for (TimelineEntry& entry : first) {
    KLAXON_RETURN_IF_ERROR(InsertTimeline(opened.number, entry));
    opened.timeline.push_back(std::move(entry));
  }
  if (incident.suppressed_by.empty()) {
    KLAXON_RETURN_IF_ERROR(
        StartClocks(opened, clocks, incident.first_evidence, incident.opened_at));
    KLAXON_RETURN_IF_ERROR(OweOpened(opened, routing, incident.opened_at));
  }
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return opened;
}

absl::StatusOr<Incident> Ledger::Unsuppress(int64_t number, absl::Time at, const std::string& why,
                                            const std::vector<ClockSpec>& clocks,
                                            const Routing& routing) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(number, false));
  if (incident.state == IncidentState::kResolved || incident.suppressed_by.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(incident.id(), " is not a suppressed unresolved incident"));
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE incidents SET suppressed_by = '' WHERE number = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, number).Run());
  incident.suppressed_by.clear();
  KLAXON_RETURN_IF_ERROR(InsertTimeline(
      number, {at, "unsuppressed", absl::StrCat(why, "; tickets and clocks start now")}));
  // The clocks start now: the promise was suspended, not running late. One
  // already acknowledged owes no acknowledgement.
  std::vector<ClockSpec> owed = clocks;
  if (incident.state == IncidentState::kAcknowledged) {
    std::erase_if(owed, [](const ClockSpec& c) { return c.name == "time_to_acknowledge"; });
  }
  KLAXON_RETURN_IF_ERROR(StartClocks(incident, owed, at, at));
  KLAXON_RETURN_IF_ERROR(OweOpened(incident, routing, at));
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return incident;
}

absl::StatusOr<Incident> Ledger::LoadIncident(int64_t number, bool with_details) {
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT number, fingerprint, rule, service, severity, summary, labels, state, "
                  "first_evidence_ms, opened_at_ms, resolved_at_ms, value, reason, reopens, "
                  "acknowledged_at_ms, suppressed_by, members, escalation_step FROM incidents "
                  "WHERE number = ?"));
  stmt.Bind(1, number);
  KLAXON_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no incident ", IncidentId(number)));
  Incident incident;
  incident.number = stmt.Int(0);
  incident.fingerprint = std::stoull(stmt.Text(1), nullptr, 16);
  incident.rule = stmt.Text(2);
  incident.service = stmt.Text(3);
  incident.severity = stmt.Text(4);
  incident.summary = stmt.Text(5);
  incident.labels = LabelsFromJson(stmt.Text(6));
  incident.state = StateFromName(stmt.Text(7));
  incident.first_evidence = absl::FromUnixMillis(stmt.Int(8));
  incident.opened_at = absl::FromUnixMillis(stmt.Int(9));
  if (!stmt.IsNull(10)) incident.resolved_at = absl::FromUnixMillis(stmt.Int(10));
  incident.value = stmt.Double(11);
  incident.reason = stmt.Text(12);
  incident.reopens = static_cast<int>(stmt.Int(13));
  if (!stmt.IsNull(14)) incident.acknowledged_at = absl::FromUnixMillis(stmt.Int(14));
  incident.suppressed_by = stmt.Text(15);
  incident.escalations = static_cast<int>(stmt.Int(17));
  nlohmann::json members = nlohmann::json::parse(stmt.Text(16), nullptr, false);
  if (members.is_array()) {
    for (const nlohmann::json& member : members) incident.members.push_back(LabelsFromJson(member.dump()));
  }

  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement tickets,
      db_.Prepare("SELECT sink, ref FROM tickets WHERE incident = ? ORDER BY sink"));
  tickets.Bind(1, number);
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, tickets.Step());
    if (!row) break;
    incident.tickets.push_back({tickets.Text(0), tickets.Text(1)});
  }
  if (!with_details) return incident;

  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement timeline,
      db_.Prepare("SELECT at_ms, kind, text FROM timeline WHERE incident = ? ORDER BY at_ms, id"));
  timeline.Bind(1, number);
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, timeline.Step());
    if (!row) break;
    incident.timeline.push_back(
        {absl::FromUnixMillis(timeline.Int(0)), timeline.Text(1), timeline.Text(2)});
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement clocks,
      db_.Prepare("SELECT name, start_ms, deadline_ms, state, stopped_at_ms FROM clocks "
                  "WHERE incident = ? ORDER BY start_ms, name"));
  clocks.Bind(1, number);
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, clocks.Step());
    if (!row) break;
    SlaClock clock{clocks.Text(0), absl::FromUnixMillis(clocks.Int(1)), absl::FromUnixMillis(clocks.Int(2)),
                   ClockStateFromName(clocks.Text(3)), std::nullopt};
    if (!clocks.IsNull(4)) clock.stopped_at = absl::FromUnixMillis(clocks.Int(4));
    incident.clocks.push_back(std::move(clock));
  }
  return incident;
}

absl::StatusOr<std::optional<Incident>> Ledger::FindUnresolved(uint64_t fingerprint) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT number FROM incidents WHERE fingerprint = ? AND state != 'resolved' "
                  "ORDER BY number DESC LIMIT 1"));
  stmt.Bind(1, absl::StrFormat("%016x", fingerprint));
  KLAXON_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<Incident>();
  KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(stmt.Int(0), false));
  return std::optional<Incident>(std::move(incident));
}

absl::StatusOr<std::optional<SlaClock>> Ledger::MeetClock(int64_t number, absl::string_view name,
                                                         absl::Time at, absl::string_view what) {
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement clock,
      db_.Prepare("SELECT start_ms, deadline_ms FROM clocks WHERE incident = ? AND "
                  "name = ? AND state = 'running'"));
  clock.Bind(1, number).Bind(2, name);
  KLAXON_ASSIGN_OR_RETURN(bool running, clock.Step());
  if (!running) return std::optional<SlaClock>();
  SlaClock met{std::string(name), absl::FromUnixMillis(clock.Int(0)),
               absl::FromUnixMillis(clock.Int(1)), ClockState::kMet, at};
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stop,
      db_.Prepare("UPDATE clocks SET state = 'met', stopped_at_ms = ? "
                  "WHERE incident = ? AND name = ? AND state = 'running'"));
  KLAXON_RETURN_IF_ERROR(stop.Bind(1, Ms(at)).Bind(2, number).Bind(3, name).Run());
  KLAXON_RETURN_IF_ERROR(InsertTimeline(
      number,
      {at, "sla_met",
       absl::StrCat(name, " met: ", what, " ",
                    DurationToString(absl::Floor(at - met.start, absl::Milliseconds(1))),
                    " after first evidence (budget ", DurationToString(met.deadline - met.start),
                    ")")}));
  return std::optional<SlaClock>(met);
}

absl::Status Ledger::OweToOpenedSinks(const Incident& incident, const std::string& event,
                                      absl::Time at, const std::vector<std::string>& recipients,
                                      bool tickets_only) {
  // An update goes wherever the open went, whether or not that was delivered
  // yet: the sink gets both, in order.
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement sinks,
      db_.Prepare("SELECT sink, MAX(notification), MIN(recipients) FROM outbox "
                  "WHERE incident = ? AND event = 'opened' GROUP BY sink ORDER BY sink"));
  sinks.Bind(1, incident.number);
  struct Target {
    std::string sink;
    bool notification;
    std::vector<std::string> told;
  };
  std::vector<Target> targets;
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, sinks.Step());
    if (!row) break;
    Target target{sinks.Text(0), sinks.Int(1) != 0, {}};
    nlohmann::json told = nlohmann::json::parse(sinks.Text(2), nullptr, false);
    if (told.is_array()) {
      for (const nlohmann::json& to : told) {
        if (to.is_string()) target.told.push_back(to.get<std::string>());
      }
    }
    targets.push_back(std::move(target));
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement budget,
      db_.Prepare("SELECT notifications, notification_budget FROM incidents WHERE number = ?"));
  budget.Bind(1, incident.number);
  KLAXON_ASSIGN_OR_RETURN(bool found, budget.Step());
  int64_t sent = found ? budget.Int(0) : 0;
  int64_t allowed = found ? budget.Int(1) : 0;
  int64_t added = 0;
  for (const Target& target : targets) {
    if (!target.notification) {
      KLAXON_RETURN_IF_ERROR(InsertOutbox(incident, event, target.sink, at, recipients, false));
      continue;
    }
    if (tickets_only) continue;
    if (sent + added >= allowed) {
      KLAXON_RETURN_IF_ERROR(InsertTimeline(
          incident.number,
          {at, "notification_held",
           absl::StrCat(event, " not sent to \"", target.sink, "\": notification budget of ",
                        allowed, " spent")}));
      continue;
    }
    KLAXON_RETURN_IF_ERROR(InsertOutbox(incident, event, target.sink, at,
                                        recipients.empty() ? target.told : recipients, true));
    ++added;
  }
  if (added == 0) return absl::OkStatus();
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement count,
      db_.Prepare("UPDATE incidents SET notifications = notifications + ? WHERE number = ?"));
  return count.Bind(1, added).Bind(2, incident.number).Run();
}

absl::StatusOr<Incident> Ledger::AcknowledgeIncident(int64_t number, absl::Time at,
                                                     const std::string& actor,
                                                     const std::string& comment) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(number, false));
  if (incident.state != IncidentState::kOpen) {
    return absl::FailedPreconditionError(
        absl::StrCat(incident.id(), " is ", IncidentStateName(incident.state)));
  }
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE incidents SET state = 'acknowledged', acknowledged_at_ms = ? "
                  "WHERE number = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, Ms(at)).Bind(2, number).Run());
  incident.state = IncidentState::kAcknowledged;
  incident.acknowledged_at = at;
  std::string text = absl::StrCat("acknowledged by ", actor);
  if (!comment.empty()) absl::StrAppend(&text, ": ", comment);
  KLAXON_RETURN_IF_ERROR(InsertTimeline(number, {at, "acknowledged", text}));
  incident.timeline.push_back({at, "acknowledged", text});
  KLAXON_RETURN_IF_ERROR(MeetClock(number, "time_to_acknowledge", at, "acknowledged").status());
  KLAXON_RETURN_IF_ERROR(OweToOpenedSinks(incident, "acknowledged", at));
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return incident;
}

absl::StatusOr<Incident> Ledger::ResolveIncident(int64_t number, absl::Time at,
                                                 const std::string& why, ResolveOptions options) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(number, false));
  if (incident.state == IncidentState::kResolved) {
    return absl::FailedPreconditionError(absl::StrCat(incident.id(), " is already resolved"));
  }
  // A silenced incident owes nothing; a flapping one holds its resolution.
  std::string suppressed = options.hold ? "flapping" : "";
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE incidents SET state = 'resolved', resolved_at_ms = ?, "
                  "suppressed_by = ? WHERE number = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, Ms(at)).Bind(2, suppressed).Bind(3, number).Run());
  incident.state = IncidentState::kResolved;
  incident.resolved_at = at;
  KLAXON_RETURN_IF_ERROR(InsertTimeline(number, {at, "resolved", absl::StrCat("resolved: ", why)}));
  incident.timeline.push_back({at, "resolved", absl::StrCat("resolved: ", why)});
  KLAXON_RETURN_IF_ERROR(MeetClock(number, "time_to_resolve", at, "resolved").status());
  // Resolved before anyone acknowledged it: nobody was left waiting for an
  // answer, so the promise to answer was kept.
  KLAXON_RETURN_IF_ERROR(
      MeetClock(number, "time_to_acknowledge", at, "resolved before acknowledgement").status());
  // Clocks still running (time_to_ticket with every sink down) stop here, met
  // or not by the ticket: record that the incident ended first.
  if (options.hold) {
    KLAXON_RETURN_IF_ERROR(InsertTimeline(
        number, {at, "notification_held",
                 "flapping: the resolution is delivered once it stays resolved for its "
                 "reopen_window"}));
  } else {
    KLAXON_RETURN_IF_ERROR(OweToOpenedSinks(incident, "resolved", at));
    if (options.postmortem) {
      KLAXON_ASSIGN_OR_RETURN(Incident whole, LoadIncident(number, true));
      KLAXON_RETURN_IF_ERROR(OweToOpenedSinks(whole, "postmortem", at, {}, /*tickets_only=*/true));
    }
  }
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return incident;
}

absl::StatusOr<Incident> Ledger::ReopenIncident(int64_t number, absl::Time at,
                                                const std::string& why, bool hold) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(number, false));
  if (incident.state != IncidentState::kResolved) {
    return absl::FailedPreconditionError(absl::StrCat(incident.id(), " is not resolved"));
  }
  // A held resolution was never delivered: the ticket is still open there.
  bool was_held = incident.suppressed_by == "flapping";
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE incidents SET state = 'open', resolved_at_ms = NULL, "
                  "reopens = reopens + 1, acknowledged_at_ms = NULL, suppressed_by = ? "
                  "WHERE number = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, std::string(hold ? "flapping" : "")).Bind(2, number).Run());
  incident.state = IncidentState::kOpen;
  incident.resolved_at.reset();
  incident.acknowledged_at.reset();
  incident.reopens += 1;
  incident.suppressed_by = hold ? "flapping" : "";
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement clock,
      db_.Prepare("UPDATE clocks SET state = 'running', stopped_at_ms = NULL "
                  "WHERE incident = ? AND name = 'time_to_resolve' AND state = 'met'"));
  KLAXON_RETURN_IF_ERROR(clock.Bind(1, number).Run());
  std::string text = absl::StrCat("reopened (", incident.reopens, incident.reopens == 1 ? " time" : " times",
                                  "): ", why);
  if (hold) absl::StrAppend(&text, "; flapping: notifications held until it stays resolved");
  KLAXON_RETURN_IF_ERROR(InsertTimeline(number, {at, "reopened", text}));
  incident.timeline.push_back({at, "reopened", text});
  if (!was_held) KLAXON_RETURN_IF_ERROR(OweToOpenedSinks(incident, "reopened", at));
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return incident;
}

absl::StatusOr<Incident> Ledger::ReleaseHeld(int64_t number, absl::Time at, const std::string& why) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(number, false));
  if (incident.state != IncidentState::kResolved || incident.suppressed_by != "flapping") {
    return absl::FailedPreconditionError(absl::StrCat(incident.id(), " holds no resolution"));
  }
  KLAXON_ASSIGN_OR_RETURN(SqliteStatement update,
                          db_.Prepare("UPDATE incidents SET suppressed_by = '' WHERE number = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, number).Run());
  incident.suppressed_by.clear();
  KLAXON_RETURN_IF_ERROR(InsertTimeline(number, {at, "released", why}));
  KLAXON_RETURN_IF_ERROR(OweToOpenedSinks(incident, "resolved", at));
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return incident;
}

absl::Status Ledger::OwePostmortem(int64_t number, absl::Time at) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement owed,
      db_.Prepare("SELECT 1 FROM outbox WHERE incident = ? AND event = 'postmortem' LIMIT 1"));
  owed.Bind(1, number);
  KLAXON_ASSIGN_OR_RETURN(bool already, owed.Step());
  if (already) return absl::OkStatus();
  KLAXON_ASSIGN_OR_RETURN(Incident whole, LoadIncident(number, true));
  if (whole.state != IncidentState::kResolved) {
    return absl::FailedPreconditionError(absl::StrCat(whole.id(), " is not resolved"));
  }
  KLAXON_RETURN_IF_ERROR(OweToOpenedSinks(whole, "postmortem", at, {}, /*tickets_only=*/true));
  return tx.Commit();
}

absl::StatusOr<Incident> Ledger::Notify(int64_t number, absl::Time at, const std::string& event,
                                        const std::string& text,
                                        const std::vector<std::string>& recipients,
                                        std::optional<int> escalation_step) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(number, false));
  if (escalation_step) {
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement update,
        db_.Prepare("UPDATE incidents SET escalation_step = ? WHERE number = ?"));
    KLAXON_RETURN_IF_ERROR(update.Bind(1, int64_t{*escalation_step}).Bind(2, number).Run());
    incident.escalations = *escalation_step;
  }
  KLAXON_RETURN_IF_ERROR(InsertTimeline(number, {at, event, text}));
  incident.timeline.push_back({at, event, text});
  if (incident.suppressed_by.empty()) {
    KLAXON_RETURN_IF_ERROR(OweToOpenedSinks(incident, event, at, recipients));
  }
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return incident;
}

absl::Status Ledger::SetMembers(int64_t number, const std::vector<Labels>& members, absl::Time at,
                                const std::string& text) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  nlohmann::json list = nlohmann::json::array();
  for (const Labels& member : members) list.push_back(nlohmann::json::parse(LabelsJson(member)));
  KLAXON_ASSIGN_OR_RETURN(SqliteStatement update,
                          db_.Prepare("UPDATE incidents SET members = ? WHERE number = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, list.dump()).Bind(2, number).Run());
  KLAXON_RETURN_IF_ERROR(InsertTimeline(number, {at, "members", text}));
  return tx.Commit();
}

absl::StatusOr<std::vector<Incident>> Ledger::SelectIncidents(
    const std::string& where, const std::function<void(SqliteStatement&)>& bind,
    absl::string_view order, bool with_details) {
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare(absl::StrCat("SELECT number FROM incidents WHERE ", where, " ", order)));
  if (bind) bind(stmt);
  std::vector<int64_t> numbers;
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    numbers.push_back(stmt.Int(0));
  }
  std::vector<Incident> incidents;
  for (int64_t number : numbers) {
    KLAXON_ASSIGN_OR_RETURN(Incident incident, LoadIncident(number, with_details));
    incidents.push_back(std::move(incident));
  }
  return incidents;
}

absl::StatusOr<std::vector<Incident>> Ledger::Unresolved() {
  std::lock_guard lock(mu_);
  return SelectIncidents("state != 'resolved'", {});
}

absl::StatusOr<std::vector<Incident>> Ledger::ResolvedSince(absl::Time since) {
  std::lock_guard lock(mu_);
  return SelectIncidents("state = 'resolved' AND resolved_at_ms >= ?",
                         [&](SqliteStatement& stmt) { stmt.Bind(1, Ms(since)); });
}

absl::StatusOr<std::vector<Incident>> Ledger::IncidentsOverlapping(const std::string& service,
                                                                   absl::Time from, absl::Time to) {
  std::lock_guard lock(mu_);
  return SelectIncidents(
      "service = ? AND first_evidence_ms < ? AND (resolved_at_ms IS NULL OR resolved_at_ms > ?)",
      [&](SqliteStatement& stmt) { stmt.Bind(1, service).Bind(2, Ms(to)).Bind(3, Ms(from)); });
}

absl::StatusOr<std::optional<int64_t>> Ledger::FindByTicket(const std::string& sink,
                                                            const std::string& ref) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT t.incident FROM tickets t JOIN incidents i ON i.number = t.incident "
                  "WHERE t.sink = ? AND t.ref = ? AND i.state != 'resolved' "
                  "ORDER BY t.incident DESC LIMIT 1"));
  stmt.Bind(1, sink).Bind(2, ref);
  KLAXON_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<int64_t>();
  return std::optional<int64_t>(stmt.Int(0));
}

absl::StatusOr<std::vector<Incident>> Ledger::HeldResolutions() {
  std::lock_guard lock(mu_);
  return SelectIncidents("state = 'resolved' AND suppressed_by = 'flapping'", {});
}

absl::StatusOr<int> Ledger::CountTimeline(int64_t number, const std::string& kind) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT COUNT(*) FROM timeline WHERE incident = ? AND kind = ?"));
  stmt.Bind(1, number).Bind(2, kind);
  KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? static_cast<int>(stmt.Int(0)) : 0;
}

absl::Status Ledger::AddTimeline(int64_t number, const TimelineEntry& entry) {
  std::lock_guard lock(mu_);
  return InsertTimeline(number, entry);
}

absl::StatusOr<std::optional<OutboxRow>> Ledger::NextDelivery(const std::string& sink) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT id, event, snapshot, created_at_ms, attempts, next_attempt_ms, "
                  "last_error, incident, recipients FROM outbox WHERE sink = ? AND "
                  "delivered_at_ms IS NULL AND dead_at_ms IS NULL ORDER BY id LIMIT 1"));
  stmt.Bind(1, sink);
  KLAXON_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<OutboxRow>();
  OutboxRow row;
  row.id = stmt.Int(0);
  row.sink = sink;
  row.event = stmt.Text(1);
  nlohmann::json snapshot = nlohmann::json::parse(stmt.Text(2), nullptr, false);
  KLAXON_ASSIGN_OR_RETURN(row.incident, IncidentFromJson(snapshot));
  row.created_at = absl::FromUnixMillis(stmt.Int(3));
  row.attempts = static_cast<int>(stmt.Int(4));
  row.next_attempt_at = absl::FromUnixMillis(stmt.Int(5));
  row.last_error = stmt.Text(6);
  nlohmann::json recipients = nlohmann::json::parse(stmt.Text(8), nullptr, false);
  if (recipients.is_array()) {
    for (const nlohmann::json& to : recipients) {
      if (to.is_string()) row.recipients.push_back(to.get<std::string>());
    }
  }
  // The tickets as they are now, not as they were when the row was written: a
  // "resolved" queued while its "opened" was still being retried must still
  // find the ticket that delivery made.
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement tickets,
      db_.Prepare("SELECT sink, ref FROM tickets WHERE incident = ? ORDER BY sink"));
  tickets.Bind(1, stmt.Int(7));
  row.incident.tickets.clear();
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool has_ticket, tickets.Step());
    if (!has_ticket) break;
    row.incident.tickets.push_back({tickets.Text(0), tickets.Text(1)});
  }
  return std::optional<OutboxRow>(std::move(row));
}

absl::StatusOr<DeliveryConfirmation> Ledger::ConfirmDelivery(int64_t outbox_id, absl::Time at,
                                                             const DeliveryReceipt& receipt) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement select,
      db_.Prepare("SELECT sink, incident, event, attempts, notification FROM outbox "
                  "WHERE id = ? AND delivered_at_ms IS NULL"));
  select.Bind(1, outbox_id);
  KLAXON_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) {
    return absl::FailedPreconditionError(
        absl::StrCat("outbox row ", outbox_id, " is unknown or already delivered"));
  }
  std::string sink = select.Text(0);
  int64_t number = select.Int(1);
  std::string event = select.Text(2);
  int64_t attempts = select.Int(3) + 1;
  bool notification = select.Int(4) != 0;
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE outbox SET delivered_at_ms = ?, attempts = ?, dead_at_ms = NULL "
                  "WHERE id = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, Ms(at)).Bind(2, attempts).Bind(3, outbox_id).Run());

  DeliveryConfirmation confirmation{IncidentId(number), event, std::nullopt};
  std::string where = absl::StrCat("sink \"", sink, "\"");
  if (!receipt.ticket_ref.empty()) absl::StrAppend(&where, " as ", receipt.ticket_ref);
  absl::StrAppend(&where, attempts > 1 ? absl::StrCat(" after ", attempts, " attempts") : "");
  if (notification) {
    KLAXON_RETURN_IF_ERROR(
        InsertTimeline(number, {at, "notified", absl::StrCat(event, " notified via ", where)}));
  } else if (event == "postmortem") {
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement ticket,
        db_.Prepare("INSERT OR REPLACE INTO tickets(incident, sink, ref) VALUES (?, ?, ?)"));
    KLAXON_RETURN_IF_ERROR(ticket.Bind(1, number)
                               .Bind(2, absl::StrCat(sink, ":postmortem"))
                               .Bind(3, receipt.ticket_ref)
                               .Run());
    KLAXON_RETURN_IF_ERROR(
        InsertTimeline(number, {at, "postmortem", absl::StrCat("post-mortem ticket opened in ", where)}));
  } else if (event == "opened") {
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement ticket,
        db_.Prepare("INSERT OR REPLACE INTO tickets(incident, sink, ref) VALUES (?, ?, ?)"));
    KLAXON_RETURN_IF_ERROR(ticket.Bind(1, number).Bind(2, sink).Bind(3, receipt.ticket_ref).Run());
    KLAXON_RETURN_IF_ERROR(
        InsertTimeline(number, {at, "ticket", absl::StrCat("ticket opened in ", where)}));
    KLAXON_ASSIGN_OR_RETURN(confirmation.clock_met,
                            MeetClock(number, "time_to_ticket", at, "ticket"));
  } else {
    KLAXON_RETURN_IF_ERROR(InsertTimeline(
        number, {at, "ticket_update", absl::StrCat(event, " delivered to ", where)}));
  }
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return confirmation;
}

absl::Status Ledger::RecordFailedAttempt(int64_t outbox_id, absl::Time at, absl::Time next_attempt,
                                         const std::string& error) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement select,
      db_.Prepare("SELECT sink, incident, event, attempts FROM outbox WHERE id = ?"));
  select.Bind(1, outbox_id);
  KLAXON_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no outbox row ", outbox_id));
  int64_t attempts = select.Int(3) + 1;
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE outbox SET attempts = ?, next_attempt_ms = ?, last_error = ? "
                  "WHERE id = ?"));
  KLAXON_RETURN_IF_ERROR(
      update.Bind(1, attempts).Bind(2, Ms(next_attempt)).Bind(3, error).Bind(4, outbox_id).Run());
  // The first failure is worth a line on the timeline; every retry would drown it.
  if (attempts == 1) {
    KLAXON_RETURN_IF_ERROR(InsertTimeline(
        select.Int(1),
        {at, "delivery_failed",
         absl::StrCat(select.Text(2), " delivery to sink \"", select.Text(0), "\" failed: ", error,
                      "; retrying")}));
  }
  return tx.Commit();
}

absl::Status Ledger::MarkDead(int64_t outbox_id, absl::Time at, const std::string& error) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement select,
      db_.Prepare("SELECT sink, incident, event, attempts, created_at_ms FROM outbox "
                  "WHERE id = ? AND delivered_at_ms IS NULL"));
  select.Bind(1, outbox_id);
  KLAXON_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no undelivered outbox row ", outbox_id));
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE outbox SET dead_at_ms = ?, last_error = ?, attempts = attempts + 1 "
                  "WHERE id = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, Ms(at)).Bind(2, error).Bind(3, outbox_id).Run());
  KLAXON_RETURN_IF_ERROR(InsertTimeline(
      select.Int(1),
      {at, "dead_letter",
       absl::StrCat(select.Text(2), " delivery to sink \"", select.Text(0), "\" given up after ",
                    select.Int(3) + 1, " attempts over ",
                    DurationToString(absl::Floor(at - absl::FromUnixMillis(select.Int(4)),
                                                 absl::Seconds(1))),
                    ": ", error, "; POST /api/v1/outbox/", outbox_id, "/retry sends it again")}));
  return tx.Commit();
}

absl::StatusOr<std::vector<DeadLetter>> Ledger::DeadLetters() {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT id, sink, incident, event, attempts, created_at_ms, dead_at_ms, "
                  "last_error FROM outbox WHERE dead_at_ms IS NOT NULL AND delivered_at_ms IS NULL "
                  "ORDER BY id"));
  std::vector<DeadLetter> out;
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back({stmt.Int(0), stmt.Text(1), IncidentId(stmt.Int(2)), stmt.Text(3),
                   static_cast<int>(stmt.Int(4)), absl::FromUnixMillis(stmt.Int(5)),
                   absl::FromUnixMillis(stmt.Int(6)), stmt.Text(7)});
  }
}

absl::Status Ledger::DeadLetterUnknownSinks(const std::vector<std::string>& known,
                                            absl::Time at) {
  std::vector<int64_t> orphans;
  {
    std::lock_guard lock(mu_);
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_.Prepare("SELECT id, sink FROM outbox WHERE delivered_at_ms IS NULL AND "
                    "dead_at_ms IS NULL ORDER BY id"));
    while (true) {
      KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      if (std::find(known.begin(), known.end(), stmt.Text(1)) == known.end()) {
        orphans.push_back(stmt.Int(0));
      }
    }
  }
  for (int64_t id : orphans) {
    KLAXON_RETURN_IF_ERROR(MarkDead(id, at, "sink removed from config"));
  }
  return absl::OkStatus();
}

absl::Status Ledger::RetryDeadLetter(int64_t outbox_id, absl::Time at) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement select,
      db_.Prepare("SELECT sink, incident, event FROM outbox WHERE id = ? AND "
                  "dead_at_ms IS NOT NULL AND delivered_at_ms IS NULL"));
  select.Bind(1, outbox_id);
  KLAXON_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("outbox row ", outbox_id, " is not dead-lettered"));
  // A fresh start: the dead-letter age counts from the retry.
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE outbox SET dead_at_ms = NULL, next_attempt_ms = ?, created_at_ms = ? "
                  "WHERE id = ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, Ms(at)).Bind(2, Ms(at)).Bind(3, outbox_id).Run());
  KLAXON_RETURN_IF_ERROR(InsertTimeline(
      select.Int(1), {at, "delivery_retry",
                      absl::StrCat(select.Text(2), " delivery to sink \"", select.Text(0),
                                   "\" put back in line by request")}));
  return tx.Commit();
}

absl::StatusOr<std::vector<ClockBreach>> Ledger::BreachDueClocks(absl::Time now) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement select,
      db_.Prepare("SELECT c.incident, c.name, c.start_ms, c.deadline_ms, i.service FROM clocks c "
                  "JOIN incidents i ON i.number = c.incident "
                  "WHERE c.state = 'running' AND c.deadline_ms <= ? ORDER BY c.deadline_ms"));
  select.Bind(1, Ms(now));
  std::vector<std::pair<int64_t, ClockBreach>> due;
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    SlaClock clock{select.Text(1), absl::FromUnixMillis(select.Int(2)), absl::FromUnixMillis(select.Int(3)),
                   ClockState::kBreached, std::nullopt};
    clock.stopped_at = clock.deadline;
    due.push_back({select.Int(0), {IncidentId(select.Int(0)), select.Text(4), std::move(clock)}});
  }
  std::vector<ClockBreach> breaches;
  for (auto& [number, breach] : due) {
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement update,
        db_.Prepare("UPDATE clocks SET state = 'breached', stopped_at_ms = deadline_ms "
                    "WHERE incident = ? AND name = ?"));
    KLAXON_RETURN_IF_ERROR(update.Bind(1, number).Bind(2, breach.clock.name).Run());
    KLAXON_RETURN_IF_ERROR(InsertTimeline(
        number, {breach.clock.deadline, "sla_breached",
                 absl::StrCat(breach.clock.name, " breached: budget of ",
                              DurationToString(breach.clock.deadline - breach.clock.start),
                              " from first evidence ran out")}));
    breaches.push_back(std::move(breach));
  }
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return breaches;
}

absl::StatusOr<std::optional<absl::Time>> Ledger::NextClockDeadline() {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT MIN(deadline_ms) FROM clocks WHERE state = 'running'"));
  KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row || stmt.IsNull(0)) return std::optional<absl::Time>();
  return std::optional<absl::Time>(absl::FromUnixMillis(stmt.Int(0)));
}

absl::StatusOr<std::vector<Incident>> Ledger::ListIncidents(std::optional<IncidentState> state,
                                                            int limit) {
  std::lock_guard lock(mu_);
  return SelectIncidents(
      state ? "state = ?" : "1", [&](SqliteStatement& stmt) {
        if (state) stmt.Bind(1, IncidentStateName(*state));
      },
      absl::StrCat("ORDER BY number DESC LIMIT ", limit), /*with_details=*/true);
}

absl::StatusOr<Incident> Ledger::GetIncident(int64_t number) {
  std::lock_guard lock(mu_);
  return LoadIncident(number, true);
}

absl::StatusOr<LedgerStats> Ledger::Stats() {
  std::lock_guard lock(mu_);
  LedgerStats stats;
  auto by_service_severity = [&](absl::string_view where,
                                 std::vector<LedgerStats::ByServiceSeverity>& out) -> absl::Status {
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_.Prepare(absl::StrCat("SELECT service, severity, COUNT(*) FROM incidents ", where,
                                 " GROUP BY service, severity ORDER BY service, severity")));
    while (true) {
      KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      out.push_back({stmt.Text(0), stmt.Text(1), stmt.Int(2)});
    }
  };
  KLAXON_RETURN_IF_ERROR(by_service_severity("WHERE state != 'resolved'", stats.open));
  KLAXON_RETURN_IF_ERROR(by_service_severity("", stats.opened));
  auto by_clock = [&](absl::string_view state,
                      std::vector<LedgerStats::ByServiceClock>& out) -> absl::Status {
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_.Prepare("SELECT i.service, c.name, COUNT(*) FROM clocks c JOIN incidents i "
                    "ON i.number = c.incident WHERE c.state = ? GROUP BY i.service, c.name "
                    "ORDER BY i.service, c.name"));
    stmt.Bind(1, state);
    while (true) {
      KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      out.push_back({stmt.Text(0), stmt.Text(1), stmt.Int(2)});
    }
  };
  KLAXON_RETURN_IF_ERROR(by_clock("breached", stats.clock_breaches));
  KLAXON_RETURN_IF_ERROR(by_clock("met", stats.clock_met));
  auto by_sink = [&](absl::string_view count, absl::string_view where,
                     std::vector<LedgerStats::BySink>& out) -> absl::Status {
    KLAXON_ASSIGN_OR_RETURN(
        SqliteStatement stmt,
        db_.Prepare(absl::StrCat("SELECT sink, ", count, " FROM outbox WHERE ", where,
                                 " GROUP BY sink ORDER BY sink")));
    while (true) {
      KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return absl::OkStatus();
      out.push_back({stmt.Text(0), stmt.Int(1)});
    }
  };
  KLAXON_RETURN_IF_ERROR(by_sink("COUNT(*)", "delivered_at_ms IS NULL AND dead_at_ms IS NULL",
                                 stats.outbox_pending));
  KLAXON_RETURN_IF_ERROR(by_sink("COUNT(*)", "delivered_at_ms IS NULL AND dead_at_ms IS NOT NULL",
                                 stats.dead_letters));
  KLAXON_RETURN_IF_ERROR(by_sink("COUNT(*)", "delivered_at_ms IS NOT NULL", stats.delivered));
  // Every attempt but the one that succeeded failed.
  KLAXON_RETURN_IF_ERROR(by_sink(
      "SUM(attempts) - SUM(delivered_at_ms IS NOT NULL)", "attempts > 0", stats.failed_attempts));
  return stats;
}

absl::Status Ledger::RecordPendingAlert(const std::string& rule, const Labels& labels,
                                        absl::Time active_at) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("INSERT OR REPLACE INTO pending_alerts(fingerprint, rule, labels, active_at_ms) "
                  "VALUES (?, ?, ?, ?)"));
  return stmt.Bind(1, absl::StrFormat("%016x", labels.Fingerprint()))
      .Bind(2, rule)
      .Bind(3, LabelsJson(labels))
      .Bind(4, Ms(active_at))
      .Run();
}

absl::Status Ledger::ForgetPendingAlert(const Labels& labels) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_.Prepare("DELETE FROM pending_alerts WHERE fingerprint = ?"));
  return stmt.Bind(1, absl::StrFormat("%016x", labels.Fingerprint())).Run();
}

absl::StatusOr<std::vector<PendingAlert>> Ledger::PendingAlerts() {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT rule, labels, active_at_ms FROM pending_alerts ORDER BY rule, labels"));
  std::vector<PendingAlert> out;
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back({stmt.Text(0), LabelsFromJson(stmt.Text(1)), absl::FromUnixMillis(stmt.Int(2))});
  }
}

absl::StatusOr<std::optional<std::string>> Ledger::LogState(const std::string& log) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(SqliteStatement stmt,
                          db_.Prepare("SELECT state FROM log_state WHERE log = ?"));
  stmt.Bind(1, log);
  KLAXON_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  if (!has_row) return std::nullopt;
  return stmt.Text(0);
}

absl::Status Ledger::SaveLogState(const std::string& log, absl::string_view state) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("INSERT OR REPLACE INTO log_state(log, state) VALUES (?, ?)"));
  return stmt.Bind(1, log).Bind(2, state).Run();
}

absl::StatusOr<int64_t> Ledger::CreateSilence(const Silence& silence) {
  nlohmann::json matchers = nlohmann::json::array();
  for (const SilenceMatcher& m : silence.matchers) {
    matchers.push_back(
        {{"name", m.name}, {"value", m.value}, {"isRegex", m.is_regex}, {"isEqual", m.is_equal}});
  }
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement insert,
      db_.Prepare("INSERT INTO silences(matchers, starts_at_ms, ends_at_ms, created_by, comment, "
                  "created_at_ms) VALUES (?, ?, ?, ?, ?, ?)"));
  KLAXON_RETURN_IF_ERROR(insert.Bind(1, matchers.dump())
                             .Bind(2, Ms(silence.starts_at))
                             .Bind(3, Ms(silence.ends_at))
                             .Bind(4, silence.created_by)
                             .Bind(5, silence.comment)
                             .Bind(6, Ms(silence.created_at))
                             .Run());
  return db_.LastInsertRowId();
}

absl::StatusOr<std::vector<Silence>> Ledger::Silences(absl::Time now) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement stmt,
      db_.Prepare("SELECT id, matchers, starts_at_ms, ends_at_ms, created_by, comment, "
                  "created_at_ms FROM silences WHERE ends_at_ms > ? ORDER BY id"));
  stmt.Bind(1, Ms(now));
  std::vector<Silence> out;
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    Silence silence;
    silence.id = stmt.Int(0);
    nlohmann::json matchers = nlohmann::json::parse(stmt.Text(1), nullptr, false);
    if (matchers.is_array()) {
      for (const nlohmann::json& m : matchers) {
        silence.matchers.push_back({m.value("name", ""), m.value("value", ""),
                                    m.value("isRegex", false), m.value("isEqual", true)});
      }
    }
    silence.starts_at = absl::FromUnixMillis(stmt.Int(2));
    silence.ends_at = absl::FromUnixMillis(stmt.Int(3));
    silence.created_by = stmt.Text(4);
    silence.comment = stmt.Text(5);
    silence.created_at = absl::FromUnixMillis(stmt.Int(6));
    out.push_back(std::move(silence));
  }
}

absl::Status Ledger::ExpireSilence(int64_t id, absl::Time at) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement update,
      db_.Prepare("UPDATE silences SET ends_at_ms = ? WHERE id = ? AND ends_at_ms > ?"));
  KLAXON_RETURN_IF_ERROR(update.Bind(1, Ms(at)).Bind(2, id).Bind(3, Ms(at)).Run());
  if (db_.Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("no active or pending silence ", id));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Ledger::RecordChange(const Change& change) {
  std::lock_guard lock(mu_);
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement insert,
      db_.Prepare("INSERT INTO changes(service, at_ms, who, what, link) VALUES (?, ?, ?, ?, ?)"));
  KLAXON_RETURN_IF_ERROR(insert.Bind(1, change.service)
                             .Bind(2, Ms(change.at))
                             .Bind(3, change.who)
                             .Bind(4, change.what)
                             .Bind(5, change.link)
                             .Run());
  return db_.LastInsertRowId();
}

absl::StatusOr<std::vector<Change>> Ledger::Changes(const std::string& service, absl::Time from,
                                                    absl::Time to) {
  std::lock_guard lock(mu_);
  return SelectChanges(service, from, to);
}

absl::StatusOr<std::vector<Change>> Ledger::SelectChanges(const std::string& service,
                                                          absl::Time from, absl::Time to) {
  KLAXON_ASSIGN_OR_RETURN(
      SqliteStatement select,
      db_.Prepare("SELECT id, at_ms, who, what, link FROM changes WHERE service = ? AND "
                  "at_ms >= ? AND at_ms <= ? ORDER BY at_ms, id"));
  select.Bind(1, service).Bind(2, Ms(from)).Bind(3, Ms(to));
  std::vector<Change> changes;
  while (true) {
    KLAXON_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    Change change;
    change.id = select.Int(0);
    change.service = service;
    change.at = absl::FromUnixMillis(select.Int(1));
    change.who = select.Text(2);
    change.what = select.Text(3);
    change.link = select.Text(4);
    changes.push_back(std::move(change));
  }
  return changes;
}

absl::StatusOr<int> Ledger::AttachChanges(int64_t number, const std::string& service,
                                          absl::Time from, absl::Time to) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  KLAXON_RETURN_IF_ERROR(tx.status());
  KLAXON_ASSIGN_OR_RETURN(std::vector<Change> changes, SelectChanges(service, from, to));
  for (const Change& change : changes) {
    std::string text = absl::StrCat("change before this incident: ", change.what, " (by ",
                                    change.who, ")");
    if (!change.link.empty()) absl::StrAppend(&text, " ", change.link);
    KLAXON_RETURN_IF_ERROR(InsertTimeline(number, {change.at, "change", text}));
  }
  KLAXON_RETURN_IF_ERROR(tx.Commit());
  return static_cast<int>(changes.size());
}

}  // namespace klaxon
