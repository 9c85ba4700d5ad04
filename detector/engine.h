// Engine is the detector's core: it keeps the newest sample of every series,
// evaluates a rule as soon as a sample reaches one of its inputs, fires `for`
// deadlines on their own timers, and turns firing alerts into incidents in the
// ledger (and cleared alerts into resolutions); on every tick it also updates
// each SLO's burn rates, as series the rules read. Ingest() and SeriesSnapshot()
// are thread-safe; everything else runs on the engine's one thread (or, in
// tests, on the caller's through ProcessPending()).
#ifndef KLAXON_DETECTOR_ENGINE_H_
#define KLAXON_DETECTOR_ENGINE_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/duration_histogram.h"
#include "detector/ledger.h"
#include "detector/sample.h"
#include "detector/series_index.h"
#include "detector/series_reader.h"
#include "detector/window.h"
#include "rules/alerting_rule.h"
#include "rules/expr.h"
#include "rules/recording_rule.h"
#include "rules/slo.h"

namespace klaxon {

struct SeriesValue {
  SeriesId series;
  int64_t timestamp_ms;
  double value;
};

struct EngineOptions {
  // Default: 1s. Every rule is also evaluated this often, for what changes with
  // time passing alone: windows sliding, series going stale, absent(). SLOs
  // are updated on this tick only.
  absl::Duration tick = absl::Seconds(1);
  // Default: 5m, Prometheus's lookback delta: how far back an instant selector
  // looks for a series' newest sample. Also how long after a restart a restored
  // incident's silent series is still given the benefit of the doubt.
  absl::Duration lookback = absl::Minutes(5);
  // Probes the previous config had and this one does not (on a reload): their
  // unresolved incidents resolve as "removed from config" at Init.
  std::vector<std::string> removed_probes;
};

// The [rules] settings of a config, for the engine.
EngineOptions EngineOptionsFor(const RulesSettings& settings);

class Engine : public SeriesReader {
 public:
  // `on_outbox` is called (on the engine thread) after every ledger change that
  // owes deliveries, to wake the dispatcher.
  Engine(const Config& config, SeriesIndex& index, Ledger& ledger, const Clock& clock,
         std::function<void()> on_outbox, EngineOptions options = {});
  // Non-copyable: owns the engine thread and the live alert states.
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine() override;  // Stops.

  // Compiles the rules and loads the unresolved incidents, so that an incident
  // opened before a restart resolves when its condition clears.
  absl::Status Init();
  void Start();
  void Stop();

  // Queues a batch and wakes the engine thread; while the engine's thread
  // runs and a million samples are already queued, waits for it to take them.
  // Thread-safe.
  void Ingest(SampleBatch batch);
  // A person resolves an incident by hand: recorded on the engine's thread,
  // which also stops its alert, if still firing, from opening a new incident
  // until its condition has cleared once. Thread-safe; the future is ready
  // once the engine thread has handled it (kNotFound, kFailedPrecondition for
  // one already resolved).
  std::future<absl::StatusOr<Incident>> RequestResolve(int64_t number, std::string actor,
                                                       std::string comment);
  // Handles every queued batch and every timer due at the clock's now.
  void ProcessPending();

  // The newest sample of every series, for /metrics. Thread-safe.
  std::vector<SeriesValue> SeriesSnapshot() const;
  uint64_t samples_ingested() const { return samples_ingested_.load(std::memory_order_relaxed); }
  // How long each tick's evaluation took, and how late ticks and `for`
  // deadlines ran after they were due. Thread-safe.
  HistogramSnapshot tick_duration() const { return tick_duration_.Snapshot(); }
  HistogramSnapshot tick_lateness() const { return tick_lateness_.Snapshot(); }
  HistogramSnapshot for_lateness() const { return for_lateness_.Snapshot(); }

  // SeriesReader, on the engine thread.
  void SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms, int64_t lookback_ms,
                     const InstantVisitor& visit) const override;
  void SelectRange(const std::vector<LabelMatcher>& matchers, int64_t at_ms, int64_t range_ms,
                   const RangeVisitor& visit) const override;

 private:
  struct Rule {
    std::unique_ptr<AlertingRule> alerting;
    const RuleConfig* config;
    const ServiceConfig* service;  // nullptr without one
    Routing routing;
    std::vector<ClockSpec> clocks;
    // Unresolved incidents of this rule by key: the alert's fingerprint, or
    // with group_by its group's (see KeyOf).
    absl::flat_hash_map<uint64_t, int64_t> open;
    // How often each unresolved incident was reopened, by key.
    absl::flat_hash_map<uint64_t, int> reopens;
    // A grouped incident's member alerts, by key, then alert fingerprint.
    absl::flat_hash_map<uint64_t, std::map<uint64_t, Labels>> members;
    // Incidents resolved within reopen_window, by key: firing again reopens them.
    struct Resolved {
      int64_t number;
      absl::Time at;
      int reopens;
    };
    absl::flat_hash_map<uint64_t, Resolved> recently_resolved;
    // Incidents opened before this process started whose evidence has not been
    // seen since: samples live in memory only, so an empty result right after
    // a restart says nothing about them. By fingerprint, the labels a series
    // behind the alert must carry.
    absl::flat_hash_map<uint64_t, Labels> unconfirmed;
    std::vector<int> parents;  // rules_ indexes of depends_on
    // Firing alerts attached to a parent's incident instead of their own, by
    // fingerprint, with the parent incident's number.
    absl::flat_hash_map<uint64_t, int64_t> attached;
    // Alerts waiting out `for`, by fingerprint, as recorded in the ledger.
    absl::flat_hash_map<uint64_t, Labels> pending;
    // Alerts whose incident a person resolved while they still fired: they
    // open nothing until their condition clears.
    absl::flat_hash_set<uint64_t> resolved_by_hand;
    // Open incidents of an auto_resolve = false rule whose condition cleared,
    // waiting for a person; noted on the timeline once per clearing.
    absl::flat_hash_set<uint64_t> awaiting_person;
    // What the last evaluation cost (CPU time), when it ran, and an
    // evaluation owed by samples or a tick that came too soon after it (see
    // kEvaluationShare).
    absl::Duration last_cost;
    absl::Time last_evaluated = absl::InfinitePast();
    bool owed = false;
  };
  struct Record {
    std::unique_ptr<RecordingRule> recording;
    const RecordConfig* config;
    absl::flat_hash_set<SeriesId> outputs;  // series written by the last evaluation
  };
  struct Slo {
    std::unique_ptr<SloTracker> tracker;
    const SloConfig* config;
  };
  // One per series ever seen, a million of them at scale: 64 bytes, with
  // what is shared between series (reader lists) or rare (notes) kept aside.
  struct Series {
    std::optional<Point> newest;  // for /metrics, and all a series no rule reads keeps
    // Only for series some rule reads (`windowed`): samples reaching back
    // `retention_ms`. Inline, not behind a pointer: a tick reads every window
    // a rule selects, and one cache miss fewer a series is a tenth of a tick.
    SampleWindow window;
    int64_t retention_ms = 0;
    // Readers whose selectors match this series, as an index into reader_sets_.
    uint32_t readers = 0;
    bool seen = false;
    bool windowed = false;
    // Read only by instant selectors without offset, which are evaluated at
    // the engine's now and so need only the newest sample: no window unless a
    // sample arrives timestamped ahead of klaxon's clock (see Apply).
    bool window_if_ahead = false;
  };
  // The newest sample at or before `at_ms`, if any.
  static std::optional<Point> NewestAt(const Series& series, int64_t at_ms);

  void Loop();
  void Apply(const SampleBatch& batch, std::vector<bool>& dirty);
  void EvaluateRecord(Record& record, absl::Time now, std::vector<bool>& dirty);
  // Updates one SLO's tracker and stores its series at `now`, as a record's.
  void UpdateSlo(Slo& slo, absl::Time now, std::vector<bool>& dirty);
  // The unresolved incident of a rule this one depends on, if any fires.
  std::optional<int64_t> ParentIncident(const Rule& rule) const;
  // Pending alerts are recorded in the ledger when they start waiting, and
  // forgotten only after an incident that keeps their start was written.
  void RecordPending(Rule& rule, const std::vector<AlertTransition>& transitions);
  void ForgetPending(Rule& rule);
  void Subscribe(SeriesId id, Series& series);
  // Lists every selector of the records, rules and SLOs once, for Subscribe.
  void IndexSelectors();
  // Calls `check` for every stored series that may match `matchers`, with
  // the matcher all of them are known to satisfy (the one whose posting list
  // they come from; null if none), which need not be checked again.
  void ForCandidates(
      const std::vector<LabelMatcher>& matchers,
      absl::FunctionRef<void(SeriesId, const Series&, const LabelMatcher* satisfied)> check) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(series_mu_);
  void EvaluateRule(int rule_index, absl::Time now);
  void Reconcile(Rule& rule, const std::vector<AlertTransition>& transitions, absl::Time now);
  void OpenIncident(Rule& rule, uint64_t key, const Alert& alert,
                    const std::map<uint64_t, Labels>& members, absl::Time now);
  void ResolveCleared(Rule& rule, uint64_t key, absl::Time now);
  // The incident key of an alert, and the labels an incident under it carries.
  static uint64_t KeyOf(const Rule& rule, const Labels& alert_labels);
  static Labels IncidentLabels(const Rule& rule, const Labels& alert_labels);
  // What holds an incident's deliveries back now: an active silence or
  // maintenance window ("silence 3 by alice: ..."); "" when nothing does.
  std::string SuppressionOf(const std::string& service, const std::string& severity,
                            const Labels& labels, absl::Time now) const;
  // On the tick: silences reread, suppressions ended, held resolutions
  // released, escalation steps and reminders due.
  void TickLifecycle(absl::Time now);
  ResolveOptions ResolveOptionsFor(const Rule& rule, absl::string_view severity, bool hold) const;
  void CheckClocks(absl::Time now);
  std::string NoteOf(const Alert& alert) const;
  // A sample of a series with these labels arrived: restored incidents of
  // `rule` whose evidence it carries are judged by the rule from now on.
  static void Confirm(Rule& rule, const Labels& series_labels);
  std::optional<absl::Time> NextWakeup() const;
  // When `rule` may next be evaluated, on arrival or on a tick: a rule's
  // evaluations take at most 1/kEvaluationShare of the engine's time, so
  // that a rule over 100,000 series, scraped by 100 targets, is not evaluated
  // whole 20 times a second. A rule costing 10 us is evaluated on every
  // arrival and every tick; one costing 10 ms waits up to a second after each
  // evaluation, one costing 50 ms five seconds (Prometheus's rules wait their
  // group's evaluation interval whatever they cost).
  static constexpr int kEvaluationShare = 100;
  static absl::Time NextEvaluation(const Rule& rule) {
    return rule.last_evaluated + rule.last_cost * kEvaluationShare;
  }

  const Config& config_;
  SeriesIndex& index_;
  Ledger& ledger_;
  const Clock& clock_;
  std::function<void()> on_outbox_;
  std::vector<Record> records_;
  std::vector<Rule> rules_;
  std::vector<Slo> slos_;
  std::vector<int> rule_order_;  // parents before the rules that depend on them
  // Silences not yet ended, reread on every tick.
  // Silences not yet ended, reread on every tick, with their matchers compiled
  // once per reread rather than on every check.
  struct ActiveSilence {
    Silence silence;
    std::vector<LabelMatcher> matchers;
  };
  std::vector<ActiveSilence> silences_;
  // Unresolved incidents held back by a silence or maintenance window: by
  // number, the rules_ index and the labels to check again.
  struct Suppressed {
    int rule;
    Labels labels;
  };
  absl::flat_hash_map<int64_t, Suppressed> suppressed_;
  // Flapping incidents' held resolutions: by number, when they are delivered
  // unless the incident reopens first.
  absl::flat_hash_map<int64_t, absl::Time> held_;
  bool lifecycle_timers_ = false;  // some service escalates or reminds
  // Pending alerts recorded before this process started, by fingerprint: their
  // `for` wait resumes from the recorded start when they are pending again.
  absl::flat_hash_map<uint64_t, absl::Time> restored_pending_;
  EngineOptions options_;
  EvalOptions eval_options_;
  std::optional<absl::Time> next_tick_;
  absl::Time started_at_;
  std::optional<absl::Time> next_clock_deadline_;
  // Series ids by "name\xffvalue" of each of their labels, ascending: a
  // selector's equality matchers narrow its search to the shortest list.
  absl::flat_hash_map<std::string, std::vector<SeriesId>> postings_;
  // Every selector of every reader, with the reader (records_ indexes, then
  // rules_ indexes offset by records_.size(); -1 for an SLO's). A new series
  // is checked only against those listed under one of its labels
  // ("name\xffvalue", an equality matcher of theirs) and the unindexed ones,
  // not against every selector of every rule.
  struct SelectorUse {
    int reader;
    SelectorReach reach;
  };
  std::vector<SelectorUse> selector_uses_;
  absl::flat_hash_map<std::string, std::vector<int>> uses_by_label_;
  std::vector<int> unindexed_uses_;
  // Each distinct reader list once: series read by the same rules share it.
  // [0] is the empty list.
  std::vector<std::vector<int>> reader_sets_{{}};
  absl::flat_hash_map<std::vector<int>, uint32_t> reader_set_ids_;

  mutable std::mutex series_mu_;  // guards series_ for SeriesSnapshot()
  std::vector<Series> series_ ABSL_GUARDED_BY(series_mu_);
  // The sources' latest words about a series, for the few that have any.
  absl::flat_hash_map<SeriesId, std::string> notes_ ABSL_GUARDED_BY(series_mu_);

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<SampleBatch> queue_ ABSL_GUARDED_BY(queue_mu_);
  // Samples in queue_; Ingest() waits on room_cv_ while there are this many.
  static constexpr size_t kMaxQueuedSamples = 1'000'000;
  size_t queued_samples_ ABSL_GUARDED_BY(queue_mu_) = 0;
  std::condition_variable room_cv_;
  struct ResolveRequest {
    int64_t number;
    std::string actor;
    std::string comment;
    std::promise<absl::StatusOr<Incident>> done;
  };
  std::vector<std::unique_ptr<ResolveRequest>> resolve_requests_ ABSL_GUARDED_BY(queue_mu_);
  void HandleResolve(ResolveRequest& request, absl::Time now);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  bool started_ ABSL_GUARDED_BY(queue_mu_) = false;  // the engine's thread runs Loop()
  std::atomic<uint64_t> samples_ingested_{0};
  DurationHistogram tick_duration_;
  DurationHistogram tick_lateness_;
  DurationHistogram for_lateness_;
  std::thread thread_;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_ENGINE_H_
