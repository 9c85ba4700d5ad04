#include "exporters/internal/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace klaxon::internal {

namespace {

constexpr size_t kMaxReplyBytes = 1 << 20;
// How much of an answer's body an error message quotes.
constexpr size_t kQuotedBodyBytes = 300;

size_t Append(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t bytes = size * count;
  if (body->size() < kMaxReplyBytes) {
    body->append(data, std::min(bytes, kMaxReplyBytes - body->size()));
  }
  return bytes;
}

// The start of a body on one line, for an error message.
std::string Quote(absl::string_view body) {
  std::string out(body.substr(0, kQuotedBodyBytes));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (body.size() > kQuotedBodyBytes) out += "...";
  return out;
}

}  // namespace

absl::StatusOr<HttpReply> Perform(const HttpCall& call) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
  struct curl_slist* raw_headers = nullptr;
  for (const auto& [name, value] : call.headers) {
    raw_headers = curl_slist_append(raw_headers, absl::StrCat(name, ": ", value).c_str());
  }
  // Without this curl sends "Expect: 100-continue" and waits on larger bodies.
  raw_headers = curl_slist_append(raw_headers, "Expect:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(raw_headers,
                                                                      curl_slist_free_all);
  HttpReply reply;
  char error[CURL_ERROR_SIZE] = {0};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  if (call.method != "GET") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                   std::max<long>(1, static_cast<long>(absl::ToInt64Milliseconds(call.timeout))));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "klaxon");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(call.method, " ", call.url, ": ", error[0] ? error : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

std::string DumpJson(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string UrlEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string BasicAuthorization(absl::string_view user, absl::string_view password) {
  return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(user, ":", password)));
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.size() < 4) continue;
    absl::StrReplaceAll({{secret, "[redacted]"}}, &text);
  }
  return text;
}

std::vector<std::string> SecretsOf(const SinkOptions& options) {
  std::vector<std::string> secrets = {options.secret, options.api_key, options.routing_key};
  if (!options.api_key.empty()) {
    secrets.push_back(absl::Base64Escape(absl::StrCat(options.user, ":", options.api_key)));
  }
  for (const auto& [name, value] : options.headers) {
    secrets.push_back(value);
    size_t space = value.find_last_of(' ');
    if (space != std::string::npos) secrets.push_back(value.substr(space + 1));
  }
  return secrets;
}

absl::Status ReplyError(absl::string_view method, absl::string_view url, const HttpReply& reply,
                        const std::vector<std::string>& secrets) {
  std::string message = Redact(
      absl::StrCat(method, " ", url, ": HTTP ", reply.status, ": ", Quote(reply.body)), secrets);
  long s = reply.status;
  if (s == 408 || s == 425 || s == 429 || (s >= 500 && s <= 599)) {
    return absl::UnavailableError(message);
  }
  if (s == 401 || s == 403) return absl::PermissionDeniedError(message);
  if (s == 404 || s == 410) return absl::NotFoundError(message);
  if (s >= 400 && s <= 499) return absl::InvalidArgumentError(message);
  return absl::FailedPreconditionError(message);
}

JsonApi::JsonApi(std::string base_url, HttpHeaders headers, absl::Duration timeout,
                 std::vector<std::string> secrets)
    : base_url_(std::move(base_url)),
      headers_(std::move(headers)),
      timeout_(timeout),
      deadline_(std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout)),
      secrets_(std::move(secrets)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

std::string JsonApi::Url(absl::string_view path) const { return absl::StrCat(base_url_, path); }

absl::StatusOr<HttpReply> JsonApi::Send(absl::string_view method, absl::string_view path,
                                        const nlohmann::json& body) {
  HttpCall call;
  call.method = std::string(method);
  call.url = Url(path);
  call.headers = headers_;
  if (!body.is_null()) {
    call.body = DumpJson(body);
    call.headers.push_back({"Content-Type", "application/json"});
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline_ - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    return Fail(absl::StatusCode::kUnavailable,
                absl::StrCat(method, " ", call.url, ": not sent, the delivery's ",
                             absl::FormatDuration(timeout_), " timeout has passed"));
  }
  call.timeout = absl::FromChrono(left);
  absl::StatusOr<HttpReply> reply = Perform(call);
  if (!reply.ok()) return Fail(reply.status().code(), reply.status().message());
  return reply;
}

absl::StatusOr<nlohmann::json> JsonApi::Call(absl::string_view method, absl::string_view path,
                                             const nlohmann::json& body) {
  absl::StatusOr<HttpReply> reply = Send(method, path, body);
  if (!reply.ok()) return reply.status();
  if (reply->status < 200 || reply->status > 299) return Error(method, path, *reply);
  if (reply->body.empty()) return nlohmann::json();
  nlohmann::json parsed = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? nlohmann::json() : parsed;
}

absl::Status JsonApi::Error(absl::string_view method, absl::string_view path,
                            const HttpReply& reply) const {
  return ReplyError(method, Url(path), reply, secrets_);
}

absl::Status JsonApi::Fail(absl::StatusCode code, absl::string_view message) const {
  return absl::Status(code, Redact(std::string(message), secrets_));
}

const nlohmann::json* JsonAt(const nlohmann::json& root, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &root;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

std::string JsonText(const nlohmann::json& root, std::initializer_list<const char*> path) {
  const nlohmann::json* at = JsonAt(root, path);
  if (at == nullptr) return "";
  if (at->is_string()) return at->get<std::string>();
  if (at->is_number_integer()) return at->dump();
  return "";
}

std::string TicketTitle(const Incident& incident) {
  return absl::StrCat("[", incident.id(), "] ",
                      incident.summary.empty() ? incident.rule : incident.summary);
}

std::string TicketDescription(const Incident& incident) {
  std::string text =
      absl::StrCat("klaxon opened ", incident.id(), ": ",
                   incident.summary.empty() ? incident.rule : incident.summary, "\n\n");
  absl::StrAppend(&text, "Service: ", incident.service, "\n");
  absl::StrAppend(&text, "Severity: ", incident.severity, "\n");
  absl::StrAppend(&text, "Rule: ", incident.rule, "\n");
  absl::StrAppend(&text, "First evidence: ", FormatTimestamp(incident.first_evidence), "\n");
  absl::StrAppend(&text, "Opened: ", FormatTimestamp(incident.opened_at), "\n");
  absl::StrAppend(&text, "Value: ", incident.value, "\n");
  if (!incident.reason.empty()) absl::StrAppend(&text, "Reason: ", incident.reason, "\n");
  // Without braces: Jira's wiki markup reads {name...} as a macro.
  std::vector<std::string> labels;
  for (LabelRef label : incident.labels.items()) {
    labels.push_back(absl::StrCat(label.name, "=\"", label.value, "\""));
  }
  absl::StrAppend(&text, "Labels: ", absl::StrJoin(labels, ", "), "\n");
  if (!incident.timeline.empty()) {
    absl::StrAppend(&text, "\nTimeline:\n");
    for (const TimelineEntry& entry : incident.timeline) {
      absl::StrAppend(&text, FormatTimestamp(entry.at), " ", entry.text, "\n");
    }
  }
  return text;
}

namespace {

std::string Since(absl::Time from, absl::Time to) {
  return absl::FormatDuration(absl::Floor(to - from, absl::Seconds(1)));
}

}  // namespace

std::string TicketNote(const OutboxRow& row) {
  const Incident& incident = row.incident;
  const std::string at = FormatTimestamp(row.created_at);
  std::string note;
  if (row.event == "resolved") {
    absl::Time resolved = incident.resolved_at.value_or(row.created_at);
    note = absl::StrCat("klaxon resolved ", incident.id(), " at ", FormatTimestamp(resolved));
    if (resolved > incident.first_evidence) {
      absl::StrAppend(&note, ", ", Since(incident.first_evidence, resolved),
                      " after first evidence");
    }
    note += ".";
  } else if (row.event == "reopened") {
    note = absl::StrCat("klaxon reopened ", incident.id(), " at ", at, ": the condition came back");
    // The ledger clears the resolution when it reopens; a snapshot that still
    // has it tells how soon the condition came back.
    if (incident.resolved_at && row.created_at > *incident.resolved_at) {
      absl::StrAppend(&note, " ", Since(*incident.resolved_at, row.created_at),
                      " after it was resolved at ", FormatTimestamp(*incident.resolved_at));
    } else {
      note += " within the reopen window";
    }
    if (incident.reopens > 0) absl::StrAppend(&note, " (reopen ", incident.reopens, ")");
    note += ".";
    if (!incident.reason.empty()) absl::StrAppend(&note, "\nReason: ", incident.reason);
  } else if (row.event == "escalated") {
    note = absl::StrCat("klaxon escalated ", incident.id(), " at ", at,
                        ": nobody has acknowledged it ", Since(incident.opened_at, row.created_at),
                        " after it opened");
    if (incident.escalations > 0) {
      absl::StrAppend(&note, " (escalation step ", incident.escalations, ")");
    }
    if (!row.recipients.empty()) {
      absl::StrAppend(&note, "; now telling ", absl::StrJoin(row.recipients, ", "));
    }
    note += ".";
  } else if (row.event == "reminder") {
    note = absl::StrCat("klaxon reminder at ", at, ": ", incident.id(),
                        " is acknowledged but still open, ",
                        Since(incident.opened_at, row.created_at), " after it opened");
    std::optional<absl::Time> acknowledged = incident.acknowledged_at;
    for (const SlaClock& clock : incident.clocks) {
      if (!acknowledged && clock.name == "time_to_acknowledge" && clock.state == ClockState::kMet &&
          clock.stopped_at) {
        acknowledged = clock.stopped_at;
      }
    }
    if (acknowledged) {
      absl::StrAppend(&note, " and ", Since(*acknowledged, row.created_at),
                      " after it was acknowledged");
    }
    note += ".";
  } else if (row.event == "postmortem") {
    note = absl::StrCat("klaxon: the post-mortem of ", incident.id(), " is due by ",
                        FormatTimestamp(PostmortemDue(row)), ".");
  } else {
    note = absl::StrCat("klaxon: ", incident.id(), " ", row.event, " at ", at, ".");
  }
  if (!incident.timeline.empty()) {
    const TimelineEntry& last = incident.timeline.back();
    absl::StrAppend(&note, "\n", FormatTimestamp(last.at), " ", last.text);
  }
  return note;
}

std::string RecordedTicketRef(const Incident& incident, absl::string_view sink) {
  for (const TicketRef& ticket : incident.tickets) {
    if (ticket.sink == sink && !ticket.ref.empty()) return ticket.ref;
  }
  return "";
}

std::string IncidentLabel(const Incident& incident) {
  return absl::StrCat("klaxon-", incident.id());
}

std::string PostmortemLabel(const Incident& incident) {
  return absl::StrCat("klaxon-", incident.id(), "-postmortem");
}

absl::Time PostmortemDue(const OutboxRow& row) {
  return row.incident.resolved_at.value_or(row.created_at) + absl::Hours(24);
}

std::string UtcDate(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

absl::Status TicketNotFound(const OutboxRow& row, absl::string_view what) {
  if (row.attempts >= kMaxAttemptsToFindTicket) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("no ticket found for ", row.incident.id(), " (", what,
                                          "); cannot deliver \"", row.event, "\""));
}

}  // namespace klaxon::internal
