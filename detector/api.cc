#include "detector/api.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "detector/label_matcher.h"
#include "detector/log.h"
#include "detector/sla_report.h"
#include "detector/version.h"

namespace klaxon {

namespace {

HttpResponse JsonError(int status, absl::string_view message) {
  return HttpResponse::Json(status, nlohmann::json{{"error", std::string(message)}}.dump());
}

HttpResponse MethodNotAllowed(const HttpRequest& request, absl::string_view allow) {
  HttpResponse response =
      JsonError(405, absl::StrCat(request.method, " is not allowed on ", request.path));
  response.headers.push_back({"Allow", std::string(allow)});
  return response;
}

// "12", "INC-000012" -> 12.
std::optional<int64_t> NumberOf(absl::string_view id, absl::string_view prefix) {
  absl::ConsumePrefix(&id, prefix);
  int64_t number = 0;
  if (!absl::SimpleAtoi(id, &number) || number <= 0) return std::nullopt;
  return number;
}

absl::StatusOr<absl::Time> TimeField(const nlohmann::json& value, absl::string_view key) {
  absl::Time t;
  std::string error;
  if (value.is_number()) return absl::FromUnixMillis(static_cast<int64_t>(value.get<double>() * 1000));
  if (value.is_string() && absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &t, &error)) {
    return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(key, ": expected RFC 3339 text such as \"2026-11-24T10:00:00Z\" or Unix seconds"));
}

nlohmann::json SilenceToJson(const Silence& silence, absl::Time now) {
  nlohmann::json matchers = nlohmann::json::array();
  for (const SilenceMatcher& m : silence.matchers) {
    matchers.push_back(
        {{"name", m.name}, {"value", m.value}, {"isRegex", m.is_regex}, {"isEqual", m.is_equal}});
  }
  std::string state = now < silence.starts_at ? "pending" : now < silence.ends_at ? "active" : "expired";
  return {{"id", silence.id},
          {"matchers", std::move(matchers)},
          {"startsAt", FormatTimestamp(silence.starts_at)},
          {"endsAt", FormatTimestamp(silence.ends_at)},
          {"createdBy", silence.created_by},
          {"comment", silence.comment},
          {"status", {{"state", state}}}};
}

}  // namespace

Api::Api(const Config& config, Ledger& ledger, Engine& engine, SeriesIndex& index,
         const Clock& clock, std::function<void()> on_outbox)
    : config_(&config),
      ledger_(ledger),
      engine_(&engine),
      clock_(clock),
      on_outbox_(std::move(on_outbox)),
      index_(index),
      push_decoder_(index),
      metrics_page_(kVersion) {}

HttpResponse Api::Handle(const HttpRequest& request) {
  const std::string& path = request.path;
  bool read = request.method == "GET" || request.method == "HEAD";
  for (absl::string_view action : {"ack", "resolve"}) {
    const std::string suffix = absl::StrCat("/", action);
    if (!absl::StartsWith(path, "/api/v1/incidents/") || !absl::EndsWith(path, suffix)) continue;
    if (request.method != "POST") {
      HttpResponse response =
          JsonError(405, absl::StrCat(request.method, " is not allowed on ", path));
      response.headers.push_back({"Allow", "POST"});
      return response;
    }
    absl::string_view id = absl::string_view(path).substr(sizeof("/api/v1/incidents/") - 1);
    id.remove_suffix(suffix.size());
    return ActOnIncident(request, id, action);
  }
  if (path == "/metrics" || path == "/healthz" || absl::StartsWith(path, "/api/v1/incidents")) {
    if (!read) {
      HttpResponse response =
          JsonError(405, absl::StrCat(request.method, " is not allowed on ", path));
      response.headers.push_back({"Allow", "GET, HEAD"});
      return response;
    }
  }
  if (path == "/api/v1/write" || path == "/api/v1/events") {
    if (request.method != "POST") {
      HttpResponse response =
          JsonError(405, absl::StrCat(request.method, " is not allowed on ", path));
      response.headers.push_back({"Allow", "POST"});
      return response;
    }
    return Push(request);
  }
  if (path == "/api/v1/changes") {
    if (request.method != "POST" && !read) {
      HttpResponse response =
          JsonError(405, absl::StrCat(request.method, " is not allowed on ", path));
      response.headers.push_back({"Allow", "GET, HEAD, POST"});
      return response;
    }
    return Changes(request);
  }
  if (path == "/api/v1/silences" || absl::StartsWith(path, "/api/v1/silences/")) {
    return Silences(request);
  }
  if (absl::StartsWith(path, "/api/v1/outbox/")) return Outbox(request);
  if (absl::StartsWith(path, "/api/v1/inbound/")) {
    if (request.method != "POST") return MethodNotAllowed(request, "POST");
    return Inbound(request);
  }
  if (path == "/api/v1/sla") {
    if (!read) return MethodNotAllowed(request, "GET, HEAD");
    return Sla(request);
  }
  if (path == "/-/reload") {
    if (request.method != "POST" && request.method != "PUT") {
      return MethodNotAllowed(request, "POST, PUT");
    }
    return Reload(request);
  }
  if (path == "/metrics") return Metrics();
  if (path == "/healthz") return HttpResponse::Text(200, "ok\n");
  if (path == "/api/v1/incidents") return ListIncidents(request);
  if (absl::StartsWith(path, "/api/v1/incidents/")) {
    return GetIncident(absl::string_view(path).substr(sizeof("/api/v1/incidents/") - 1));
  }
  return JsonError(404, absl::StrCat("no such endpoint: ", path));
}

std::optional<std::string> Api::BearerOwner(
    const HttpRequest& request, const std::vector<std::pair<std::string, std::string>>& tokens) {
  absl::string_view header = request.Header("authorization");
  if (!absl::ConsumePrefix(&header, "Bearer ")) return std::nullopt;
  std::optional<std::string> owner;
  for (const auto& [name, token] : tokens) {
    // Every token is compared in full whatever the outcome, so that timing
    // tells an attacker nothing about how much of a guess was right.
    if (token.size() == header.size() &&
        CRYPTO_memcmp(token.data(), header.data(), token.size()) == 0) {
      owner = name;
    }
  }
  return owner;
}

namespace {

// push_tokens carry no names; the push API only asks whether one matches.
std::vector<std::pair<std::string, std::string>> Unnamed(const std::vector<std::string>& tokens) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& token : tokens) out.emplace_back("push", token);
  return out;
}

HttpResponse Unauthorized() {
  HttpResponse response = JsonError(401, "missing or wrong bearer token");
  response.headers.push_back({"WWW-Authenticate", "Bearer"});
  return response;
}

}  // namespace

namespace {

nlohmann::json ChangeToJson(const Change& change) {
  nlohmann::json j = {{"id", change.id},
                      {"service", change.service},
                      {"at", FormatTimestamp(change.at)},
                      {"who", change.who},
                      {"what", change.what}};
  if (!change.link.empty()) j["link"] = change.link;
  return j;
}

}  // namespace

HttpResponse Api::Changes(const HttpRequest& request) {
  if (request.method != "POST") {
    const std::string service = request.QueryParam("service");
    if (service.empty())
      return JsonError(400, "name the service: /api/v1/changes?service=checkout");
    const absl::Time now = clock_.WallNow();
    absl::StatusOr<std::vector<Change>> changes =
        ledger_.Changes(service, now - absl::Hours(24 * 30), now + absl::Hours(24));
    if (!changes.ok()) return JsonError(503, changes.status().message());
    nlohmann::json list = nlohmann::json::array();
    for (const Change& change : *changes) list.push_back(ChangeToJson(change));
    return HttpResponse::Json(200, nlohmann::json{{"changes", std::move(list)}}.dump());
  }
  if (config_->server.api_tokens.empty()) {
    return JsonError(403, "reporting changes is disabled: set [server] api_tokens to allow it");
  }
  std::optional<std::string> reporter = BearerOwner(request, config_->server.api_tokens);
  if (!reporter.has_value()) return Unauthorized();
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object()) {
    return JsonError(400,
                     "expected a JSON object {\"service\", \"what\", \"who\", \"at\", \"link\"}");
  }
  for (const auto& [key, unused] : body.items()) {
    if (key != "service" && key != "what" && key != "who" && key != "at" && key != "link") {
      return JsonError(
          400, absl::StrCat(key, ": unknown field (expected service, what, who, at, link)"));
    }
  }
  auto text = [&](const char* key, bool required, std::string& out) -> std::optional<HttpResponse> {
    auto it = body.find(key);
    if (it == body.end() || (it->is_string() && it->get<std::string>().empty())) {
      if (required) return JsonError(400, absl::StrCat(key, ": missing"));
      return std::nullopt;
    }
    if (!it->is_string()) return JsonError(400, absl::StrCat(key, ": expected a string"));
    out = it->get<std::string>();
    return std::nullopt;
  };
  Change change;
  change.who = *reporter;
  for (auto [key, required, out] :
       {std::tuple{"service", true, &change.service}, std::tuple{"what", true, &change.what},
        std::tuple{"who", false, &change.who}, std::tuple{"link", false, &change.link}}) {
    if (std::optional<HttpResponse> bad = text(key, required, *out)) return *bad;
  }
  if (config_->FindService(change.service) == nullptr) {
    return JsonError(400, absl::StrCat("service: no [[service]] named \"", change.service, "\""));
  }
  change.at = clock_.WallNow();
  if (auto at = body.find("at"); at != body.end()) {
    std::string error;
    if (at->is_number()) {
      change.at = absl::FromUnixMillis(static_cast<int64_t>(at->get<double>() * 1000));
    } else if (!at->is_string() ||
               !absl::ParseTime(absl::RFC3339_full, at->get<std::string>(), &change.at, &error)) {
      return JsonError(400, "at: expected RFC 3339 text or Unix seconds");
    }
  }
  absl::StatusOr<int64_t> id = ledger_.RecordChange(change);
  if (!id.ok()) return JsonError(503, id.status().message());
  change.id = *id;
  LogLine(absl::StrCat("change to ", change.service, " by ", change.who, ": ", change.what));
  return HttpResponse::Json(201, ChangeToJson(change).dump());
}

std::variant<std::string, HttpResponse> Api::Actor(const HttpRequest& request,
                                                   absl::string_view what) {
  if (config_->server.api_tokens.empty()) {
    return JsonError(403, absl::StrCat(what, " is disabled: set [server] api_tokens to allow it"));
  }
  std::optional<std::string> actor = BearerOwner(request, config_->server.api_tokens);
  if (!actor.has_value()) return Unauthorized();
  return *actor;
}

HttpResponse Api::Silences(const HttpRequest& request) {
  const absl::Time now = clock_.WallNow();
  if (request.path != "/api/v1/silences") {
    if (request.method != "DELETE") return MethodNotAllowed(request, "DELETE");
    auto actor = Actor(request, "expiring silences");
    if (auto* refused = std::get_if<HttpResponse>(&actor)) return *refused;
    std::optional<int64_t> id =
        NumberOf(absl::string_view(request.path).substr(sizeof("/api/v1/silences/") - 1), "");
    if (!id) return JsonError(400, "bad silence id: expected a number");
    absl::Status expired = ledger_.ExpireSilence(*id, now);
    if (absl::IsNotFound(expired)) return JsonError(404, expired.message());
    if (!expired.ok()) return JsonError(503, expired.message());
    LogLine(absl::StrCat("silence ", *id, " expired by ", std::get<std::string>(actor)));
    return HttpResponse::Json(200, nlohmann::json{{"expired", *id}}.dump());
  }
  if (request.method == "GET" || request.method == "HEAD") {
    absl::StatusOr<std::vector<Silence>> silences = ledger_.Silences(now);
    if (!silences.ok()) return JsonError(503, silences.status().message());
    nlohmann::json list = nlohmann::json::array();
    for (const Silence& silence : *silences) list.push_back(SilenceToJson(silence, now));
    return HttpResponse::Json(200, nlohmann::json{{"silences", std::move(list)}}.dump());
  }
  if (request.method != "POST") return MethodNotAllowed(request, "GET, HEAD, POST");
  auto actor = Actor(request, "creating silences");
  if (auto* refused = std::get_if<HttpResponse>(&actor)) return *refused;
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object()) {
    return JsonError(400,
                     "expected a JSON object {\"matchers\", \"startsAt\", \"endsAt\", "
                     "\"createdBy\", \"comment\"} as Alertmanager takes");
  }
  for (const auto& [key, unused] : body.items()) {
    if (key != "matchers" && key != "startsAt" && key != "endsAt" && key != "createdBy" &&
        key != "comment" && key != "id") {
      return JsonError(400, absl::StrCat(key, ": unknown field (expected matchers, startsAt, "
                                              "endsAt, createdBy, comment)"));
    }
  }
  Silence silence;
  silence.created_by = std::get<std::string>(actor);
  silence.created_at = now;
  auto matchers = body.find("matchers");
  if (matchers == body.end() || !matchers->is_array() || matchers->empty()) {
    return JsonError(400, "matchers: expected a non-empty array of {name, value, isRegex, isEqual}");
  }
  for (size_t i = 0; i < matchers->size(); ++i) {
    const nlohmann::json& m = (*matchers)[i];
    std::string where = absl::StrCat("matchers[", i, "]");
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() || !m.contains("value") ||
        !m["value"].is_string()) {
      return JsonError(400, absl::StrCat(where, ": expected {\"name\": \"...\", \"value\": \"...\"}"));
    }
    for (const char* flag : {"isRegex", "isEqual"}) {
      if (m.contains(flag) && !m[flag].is_boolean()) {
        return JsonError(400, absl::StrCat(where, ".", flag, ": expected true or false"));
      }
    }
    SilenceMatcher matcher{m["name"].get<std::string>(), m["value"].get<std::string>(),
                           m.value("isRegex", false), m.value("isEqual", true)};
    if (!IsLabelName(matcher.name)) {
      return JsonError(400, absl::StrCat(where, ".name: invalid label name \"", matcher.name, "\""));
    }
    LabelMatcher::Op op = matcher.is_regex ? LabelMatcher::Op::kRegexMatch : LabelMatcher::Op::kEqual;
    if (absl::StatusOr<LabelMatcher> compiled = LabelMatcher::Create(matcher.name, op, matcher.value);
        !compiled.ok()) {
      return JsonError(400, absl::StrCat(where, ".value: ", compiled.status().message()));
    }
    silence.matchers.push_back(std::move(matcher));
  }
  silence.starts_at = now;
  if (auto it = body.find("startsAt"); it != body.end()) {
    absl::StatusOr<absl::Time> at = TimeField(*it, "startsAt");
    if (!at.ok()) return JsonError(400, at.status().message());
    silence.starts_at = *at;
  }
  auto ends = body.find("endsAt");
  if (ends == body.end()) return JsonError(400, "endsAt: missing: a silence must end");
  absl::StatusOr<absl::Time> ends_at = TimeField(*ends, "endsAt");
  if (!ends_at.ok()) return JsonError(400, ends_at.status().message());
  silence.ends_at = *ends_at;
  if (silence.ends_at <= silence.starts_at || silence.ends_at <= now) {
    return JsonError(400, "endsAt: must be after startsAt and in the future");
  }
  for (auto [key, out] : {std::pair{"createdBy", &silence.created_by},
                          std::pair{"comment", &silence.comment}}) {
    if (auto it = body.find(key); it != body.end()) {
      if (!it->is_string()) return JsonError(400, absl::StrCat(key, ": expected a string"));
      if (!it->get<std::string>().empty()) *out = it->get<std::string>();
    }
  }
  absl::StatusOr<int64_t> id = ledger_.CreateSilence(silence);
  if (!id.ok()) return JsonError(503, id.status().message());
  silence.id = *id;
  LogLine(absl::StrCat("silence ", *id, " created by ", silence.created_by, " until ",
                       FormatTimestamp(silence.ends_at),
                       silence.comment.empty() ? "" : absl::StrCat(": ", silence.comment)));
  nlohmann::json answer = SilenceToJson(silence, now);
  answer["silenceID"] = *id;
  return HttpResponse::Json(201, answer.dump());
}

HttpResponse Api::Outbox(const HttpRequest& request) {
  if (request.path == "/api/v1/outbox/dead") {
    if (request.method != "GET" && request.method != "HEAD") {
      return MethodNotAllowed(request, "GET, HEAD");
    }
    absl::StatusOr<std::vector<DeadLetter>> dead = ledger_.DeadLetters();
    if (!dead.ok()) return JsonError(503, dead.status().message());
    nlohmann::json list = nlohmann::json::array();
    for (const DeadLetter& row : *dead) {
      list.push_back({{"id", row.id},
                      {"sink", row.sink},
                      {"incident", row.incident_id},
                      {"event", row.event},
                      {"attempts", row.attempts},
                      {"created_at", FormatTimestamp(row.created_at)},
                      {"dead_at", FormatTimestamp(row.dead_at)},
                      {"last_error", row.last_error}});
    }
    return HttpResponse::Json(200, nlohmann::json{{"dead_letters", std::move(list)}}.dump());
  }
  absl::string_view rest = absl::string_view(request.path).substr(sizeof("/api/v1/outbox/") - 1);
  if (!absl::ConsumeSuffix(&rest, "/retry")) {
    return JsonError(404, absl::StrCat("no such endpoint: ", request.path));
  }
  if (request.method != "POST") return MethodNotAllowed(request, "POST");
  auto actor = Actor(request, "retrying deliveries");
  if (auto* refused = std::get_if<HttpResponse>(&actor)) return *refused;
  std::optional<int64_t> id = NumberOf(rest, "");
  if (!id) return JsonError(400, "bad outbox row id: expected a number");
  absl::Status retried = ledger_.RetryDeadLetter(*id, clock_.WallNow());
  if (absl::IsNotFound(retried)) return JsonError(404, retried.message());
  if (!retried.ok()) return JsonError(503, retried.message());
  LogLine(absl::StrCat("outbox row ", *id, " put back in line by ", std::get<std::string>(actor)));
  if (on_outbox_) on_outbox_();
  return HttpResponse::Json(200, nlohmann::json{{"retrying", *id}}.dump());
}

HttpResponse Api::Sla(const HttpRequest& request) {
  const absl::Time now = clock_.WallNow();
  std::string service = request.QueryParam("service");
  std::string format = request.QueryParam("format");
  if (format.empty()) format = "json";
  if (format != "json" && format != "csv" && format != "table") {
    return JsonError(400, absl::StrCat("unknown format \"", format, "\": expected json, csv or table"));
  }
  std::optional<absl::CivilMonth> month;
  if (std::string text = request.QueryParam("month"); !text.empty()) {
    absl::StatusOr<absl::CivilMonth> parsed = ParseMonth(text);
    if (!parsed.ok()) return JsonError(400, absl::StrCat("month: ", parsed.status().message()));
    month = *parsed;
  }
  if (!month) {
    // This month, in the first reported service's zone.
    const ServiceConfig* zone_of = service.empty() ? nullptr : config_->FindService(service);
    for (const ServiceConfig& s : config_->services) {
      if (zone_of == nullptr && s.sla.availability) zone_of = &s;
    }
    month = zone_of != nullptr ? CurrentMonth(*zone_of, now)
                               : absl::CivilMonth(absl::ToCivilSecond(now, absl::UTCTimeZone()));
  }
  absl::StatusOr<std::vector<AvailabilityReport>> reports =
      ReportAvailability(*config_, ledger_, service, *month, now);
  if (absl::IsNotFound(reports.status())) return JsonError(404, reports.status().message());
  if (absl::IsFailedPrecondition(reports.status())) return JsonError(400, reports.status().message());
  if (!reports.ok()) return JsonError(503, reports.status().message());
  if (format == "csv") {
    HttpResponse response = HttpResponse::Text(200, FormatAvailabilityCsv(*reports));
    response.content_type = "text/csv; charset=utf-8";
    return response;
  }
  if (format == "table") return HttpResponse::Text(200, FormatAvailabilityTable(*reports));
  nlohmann::json list = nlohmann::json::array();
  for (const AvailabilityReport& report : *reports) list.push_back(AvailabilityToJson(report));
  return HttpResponse::Json(200, nlohmann::json{{"services", std::move(list)}}.dump());
}

namespace {

// What an inbound webhook says: which ticket, who, and whether a person took it.
struct TicketEvent {
  std::string ref;
  std::string who;
  bool taken = false;
  std::string what;  // for the timeline
};

// GitHub "issues" events: assignment takes the ticket.
std::optional<TicketEvent> FromGitHub(const nlohmann::json& body) {
  if (!body.contains("issue") || !body["issue"].contains("number")) return std::nullopt;
  TicketEvent event;
  event.ref = absl::StrCat(body["issue"]["number"].get<int64_t>());
  event.who = body.value("/sender/login"_json_pointer, std::string("github"));
  std::string action = body.value("action", "");
  event.taken = action == "assigned";
  event.what = absl::StrCat("GitHub issue #", event.ref, " ", action);
  return event;
}

// Jira "jira:issue_updated": a status change or an assignee takes the ticket.
std::optional<TicketEvent> FromJira(const nlohmann::json& body) {
  if (!body.contains("issue") || !body["issue"].contains("key")) return std::nullopt;
  TicketEvent event;
  event.ref = body["issue"]["key"].get<std::string>();
  event.who = body.value("/user/displayName"_json_pointer, std::string("jira"));
  if (auto items = body.find("changelog"); items != body.end() && items->contains("items")) {
    for (const nlohmann::json& item : (*items)["items"]) {
      std::string field = item.value("field", "");
      if (field == "status" || field == "assignee") {
        event.taken = true;
        event.what = absl::StrCat("Jira ", event.ref, " ", field, " set to ",
                                  item.value("toString", std::string("?")));
      }
    }
  }
  if (event.what.empty()) event.what = absl::StrCat("Jira ", event.ref, " updated");
  return event;
}

// Redmine has no webhooks of its own; this is the redmine_webhook plugin's
// payload: a status other than New, or an assignee, takes the ticket.
std::optional<TicketEvent> FromRedmine(const nlohmann::json& body) {
  const nlohmann::json& payload = body.contains("payload") ? body["payload"] : body;
  if (!payload.contains("issue") || !payload["issue"].contains("id")) return std::nullopt;
  const nlohmann::json& issue = payload["issue"];
  TicketEvent event;
  event.ref = absl::StrCat(issue["id"].get<int64_t>());
  event.who = payload.value("/journal/author/login"_json_pointer, std::string("redmine"));
  std::string status = issue.value("/status/name"_json_pointer, std::string());
  bool assigned = issue.contains("assignee") && !issue["assignee"].is_null();
  event.taken = (!status.empty() && status != "New") || assigned;
  event.what = absl::StrCat("Redmine #", event.ref, " ", status.empty() ? "updated" : status,
                            assigned ? " (assigned)" : "");
  return event;
}

}  // namespace

HttpResponse Api::Inbound(const HttpRequest& request) {
  // Ticketing systems cannot always send headers: the token may come as ?token=.
  if (config_->server.api_tokens.empty()) {
    return JsonError(403, "inbound webhooks are disabled: set [server] api_tokens to allow them");
  }
  std::optional<std::string> actor = BearerOwner(request, config_->server.api_tokens);
  if (!actor) {
    HttpRequest with_header = request;
    std::erase_if(with_header.headers, [](const auto& h) { return h.first == "authorization"; });
    with_header.headers.push_back({"authorization", absl::StrCat("Bearer ", request.QueryParam("token"))});
    actor = BearerOwner(with_header, config_->server.api_tokens);
  }
  if (!actor) return Unauthorized();
  std::string sink_name(absl::string_view(request.path).substr(sizeof("/api/v1/inbound/") - 1));
  auto sink = std::find_if(config_->sinks.begin(), config_->sinks.end(),
                           [&](const SinkOptions& s) { return s.name == sink_name; });
  if (sink == config_->sinks.end()) {
    return JsonError(404, absl::StrCat("no [[sink]] named "", sink_name, """));
  }
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object()) return JsonError(400, "expected the ticketing system's JSON webhook body");
  std::optional<TicketEvent> event;
  if (sink->type == "github") {
    event = FromGitHub(body);
  } else if (sink->type == "jira") {
    event = FromJira(body);
  } else if (sink->type == "redmine") {
    event = FromRedmine(body);
  } else {
    return JsonError(400, absl::StrCat("sink "", sink_name, "" is a ", sink->type,
                                       " sink: inbound webhooks come from jira, github and redmine"));
  }
  if (!event) return JsonError(400, absl::StrCat("not a ", sink->type, " issue event: no issue id"));
  absl::StatusOr<std::optional<int64_t>> number = ledger_.FindByTicket(sink_name, event->ref);
  if (!number.ok()) return JsonError(503, number.status().message());
  if (!number->has_value()) {
    // Not an error for the sender: most tickets in a project are not klaxon's.
    return HttpResponse::Json(200, nlohmann::json{{"incident", nullptr}, {"acknowledged", false}}.dump());
  }
  bool acknowledged = false;
  if (event->taken) {
    absl::StatusOr<Incident> done = ledger_.AcknowledgeIncident(
        **number, clock_.WallNow(), event->who, absl::StrCat("via ", event->what));
    acknowledged = done.ok();
    if (done.ok()) {
      LogLine(absl::StrCat(done->id(), " acknowledged by ", event->who, " via ", event->what));
      if (on_outbox_) on_outbox_();
    } else if (!absl::IsFailedPrecondition(done.status())) {
      return JsonError(503, done.status().message());
    }
  }
  return HttpResponse::Json(
      200, nlohmann::json{{"incident", IncidentId(**number)}, {"acknowledged", acknowledged}}.dump());
}

HttpResponse Api::Reload(const HttpRequest& request) {
  auto actor = Actor(request, "reloading");
  if (auto* refused = std::get_if<HttpResponse>(&actor)) return *refused;
  if (!reload_) return JsonError(503, "reloading is not available here");
  absl::Status status = reload_();
  if (!status.ok()) return JsonError(400, status.message());
  return HttpResponse::Json(200, nlohmann::json{{"reloaded", true}}.dump());
}

HttpResponse Api::ActOnIncident(const HttpRequest& request, absl::string_view id,
                                absl::string_view action) {
  if (config_->server.api_tokens.empty()) {
    return JsonError(403, "acting on incidents is disabled: set [server] api_tokens to allow it");
  }
  std::optional<std::string> actor = BearerOwner(request, config_->server.api_tokens);
  if (!actor.has_value()) return Unauthorized();
  absl::string_view digits = id;
  if (absl::StartsWith(digits, "INC-")) digits.remove_prefix(4);
  int64_t number = 0;
  if (!absl::SimpleAtoi(digits, &number) || number <= 0) {
    return JsonError(400, absl::StrCat("bad incident id \"", id, "\": expected INC-000123"));
  }
  std::string comment;
  if (!request.body.empty()) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object())
      return JsonError(400, "body must be a JSON object such as {\"comment\": \"...\"}");
    if (auto it = body.find("comment"); it != body.end()) {
      if (!it->is_string()) return JsonError(400, "comment must be a string");
      comment = it->get<std::string>();
    }
  }
  absl::StatusOr<Incident> done = absl::UnavailableError("the engine did not answer in time");
  if (action == "ack") {
    done = ledger_.AcknowledgeIncident(number, clock_.WallNow(), *actor, comment);
    if (done.ok()) {
      LogLine(absl::StrCat(done->id(), " acknowledged by ", *actor,
                           comment.empty() ? "" : absl::StrCat(": ", comment)));
      if (on_outbox_) on_outbox_();
    }
  } else {
    // Through the engine, which owns the link between alerts and incidents.
    std::future<absl::StatusOr<Incident>> resolved =
        engine_->RequestResolve(number, *actor, comment);
    if (resolved.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
      done = resolved.get();
    }
  }
  if (absl::IsNotFound(done.status())) return JsonError(404, done.status().message());
  if (absl::IsFailedPrecondition(done.status())) return JsonError(409, done.status().message());
  if (!done.ok()) return JsonError(503, done.status().message());
  absl::StatusOr<Incident> now = ledger_.GetIncident(number);
  if (!now.ok()) return JsonError(503, now.status().message());
  return HttpResponse::Json(200, IncidentToJson(*now).dump());
}

HttpResponse Api::Push(const HttpRequest& request) {
  if (config_->server.push_tokens.empty()) {
    return JsonError(403, "pushing is disabled: set [server] push_tokens to accept pushed samples");
  }
  if (!BearerOwner(request, Unnamed(config_->server.push_tokens)).has_value()) {
    return Unauthorized();
  }
  const int64_t now_ms = absl::ToUnixMillis(clock_.WallNow());
  absl::StatusOr<SampleBatch> batch =
      request.path == "/api/v1/write"
          ? push_decoder_.DecodeText(
                request.body, ExpositionFormatFromContentType(request.Header("content-type")),
                now_ms)
          : push_decoder_.DecodeEvents(request.body, now_ms);
  if (!batch.ok()) return JsonError(400, batch.status().message());
  const size_t accepted = batch->samples.size();
  engine_->Ingest(*std::move(batch));
  return HttpResponse::Json(200, nlohmann::json{{"accepted", accepted}}.dump());
}

HttpResponse Api::Metrics() {
  absl::StatusOr<LedgerStats> stats = ledger_.Stats();
  if (!stats.ok()) return HttpResponse::Text(503, std::string(stats.status().message()));
  std::set<std::pair<std::string, std::string>> keys;
  for (const RuleConfig& rule : config_->rules) keys.insert({rule.service, rule.severity});
  std::vector<IncidentKey> incident_keys;
  for (const auto& [service, severity] : keys) incident_keys.push_back({service, severity});
  std::vector<std::string> sinks;
  for (const SinkOptions& sink : config_->sinks) sinks.push_back(sink.name);
  std::vector<SourceSeriesValue> series;
  for (const SeriesValue& v : engine_->SeriesSnapshot()) {
    series.push_back({&index_.Get(v.series), v.value});
  }
  EngineFacts facts{engine_->samples_ingested(), index_.size(), engine_->tick_duration(),
                    engine_->tick_lateness(), engine_->for_lateness()};
  std::vector<ServiceAvailabilityValue> availability;
  const absl::Time now = clock_.WallNow();
  for (const ServiceConfig& service : config_->services) {
    if (!service.sla.availability) continue;
    absl::StatusOr<std::vector<AvailabilityReport>> report =
        ReportAvailability(*config_, ledger_, service.name, CurrentMonth(service, now), now);
    if (!report.ok() || report->empty()) continue;
    availability.push_back(
        {service.name, report->front().availability, report->front().error_budget_remaining});
  }
  HttpResponse response = HttpResponse::Text(
      200, metrics_page_.Render(*stats, incident_keys, sinks, series, facts, availability));
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
