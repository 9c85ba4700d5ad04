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
#include "probes/http_probe.h"

namespace klaxon {

struct Daemon::Parts {
  Config config;
  std::unique_ptr<Ledger> ledger;
  SeriesIndex index;
  std::unique_ptr<OutboxDispatcher> dispatcher;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<HttpProber> prober;
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
  p.prober = std::make_unique<HttpProber>(p.config.http_probes, p.index, clock,
                                          [engine](SampleBatch batch) {
                                            engine->Ingest(std::move(batch));
                                          });
  p.api = std::make_unique<Api>(p.config, *p.ledger, *p.engine, p.index);
  Api* api = p.api.get();
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      p.config.server.listen, [api](const HttpRequest& request) { return api->Handle(request); });
  if (!server.ok()) return server.status();
  p.server = std::move(*server);

  p.engine->Start();
  p.dispatcher->Start();
  if (absl::Status status = p.prober->Start(); !status.ok()) return status;
  LogLine(absl::StrCat("klaxon listening on http://", p.server->address(), " (data in ",
                       data_dir, ", ", p.config.rules.size(), " rules, ",
                       p.config.http_probes.size(), " probes, ", p.config.sinks.size(), " sinks)"));
  return std::unique_ptr<Daemon>(new Daemon(std::move(parts)));
}

void Daemon::Stop() {
  if (!parts_ || parts_->stopped) return;
  parts_->stopped = true;
  // Sources first, so nothing new arrives; the database last.
  parts_->prober->Stop();
  parts_->server->Stop();
  parts_->engine->Stop();
  parts_->dispatcher->Stop();
  LogLine("klaxon stopped");
}

std::string Daemon::address() const { return parts_->server->address(); }

Ledger& Daemon::ledger() { return *parts_->ledger; }

}  // namespace klaxon
