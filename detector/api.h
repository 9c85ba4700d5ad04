// Api answers klaxon's HTTP endpoints: /metrics, /healthz and the JSON API
// under /api/v1. It reads the ledger and the engine and writes nothing yet.
// Thread-safe as its parts are; Handle() runs on the HTTP server's thread.
#ifndef KLAXON_DETECTOR_API_H_
#define KLAXON_DETECTOR_API_H_

#include "detector/config.h"
#include "detector/engine.h"
#include "detector/http_server.h"
#include "detector/ledger.h"
#include "detector/series_index.h"
#include "exporters/metrics_page.h"

namespace klaxon {

class Api {
 public:
  Api(const Config& config, Ledger& ledger, const Engine& engine, const SeriesIndex& index);
  // Non-copyable: holds the metrics registry.
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  HttpResponse Handle(const HttpRequest& request);

 private:
  HttpResponse Metrics();
  HttpResponse ListIncidents(const HttpRequest& request);
  HttpResponse GetIncident(absl::string_view id);

  const Config& config_;
  Ledger& ledger_;
  const Engine& engine_;
  const SeriesIndex& index_;
  MetricsPage metrics_page_;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_API_H_
