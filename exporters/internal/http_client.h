// What the sinks share, private to exporters/: blocking HTTP with libcurl's easy
// interface (one request per call, on the delivery thread that owns the sink),
// JsonApi for the calls of one delivery to a ticketing system's JSON API, and
// the ticket text and lookups of the Jira, GitHub and Redmine sinks.
// Functions are thread-safe; a JsonApi is thread-compatible.
#ifndef KLAXON_EXPORTERS_INTERNAL_HTTP_CLIENT_H_
#define KLAXON_EXPORTERS_INTERNAL_HTTP_CLIENT_H_

#include <chrono>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/incident.h"
#include "exporters/sink.h"
#include "nlohmann/json.hpp"

namespace klaxon::internal {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpCall {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;
  std::string body;
  absl::Duration timeout = absl::Seconds(10);
};

struct HttpReply {
  long status = 0;
  std::string body;
};

// kUnavailable when no HTTP answer came (refused, timeout, TLS); any answer,
// whatever its status, is returned as an HttpReply.
absl::StatusOr<HttpReply> Perform(const HttpCall& call);

// `json` as compact text, with invalid UTF-8 (a log line quoted in a reason)
// replaced by U+FFFD: nlohmann's plain dump() throws on it.
std::string DumpJson(const nlohmann::json& json);

// Percent-encodes all but RFC 3986's unreserved characters: for one query
// value or one path segment.
std::string UrlEncode(absl::string_view text);

// The value of an "Authorization: Basic ..." header.
std::string BasicAuthorization(absl::string_view user, absl::string_view password);

// `text` with every occurrence of each secret replaced by "[redacted]". Secrets
// shorter than 4 bytes are left alone: blanking every "a" would hide the message
// and protect nothing.
std::string Redact(std::string text, const std::vector<std::string>& secrets);

// What no message may show: the secret, api_key and routing_key, the
// credentials of Basic auth, and the value of every configured header (and its
// last word: "Bearer TOKEN" may come back as "TOKEN").
std::vector<std::string> SecretsOf(const SinkOptions& options);

// The error for a non-2xx answer, saying what the system answered: method, URL,
// status and the start of the body, secrets redacted. The code tells what to do
// next: 408, 425, 429 and 5xx are kUnavailable (try again later); 401 and 403
// kPermissionDenied, 404 and 410 kNotFound, other 4xx kInvalidArgument (someone
// must fix the config or the remote side); anything else kFailedPrecondition.
absl::Status ReplyError(absl::string_view method, absl::string_view url, const HttpReply& reply,
                        const std::vector<std::string>& secrets = {});

// The calls one delivery makes to one JSON API. Every call shares one deadline,
// `timeout` from construction, so that SinkOptions::timeout bounds the whole
// delivery attempt however many requests it takes; every call carries the same
// headers; every error is redacted. Lives for one Deliver(); thread-compatible.
class JsonApi {
 public:
  // `base_url` is joined with each call's path ("https://x" + "/rest/api/2/issue").
  JsonApi(std::string base_url, HttpHeaders headers, absl::Duration timeout,
          std::vector<std::string> secrets);

  // Any HTTP answer; kUnavailable when none came in the time left.
  absl::StatusOr<HttpReply> Send(absl::string_view method, absl::string_view path,
                                 const nlohmann::json& body = nullptr);
  // Send(), then a non-2xx answer becomes ReplyError() and a 2xx body is parsed
  // (null when empty or not JSON: callers check for the fields they need).
  absl::StatusOr<nlohmann::json> Call(absl::string_view method, absl::string_view path,
                                      const nlohmann::json& body = nullptr);

  std::string Url(absl::string_view path) const;
  absl::Status Error(absl::string_view method, absl::string_view path,
                     const HttpReply& reply) const;
  // An error of `code` whose message is redacted.
  absl::Status Fail(absl::StatusCode code, absl::string_view message) const;

 private:
  std::string base_url_;
  HttpHeaders headers_;
  absl::Duration timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::vector<std::string> secrets_;
};

// Reading answers without trusting their shape (nlohmann throws on a wrong type).
// The value at `path` (object keys) under `root`, or nullptr.
const nlohmann::json* JsonAt(const nlohmann::json& root, std::initializer_list<const char*> path);
// The string or integer at `path` as text ("OPS-7", "42"), or "".
std::string JsonText(const nlohmann::json& root, std::initializer_list<const char*> path);

// The text the ticketing sinks (Jira, GitHub, Redmine) write, one wording for all.
// "[INC-000042] checkout down": ticket titles, so that a person and a search
// both find the incident id.
std::string TicketTitle(const Incident& incident);
// The ticket's first text: service, severity, rule, times, value, reason,
// labels and the timeline so far; plain lines, which Jira's wiki markup,
// GitHub's Markdown and Redmine's Textile all show as written.
std::string TicketDescription(const Incident& incident);
// The comment written for `event` ("resolved", "acknowledged", "reopened",
// "escalated", "reminder", ...), from what the row's snapshot holds: only a
// "postmortem" row carries the timeline, so the others say what they can from
// the incident's times, clocks and the row's recipients.
std::string TicketNote(const OutboxRow& row);
// The ref an earlier "opened" delivery to sink `sink` recorded, or "".
std::string RecordedTicketRef(const Incident& incident, absl::string_view sink);
// "klaxon-INC-000042": the label (Jira, GitHub) that marks an incident's ticket,
// so that a retry can find a ticket whose creation it did not hear about.
std::string IncidentLabel(const Incident& incident);

// "klaxon-INC-000042-postmortem": the label (Jira, GitHub) and the Redmine
// incident field value ("INC-000042-postmortem" there) that mark the
// post-mortem ticket, distinct from the outage ticket's so that neither search
// finds the other.
std::string PostmortemLabel(const Incident& incident);
// When the post-mortem is due: a day after resolution (after the row's
// creation for a snapshot that has no resolution time).
absl::Time PostmortemDue(const OutboxRow& row);
// A civil date in UTC, "2026-09-22": Jira's duedate and Redmine's due_date.
std::string UtcDate(absl::Time t);

// How many attempts of a delivery that updates a ticket fail when it cannot
// find the ticket at all (the ref was not recorded and a search finds
// none; a search index may lag a creation by seconds). After that the delivery
// is given up as done, because the outbox delivers a sink's rows in order and a
// row that fails forever would hold back every later one.
inline constexpr int kMaxAttemptsToFindTicket = 5;
// kNotFound while row.attempts < kMaxAttemptsToFindTicket, then OK: see above.
absl::Status TicketNotFound(const OutboxRow& row, absl::string_view what);

}  // namespace klaxon::internal

#endif  // KLAXON_EXPORTERS_INTERNAL_HTTP_CLIENT_H_
