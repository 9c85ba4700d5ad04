#include "detector/demo.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/daemon.h"
#include "detector/http_server.h"
#include "detector/log.h"
#include "nlohmann/json.hpp"

namespace klaxon {

namespace {

// "http://127.0.0.1:18080/health" -> "127.0.0.1:18080".
std::string HostPort(absl::string_view url) {
  absl::string_view rest = url.substr(url.find("://") + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

void Say(absl::string_view line) { LogLine(absl::StrCat("[demo] ", line)); }

}  // namespace

absl::Status RunDemo(const DemoOptions& options,
                     const std::function<bool(absl::Duration)>& wait_for_stop) {
  absl::StatusOr<Config> config = LoadConfigFile(options.config_path);
  if (!config.ok()) return config.status();
  if (config->http_probes.empty() || config->sinks.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.config_path, ": the demo needs one [[probe.http]] and one [[sink]]"));
  }
  // A fresh ledger each run, so the story starts at INC-000001.
  std::string data_dir = (std::filesystem::temp_directory_path() /
                          absl::StrCat("klaxon-demo-", getpid()))
                             .string();
  std::filesystem::remove_all(data_dir);
  config->server.data_dir = data_dir;
  std::filesystem::create_directories(data_dir);
  // The service's access log lives in the demo's folder too.
  const std::string access_log = (std::filesystem::path(data_dir) / "checkout-access.log").string();
  for (LogSourceOptions& log : config->logs) log.paths = {access_log};
  auto access = std::make_shared<std::ofstream>(access_log, std::ios::app);

  std::atomic<bool> healthy{true};
  absl::StatusOr<std::unique_ptr<HttpServer>> service = HttpServer::Start(
      HostPort(config->http_probes[0].url), [&healthy, access](const HttpRequest& request) {
        const int status = healthy ? 200 : 503;
        *access << request.remote_address << " - - [" << FormatTimestamp(absl::Now()) << "] \""
                << request.method << " " << request.target << " HTTP/1.1\" " << status << " 3 \"-\" \""
                << request.Header("user-agent") << "\"\n"
                << std::flush;
        return healthy ? HttpResponse::Text(200, "ok\n")
                       : HttpResponse::Text(503, "database connection pool exhausted\n");
      });
  if (!service.ok()) return service.status();

  std::atomic<int> tickets{0};
  absl::StatusOr<std::unique_ptr<HttpServer>> receiver = HttpServer::Start(
      HostPort(config->sinks[0].url), [&tickets](const HttpRequest& request) {
        nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
        if (!body.is_object() || !body.contains("incident")) {
          return HttpResponse::Json(400, R"({"error":"expected a klaxon webhook document"})");
        }
        std::string event = body.value("event", "?");
        const nlohmann::json& incident = body["incident"];
        int ticket = event == "opened" ? ++tickets : tickets.load();
        LogLine(absl::StrCat("[ticketing system] ", event, " ", incident.value("id", "?"), ": ",
                             incident.value("summary", ""), " (Idempotency-Key ",
                             request.Header("idempotency-key"), ")"));
        return HttpResponse::Json(201, nlohmann::json{{"id", absl::StrCat("TICKET-", ticket)}}.dump());
      });
  if (!receiver.ok()) return receiver.status();

  RealClock clock;
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(*config, clock);
  if (!daemon.ok()) return daemon.status();
  Say(absl::StrCat("checkout service on http://", (*service)->address(),
                   ", ticketing system on http://", (*receiver)->address(), ", klaxon on http://",
                   (*daemon)->address(), " (try /metrics and /api/v1/incidents)"));
  Say(absl::StrCat("the service fails for ", absl::FormatDuration(options.down_for), " every ",
                   absl::FormatDuration(options.up_for + options.down_for),
                   "; press Ctrl-C to stop"));
  while (true) {
    if (wait_for_stop(options.up_for)) break;
    healthy = false;
    Say("checkout goes DOWN (answers 503)");
    if (wait_for_stop(options.down_for)) break;
    healthy = true;
    Say("checkout is back UP");
  }
  (*daemon)->Stop();
  std::filesystem::remove_all(data_dir);
  return absl::OkStatus();
}

}  // namespace klaxon
