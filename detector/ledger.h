// Ledger persists incidents, their timelines and SLA clocks, and the outbox of
// deliveries they owe, in one SQLite database (WAL, synchronous=FULL). Every
// change is one transaction together with the outbox rows it causes, so a crash
// or kill -9 at any moment loses no incident, no owed delivery and no clock
// start. Thread-safe: the engine, the delivery threads and the API share one
// Ledger; calls are serialised by an internal lock.
#ifndef KLAXON_DETECTOR_LEDGER_H_
#define KLAXON_DETECTOR_LEDGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/incident.h"
#include "detector/internal/sqlite.h"

namespace klaxon {

// A clock to start with a new incident.
struct ClockSpec {
  std::string name;  // "time_to_ticket"
  absl::Duration budget;
  // Starts when the incident opens rather than at its first evidence.
  bool at_detection = false;
};

// Where a new incident's deliveries go. Every later delivery of the incident
// goes where its opening went.
struct Routing {
  std::vector<std::string> sinks;      // ticket sinks
  std::vector<std::string> notifiers;  // notifier sinks (chat, email)
  std::vector<std::string> notify;     // who the notifiers tell
  // Notifier messages this incident may send in all.
  int max_notifications = 20;
};

// How a resolution is delivered.
struct ResolveOptions {
  // Flapping: record it, deliver nothing yet (see ReleaseHeld).
  bool hold = false;
  // Owe a "postmortem" delivery, with the whole timeline, to the ticket sinks.
  bool postmortem = false;
};

// An outbox row that will not be retried until a person asks.
struct DeadLetter {
  int64_t id = 0;
  std::string sink;
  std::string incident_id;
  std::string event;
  int attempts = 0;
  absl::Time created_at;
  absl::Time dead_at;
  std::string last_error;
};

// What one delivery confirmation changed, for logs and callers.
struct DeliveryConfirmation {
  std::string incident_id;
  std::string event;
  std::optional<SlaClock> clock_met;  // the time_to_ticket clock, if this met it
};

struct ClockBreach {
  std::string incident_id;
  std::string service;
  SlaClock clock;
};

// An alert waiting out its `for`, kept so that a restart does not restart the
// wait (Prometheus keeps the same in its ALERTS_FOR_STATE series).
struct PendingAlert {
  std::string rule;
  Labels labels;
  absl::Time active_at;
};

// A change to a service (a deploy, a config push, a migration), reported by
// whoever made it, so that an incident soon after shows it.
struct Change {
  int64_t id = 0;
  std::string service;
  absl::Time at;
  std::string who;
  std::string what;
  std::string link;  // "" when none
};

// One matcher of a silence, in Alertmanager's form.
struct SilenceMatcher {
  std::string name;
  std::string value;
  bool is_regex = false;
  bool is_equal = true;
};

// A silence: incidents whose labels match every matcher between starts_at and
// ends_at open without tickets, notifications or clocks (and say so on their
// timeline).
struct Silence {
  int64_t id = 0;
  std::vector<SilenceMatcher> matchers;
  absl::Time starts_at;
  absl::Time ends_at;
  std::string created_by;
  std::string comment;
  absl::Time created_at;
};

class Ledger {
 public:
  // Opens or creates the database at `path` (its folder must exist).
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path);
  // Non-copyable: owns the database connection.
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Records a new incident from `incident` (number, state and timeline are
  // assigned here), its first timeline entries, `clocks` started at its first
  // evidence (or opening), and an "opened" outbox row for each sink of
  // `routing`, in one transaction. An incident with `suppressed_by` set gets
  // neither clocks nor deliveries until Unsuppress().
  absl::StatusOr<Incident> OpenIncident(const Incident& incident,
                                        const std::vector<ClockSpec>& clocks,
                                        const Routing& routing);
  // The suppression of an unresolved incident ended: its clocks start now and
  // its "opened" deliveries are owed.
  absl::StatusOr<Incident> Unsuppress(int64_t number, absl::Time at, const std::string& why,
                                      const std::vector<ClockSpec>& clocks,
                                      const Routing& routing);
  // A resolved incident fired again within its reopen_window: open again,
  // same number and tickets, its time_to_resolve clock running again, and a
  // "reopened" delivery owed unless `hold` (flapping).
  absl::StatusOr<Incident> ReopenIncident(int64_t number, absl::Time at, const std::string& why,
                                          bool hold);
  // Owes the resolved incident's "postmortem" delivery, with its whole
  // timeline, to the ticket sinks, unless it was owed before.
  absl::Status OwePostmortem(int64_t number, absl::Time at);
  // A flapping incident stayed resolved: its held "resolved" delivery is owed now.
  absl::StatusOr<Incident> ReleaseHeld(int64_t number, absl::Time at, const std::string& why);
  // Puts `text` on the timeline as `event` and owes that event to the sinks
  // the opening went to; notifiers tell `recipients` (empty: the incident's
  // notify list). Sets the escalation step when given.
  absl::StatusOr<Incident> Notify(int64_t number, absl::Time at, const std::string& event,
                                  const std::string& text,
                                  const std::vector<std::string>& recipients,
                                  std::optional<int> escalation_step = std::nullopt);
  // The alerts a grouped incident stands for now; `text` goes on the timeline.
  absl::Status SetMembers(int64_t number, const std::vector<Labels>& members, absl::Time at,
                          const std::string& text);
  // Unresolved incidents (open and acknowledged), without timelines.
  absl::StatusOr<std::vector<Incident>> Unresolved();
  // Incidents resolved at or after `since`, without timelines, oldest first.
  absl::StatusOr<std::vector<Incident>> ResolvedSince(absl::Time since);
  // The service's incidents with time in [from, to): first evidence before
  // `to` and not resolved before `from`. Without timelines, oldest first.
  absl::StatusOr<std::vector<Incident>> IncidentsOverlapping(const std::string& service,
                                                             absl::Time from, absl::Time to);
  // The unresolved incident whose ticket in `sink` is `ref`, if any.
  absl::StatusOr<std::optional<int64_t>> FindByTicket(const std::string& sink,
                                                      const std::string& ref);
  // Resolved incidents whose resolution is held (flapping), oldest first.
  absl::StatusOr<std::vector<Incident>> HeldResolutions();
  // How many timeline entries of this kind the incident has.
  absl::StatusOr<int> CountTimeline(int64_t number, const std::string& kind);
  // The unresolved incident with this fingerprint, if any.
  absl::StatusOr<std::optional<Incident>> FindUnresolved(uint64_t fingerprint);
  // Resolves and owes a "resolved" delivery to every sink the incident was
  // opened to. `why` goes on the timeline.
  absl::StatusOr<Incident> ResolveIncident(int64_t number, absl::Time at, const std::string& why,
                                           ResolveOptions options = {});
  absl::Status AddTimeline(int64_t number, const TimelineEntry& entry);
  // A person took the incident: it moves from open to acknowledged, its
  // time_to_acknowledge clock is met, and an "acknowledged" delivery is owed
  // to every sink the open went to. kFailedPrecondition unless it is open.
  absl::StatusOr<Incident> AcknowledgeIncident(int64_t number, absl::Time at,
                                               const std::string& actor,
                                               const std::string& comment);

  // The oldest undelivered row for `sink`: deliveries to one sink go in order.
  absl::StatusOr<std::optional<OutboxRow>> NextDelivery(const std::string& sink);
  // Confirms a delivery; an "opened" delivery records the ticket and meets the
  // incident's running time_to_ticket clock.
  absl::StatusOr<DeliveryConfirmation> ConfirmDelivery(int64_t outbox_id, absl::Time at,
                                                       const DeliveryReceipt& receipt);
  absl::Status RecordFailedAttempt(int64_t outbox_id, absl::Time at, absl::Time next_attempt,
                                   const std::string& error);
  // Gives up on a row after `error`: it stays in the outbox, skipped by
  // NextDelivery, until RetryDeadLetter.
  absl::Status MarkDead(int64_t outbox_id, absl::Time at, const std::string& error);
  absl::StatusOr<std::vector<DeadLetter>> DeadLetters();
  // Rows owed to sinks not among `known` (removed from the config) can never
  // be delivered: they are dead-lettered with that reason.
  absl::Status DeadLetterUnknownSinks(const std::vector<std::string>& known, absl::Time at);
  // Puts a dead row back in line, due now. kNotFound unless it is dead.
  absl::Status RetryDeadLetter(int64_t outbox_id, absl::Time at);

  // Marks running clocks whose deadline is at or before `now` breached.
  absl::StatusOr<std::vector<ClockBreach>> BreachDueClocks(absl::Time now);
  absl::StatusOr<std::optional<absl::Time>> NextClockDeadline();

  // Newest first. `state` filters when set.
  absl::StatusOr<std::vector<Incident>> ListIncidents(std::optional<IncidentState> state,
                                                      int limit = 1000);
  // With timeline, clocks and tickets. kNotFound for an unknown number.
  absl::StatusOr<Incident> GetIncident(int64_t number);
  absl::StatusOr<LedgerStats> Stats();

  // Pending alerts by their labels' fingerprint (alertname included).
  absl::Status RecordPendingAlert(const std::string& rule, const Labels& labels,
                                  absl::Time active_at);
  absl::Status ForgetPendingAlert(const Labels& labels);
  absl::StatusOr<std::vector<PendingAlert>> PendingAlerts();

  absl::StatusOr<int64_t> CreateSilence(const Silence& silence);
  // Silences that have not ended by `now` (active or still to start), oldest first.
  absl::StatusOr<std::vector<Silence>> Silences(absl::Time now);
  // Ends a silence at `at`. kNotFound for an unknown or already ended one.
  absl::Status ExpireSilence(int64_t id, absl::Time at);

  absl::StatusOr<int64_t> RecordChange(const Change& change);
  // The service's changes from `from` to `to`, inclusive, oldest first.
  absl::StatusOr<std::vector<Change>> Changes(const std::string& service, absl::Time from,
                                              absl::Time to);
  // Puts the service's changes from `from` to `to` on the incident's
  // timeline, each at its own time ("change before this incident: ...").
  absl::StatusOr<int> AttachChanges(int64_t number, const std::string& service, absl::Time from,
                                    absl::Time to);

  // Where a [[log]] source was (file positions and its counters), saved after
  // each read so that a restart neither loses nor double-counts a line.
  absl::StatusOr<std::optional<std::string>> LogState(const std::string& log);
  absl::Status SaveLogState(const std::string& log, absl::string_view state);

 private:
  explicit Ledger(internal::SqliteDb db) : db_(std::move(db)) {}
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Incident> LoadIncident(int64_t number, bool with_details)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InsertTimeline(int64_t number, const TimelineEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Meets the incident's running clock of that name, if any, with a timeline
  // entry ("time_to_acknowledge met: acknowledged 2m after first evidence").
  absl::StatusOr<std::optional<SlaClock>> MeetClock(int64_t number, absl::string_view name,
                                                    absl::Time at, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<Change>> SelectChanges(const std::string& service, absl::Time from,
                                                    absl::Time to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Owes `event` wherever the opening went; notifiers tell `recipients`, or
  // whom the opening told when empty. `tickets_only` skips the notifiers.
  absl::Status OweToOpenedSinks(const Incident& incident, const std::string& event, absl::Time at,
                                const std::vector<std::string>& recipients = {},
                                bool tickets_only = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OweOpened(const Incident& incident, const Routing& routing, absl::Time at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the clocks, started at `first_evidence` or at `detected`.
  absl::Status StartClocks(Incident& incident, const std::vector<ClockSpec>& clocks,
                           absl::Time first_evidence, absl::Time detected)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InsertOutbox(const Incident& incident, const std::string& event,
                            const std::string& sink, absl::Time at,
                            const std::vector<std::string>& recipients, bool notification)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The incidents matching `where` (its ? bound by `bind`), in `order`; with
  // timelines and clocks only when `with_details`.
  absl::StatusOr<std::vector<Incident>> SelectIncidents(
      const std::string& where, const std::function<void(internal::SqliteStatement&)>& bind,
      absl::string_view order = "ORDER BY number", bool with_details = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::mutex mu_;
  internal::SqliteDb db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_LEDGER_H_
