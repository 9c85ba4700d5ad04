#include "detector/daemon.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <mutex>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "detector/api.h"
#include "detector/engine.h"
#include "detector/http_server.h"
#include "detector/log.h"
#include "detector/outbox_dispatcher.h"
#include "detector/series_index.h"
#include "probes/connectivity.h"
#include "probes/http_probe.h"
#include "probes/log_source.h"
#include "probes/scraper.h"
#include "probes/tcp_probe.h"

namespace klaxon {

namespace {

// Log positions and counters live in the ledger's database, beside the
// incidents, so one file holds everything a restart needs.
class LedgerLogStateStore : public LogStateStore {
 public:
  explicit LedgerLogStateStore(Ledger& ledger) : ledger_(ledger) {}
  absl::StatusOr<std::optional<std::string>> Load(const std::string& log) override {
    return ledger_.LogState(log);
  }
  absl::Status Save(const std::string& log, absl::string_view state) override {
    return ledger_.SaveLogState(log, state);
  }

 private:
  Ledger& ledger_;
};

}  // namespace

// What a reload replaces: everything that reads the config.
struct Running {
  Config config;
  std::unique_ptr<OutboxDispatcher> dispatcher;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ConnectivityMonitor> connectivity;
  std::unique_ptr<HttpProber> prober;
  std::unique_ptr<TcpProber> tcp_prober;
  std::unique_ptr<Scraper> scraper;
  std::unique_ptr<LogSources> logs;

  // Sources first, so nothing new arrives.
  void Stop() {
    if (logs) logs->Stop();
    if (scraper) scraper->Stop();
    if (tcp_prober) tcp_prober->Stop();
    if (prober) prober->Stop();
    if (engine) engine->Stop();
    if (dispatcher) dispatcher->Stop();
  }
};

struct Daemon::Parts {
  const Clock* clock;
  std::unique_ptr<Ledger> ledger;
  SeriesIndex index;
  std::unique_ptr<LedgerLogStateStore> log_store;
  // Guards `running` and `api` against the HTTP thread while a reload swaps them.
  std::mutex mu;
  std::unique_ptr<Running> running;
  std::unique_ptr<Api> api;
  std::unique_ptr<HttpServer> server;
  bool stopped = false;

  // Builds and starts what reads `config`.
  absl::StatusOr<std::unique_ptr<Running>> StartRunning(
      Config config, std::vector<std::string> removed_probes = {}) {
    auto r = std::make_unique<Running>();
    r->config = std::move(config);
    r->dispatcher = std::make_unique<OutboxDispatcher>(*ledger, *clock);
    for (const SinkOptions& options : r->config.sinks) {
      absl::StatusOr<std::unique_ptr<TicketSink>> sink = MakeTicketSink(options);
      if (!sink.ok()) return sink.status();
      r->dispatcher->AddSink(options.name, std::move(*sink), options.dead_letter_after);
    }
    absl::Status dead = ledger->DeadLetterUnknownSinks(SinkNames(r->config), clock->WallNow());
    if (!dead.ok()) return dead;
    OutboxDispatcher* dispatcher = r->dispatcher.get();
    EngineOptions engine_options = EngineOptionsFor(r->config.rules_settings);
    engine_options.removed_probes = std::move(removed_probes);
    r->engine = std::make_unique<Engine>(
        r->config, index, *ledger, *clock, [dispatcher] { dispatcher->Wake(); }, engine_options);
    if (absl::Status status = r->engine->Init(); !status.ok()) return status;
    Engine* engine = r->engine.get();
    SampleConsumer to_engine = [engine](SampleBatch batch) { engine->Ingest(std::move(batch)); };
    if (!r->config.connectivity_canaries.empty()) {
      r->connectivity = std::make_unique<ConnectivityMonitor>(r->config.connectivity_canaries,
                                                              index, *clock, to_engine);
    }
    r->prober = std::make_unique<HttpProber>(r->config.http_probes, index, *clock, to_engine,
                                             r->connectivity.get());
    r->tcp_prober = std::make_unique<TcpProber>(r->config.tcp_probes, index, *clock, to_engine,
                                                r->connectivity.get());
    r->scraper = std::make_unique<Scraper>(r->config.scrapes, index, *clock, to_engine);
    r->logs = std::make_unique<LogSources>(r->config.logs, index, *clock, to_engine, *log_store);
    r->engine->Start();
    r->dispatcher->Start();
    for (absl::Status status : {r->prober->Start(), r->tcp_prober->Start(), r->scraper->Start(),
                                r->logs->Start()}) {
      if (!status.ok()) {
        r->Stop();
        return status;
      }
    }
    return r;
  }

  static std::vector<std::string> ProbeNames(const Config& config) {
    std::vector<std::string> names;
    for (const HttpProbeOptions& probe : config.http_probes) names.push_back(probe.name);
    for (const TcpProbeOptions& probe : config.tcp_probes) names.push_back(probe.name);
    return names;
  }

  static std::vector<std::string> SinkNames(const Config& config) {
    std::vector<std::string> names;
    for (const SinkOptions& sink : config.sinks) names.push_back(sink.name);
    return names;
  }

  // With `mu` held.
  absl::Status ReloadLocked() {
    const std::string& path = running->config.path;
    absl::StatusOr<Config> config = LoadConfigFile(path);
    if (!config.ok()) {
      LogLine(absl::StrCat("reload refused, the running config stays: ", config.status().message()));
      return config.status();
    }
    if (config->DataDir() != running->config.DataDir()) {
      absl::Status refused = absl::InvalidArgumentError(absl::StrCat(
          "data_dir changed from ", running->config.DataDir(), " to ", config->DataDir(),
          ": a reload keeps the ledger it has; restart klaxon to move it"));
      LogLine(absl::StrCat("reload refused: ", refused.message()));
      return refused;
    }
    if (config->server.listen != running->config.server.listen) {
      LogLine(absl::StrCat("reload: listen changed to ", config->server.listen,
                           "; still serving on ", server->address(), " until a restart"));
    }
    std::vector<std::string> removed_probes;
    for (const std::string& probe : ProbeNames(running->config)) {
      std::vector<std::string> kept = ProbeNames(*config);
      if (std::find(kept.begin(), kept.end(), probe) == kept.end()) removed_probes.push_back(probe);
    }
    running->Stop();
    // The old parts read the old config: they go before it does.
    Config previous = running->config;
    running.reset();
    absl::StatusOr<std::unique_ptr<Running>> started =
        StartRunning(*std::move(config), std::move(removed_probes));
    if (!started.ok()) {
      LogLine(absl::StrCat("reload failed (", started.status().message(),
                           "); starting the previous config again"));
      absl::StatusOr<std::unique_ptr<Running>> again = StartRunning(std::move(previous));
      if (!again.ok()) return again.status();
      running = *std::move(again);
      api->Rebind(running->config, *running->engine, Wake());
      return started.status();
    }
    running = *std::move(started);
    api->Rebind(running->config, *running->engine, Wake());
    LogLine(absl::StrCat("config reloaded from ", path, ": ", running->config.rules.size(),
                         " rules, ", running->config.http_probes.size() + running->config.tcp_probes.size(),
                         " probes, ", running->config.sinks.size(), " sinks"));
    return absl::OkStatus();
  }

  std::function<void()> Wake() {
    OutboxDispatcher* dispatcher = running->dispatcher.get();
    return [dispatcher] { dispatcher->Wake(); };
  }
};

Daemon::Daemon(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Daemon::~Daemon() { Stop(); }

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(Config config, const Clock& clock) {
  auto parts = std::make_unique<Parts>();
  Parts& p = *parts;
  p.clock = &clock;

  std::string data_dir = config.DataDir();
  std::error_code error;
  std::filesystem::create_directories(data_dir, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot create data_dir ", data_dir, ": ", error.message()));
  }
  std::string db_path = (std::filesystem::path(data_dir) / "klaxon.db").string();
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(db_path);
  if (!ledger.ok()) return ledger.status();
  p.ledger = std::move(*ledger);
  p.log_store = std::make_unique<LedgerLogStateStore>(*p.ledger);

  absl::StatusOr<std::unique_ptr<Running>> running = p.StartRunning(std::move(config));
  if (!running.ok()) return running.status();
  p.running = *std::move(running);
  const Config& current = p.running->config;
  p.api = std::make_unique<Api>(current, *p.ledger, *p.running->engine, p.index, clock, p.Wake());
  Parts* shared = &p;
  p.api->set_reload([shared] { return shared->ReloadLocked(); });
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      current.server.listen,
      [shared](const HttpRequest& request) {
        std::lock_guard lock(shared->mu);
        return shared->api->Handle(request);
      },
      HttpServerOptions{.max_body_bytes = current.server.max_body_bytes});
  if (!server.ok()) {
    p.running->Stop();
    return server.status();
  }
  p.server = std::move(*server);
  LogLine(absl::StrCat("klaxon listening on http://", p.server->address(), " (data in ",
                       data_dir, ", ", current.rules.size(), " rules, ",
                       current.http_probes.size() + current.tcp_probes.size(), " probes, ",
                       current.scrapes.size(), " scrape jobs, ", current.logs.size(), " logs, ",
                       current.sinks.size(), " sinks)"));
  return std::unique_ptr<Daemon>(new Daemon(std::move(parts)));
}

absl::Status Daemon::Reload() {
  std::lock_guard lock(parts_->mu);
  if (parts_->stopped) return absl::FailedPreconditionError("klaxon is stopping");
  return parts_->ReloadLocked();
}

void Daemon::Stop() {
  if (!parts_) return;
  {
    std::lock_guard lock(parts_->mu);
    if (parts_->stopped) return;
    parts_->stopped = true;
  }
  // The server first (its handler takes `mu`), then the rest; the database last.
  parts_->server->Stop();
  parts_->running->Stop();
  LogLine("klaxon stopped");
}

std::string Daemon::address() const { return parts_->server->address(); }

Ledger& Daemon::ledger() { return *parts_->ledger; }

}  // namespace klaxon
