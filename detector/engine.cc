#include "detector/engine.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "detector/log.h"
#include "rules/expr.h"

namespace klaxon {

namespace {

// An idle engine still wakes this often to serve what depends on time passing.
constexpr absl::Duration kMaxIdleWait = absl::Seconds(1);

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
  std::vector<std::string> all_sinks;
  for (const SinkOptions& sink : config_.sinks) all_sinks.push_back(sink.name);
  for (const RuleConfig& rule_config : config_.rules) {
    Rule rule;
    rule.alerting = std::make_unique<AlertingRule>(AlertingOptionsFor(rule_config));
    rule.config = &rule_config;
    rule.sinks = all_sinks;
    if (const ServiceConfig* service = config_.FindService(rule_config.service)) {
      if (!service->tickets.empty()) rule.sinks = service->tickets;
      for (const auto& [name, budget] :
           {std::pair{"time_to_ticket", service->sla.time_to_ticket},
            std::pair{"time_to_acknowledge", service->sla.time_to_acknowledge},
            std::pair{"time_to_resolve", service->sla.time_to_resolve}}) {
        if (budget) rule.clocks.push_back({name, *budget});
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

  absl::StatusOr<std::vector<Incident>> open = ledger_.ListIncidents(IncidentState::kOpen);
  if (!open.ok()) return open.status();
  started_at_ = clock_.WallNow();
  for (const Incident& incident : *open) {
    auto rule = std::find_if(rules_.begin(), rules_.end(),
                             [&](const Rule& r) { return r.config->name == incident.rule; });
    if (rule == rules_.end()) continue;
    rule->open[incident.fingerprint] = incident.number;
    // The alert's labels that came from its series: less alertname and the
    // labels the rule adds itself.
    Labels evidence = incident.labels;
    evidence.Set("alertname", "");
    for (const Label& added : rule->config->labels) evidence.Set(added.name, "");
    rule->unconfirmed[incident.fingerprint] = std::move(evidence);
  }
  absl::StatusOr<std::optional<absl::Time>> deadline = ledger_.NextClockDeadline();
  if (!deadline.ok()) return deadline.status();
  next_clock_deadline_ = *deadline;

  // Series interned before the engine started (by sources set up earlier).
  std::lock_guard lock(series_mu_);
  series_.resize(index_.size());
  return absl::OkStatus();
}

void Engine::Start() {
  std::lock_guard lock(queue_mu_);
  stopping_ = false;
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void Engine::Stop() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
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
    std::lock_guard lock(queue_mu_);
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
  absl::StatusOr<Incident> resolved = ledger_.ResolveIncident(request.number, now, why);
  if (resolved.ok()) {
    for (Rule& rule : rules_) {
      for (auto it = rule.open.begin(); it != rule.open.end(); ++it) {
        if (it->second != request.number) continue;
        rule.resolved_by_hand.insert(it->first);
        rule.awaiting_person.erase(it->first);
        rule.unconfirmed.erase(it->first);
        rule.open.erase(it);
        break;
      }
    }
    LogLine(absl::StrCat(resolved->id(), " ", why));
    on_outbox_();
  }
  request.done.set_value(std::move(resolved));
}

void Engine::ProcessPending() {
  std::vector<SampleBatch> batches;
  std::vector<std::unique_ptr<ResolveRequest>> resolves;
  {
    std::lock_guard lock(queue_mu_);
    batches.swap(queue_);
    resolves.swap(resolve_requests_);
  }
  for (auto& request : resolves) HandleResolve(*request, clock_.WallNow());
  std::vector<bool> dirty(records_.size() + rules_.size(), false);
  for (const SampleBatch& batch : batches) Apply(batch, dirty);

  absl::Time now = clock_.WallNow();
  bool tick = !next_tick_ || *next_tick_ <= now;
  if (tick) {
    std::fill(dirty.begin(), dirty.end(), true);
    next_tick_ = now + options_.tick;
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
    if (dirty[records_.size() + i]) EvaluateRule(i, now);
  }
  for (int i : rule_order_) {
    Rule& rule = rules_[i];
    std::optional<absl::Time> due = rule.alerting->NextDeadline();
    if (due && *due <= now) Reconcile(rule, rule.alerting->FireDue(now), now);
  }
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

void Engine::Subscribe(SeriesId id, Series& series) {
  const Labels& labels = index_.Get(id);
  for (const Label& label : labels.items()) {
    postings_[absl::StrCat(label.name, "\xff", label.value)].push_back(id);
  }
  auto subscribe = [&](int reader, const Expr& expr) {
    bool reads = false;
    for (const SelectorReach& use : SelectorReaches(expr, eval_options_.lookback)) {
      if (!MatchesAll(use.selector->matchers, labels)) continue;
      reads = true;
      series.retention_ms = std::max(series.retention_ms, absl::ToInt64Milliseconds(use.reach));
    }
    if (reads) series.readers.push_back(reader);
  };
  for (size_t i = 0; i < records_.size(); ++i) {
    subscribe(int(i), *records_[i].recording->options().expr);
  }
  for (size_t i = 0; i < rules_.size(); ++i) {
    subscribe(int(records_.size() + i), *rules_[i].alerting->options().expr);
  }
  // An SLO's inputs are read on the tick, not on arrival, so the tracker is no
  // reader to wake; its selectors still need their samples kept.
  bool slo_reads = false;
  for (const Slo& slo : slos_) {
    for (const ExprPtr& expr : {slo.tracker->options().errors, slo.tracker->options().total}) {
      if (expr == nullptr) continue;  // the tracker reports it on every update
      for (const SelectorReach& use : SelectorReaches(*expr, eval_options_.lookback)) {
        if (!MatchesAll(use.selector->matchers, labels)) continue;
        slo_reads = true;
        series.retention_ms = std::max(series.retention_ms, absl::ToInt64Milliseconds(use.reach));
      }
    }
  }
  if (!series.readers.empty() || slo_reads) series.window = std::make_unique<SampleWindow>();
}

void Engine::Apply(const SampleBatch& batch, std::vector<bool>& dirty) {
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
    series.newest = Point{sample.timestamp_ms, sample.value};
    if (series.window) {
      series.window->Append(*series.newest, sample.timestamp_ms - series.retention_ms);
    }
    for (int reader : series.readers) {
      dirty[reader] = true;
      if (reader < int(records_.size())) continue;
      Rule& rule = rules_[reader - records_.size()];
      if (!rule.unconfirmed.empty()) Confirm(rule, index_.Get(sample.series));
    }
  }
  for (const SeriesNote& note : batch.notes) {
    if (note.series < series_.size()) series_[note.series].note = note.text;
  }
}

std::optional<SeriesReader::Point> Engine::NewestAt(const Series& series, int64_t at_ms) {
  if (series.window) return series.window->NewestAt(at_ms);
  if (series.newest && series.newest->timestamp_ms <= at_ms) return series.newest;
  return std::nullopt;
}

void Engine::ForCandidates(const std::vector<LabelMatcher>& matchers,
                           const std::function<void(SeriesId, const Series&)>& check) const {
  const std::vector<SeriesId>* shortest = nullptr;
  for (const LabelMatcher& m : matchers) {
    // `x=""` matches series without x, which no posting list holds.
    if (m.op() != LabelMatcher::Op::kEqual || m.value().empty()) continue;
    auto it = postings_.find(absl::StrCat(m.name(), "\xff", m.value()));
    if (it == postings_.end()) return;
    if (shortest == nullptr || it->second.size() < shortest->size()) shortest = &it->second;
  }
  if (shortest != nullptr) {
    for (SeriesId id : *shortest) check(id, series_[id]);
    return;
  }
  for (SeriesId id = 0; id < series_.size(); ++id) {
    if (series_[id].seen) check(id, series_[id]);
  }
}

void Engine::SelectInstant(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                           int64_t lookback_ms, const InstantVisitor& visit) const {
  std::lock_guard lock(series_mu_);
  ForCandidates(matchers, [&](SeriesId id, const Series& series) {
    std::optional<Point> newest = NewestAt(series, at_ms);
    // [at - lookback, at], both ends included, as Prometheus 2.x selects; a
    // stale marker ends the series.
    if (!newest || newest->timestamp_ms < at_ms - lookback_ms ||
        IsStaleNaN(newest->value)) {
      return;
    }
    const Labels& labels = index_.Get(id);
    if (MatchesAll(matchers, labels)) visit(id, labels, newest->timestamp_ms, newest->value);
  });
}

void Engine::SelectRange(const std::vector<LabelMatcher>& matchers, int64_t at_ms,
                         int64_t range_ms, const RangeVisitor& visit) const {
  std::lock_guard lock(series_mu_);
  std::vector<Point> points;
  ForCandidates(matchers, [&](SeriesId id, const Series& series) {
    if (!series.window) return;
    points.clear();
    series.window->CopyRange(at_ms - range_ms, at_ms, points);
    std::erase_if(points, [](const Point& p) { return IsStaleNaN(p.value); });
    if (points.empty()) return;
    const Labels& labels = index_.Get(id);
    if (MatchesAll(matchers, labels)) visit(id, labels, points);
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

void Engine::Reconcile(Rule& rule, const std::vector<AlertTransition>& transitions,
                       absl::Time now) {
  RecordPending(rule, transitions);
  // Incidents follow the alerts' current states rather than single transitions,
  // so that a ledger write that failed is retried on the next evaluation, and
  // incidents opened before a restart (whose alerts this process never saw
  // fire) resolve once their condition is gone.
  absl::flat_hash_map<uint64_t, const Alert*> active;
  std::vector<Alert> alerts = rule.alerting->Alerts();
  for (const Alert& alert : alerts) {
    uint64_t fingerprint = alert.labels.Fingerprint();
    active[fingerprint] = &alert;
    if (alert.state != AlertState::kFiring || rule.open.contains(fingerprint) ||
        rule.resolved_by_hand.contains(fingerprint)) {
      continue;
    }
    if (std::optional<int64_t> parent = ParentIncident(rule)) {
      auto [it, first] = rule.attached.try_emplace(fingerprint, *parent);
      if (first || it->second != *parent) {
        it->second = *parent;
        std::string text = absl::StrCat(rule.config->name, " ", Describe(alert, NoteOf(alert)),
                                        " attached: it depends on a rule firing here");
        (void)ledger_.AddTimeline(*parent, {now, "attached", text});
        LogLine(absl::StrCat(IncidentId(*parent), " ", text));
      }
      continue;
    }
    rule.attached.erase(fingerprint);
    OpenIncident(rule, alert, now);
  }
  absl::erase_if(rule.attached,
                 [&](const auto& entry) { return !active.contains(entry.first); });
  absl::erase_if(rule.resolved_by_hand,
                 [&](uint64_t fingerprint) { return !active.contains(fingerprint); });
  std::vector<uint64_t> cleared;
  bool warming_up = now < started_at_ + eval_options_.lookback;
  for (const auto& [fingerprint, number] : rule.open) {
    if (active.contains(fingerprint)) continue;
    // Until its series reports, or a whole lookback has passed without it,
    // a restored incident's absence from the result is no evidence at all.
    if (warming_up && rule.unconfirmed.contains(fingerprint)) continue;
    cleared.push_back(fingerprint);
  }
  ForgetPending(rule);
  bool owed = false;
  absl::erase_if(rule.awaiting_person,
                 [&](uint64_t fingerprint) { return active.contains(fingerprint); });
  for (uint64_t fingerprint : cleared) {
    int64_t number = rule.open[fingerprint];
    if (!rule.config->auto_resolve) {
      if (rule.awaiting_person.insert(fingerprint).second) {
        const std::string text = "condition cleared; stays open until a person resolves it "
                                 "(auto_resolve = false)";
        (void)ledger_.AddTimeline(number, {now, "cleared", text});
        LogLine(absl::StrCat(IncidentId(number), " ", text));
      }
      continue;
    }
    absl::StatusOr<Incident> resolved =
        ledger_.ResolveIncident(number, now, absl::StrCat("condition cleared (", rule.config->expr, ")"));
    if (!resolved.ok()) {
      // Left open; the next evaluation tries again.
      LogLine(absl::StrCat(IncidentId(number), ": could not record resolution: ",
                           resolved.status().message()));
      continue;
    }
    rule.open.erase(fingerprint);
    rule.unconfirmed.erase(fingerprint);
    owed = true;
    LogLine(absl::StrCat(resolved->id(), " resolved: ", rule.config->name, " ",
                         resolved->labels.ToString(), " after ",
                         absl::FormatDuration(absl::Floor(now - resolved->first_evidence, absl::Seconds(1)))));
  }
  if (owed && on_outbox_) on_outbox_();
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
    bool recorded_elsewhere = rule.open.contains(fingerprint) || rule.attached.contains(fingerprint);
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
    for (const Label& label : entry.second.items()) {
      if (series_labels.Get(label.name) != label.value) return false;
    }
    return true;
  });
}

std::string Engine::NoteOf(const Alert& alert) const {
  if (!alert.origin) return {};
  std::lock_guard lock(series_mu_);
  return *alert.origin < series_.size() ? series_[*alert.origin].note : std::string();
}

void Engine::OpenIncident(Rule& rule, const Alert& alert, absl::Time now) {
  Incident incident;
  incident.fingerprint = alert.labels.Fingerprint();
  incident.rule = rule.config->name;
  incident.service = rule.config->service;
  incident.severity = rule.config->severity;
  incident.summary = alert.summary;
  incident.labels = alert.labels;
  incident.first_evidence = alert.active_at;
  incident.opened_at = now;
  incident.value = alert.value;
  incident.reason = NoteOf(alert);
  absl::StatusOr<Incident> opened = ledger_.OpenIncident(incident, rule.clocks, rule.sinks);
  if (!opened.ok()) {
    // Not recorded, so not open: the next evaluation tries again.
    LogLine(absl::StrCat(rule.config->name, ": could not record incident for ",
                         alert.labels.ToString(), ": ", opened.status().message()));
    return;
  }
  rule.open[incident.fingerprint] = opened->number;
  if (const ServiceConfig* service = config_.FindService(incident.service)) {
    absl::StatusOr<int> changes =
        ledger_.AttachChanges(opened->number, service->name,
                              incident.first_evidence - service->change_lookback, now);
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
  LogLine(absl::StrCat(opened->id(), " opened: ", rule.config->name, " [", incident.severity, "] ",
                       incident.summary.empty() ? detail : incident.summary, "; evidence ", detail,
                       "; tickets owed to ", rule.sinks.empty() ? "no sink" : absl::StrJoin(rule.sinks, ", ")));
  if (on_outbox_) on_outbox_();
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
