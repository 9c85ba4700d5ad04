#include "detector/daemon.h"

#include <filesystem>
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

struct Daemon::Parts {
  Config config;
  std::unique_ptr<Ledger> ledger;
  SeriesIndex index;
  std::unique_ptr<OutboxDispatcher> dispatcher;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ConnectivityMonitor> connectivity;
  std::unique_ptr<HttpProber> prober;
  std::unique_ptr<TcpProber> tcp_prober;
  std::unique_ptr<Scraper> scraper;
  std::unique_ptr<LedgerLogStateStore> log_store;
  std::unique_ptr<LogSources> logs;
  std::unique_ptr<Api> api;
  std::unique_ptr<HttpServer> server;
  bool stopped = false;
};

Daemon::Daemon(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Daemon::~Daemon() { Stop(); }

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(Config config, const Clock& clock) {
  auto parts = std::make_unique<Parts>();
  parts->config = std::move(config);
  Parts& p = *parts;

  std::string data_dir = p.config.DataDir();
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

  p.dispatcher = std::make_unique<OutboxDispatcher>(*p.ledger, clock);
  for (const SinkOptions& options : p.config.sinks) {
    absl::StatusOr<std::unique_ptr<TicketSink>> sink = MakeTicketSink(options);
    if (!sink.ok()) return sink.status();
    p.dispatcher->AddSink(options.name, std::move(*sink));
  }
  OutboxDispatcher* dispatcher = p.dispatcher.get();
  p.engine = std::make_unique<Engine>(
      p.config, p.index, *p.ledger, clock, [dispatcher] { dispatcher->Wake(); },
      EngineOptionsFor(p.config.rules_settings));
  if (absl::Status status = p.engine->Init(); !status.ok()) return status;

  Engine* engine = p.engine.get();
  SampleConsumer to_engine = [engine](SampleBatch batch) { engine->Ingest(std::move(batch)); };
  if (!p.config.connectivity_canaries.empty()) {
    p.connectivity = std::make_unique<ConnectivityMonitor>(p.config.connectivity_canaries, p.index,
                                                           clock, to_engine);
  }
  p.prober = std::make_unique<HttpProber>(p.config.http_probes, p.index, clock, to_engine,
                                          p.connectivity.get());
  p.tcp_prober = std::make_unique<TcpProber>(p.config.tcp_probes, p.index, clock, to_engine,
                                             p.connectivity.get());
  p.scraper = std::make_unique<Scraper>(p.config.scrapes, p.index, clock, to_engine);
  p.log_store = std::make_unique<LedgerLogStateStore>(*p.ledger);
  p.logs = std::make_unique<LogSources>(p.config.logs, p.index, clock, to_engine, *p.log_store);
  p.api = std::make_unique<Api>(p.config, *p.ledger, *p.engine, p.index, clock,
                                [dispatcher] { dispatcher->Wake(); });
  Api* api = p.api.get();
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      p.config.server.listen, [api](const HttpRequest& request) { return api->Handle(request); },
      HttpServerOptions{.max_body_bytes = p.config.server.max_body_bytes});
  if (!server.ok()) return server.status();
  p.server = std::move(*server);

  p.engine->Start();
  p.dispatcher->Start();
  for (absl::Status status : {p.prober->Start(), p.tcp_prober->Start(), p.scraper->Start(),
                              p.logs->Start()}) {
    if (!status.ok()) return status;
  }
  LogLine(absl::StrCat("klaxon listening on http://", p.server->address(), " (data in ",
                       data_dir, ", ", p.config.rules.size(), " rules, ",
                       p.config.http_probes.size() + p.config.tcp_probes.size(), " probes, ",
                       p.config.scrapes.size(), " scrape jobs, ", p.config.logs.size(), " logs, ",
                       p.config.sinks.size(), " sinks)"));
  return std::unique_ptr<Daemon>(new Daemon(std::move(parts)));
}

void Daemon::Stop() {
  if (!parts_ || parts_->stopped) return;
  parts_->stopped = true;
  // Sources first, so nothing new arrives; the database last.
  parts_->logs->Stop();
  parts_->scraper->Stop();
  parts_->tcp_prober->Stop();
  parts_->prober->Stop();
  parts_->server->Stop();
  parts_->engine->Stop();
  parts_->dispatcher->Stop();
  LogLine("klaxon stopped");
}

std::string Daemon::address() const { return parts_->server->address(); }

Ledger& Daemon::ledger() { return *parts_->ledger; }

}  // namespace klaxon
