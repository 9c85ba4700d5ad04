#include "detector/engine.h"

#include <algorithm>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "detector/duration.h"
#include "detector/log.h"
#include "detector/maintenance.h"
#include "exporters/sink.h"
#include "rules/expr.h"

namespace klaxon {

namespace {

// An idle engine still wakes this often to serve what depends on time passing.
constexpr absl::Duration kMaxIdleWait = absl::Seconds(1);

// A grouped incident's members in label order, as a person reads a list.
std::vector<Labels> SortedMembers(const std::map<uint64_t, Labels>& members) {
  std::vector<Labels> out;
  for (const auto& [fingerprint, labels] : members) out.push_back(labels);
  std::sort(out.begin(), out.end(),
            [](const Labels& a, const Labels& b) { return a.ToString() < b.ToString(); });
  return out;
}

std::string Describe(const Alert& alert, absl::string_view note) {
  std::string text = absl::StrCat(alert.labels.ToString(), " = ", alert.value);
  if (!note.empty()) absl::StrAppend(&text, " (", note, ")");
  return text;
}

}  // namespace

Engine::Engine(const Config& config, SeriesIndex& index, Ledger& ledger, const Clock& clock,
               std::function<void()> on_outbox, EngineOptions options)
    : config_(config),
      index_(index),
      ledger_(ledger),
      clock_(clock),
      on_outbox_(std::move(on_outbox)),
      options_(options) {
  eval_options_.lookback = options_.lookback;
}

EngineOptions EngineOptionsFor(const RulesSettings& settings) {
  EngineOptions options;
  options.tick = settings.tick;
  options.lookback = settings.lookback;
  return options;
}

Engine::~Engine() { Stop(); }

absl::Status Engine::Init() {
  for (const RuleConfig& rule_config : config_.rules) {
    Rule rule;
    rule.alerting = std::make_unique<AlertingRule>(AlertingOptionsFor(rule_config));
    rule.config = &rule_config;
    rule.service = config_.FindService(rule_config.service);
    std::vector<std::string> targets;
    if (rule.service != nullptr && !rule.service->tickets.empty()) {
      targets = rule.service->tickets;
    } else {
      for (const SinkOptions& sink : config_.sinks) targets.push_back(sink.name);
    }
    for (const std::string& name : targets) {
      auto sink = std::find_if(config_.sinks.begin(), config_.sinks.end(),
                               [&](const SinkOptions& s) { return s.name == name; });
      if (sink != config_.sinks.end() && IsNotifierType(sink->type)) {
        rule.routing.notifiers.push_back(name);
      } else {
        rule.routing.sinks.push_back(name);
      }
    }
    if (const ServiceConfig* service = rule.service) {
      rule.routing.notify = service->notify;
      rule.routing.max_notifications = service->max_notifications;
      bool at_detection = service->sla.clock_start == ClockStart::kDetection;
      for (const auto& [name, budget] :
           {std::pair{"time_to_ticket", service->sla.time_to_ticket},
            std::pair{"time_to_acknowledge", service->sla.time_to_acknowledge},
            std::pair{"time_to_resolve", service->sla.time_to_resolve}}) {
        if (budget) rule.clocks.push_back({name, *budget, at_detection});
      }
      if (!service->escalation.empty() || service->ack_timeout > absl::ZeroDuration()) {
        lifecycle_timers_ = true;
      }
    }
    rules_.push_back(std::move(rule));
  }
  for (const RecordConfig& record_config : config_.records) {
    records_.push_back(
        {std::make_unique<RecordingRule>(RecordingOptionsFor(record_config)), &record_config, {}});
  }
  for (const ServiceConfig& service : config_.services) {
    for (const SloConfig& slo : service.slos) {
      slos_.push_back({std::make_unique<SloTracker>(SloOptionsFor(service, slo)), &slo});
    }
  }
  absl::flat_hash_map<std::string, int> rule_index;
  for (size_t i = 0; i < rules_.size(); ++i) rule_index[rules_[i].config->name] = int(i);
  for (Rule& rule : rules_) {
    for (const std::string& parent : rule.config->depends_on) {
      if (auto it = rule_index.find(parent); it != rule_index.end()) rule.parents.push_back(it->second);
    }
  }
  // Depth-first, parents first; the config loader refused cycles.
  std::vector<bool> placed(rules_.size(), false);
  std::function<void(int)> place = [&](int i) {
    if (placed[i]) return;
    placed[i] = true;
    for (int parent : rules_[i].parents) place(parent);
    rule_order_.push_back(i);
  };
  for (size_t i = 0; i < rules_.size(); ++i) place(int(i));

  absl::StatusOr<std::vector<PendingAlert>> pending = ledger_.PendingAlerts();
  if (!pending.ok()) return pending.status();
  for (const PendingAlert& alert : *pending) {
    restored_pending_[alert.labels.Fingerprint()] = alert.active_at;
  }

  absl::StatusOr<std::vector<Incident>> open = ledger_.Unresolved();
  if (!open.ok()) return open.status();
  started_at_ = clock_.WallNow();
  for (const Incident& incident : *open) {
    auto rule = std::find_if(rules_.begin(), rules_.end(),
                             [&](const Rule& r) { return r.config->name == incident.rule; });
    std::string removed;
    if (rule == rules_.end()) {
      removed = absl::StrCat("rule ", incident.rule);
    } else if (std::string probe(incident.labels.Get("probe"));
               !probe.empty() && std::find(options_.removed_probes.begin(),
                                           options_.removed_probes.end(),
                                           probe) != options_.removed_probes.end()) {
      removed = absl::StrCat("probe ", probe);
    }
    if (!removed.empty()) {
      // Nothing manages it any more: left open, it would never resolve.
      absl::StatusOr<Incident> resolved = ledger_.ResolveIncident(
          incident.number, started_at_, absl::StrCat("removed from config (", removed, ")"));
      if (resolved.ok()) {
        LogLine(absl::StrCat(incident.id(), " resolved: removed from config (", removed, ")"));
        if (on_outbox_) on_outbox_();
      }
      continue;
    }
    rule->open[incident.fingerprint] = incident.number;
    if (incident.reopens > 0) rule->reopens[incident.fingerprint] = incident.reopens;
    if (!incident.members.empty()) {
      for (const Labels& member : incident.members) {
        rule->members[incident.fingerprint][member.Fingerprint()] = member;
      }
    }
    if (!incident.suppressed_by.empty() && incident.suppressed_by != "flapping") {
      suppressed_[incident.number] = {int(rule - rules_.begin()), incident.labels};
    }
    // The alert's labels that came from its series: less alertname and the
    // labels the rule adds itself.
    Labels evidence = incident.labels;
    evidence.Set("alertname", "");
    for (const Label& added : rule->config->labels) evidence.Set(added.name, "");
    rule->unconfirmed[incident.fingerprint] = std::move(evidence);
  }
  absl::Duration longest_window = absl::ZeroDuration();
  for (const Rule& rule : rules_) longest_window = std::max(longest_window, rule.config->reopen_window);
  if (longest_window > absl::ZeroDuration()) {
    // A day back too: post-mortems whose reopen window ran out while klaxon
    // was down are owed now (OwePostmortem owes each once).
    absl::StatusOr<std::vector<Incident>> recent =
        ledger_.ResolvedSince(started_at_ - longest_window - absl::Hours(24));
    if (!recent.ok()) return recent.status();
    for (const Incident& incident : *recent) {
      auto rule = std::find_if(rules_.begin(), rules_.end(),
                               [&](const Rule& r) { return r.config->name == incident.rule; });
      if (rule == rules_.end() || !incident.resolved_at) continue;
      absl::Time until = *incident.resolved_at + rule->config->reopen_window;
      if (until < started_at_) {
        if (incident.suppressed_by == "flapping") {
          // Expires on the first tick, after its held resolution is released.
          rule->recently_resolved[incident.fingerprint] = {incident.number, *incident.resolved_at,
                                                           incident.reopens};
        } else if (rule->config->reopen_window > absl::ZeroDuration() &&
                   ResolveOptionsFor(*rule, incident.severity, false).postmortem) {
          (void)ledger_.OwePostmortem(incident.number, started_at_);
        }
        continue;
      }
      rule->recently_resolved[incident.fingerprint] = {incident.number, *incident.resolved_at,
                                                       incident.reopens};
    }
  }
  absl::StatusOr<std::vector<Incident>> held = ledger_.HeldResolutions();
  if (!held.ok()) return held.status();
  for (const Incident& incident : *held) {
    auto rule = std::find_if(rules_.begin(), rules_.end(),
                             [&](const Rule& r) { return r.config->name == incident.rule; });
    absl::Time until = started_at_;
    if (rule != rules_.end() && incident.resolved_at) {
      until = std::max(until, *incident.resolved_at + rule->config->reopen_window);
    }
    held_[incident.number] = until;
  }
  absl::StatusOr<std::optional<absl::Time>> deadline = ledger_.NextClockDeadline();
  if (!deadline.ok()) return deadline.status();
  next_clock_deadline_ = *deadline;

  IndexSelectors();
  // Series interned before the engine started (by sources set up earlier).
  std::lock_guard lock(series_mu_);
  series_.resize(index_.size());
  return absl::OkStatus();
}

void Engine::Start() {
  std::lock_guard lock(queue_mu_);
  stopping_ = false;
  started_ = true;
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void Engine::Stop() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  room_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(queue_mu_);
  for (auto& request : resolve_requests_) {
    request->done.set_value(absl::UnavailableError("klaxon is stopping"));
  }
  resolve_requests_.clear();
}

void Engine::Ingest(SampleBatch batch) {
  samples_ingested_.fetch_add(batch.samples.size(), std::memory_order_relaxed);
  {
    std::unique_lock lock(queue_mu_);
    // Backpressure: a source faster than the engine waits here (a pusher's
    // 2xx comes later) instead of queueing without bound. Only while the
    // engine's thread runs; tests drive ProcessPending() by hand.
    room_cv_.wait(lock, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
      return queued_samples_ < kMaxQueuedSamples || stopping_ || !started_;
    });
    queued_samples_ += batch.samples.size();
    queue_.push_back(std::move(batch));
  }
  queue_cv_.notify_one();
}

void Engine::Loop() {
  while (true) {
    ProcessPending();
    std::unique_lock lock(queue_mu_);
    if (stopping_) return;
    absl::Duration wait = kMaxIdleWait;
    if (std::optional<absl::Time> next = NextWakeup()) {
      wait = std::clamp(*next - clock_.WallNow(), absl::ZeroDuration(), kMaxIdleWait);
    }
    queue_cv_.wait_for(lock, absl::ToChronoNanoseconds(wait),
                       [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
                         return stopping_ || !queue_.empty() || !resolve_requests_.empty();
                       });
  }
}

std::optional<absl::Time> Engine::NextWakeup() const {
  std::optional<absl::Time> next = next_clock_deadline_;
  if (next_tick_ && (!next || *next_tick_ < *next)) next = next_tick_;
  for (const Rule& rule : rules_) {
    std::optional<absl::Time> due = rule.alerting->NextDeadline();
    if (rule.owed) {
      const absl::Time owed = NextEvaluation(rule);
      if (!due || owed < *due) due = owed;
    }
    if (due && (!next || *due < *next)) next = due;
  }
  return next;
}

std::future<absl::StatusOr<Incident>> Engine::RequestResolve(int64_t number, std::string actor,
                                                             std::string comment) {
  auto request = std::make_unique<ResolveRequest>();
  request->number = number;
  request->actor = std::move(actor);
  request->comment = std::move(comment);
  std::future<absl::StatusOr<Incident>> done = request->done.get_future();
  {
    std::lock_guard lock(queue_mu_);
    resolve_requests_.push_back(std::move(request));
  }
  queue_cv_.notify_one();
  return done;
}

void Engine::HandleResolve(ResolveRequest& request, absl::Time now) {
  std::string why = absl::StrCat("resolved by ", request.actor);
  if (!request.comment.empty()) absl::StrAppend(&why, ": ", request.comment);
  Rule* owner = nullptr;
  uint64_t key = 0;
  for (Rule& rule : rules_) {
    for (const auto& [k, number] : rule.open) {
      if (number == request.number) {
        owner = &rule;
        key = k;
      }
    }
  }
  ResolveOptions options;
  if (absl::StatusOr<Incident> incident = ledger_.GetIncident(request.number); incident.ok()) {
    if (owner != nullptr) options = ResolveOptionsFor(*owner, incident->severity, false);
  }
  absl::StatusOr<Incident> resolved = ledger_.ResolveIncident(request.number, now, why, options);
  if (resolved.ok()) {
    if (owner != nullptr) {
      // Still firing: it opens nothing new until its condition has cleared.
      owner->resolved_by_hand.insert(key);
      owner->awaiting_person.erase(key);
      owner->unconfirmed.erase(key);
      owner->reopens.erase(key);
      owner->members.erase(key);
      owner->open.erase(key);
    }
    suppressed_.erase(request.number);
    LogLine(absl::StrCat(resolved->id(), " ", why));
    on_outbox_();
  }
  request.done.set_value(std::move(resolved));
}

ResolveOptions Engine::ResolveOptionsFor(const Rule& rule, absl::string_view severity,
                                         bool hold) const {
  ResolveOptions options;
  options.hold = hold;
  if (rule.service != nullptr && !rule.service->postmortem_severity.empty()) {
    options.postmortem = SeverityRank(severity) <= SeverityRank(rule.service->postmortem_severity);
  }
  return options;
}

void Engine::ProcessPending() {
  std::vector<SampleBatch> batches;
  std::vector<std::unique_ptr<ResolveRequest>> resolves;
  {
    std::lock_guard lock(queue_mu_);
    batches.swap(queue_);
    resolves.swap(resolve_requests_);
    queued_samples_ = 0;
  }
  room_cv_.notify_all();
  for (auto& request : resolves) HandleResolve(*request, clock_.WallNow());
  std::vector<bool> dirty(records_.size() + rules_.size(), false);
  for (const SampleBatch& batch : batches) Apply(batch, dirty);

  absl::Time now = clock_.WallNow();
  const absl::Duration started = clock_.MonotonicNow();
  bool tick = !next_tick_ || *next_tick_ <= now;
  if (tick) {
    if (next_tick_) tick_lateness_.Observe(now - *next_tick_);
    std::fill(dirty.begin(), dirty.end(), true);
  }
  // Measured before evaluating: a tick's evaluation fires a due alert as well.
  for (const Rule& rule : rules_) {
    std::optional<absl::Time> due = rule.alerting->NextDeadline();
    if (due && *due <= now) for_lateness_.Observe(now - *due);
  }
  if (tick) {
    next_tick_ = now + options_.tick;
    TickLifecycle(now);
  }
  // Records first, in file order, so that rules read what they recorded now.
  for (size_t i = 0; i < records_.size(); ++i) {
    if (dirty[i]) EvaluateRecord(records_[i], now, dirty);
  }
  // SLOs on the tick only: their buckets are a minute wide, and their inputs
  // are counters whose every sample would otherwise cost a full update. After
  // the records, which they may read; before the rules, so that the generated
  // burn-rate rules see this tick's burn rates.
  if (tick) {
    for (Slo& slo : slos_) UpdateSlo(slo, now, dirty);
  }
  for (int i : rule_order_) {
    Rule& rule = rules_[i];
    rule.owed |= dirty[records_.size() + i];
    if (!rule.owed) continue;
    if (now < NextEvaluation(rule)) continue;  // NextWakeup() comes back for it
    // CPU time, not elapsed: an incident's fsync is waiting, not work, and
    // must not hold back the rule's next evaluation.
    const absl::Duration started_rule = clock_.ThreadCpuNow();
    EvaluateRule(i, now);
    rule.owed = false;
    rule.last_evaluated = now;
    rule.last_cost = clock_.ThreadCpuNow() - started_rule;
  }
  for (int i : rule_order_) {
    Rule& rule = rules_[i];
    std::optional<absl::Time> due = rule.alerting->NextDeadline();
    if (due && *due <= now) Reconcile(rule, rule.alerting->FireDue(now), now);
  }
  if (tick) tick_duration_.Observe(clock_.MonotonicNow() - started);
  if (next_clock_deadline_ && *next_clock_deadline_ <= now) CheckClocks(now);
  if (!restored_pending_.empty() && now >= started_at_ + eval_options_.lookback) {
    // Waits recorded before the restart whose condition never came back.
    for (Rule& rule : rules_) {
      for (const Alert& alert : rule.alerting->Alerts()) restored_pending_.erase(alert.labels.Fingerprint());
    }
    absl::StatusOr<std::vector<PendingAlert>> stale = ledger_.PendingAlerts();
    if (stale.ok()) {
      for (const PendingAlert& alert : *stale) {
        if (restored_pending_.contains(alert.labels.Fingerprint())) {
          (void)ledger_.ForgetPendingAlert(alert.labels);
        }
      }
    }
    restored_pending_.clear();
  }
}

void Engine::EvaluateRecord(Record& record, absl::Time now, std::vector<bool>& dirty) {
  absl::StatusOr<InstantVector> result = record.recording->Evaluate(*this, now, eval_options_);
  if (!result.ok()) {
    LogLine(absl::StrCat("record ", record.config->record, ": evaluation failed: ",
                         result.status().message()));
    return;
  }
  int64_t now_ms = absl::ToUnixMillis(now);
  SampleBatch batch;
  absl::flat_hash_set<SeriesId> outputs;
  for (const VectorSample& sample : *result) {
    SeriesId id = index_.Intern(sample.labels);
    outputs.insert(id);
    batch.samples.push_back({id, now_ms, sample.value});
  }
  // A series the rule no longer produces ends with a stale marker, as in Prometheus.
  for (SeriesId id : record.outputs) {
    if (!outputs.contains(id)) batch.samples.push_back({id, now_ms, StaleNaN()});
  }
  record.outputs = std::move(outputs);
  Apply(batch, dirty);
}

void Engine::UpdateSlo(Slo& slo, absl::Time now, std::vector<bool>& dirty) {
  absl::StatusOr<InstantVector> result = slo.tracker->Update(*this, now, eval_options_);
  if (!result.ok()) {
    // Its series keep their last values until the lookback passes them by.
    LogLine(absl::StrCat("SLO ", slo.tracker->options().service, "/", slo.config->name,
                         ": update failed: ", result.status().message()));
    return;
  }
  int64_t now_ms = absl::ToUnixMillis(now);
  SampleBatch batch;
  for (const VectorSample& sample : *result) {
    batch.samples.push_back({index_.Intern(sample.labels), now_ms, sample.value});
  }
  Apply(batch, dirty);
}

void Engine::IndexSelectors() {
  auto add = [&](int reader, const Expr& expr) {
    for (const SelectorReach& reach : SelectorReaches(expr, eval_options_.lookback)) {
      const int use = int(selector_uses_.size());
      selector_uses_.push_back({reader, reach});
      // A series the selector reads carries the label of any of its equality
      // matchers; the metric name is the one most series share, so it is the
      // last choice.
      const LabelMatcher* key = nullptr;
      for (const LabelMatcher& m : reach.selector->matchers) {
        if (m.op() != LabelMatcher::Op::kEqual || m.value().empty()) continue;
        if (key == nullptr || key->name() == kMetricNameLabel) key = &m;
      }
      if (key == nullptr) {
        unindexed_uses_.push_back(use);
      } else {
        uses_by_label_[absl::StrCat(key->name(), "\xff", key->value())].push_back(use);
      }
    }
  };
  for (size_t i = 0; i < records_.size(); ++i) add(int(i), *records_[i].recording->options().expr);
  for (size_t i = 0; i < rules_.size(); ++i) {
    add(int(records_.size() + i), *rules_[i].alerting->options().expr);
  }
  // An SLO's inputs are read on the tick, not on arrival, so the tracker is no
  // reader to wake; its selectors still need their samples kept.
  for (const Slo& slo : slos_) {
    for (const ExprPtr& expr : {slo.tracker->options().errors, slo.tracker->options().total}) {
      if (expr != nullptr) add(-1, *expr);  // a null one the tracker reports on every update
    }
  }
}

void Engine::Subscribe(SeriesId id, Series& series) {
  const Labels& labels = index_.Get(id);
  std::vector<int> candidates = unindexed_uses_;
  for (LabelRef label : labels.items()) {
    std::string key = absl::StrCat(label.name, "\xff", label.value);
    if (auto it = uses_by_label_.find(key); it != uses_by_label_.end()) {
      candidates.insert(candidates.end(), it->second.begin(), it->second.end());
    }
    postings_[std::move(key)].push_back(id);
  }
  // Each use is listed once, under one label or as unindexed; in use order,
  // readers come out ascending.
  std::sort(candidates.begin(), candidates.end());
  // Whether some selector reads more than the newest sample at now.
  bool history = false;
  bool slo_reads = false;
  std::vector<int> readers;
  for (int u : candidates) {
    const SelectorUse& use = selector_uses_[u];
    if (!MatchesAll(use.reach.selector->matchers, labels)) continue;
    history |= !use.reach.instant || use.reach.selector->offset != absl::ZeroDuration();
    series.retention_ms =
        std::max(series.retention_ms, absl::ToInt64Milliseconds(use.reach.reach));
    if (use.reader < 0) {
      slo_reads = true;
    } else if (readers.empty() || readers.back() != use.reader) {
      readers.push_back(use.reader);
    }
  }
  if (readers.empty() && !slo_reads) return;
  if (!readers.empty()) {
    auto [it, added] = reader_set_ids_.try_emplace(readers, uint32_t(reader_sets_.size()));
    if (added) reader_sets_.push_back(std::move(readers));
    series.readers = it->second;
  }
  if (history) {
    series.windowed = true;
  } else {
    series.window_if_ahead = true;
  }
}

void Engine::Apply(const SampleBatch& batch, std::vector<bool>& dirty) {
  // Every evaluation after this one runs at a now no earlier than this.
  const int64_t arrival_ms = absl::ToUnixMillis(clock_.WallNow());
  std::lock_guard lock(series_mu_);
  for (const Sample& sample : batch.samples) {
    if (sample.series >= series_.size()) series_.resize(sample.series + 1);
    Series& series = series_[sample.series];
    if (!series.seen) {
      series.seen = true;
      Subscribe(sample.series, series);
    }
    // Out-of-order and duplicate samples are dropped, as Prometheus's head does.
    if (series.newest && sample.timestamp_ms <= series.newest->timestamp_ms) continue;
    if (series.window_if_ahead && sample.timestamp_ms > arrival_ms) {
      // Until klaxon's clock reaches this sample, selections must still see
      // the one before it (a pusher's clock running ahead): keep history.
      series.window_if_ahead = false;
      series.windowed = true;
      if (series.newest) series.window.Append(*series.newest, series.newest->timestamp_ms);
    }
    series.newest = Point{sample.timestamp_ms, sample.value};
    if (series.windowed) {
      series.window.Append(*series.newest, sample.timestamp_ms - series.retention_ms);
    }
    for (int reader : reader_sets_[series.readers]) {
      dirty[reader] = true;
      if (reader < int(records_.size())) continue;
      Rule& rule = rules_[reader - records_.size()];
      if (!rule.unconfirmed.empty()) Confirm(rule, index_.Get(sample.series));
    }
  }
  for (const SeriesNote& note : batch.notes) {
    if (note.series >= series_.size()) continue;
    if (note.text.empty()) {
      notes_.erase(note.series);
    } else {
      notes_[note.series] = note.text;
    }
  }
}

std::optional<SeriesReader::Point> Engine::NewestAt(const Series& series, int64_t at_ms) {
  // The window's newest point is `newest`: no need to reach into the window.
  if (series.newest && series.newest->timestamp_ms <= at_ms) return series.newest;
  if (series.windowed) return series.window.NewestAt(at_ms);
  return std::nullopt;
}

void Engine::ForCandidates(
    const std::vector<LabelMatcher>& matchers,
    absl::FunctionRef<void(SeriesId, const Series&, const LabelMatcher*)> check) const {
  const std::vector<SeriesId>* shortest = nullptr;
  const LabelMatcher* satisfied = nullptr;
  for (const LabelMatcher& m : matchers) {
    // `x=""` matches series without x, which no posting list holds.
    if (m.op() != LabelMatcher::Op::kEqual || m.value().empty()) continue;
    auto it = postings_.find(absl::StrCat(m.name(), "\xff", m.value()));
    if (it == postings_.end()) return;
    if (shortest == nullptr || it->second.size() < shortest->size()) {
      shortest = &it->second;
      satisfied = &m;
    }
  }
  if (shortest != nullptr) {
    for (SeriesId id : *shortest) check(id, series_[id], satisfied);
    return;
  }
  for (SeriesId id = 0; id < series_.size(); ++id) {
    if (series_[id].seen) check(id, series_[id], nullptr);
  }
}

namespace {
// MatchesAll but for `satisfied`: a selector of one metric name alone then
// reads no series' labels unless it keeps the series.
bool MatchesAllBut(const std::vector<LabelMatcher>& matchers, const LabelMatcher* satisfied,
                   const Labels& labels) {
  for (const LabelMatcher& m : matchers) {
    if (&m != satisfied && !m.Matches(labels)) return false;
  }
  return true;
}
}  // namespace

void Engine::SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                           int64_t lookback_ms, const InstantVisitor& visit) const {
  std::lock_guard lock(series_mu_);
  ForCandidates(matchers, [&](SeriesId id, const Series& series, const LabelMatcher* satisfied) {
    std::optional<Point> newest = NewestAt(series, at_ms);
    // [at - lookback, at], both ends included, as Prometheus 2.x selects; a
    // stale marker ends the series.
    if (!newest || newest->timestamp_ms < at_ms - lookback_ms ||
        IsStaleNaN(newest->value)) {
      return;
    }
    const Labels& labels = index_.Get(id);
    if (MatchesAllBut(matchers, satisfied, labels)) {
      visit(id, labels, newest->timestamp_ms, newest->value);
    }
  });
}

void Engine::SelectRange(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                         int64_t range_ms, const RangeVisitor& visit) const {
  std::lock_guard lock(series_mu_);
  std::vector<Point> points;
  ForCandidates(matchers, [&](SeriesId id, const Series& series, const LabelMatcher* satisfied) {
    if (!series.windowed) return;
    // Matched first: a candidate the other matchers refuse is not decoded.
    const Labels& labels = index_.Get(id);
    if (!MatchesAllBut(matchers, satisfied, labels)) return;
    points.clear();
    series.window.CopyRange(at_ms - range_ms, at_ms, points);
    std::erase_if(points, [](const Point& p) { return IsStaleNaN(p.value); });
    if (!points.empty()) visit(id, labels, points);
  });
}

void Engine::EvaluateRule(int rule_index, absl::Time now) {
  Rule& rule = rules_[rule_index];
  absl::StatusOr<std::vector<AlertTransition>> transitions =
      rule.alerting->Evaluate(*this, now, eval_options_);
  if (!transitions.ok()) {
    LogLine(absl::StrCat("rule ", rule.config->name, ": evaluation failed: ",
                         transitions.status().message()));
    return;
  }
  Reconcile(rule, *transitions, now);
}

uint64_t Engine::KeyOf(const Rule& rule, const Labels& alert_labels) {
  if (rule.config->group_by.empty()) return alert_labels.Fingerprint();
  return IncidentLabels(rule, alert_labels).Fingerprint();
}

Labels Engine::IncidentLabels(const Rule& rule, const Labels& alert_labels) {
  if (rule.config->group_by.empty()) return alert_labels;
  std::vector<Label> kept = {{"alertname", rule.config->name}};
  for (const std::string& name : rule.config->group_by) {
    std::string value(alert_labels.Get(name));
    if (!value.empty()) kept.push_back({name, std::move(value)});
  }
  return Labels(std::move(kept));
}

void Engine::Reconcile(Rule& rule, const std::vector<AlertTransition>& transitions,
                       absl::Time now) {
  RecordPending(rule, transitions);
  // Incidents follow the alerts' current states rather than single transitions,
  // so that a ledger write that failed is retried on the next evaluation, and
  // incidents opened before a restart (whose alerts this process never saw
  // fire) resolve once their condition is gone.
  std::vector<Alert> alerts = rule.alerting->Alerts();
  absl::flat_hash_set<uint64_t> active;  // keys with an alert pending or firing
  // Firing alerts by key, each with its members (one alert unless grouped).
  std::map<uint64_t, std::map<uint64_t, Labels>> firing;
  absl::flat_hash_map<uint64_t, const Alert*> first_firing;
  for (const Alert& alert : alerts) {
    uint64_t key = KeyOf(rule, alert.labels);
    active.insert(key);
    if (alert.state != AlertState::kFiring) continue;
    firing[key][alert.labels.Fingerprint()] = alert.labels;
    first_firing.try_emplace(key, &alert);
  }
  for (const auto& [key, members] : firing) {
    const Alert& alert = *first_firing[key];
    if (auto open = rule.open.find(key); open != rule.open.end()) {
      if (rule.config->group_by.empty()) continue;
      std::map<uint64_t, Labels>& known = rule.members[key];
      std::vector<std::string> joined;
      for (const auto& [fingerprint, labels] : members) {
        if (!known.contains(fingerprint)) joined.push_back(labels.ToString());
      }
      if (joined.empty()) continue;
      for (const auto& [fingerprint, labels] : members) known[fingerprint] = labels;
      std::vector<Labels> all = SortedMembers(known);
      std::string text = absl::StrCat("joined: ", absl::StrJoin(joined, ", "), " (", all.size(),
                                      " alerts in this incident)");
      (void)ledger_.SetMembers(open->second, all, now, text);
      continue;
    }
    if (rule.resolved_by_hand.contains(key)) continue;
    if (std::optional<int64_t> parent = ParentIncident(rule)) {
      auto [it, first] = rule.attached.try_emplace(key, *parent);
      if (first || it->second != *parent) {
        it->second = *parent;
        std::string text = absl::StrCat(rule.config->name, " ", Describe(alert, NoteOf(alert)),
                                        " attached: it depends on a rule firing here");
        (void)ledger_.AddTimeline(*parent, {now, "attached", text});
        LogLine(absl::StrCat(IncidentId(*parent), " ", text));
      }
      continue;
    }
    rule.attached.erase(key);
    if (auto recent = rule.recently_resolved.find(key);
        recent != rule.recently_resolved.end() &&
        now - recent->second.at <= rule.config->reopen_window) {
      int reopens = recent->second.reopens + 1;
      bool flapping = reopens >= rule.config->flap_threshold;
      std::string why = absl::StrCat(
          "fired again ", absl::FormatDuration(absl::Floor(now - recent->second.at, absl::Seconds(1))),
          " after resolving, within reopen_window ", absl::FormatDuration(rule.config->reopen_window),
          "; evidence ", Describe(alert, NoteOf(alert)));
      absl::StatusOr<Incident> reopened =
          ledger_.ReopenIncident(recent->second.number, now, why, flapping);
      if (!reopened.ok()) {
        LogLine(absl::StrCat(IncidentId(recent->second.number), ": could not reopen: ",
                             reopened.status().message()));
        continue;
      }
      rule.open[key] = reopened->number;
      rule.reopens[key] = reopened->reopens;
      // Its time_to_resolve clock runs again, with its old deadline.
      if (absl::StatusOr<std::optional<absl::Time>> next = ledger_.NextClockDeadline(); next.ok()) {
        next_clock_deadline_ = *next;
      }
      if (!rule.config->group_by.empty()) rule.members[key] = members;
      held_.erase(reopened->number);
      rule.recently_resolved.erase(recent);
      LogLine(absl::StrCat(reopened->id(), " reopened (", reopened->reopens, "): ", why,
                           flapping ? "; flapping, notifications held" : ""));
      if (on_outbox_) on_outbox_();
      continue;
    }
    OpenIncident(rule, key, alert, members, now);
  }
  absl::erase_if(rule.attached, [&](const auto& entry) { return !active.contains(entry.first); });
  absl::erase_if(rule.resolved_by_hand, [&](uint64_t key) { return !active.contains(key); });
  // A grouped incident's members that stopped firing leave it.
  if (!rule.config->group_by.empty()) {
    for (auto& [key, known] : rule.members) {
      auto now_firing = firing.find(key);
      if (now_firing == firing.end() || !rule.open.contains(key)) continue;
      std::vector<std::string> left;
      for (auto it = known.begin(); it != known.end();) {
        if (now_firing->second.contains(it->first)) {
          ++it;
          continue;
        }
        left.push_back(it->second.ToString());
        it = known.erase(it);
      }
      if (left.empty()) continue;
      std::vector<Labels> all = SortedMembers(known);
      (void)ledger_.SetMembers(rule.open[key], all, now,
                               absl::StrCat("cleared: ", absl::StrJoin(left, ", "), " (", all.size(),
                                            " alerts still firing)"));
    }
  }
  std::vector<uint64_t> cleared;
  bool warming_up = now < started_at_ + eval_options_.lookback;
  for (const auto& [key, number] : rule.open) {
    if (active.contains(key)) continue;
    // Until its series reports, or a whole lookback has passed without it,
    // a restored incident's absence from the result is no evidence at all.
    if (warming_up && rule.unconfirmed.contains(key)) continue;
    cleared.push_back(key);
  }
  ForgetPending(rule);
  absl::erase_if(rule.awaiting_person, [&](uint64_t key) { return active.contains(key); });
  for (uint64_t key : cleared) ResolveCleared(rule, key, now);
}

void Engine::ResolveCleared(Rule& rule, uint64_t key, absl::Time now) {
  int64_t number = rule.open[key];
  if (!rule.config->auto_resolve) {
    if (rule.awaiting_person.insert(key).second) {
      const std::string text = "condition cleared; stays open until a person resolves it "
                               "(auto_resolve = false)";
      (void)ledger_.AddTimeline(number, {now, "cleared", text});
      LogLine(absl::StrCat(IncidentId(number), " ", text));
    }
    return;
  }
  int reopens = rule.reopens.contains(key) ? rule.reopens[key] : 0;
  bool hold = rule.config->reopen_window > absl::ZeroDuration() &&
              reopens >= rule.config->flap_threshold;
  ResolveOptions options = ResolveOptionsFor(rule, rule.config->severity, hold);
  // With a reopen window the outage may not be over: the post-mortem waits
  // until the window has passed without a reopen (TickLifecycle).
  if (rule.config->reopen_window > absl::ZeroDuration()) options.postmortem = false;
  absl::StatusOr<Incident> resolved = ledger_.ResolveIncident(
      number, now, absl::StrCat("condition cleared (", rule.config->expr, ")"), options);
  if (!resolved.ok()) {
    // Left open; the next evaluation tries again.
    LogLine(absl::StrCat(IncidentId(number), ": could not record resolution: ",
                         resolved.status().message()));
    return;
  }
  rule.open.erase(key);
  rule.unconfirmed.erase(key);
  rule.reopens.erase(key);
  rule.members.erase(key);
  suppressed_.erase(number);
  if (rule.config->reopen_window > absl::ZeroDuration()) {
    rule.recently_resolved[key] = {number, now, reopens};
    if (hold) held_[number] = now + rule.config->reopen_window;
  }
  LogLine(absl::StrCat(resolved->id(), " resolved: ", rule.config->name, " ",
                       resolved->labels.ToString(), " after ",
                       absl::FormatDuration(absl::Floor(now - resolved->first_evidence, absl::Seconds(1))),
                       hold ? " (flapping: resolution held)" : ""));
  if (on_outbox_) on_outbox_();
}

std::optional<int64_t> Engine::ParentIncident(const Rule& rule) const {
  std::optional<int64_t> found;
  for (int parent : rule.parents) {
    for (const auto& [fingerprint, number] : rules_[parent].open) {
      if (!found || number < *found) found = number;
    }
  }
  return found;
}

void Engine::RecordPending(Rule& rule, const std::vector<AlertTransition>& transitions) {
  for (const AlertTransition& t : transitions) {
    if (t.kind != AlertTransition::Kind::kPending) continue;
    uint64_t fingerprint = t.alert.labels.Fingerprint();
    absl::Time since = t.alert.active_at;
    if (auto restored = restored_pending_.find(fingerprint); restored != restored_pending_.end()) {
      if (rule.alerting->RestoreActiveAt(t.alert.labels, restored->second)) since = restored->second;
      restored_pending_.erase(restored);
    } else if (absl::Status s = ledger_.RecordPendingAlert(rule.config->name, t.alert.labels, since);
               !s.ok()) {
      LogLine(absl::StrCat(rule.config->name, ": could not record pending alert: ", s.message()));
    }
    rule.pending[fingerprint] = t.alert.labels;
    LogLine(absl::StrCat(rule.config->name, " pending since ", FormatTimestamp(since), ": ",
                         Describe(t.alert, NoteOf(t.alert)), "; fires after ",
                         absl::FormatDuration(rule.config->for_duration)));
  }
}

void Engine::ForgetPending(Rule& rule) {
  if (rule.pending.empty()) return;
  absl::flat_hash_set<uint64_t> still;
  for (const Alert& alert : rule.alerting->Alerts()) {
    uint64_t fingerprint = alert.labels.Fingerprint();
    uint64_t key = KeyOf(rule, alert.labels);
    bool recorded_elsewhere = rule.open.contains(key) || rule.attached.contains(key);
    if (alert.state == AlertState::kPending || !recorded_elsewhere) still.insert(fingerprint);
  }
  for (auto it = rule.pending.begin(); it != rule.pending.end();) {
    if (still.contains(it->first)) {
      ++it;
      continue;
    }
    // Fired (its incident, written before this, now holds the start) or cleared.
    (void)ledger_.ForgetPendingAlert(it->second);
    rule.pending.erase(it++);
  }
}

void Engine::Confirm(Rule& rule, const Labels& series_labels) {
  absl::erase_if(rule.unconfirmed, [&](const auto& entry) {
    for (LabelRef label : entry.second.items()) {
      if (series_labels.Get(label.name) != label.value) return false;
    }
    return true;
  });
}

std::string Engine::NoteOf(const Alert& alert) const {
  if (!alert.origin) return {};
  std::lock_guard lock(series_mu_);
  auto it = notes_.find(*alert.origin);
  return it != notes_.end() ? it->second : std::string();
}

void Engine::OpenIncident(Rule& rule, uint64_t key, const Alert& alert,
                          const std::map<uint64_t, Labels>& members, absl::Time now) {
  Incident incident;
  incident.fingerprint = key;
  incident.rule = rule.config->name;
  incident.service = rule.config->service;
  incident.severity = rule.config->severity;
  incident.summary = alert.summary;
  incident.labels = IncidentLabels(rule, alert.labels);
  incident.first_evidence = alert.active_at;
  incident.opened_at = now;
  incident.value = alert.value;
  incident.reason = NoteOf(alert);
  if (!rule.config->group_by.empty()) incident.members = SortedMembers(members);
  incident.suppressed_by = SuppressionOf(incident.service, incident.severity, incident.labels, now);
  absl::StatusOr<Incident> opened = ledger_.OpenIncident(incident, rule.clocks, rule.routing);
  if (!opened.ok()) {
    // Not recorded, so not open: the next evaluation tries again.
    LogLine(absl::StrCat(rule.config->name, ": could not record incident for ",
                         alert.labels.ToString(), ": ", opened.status().message()));
    return;
  }
  rule.open[key] = opened->number;
  if (!rule.config->group_by.empty()) rule.members[key] = members;
  if (!incident.suppressed_by.empty()) {
    suppressed_[opened->number] = {int(&rule - rules_.data()), incident.labels};
  }
  if (rule.service != nullptr) {
    absl::StatusOr<int> changes =
        ledger_.AttachChanges(opened->number, rule.service->name,
                              incident.first_evidence - rule.service->change_lookback, now);
    if (!changes.ok()) {
      LogLine(absl::StrCat(opened->id(), ": could not attach changes: ", changes.status().message()));
    }
  }
  for (const SlaClock& clock : opened->clocks) {
    if (!next_clock_deadline_ || clock.deadline < *next_clock_deadline_) {
      next_clock_deadline_ = clock.deadline;
    }
  }
  std::string detail = Describe(alert, incident.reason);
  if (incident.members.size() > 1) absl::StrAppend(&detail, " and ", incident.members.size() - 1, " more");
  std::vector<std::string> targets = rule.routing.sinks;
  targets.insert(targets.end(), rule.routing.notifiers.begin(), rule.routing.notifiers.end());
  LogLine(absl::StrCat(opened->id(), " opened: ", rule.config->name, " [", incident.severity, "] ",
                       incident.summary.empty() ? detail : incident.summary, "; evidence ", detail,
                       incident.suppressed_by.empty()
                           ? absl::StrCat("; tickets owed to ",
                                          targets.empty() ? "no sink" : absl::StrJoin(targets, ", "))
                           : absl::StrCat("; suppressed by ", incident.suppressed_by)));
  if (on_outbox_) on_outbox_();
}

std::string Engine::SuppressionOf(const std::string& service, const std::string& severity,
                                  const Labels& labels, absl::Time now) const {
  Labels seen = labels;
  // Silences may name the service and severity as if they were labels.
  if (seen.Get("service").empty() && !service.empty()) seen.Set("service", service);
  if (seen.Get("severity").empty()) seen.Set("severity", severity);
  for (const ActiveSilence& active : silences_) {
    const Silence& silence = active.silence;
    if (now < silence.starts_at || now >= silence.ends_at) continue;
    if (!MatchesAll(active.matchers, seen)) continue;
    std::string why = absl::StrCat("silence ", silence.id, " by ", silence.created_by, " until ",
                                   FormatTimestamp(silence.ends_at));
    if (!silence.comment.empty()) absl::StrAppend(&why, " (", silence.comment, ")");
    return why;
  }
  for (const MaintenanceWindow& window : config_.maintenance) {
    if (!AppliesTo(window, service)) continue;
    if (std::optional<TimeInterval> now_on = ActiveOccurrence(window, now)) {
      std::string why = absl::StrCat("maintenance ", window.name, " until ",
                                     FormatTimestamp(now_on->end));
      if (!window.comment.empty()) absl::StrAppend(&why, " (", window.comment, ")");
      return why;
    }
  }
  return {};
}

void Engine::TickLifecycle(absl::Time now) {
  if (absl::StatusOr<std::vector<Silence>> silences = ledger_.Silences(now); silences.ok()) {
    silences_.clear();
    for (Silence& silence : *silences) {
      ActiveSilence active{std::move(silence), {}};
      bool valid = true;
      for (const SilenceMatcher& m : active.silence.matchers) {
        LabelMatcher::Op op = m.is_regex ? (m.is_equal ? LabelMatcher::Op::kRegexMatch
                                                       : LabelMatcher::Op::kRegexNoMatch)
                                         : (m.is_equal ? LabelMatcher::Op::kEqual
                                                       : LabelMatcher::Op::kNotEqual);
        absl::StatusOr<LabelMatcher> matcher = LabelMatcher::Create(m.name, op, m.value);
        if (!matcher.ok()) {
          valid = false;  // the API refused such matchers; an old row matches nothing
          break;
        }
        active.matchers.push_back(*std::move(matcher));
      }
      if (valid) silences_.push_back(std::move(active));
    }
  } else {
    LogLine(absl::StrCat("silences: ", silences.status().message()));
  }
  bool owed = false;
  for (auto it = suppressed_.begin(); it != suppressed_.end();) {
    const Rule& rule = rules_[it->second.rule];
    if (!SuppressionOf(rule.config->service, rule.config->severity, it->second.labels, now).empty()) {
      ++it;
      continue;
    }
    absl::StatusOr<Incident> released = ledger_.Unsuppress(
        it->first, now, "no silence or maintenance window covers it any more", rule.clocks,
        rule.routing);
    if (!released.ok() && !absl::IsFailedPrecondition(released.status())) {
      ++it;  // tried again on the next tick
      continue;
    }
    if (released.ok()) {
      LogLine(absl::StrCat(released->id(), " no longer suppressed: tickets owed now"));
      owed = true;
    }
    suppressed_.erase(it++);
  }
  if (owed) {
    absl::StatusOr<std::optional<absl::Time>> next = ledger_.NextClockDeadline();
    if (next.ok()) next_clock_deadline_ = *next;
  }
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    absl::StatusOr<Incident> released = ledger_.ReleaseHeld(
        it->first, now, "stayed resolved through its reopen_window: resolution delivered");
    if (!released.ok() && !absl::IsFailedPrecondition(released.status())) {
      ++it;
      continue;
    }
    if (released.ok()) {
      LogLine(absl::StrCat(released->id(), " stopped flapping: resolution delivered"));
      owed = true;
    }
    held_.erase(it++);
  }
  for (Rule& rule : rules_) {
    bool postmortem = ResolveOptionsFor(rule, rule.config->severity, false).postmortem;
    for (auto it = rule.recently_resolved.begin(); it != rule.recently_resolved.end();) {
      if (now - it->second.at <= rule.config->reopen_window) {
        ++it;
        continue;
      }
      if (postmortem) {
        absl::Status status = ledger_.OwePostmortem(it->second.number, now);
        if (!status.ok() && !absl::IsFailedPrecondition(status)) {
          ++it;  // tried again on the next tick
          continue;
        }
        owed = owed || status.ok();
      }
      rule.recently_resolved.erase(it++);
    }
  }
  if (lifecycle_timers_) {
    absl::StatusOr<std::vector<Incident>> unresolved = ledger_.Unresolved();
    if (!unresolved.ok()) {
      LogLine(absl::StrCat("escalations: ", unresolved.status().message()));
    } else {
      for (const Incident& incident : *unresolved) {
        const ServiceConfig* service = config_.FindService(incident.service);
        if (service == nullptr || !incident.suppressed_by.empty()) continue;
        if (incident.state == IncidentState::kOpen &&
            incident.escalations < int(service->escalation.size())) {
          const EscalationStep& step = service->escalation[incident.escalations];
          if (now < incident.opened_at + step.after) continue;
          std::string text = absl::StrCat("escalated to ", absl::StrJoin(step.notify, ", "),
                                          ": nobody acknowledged within ",
                                          DurationToString(step.after));
          absl::StatusOr<Incident> done = ledger_.Notify(incident.number, now, "escalated", text,
                                                         step.notify, incident.escalations + 1);
          if (done.ok()) {
            LogLine(absl::StrCat(incident.id(), " ", text));
            owed = true;
          }
        } else if (incident.state == IncidentState::kAcknowledged &&
                   service->ack_timeout > absl::ZeroDuration() && incident.acknowledged_at) {
          absl::StatusOr<int> reminders = ledger_.CountTimeline(incident.number, "reminder");
          if (!reminders.ok()) continue;
          absl::Duration since = service->ack_timeout * (*reminders + 1);
          if (now < *incident.acknowledged_at + since) continue;
          std::string text = absl::StrCat("still open ", DurationToString(since),
                                          " after it was acknowledged (ack_timeout ",
                                          DurationToString(service->ack_timeout), ")");
          if (ledger_.Notify(incident.number, now, "reminder", text, {}).ok()) {
            LogLine(absl::StrCat(incident.id(), " ", text));
            owed = true;
          }
        }
      }
    }
  }
  if (owed && on_outbox_) on_outbox_();
}

void Engine::CheckClocks(absl::Time now) {
  absl::StatusOr<std::vector<ClockBreach>> breaches = ledger_.BreachDueClocks(now);
  if (!breaches.ok()) {
    LogLine(absl::StrCat("SLA clocks: ", breaches.status().message()));
  } else {
    for (const ClockBreach& breach : *breaches) {
      LogLine(absl::StrCat(breach.incident_id, " SLA ", breach.clock.name, " BREACHED: budget ",
                           absl::FormatDuration(breach.clock.deadline - breach.clock.start),
                           " from first evidence ran out"));
    }
  }
  absl::StatusOr<std::optional<absl::Time>> next = ledger_.NextClockDeadline();
  next_clock_deadline_ = next.ok() ? *next : std::optional<absl::Time>(now + kMaxIdleWait);
}

std::vector<SeriesValue> Engine::SeriesSnapshot() const {
  std::lock_guard lock(series_mu_);
  std::vector<SeriesValue> out;
  out.reserve(series_.size());
  for (SeriesId id = 0; id < series_.size(); ++id) {
    const std::optional<Point>& newest = series_[id].newest;
    if (!newest || IsStaleNaN(newest->value)) continue;
    out.push_back({id, newest->timestamp_ms, newest->value});
  }
  return out;
}

}  // namespace klaxon
