#include "detector/api.h"

#include <openssl/crypto.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "detector/version.h"

namespace klaxon {

namespace {

HttpResponse JsonError(int status, absl::string_view message) {
  return HttpResponse::Json(status, nlohmann::json{{"error", std::string(message)}}.dump());
}

}  // namespace

Api::Api(const Config& config, Ledger& ledger, Engine& engine, SeriesIndex& index,
         const Clock& clock)
    : config_(config),
      ledger_(ledger),
      engine_(engine),
      clock_(clock),
      index_(index),
      push_decoder_(index),
      metrics_page_(kVersion) {}

HttpResponse Api::Handle(const HttpRequest& request) {
  const std::string& path = request.path;
  bool read = request.method == "GET" || request.method == "HEAD";
  if (path == "/metrics" || path == "/healthz" || absl::StartsWith(path, "/api/v1/incidents")) {
    if (!read) {
      HttpResponse response = JsonError(405, absl::StrCat(request.method, " is not allowed on ", path));
      response.headers.push_back({"Allow", "GET, HEAD"});
      return response;
    }
  }
  if (path == "/api/v1/write" || path == "/api/v1/events") {
    if (request.method != "POST") {
      HttpResponse response = JsonError(405, absl::StrCat(request.method, " is not allowed on ", path));
      response.headers.push_back({"Allow", "POST"});
      return response;
    }
    return Push(request);
  }
  if (path == "/metrics") return Metrics();
  if (path == "/healthz") return HttpResponse::Text(200, "ok\n");
  if (path == "/api/v1/incidents") return ListIncidents(request);
  if (absl::StartsWith(path, "/api/v1/incidents/")) {
    return GetIncident(absl::string_view(path).substr(sizeof("/api/v1/incidents/") - 1));
  }
  return JsonError(404, absl::StrCat("no such endpoint: ", path));
}

bool Api::Authorized(const HttpRequest& request) const {
  absl::string_view header = request.Header("authorization");
  if (!absl::ConsumePrefix(&header, "Bearer ")) return false;
  bool match = false;
  for (const std::string& token : config_.server.push_tokens) {
    // Every token is compared in full whatever the outcome, so that timing
    // tells an attacker nothing about how much of a guess was right.
    if (token.size() == header.size() && CRYPTO_memcmp(token.data(), header.data(), token.size()) == 0) {
      match = true;
    }
  }
  return match;
}

HttpResponse Api::Push(const HttpRequest& request) {
  if (config_.server.push_tokens.empty()) {
    return JsonError(403, "pushing is disabled: set [server] push_tokens to accept pushed samples");
  }
  if (!Authorized(request)) {
    HttpResponse response = JsonError(401, "missing or wrong bearer token");
    response.headers.push_back({"WWW-Authenticate", "Bearer"});
    return response;
  }
  const int64_t now_ms = absl::ToUnixMillis(clock_.WallNow());
  absl::StatusOr<SampleBatch> batch =
      request.path == "/api/v1/write"
          ? push_decoder_.DecodeText(request.body,
                                     ExpositionFormatFromContentType(request.Header("content-type")), now_ms)
          : push_decoder_.DecodeEvents(request.body, now_ms);
  if (!batch.ok()) return JsonError(400, batch.status().message());
  const size_t accepted = batch->samples.size();
  engine_.Ingest(*std::move(batch));
  return HttpResponse::Json(200, nlohmann::json{{"accepted", accepted}}.dump());
}

HttpResponse Api::Metrics() {
  absl::StatusOr<LedgerStats> stats = ledger_.Stats();
  if (!stats.ok()) return HttpResponse::Text(503, std::string(stats.status().message()));
  std::set<std::pair<std::string, std::string>> keys;
  for (const RuleConfig& rule : config_.rules) keys.insert({rule.service, rule.severity});
  std::vector<IncidentKey> incident_keys;
  for (const auto& [service, severity] : keys) incident_keys.push_back({service, severity});
  std::vector<std::string> sinks;
  for (const SinkOptions& sink : config_.sinks) sinks.push_back(sink.name);
  std::vector<SourceSeriesValue> series;
  for (const SeriesValue& v : engine_.SeriesSnapshot()) {
    series.push_back({&index_.Get(v.series), v.value});
  }
  EngineFacts facts{engine_.samples_ingested(), index_.size()};
  HttpResponse response = HttpResponse::Text(
      200, metrics_page_.Render(*stats, incident_keys, sinks, series, facts));
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return response;
}

HttpResponse Api::ListIncidents(const HttpRequest& request) {
  std::optional<IncidentState> state;
  std::string filter = request.QueryParam("state");
  if (filter == "open") {
    state = IncidentState::kOpen;
  } else if (filter == "acknowledged") {
    state = IncidentState::kAcknowledged;
  } else if (filter == "resolved") {
    state = IncidentState::kResolved;
  } else if (!filter.empty()) {
    return JsonError(400, absl::StrCat("unknown state \"", filter,
                                       "\": expected open, acknowledged or resolved"));
  }
  absl::StatusOr<std::vector<Incident>> incidents = ledger_.ListIncidents(state);
  if (!incidents.ok()) return JsonError(503, incidents.status().message());
  nlohmann::json list = nlohmann::json::array();
  for (const Incident& incident : *incidents) list.push_back(IncidentToJson(incident));
  return HttpResponse::Json(200, nlohmann::json{{"incidents", std::move(list)}}.dump());
}

HttpResponse Api::GetIncident(absl::string_view id) {
  absl::string_view digits = id;
  if (absl::StartsWith(digits, "INC-")) digits.remove_prefix(4);
  int64_t number = 0;
  if (!absl::SimpleAtoi(digits, &number) || number <= 0) {
    return JsonError(400, absl::StrCat("bad incident id \"", id, "\": expected INC-000123"));
  }
  absl::StatusOr<Incident> incident = ledger_.GetIncident(number);
  if (absl::IsNotFound(incident.status())) return JsonError(404, incident.status().message());
  if (!incident.ok()) return JsonError(503, incident.status().message());
  return HttpResponse::Json(200, IncidentToJson(*incident).dump());
}

}  // namespace klaxon
