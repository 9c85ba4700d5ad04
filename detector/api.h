// Api answers klaxon's HTTP endpoints: /metrics, /healthz, the JSON API under
// /api/v1, and the push endpoints that hand samples to the engine. Handle()
// runs on the HTTP server's one thread (the push decoder's scratch is not
// shared); the parts it reads are thread-safe.
#ifndef KLAXON_DETECTOR_API_H_
#define KLAXON_DETECTOR_API_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "detector/clock.h"
#include "detector/config.h"
#include "detector/engine.h"
#include "detector/http_server.h"
#include "detector/ledger.h"
#include "detector/series_index.h"
#include "exporters/metrics_page.h"
#include "probes/push.h"

namespace klaxon {

class Api {
 public:
  // `on_outbox` is called after an API call owed deliveries, to wake the
  // dispatcher.
  Api(const Config& config, Ledger& ledger, Engine& engine, SeriesIndex& index, const Clock& clock,
      std::function<void()> on_outbox);
  // Non-copyable: holds the metrics registry.
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  HttpResponse Handle(const HttpRequest& request);
  // What POST /-/reload calls: loads the config file again and swaps it in,
  // or keeps the running one and says why not. Unset: reloading is refused.
  void set_reload(std::function<absl::Status()> reload) { reload_ = std::move(reload); }
  // After a reload: the new config and engine. Not concurrent with Handle().
  void Rebind(const Config& config, Engine& engine, std::function<void()> on_outbox) {
    config_ = &config;
    engine_ = &engine;
    on_outbox_ = std::move(on_outbox);
  }

 private:
  HttpResponse Metrics();
  HttpResponse ListIncidents(const HttpRequest& request);
  HttpResponse GetIncident(absl::string_view id);
  // POST /api/v1/write (Prometheus text) and /api/v1/events (JSON).
  HttpResponse Push(const HttpRequest& request);
  // POST /api/v1/changes (api_tokens) and GET /api/v1/changes?service=S.
  HttpResponse Changes(const HttpRequest& request);
  // POST /api/v1/incidents/{id}/ack and /resolve.
  HttpResponse ActOnIncident(const HttpRequest& request, absl::string_view id,
                             absl::string_view action);
  // GET/POST /api/v1/silences, DELETE /api/v1/silences/{id}.
  HttpResponse Silences(const HttpRequest& request);
  // GET /api/v1/outbox/dead, POST /api/v1/outbox/{id}/retry.
  HttpResponse Outbox(const HttpRequest& request);
  // GET /api/v1/sla[?service=S][&month=2026-11][&format=json|csv|table].
  HttpResponse Sla(const HttpRequest& request);
  HttpResponse Reload(const HttpRequest& request);
  // POST /api/v1/inbound/{sink}: the ticketing system behind a jira, github or
  // redmine sink says a person took the ticket; its incident is acknowledged.
  HttpResponse Inbound(const HttpRequest& request);
  // The bearer token's owner among api_tokens, or the response refusing it.
  std::variant<std::string, HttpResponse> Actor(const HttpRequest& request, absl::string_view what);
  // The name under which `tokens` holds the request's bearer token, compared
  // in constant time; nullopt when none matches.
  static std::optional<std::string> BearerOwner(
      const HttpRequest& request, const std::vector<std::pair<std::string, std::string>>& tokens);

  const Config* config_;
  Ledger& ledger_;
  Engine* engine_;
  const Clock& clock_;
  std::function<void()> on_outbox_;
  const SeriesIndex& index_;
  PushDecoder push_decoder_;
  std::function<absl::Status()> reload_;
  MetricsPage metrics_page_;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_API_H_
