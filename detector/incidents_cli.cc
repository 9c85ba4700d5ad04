#include "detector/incidents_cli.h"

#include <curl/curl.h>

#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector/incident.h"
#include "detector/ledger.h"
#include "exporters/postmortem.h"
#include "nlohmann/json.hpp"

namespace klaxon {
namespace {

struct Reply {
  long status = 0;  // 0: no answer
  std::string body;
  std::string error;
};

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

Reply Call(const std::string& method, const std::string& url, const std::string& token,
           const std::string& body) {
  Reply reply;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    reply.error = "could not create a curl handle";
    return reply;
  }
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string authorization = absl::StrCat("Authorization: Bearer ", token);
  if (!token.empty()) headers = curl_slist_append(headers, authorization.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  } else {
    reply.error = error[0] != '\0' ? error : curl_easy_strerror(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

std::string Text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

void PrintIncident(const nlohmann::json& incident, std::FILE* out) {
  std::fprintf(out, "%s  %s  %s  %s  %s\n", Text(incident, "id").c_str(),
               Text(incident, "state").c_str(), Text(incident, "severity").c_str(),
               Text(incident, "service").c_str(), Text(incident, "summary").c_str());
}

// "INC-000123" (or "123") -> 123.
std::optional<int64_t> IncidentNumber(absl::string_view id) {
  if (id.size() > 4 && absl::StartsWithIgnoreCase(id, "INC-")) id.remove_prefix(4);
  int64_t number = 0;
  if (!absl::SimpleAtoi(id, &number) || number <= 0) return std::nullopt;
  return number;
}

std::optional<absl::Time> TimeAt(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, it->get<std::string>(), &t, &error)) return std::nullopt;
  return t;
}

std::string TextAt(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// The incident with its timeline, clocks and tickets, which the document
// needs and IncidentFromJson (made for the outbox's snapshots) may leave out.
absl::StatusOr<Incident> IncidentWithHistory(const nlohmann::json& json) {
  absl::StatusOr<Incident> incident = IncidentFromJson(json);
  if (!incident.ok()) return incident;
  if (auto timeline = json.find("timeline");
      incident->timeline.empty() && timeline != json.end() && timeline->is_array()) {
    for (const nlohmann::json& entry : *timeline) {
      if (!entry.is_object()) continue;
      std::optional<absl::Time> at = TimeAt(entry, "at");
      if (!at) continue;
      incident->timeline.push_back({*at, TextAt(entry, "kind"), TextAt(entry, "text")});
    }
  }
  if (auto clocks = json.find("sla_clocks");
      incident->clocks.empty() && clocks != json.end() && clocks->is_array()) {
    for (const nlohmann::json& entry : *clocks) {
      if (!entry.is_object()) continue;
      std::optional<absl::Time> start = TimeAt(entry, "start");
      std::optional<absl::Time> deadline = TimeAt(entry, "deadline");
      if (!start || !deadline) continue;
      SlaClock clock{TextAt(entry, "clock"), *start, *deadline, ClockState::kRunning,
                     TimeAt(entry, "stopped_at")};
      std::string state = TextAt(entry, "state");
      if (state == "met") clock.state = ClockState::kMet;
      if (state == "breached") clock.state = ClockState::kBreached;
      incident->clocks.push_back(std::move(clock));
    }
  }
  if (auto tickets = json.find("tickets");
      incident->tickets.empty() && tickets != json.end() && tickets->is_array()) {
    for (const nlohmann::json& entry : *tickets) {
      if (entry.is_object())
        incident->tickets.push_back({TextAt(entry, "sink"), TextAt(entry, "ref")});
    }
  }
  return incident;
}

// Exit status as RunPostmortemCommand's.
int IncidentFromLedger(const std::string& data_dir, int64_t number, std::FILE* err,
                       Incident& incident) {
  std::filesystem::path path = data_dir;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) path /= "klaxon.db";
  // Opening would create an empty ledger where a mistyped path points.
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::fprintf(err, "klaxon postmortem: no ledger at %s (--state takes [server] data_dir)\n",
                 path.string().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(path.string());
  if (!ledger.ok()) {
    std::fprintf(err, "klaxon postmortem: %s: %s\n", path.string().c_str(),
                 std::string(ledger.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<Incident> found = (*ledger)->GetIncident(number);
  if (!found.ok()) {
    if (found.status().code() == absl::StatusCode::kNotFound) {
      std::fprintf(err, "klaxon postmortem: no incident %s in %s\n", IncidentId(number).c_str(),
                   path.string().c_str());
    } else {
      std::fprintf(err, "klaxon postmortem: %s\n", std::string(found.status().message()).c_str());
    }
    return 1;
  }
  incident = *std::move(found);
  return 0;
}

int IncidentFromServer(const IncidentsCliOptions& options, int64_t number, std::FILE* err,
                       Incident& incident) {
  std::string base = options.server;
  if (!absl::StartsWith(base, "http://") && !absl::StartsWith(base, "https://")) {
    base = absl::StrCat("http://", base);
  }
  while (!base.empty() && base.back() == '/') base.pop_back();
  Reply reply =
      Call("GET", absl::StrCat(base, "/api/v1/incidents/", IncidentId(number)), options.token, "");
  if (reply.status == 0) {
    std::fprintf(err, "klaxon postmortem: no answer from %s: %s\n", options.server.c_str(),
                 reply.error.c_str());
    return 1;
  }
  nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, false);
  if (reply.status < 200 || reply.status > 299) {
    std::string why = body.is_object() && body.contains("error") ? Text(body, "error") : reply.body;
    std::fprintf(err, "klaxon postmortem: %ld: %s\n", reply.status, why.c_str());
    return 1;
  }
  absl::StatusOr<Incident> parsed =
      body.is_object() ? IncidentWithHistory(body)
                       : absl::InvalidArgumentError("the answer is not a JSON object");
  if (!parsed.ok()) {
    std::fprintf(err, "klaxon postmortem: %s\n", std::string(parsed.status().message()).c_str());
    return 1;
  }
  incident = *std::move(parsed);
  return 0;
}

}  // namespace

int RunPostmortemCommand(const std::vector<std::string>& words, const IncidentsCliOptions& options,
                         std::FILE* out, std::FILE* err) {
  std::optional<int64_t> number = words.size() == 1 ? IncidentNumber(words[0]) : std::nullopt;
  if (!number) {
    std::fprintf(err,
                 "usage: klaxon postmortem INC-000123 [--server HOST:PORT | --state DATA_DIR]\n");
    return 2;
  }
  Incident incident;
  int status = options.data_dir.empty()
                   ? IncidentFromServer(options, *number, err, incident)
                   : IncidentFromLedger(options.data_dir, *number, err, incident);
  if (status != 0) return status;
  std::fputs(RenderPostmortem(incident).c_str(), out);
  return 0;
}

int RunSlaCommand(const std::vector<std::string>& words, const IncidentsCliOptions& options,
                  std::FILE* out, std::FILE* err) {
  const std::string format = options.format.empty() ? "table" : options.format;
  if (words.size() != 1 || words[0] != "report" ||
      (format != "table" && format != "json" && format != "csv")) {
    std::fprintf(err,
                 "usage: klaxon sla report [--service S] [--month 2026-11] "
                 "[--format table|json|csv] [--server HOST:PORT]\n");
    return 2;
  }
  std::string base = options.server;
  if (!absl::StartsWith(base, "http://") && !absl::StartsWith(base, "https://")) {
    base = absl::StrCat("http://", base);
  }
  std::string url = absl::StrCat(base, "/api/v1/sla?format=", format);
  if (!options.service.empty()) absl::StrAppend(&url, "&service=", options.service);
  if (!options.month.empty()) absl::StrAppend(&url, "&month=", options.month);
  Reply reply = Call("GET", url, "", "");
  if (reply.status == 0) {
    std::fprintf(err, "klaxon sla report: no answer from %s: %s\n", options.server.c_str(),
                 reply.error.c_str());
    return 1;
  }
  if (reply.status < 200 || reply.status > 299) {
    nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, false);
    std::string why = body.is_object() && body.contains("error") ? Text(body, "error") : reply.body;
    std::fprintf(err, "klaxon sla report: %ld: %s\n", reply.status, why.c_str());
    return 1;
  }
  if (format == "json") {
    std::fputs(nlohmann::json::parse(reply.body, nullptr, false).dump(2).c_str(), out);
    std::fputs("\n", out);
  } else {
    std::fputs(reply.body.c_str(), out);
  }
  return 0;
}

int RunIncidentsCommand(const std::vector<std::string>& words, const IncidentsCliOptions& options,
                        std::FILE* out, std::FILE* err) {
  const std::string verb = words.empty() ? "" : words[0];
  const bool needs_id = verb == "show" || verb == "ack" || verb == "resolve";
  if ((verb != "list" && !needs_id) || (needs_id && words.size() != 2) ||
      (verb == "list" && words.size() != 1)) {
    std::fprintf(err,
                 "usage: klaxon incidents list [--state S] | show ID | ack ID [--comment C] | "
                 "resolve ID [--comment C]   [--server HOST:PORT]\n");
    return 2;
  }
  const std::string base = absl::StrCat("http://", options.server, "/api/v1/incidents");
  Reply reply;
  if (verb == "list") {
    reply = Call("GET", options.state.empty() ? base : absl::StrCat(base, "?state=", options.state),
                 "", "");
  } else if (verb == "show") {
    reply = Call("GET", absl::StrCat(base, "/", words[1]), "", "");
  } else {
    if (options.token.empty()) {
      std::fprintf(err, "klaxon incidents %s: set KLAXON_TOKEN to one of [server] api_tokens\n",
                   verb.c_str());
      return 2;
    }
    reply = Call("POST", absl::StrCat(base, "/", words[1], "/", verb), options.token,
                 nlohmann::json{{"comment", options.comment}}.dump());
  }
  if (reply.status == 0) {
    std::fprintf(err, "klaxon incidents: no answer from %s: %s\n", options.server.c_str(),
                 reply.error.c_str());
    return 1;
  }
  nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, false);
  if (reply.status < 200 || reply.status > 299) {
    std::string why = body.is_object() && body.contains("error") ? Text(body, "error") : reply.body;
    std::fprintf(err, "klaxon incidents %s: %ld: %s\n", verb.c_str(), reply.status, why.c_str());
    return 1;
  }
  if (!body.is_object()) {
    std::fprintf(err, "klaxon incidents: the answer is not JSON\n");
    return 1;
  }
  if (verb == "list") {
    for (const nlohmann::json& incident : body["incidents"]) PrintIncident(incident, out);
    return 0;
  }
  PrintIncident(body, out);
  if (verb == "show") {
    for (const nlohmann::json& entry : body["timeline"]) {
      std::fprintf(out, "  %s  %-18s %s\n", Text(entry, "at").c_str(), Text(entry, "kind").c_str(),
                   Text(entry, "text").c_str());
    }
    for (const nlohmann::json& clock : body["sla_clocks"]) {
      std::fprintf(out, "  clock %s: %s (deadline %s)\n", Text(clock, "clock").c_str(),
                   Text(clock, "state").c_str(), Text(clock, "deadline").c_str());
    }
  }
  return 0;
}

}  // namespace klaxon
