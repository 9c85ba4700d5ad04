#include "detector/incidents_cli.h"

#include <curl/curl.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

}  // namespace

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
