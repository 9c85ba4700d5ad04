#include "exporters/sink.h"

#include <functional>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "exporters/alertmanager_sink.h"
#include "exporters/chat_sink.h"
#include "exporters/email_sink.h"
#include "exporters/github_sink.h"
#include "exporters/jira_sink.h"
#include "exporters/pagerduty_sink.h"
#include "exporters/redmine_sink.h"
#include "exporters/webhook_sink.h"

namespace klaxon {

namespace {

using Factory = std::function<absl::StatusOr<std::unique_ptr<TicketSink>>(const SinkOptions&)>;

// Options every kind shares; `mail` kinds speak SMTP instead of HTTP.
absl::Status CheckCommon(const SinkOptions& o, bool mail = false) {
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sink \"", o.name, "\": timeout must be positive"));
  }
  const char* schemes[] = {mail ? "smtp://" : "http://", mail ? "smtps://" : "https://"};
  if (!o.url.empty() && !absl::StartsWith(o.url, schemes[0]) &&
      !absl::StartsWith(o.url, schemes[1])) {
    return absl::InvalidArgumentError(absl::StrCat("sink \"", o.name, "\": url \"", o.url,
                                                   "\" is not ", schemes[0], " or ", schemes[1]));
  }
  return absl::OkStatus();
}

// kInvalidArgument naming each key of `keys` ({name, value}) left empty.
absl::Status Require(const SinkOptions& o,
                     std::initializer_list<std::pair<const char*, const std::string*>> keys,
                     bool mail = false) {
  std::vector<std::string> missing;
  for (const auto& [key, value] : keys) {
    if (value->empty()) missing.push_back(key);
  }
  if (missing.empty()) return CheckCommon(o, mail);
  bool vowel = !o.type.empty() && absl::StrContains("aeiou", o.type[0]);
  return absl::InvalidArgumentError(absl::StrCat("sink \"", o.name, "\": ", vowel ? "an " : "a ",
                                                 o.type, " sink needs ",
                                                 absl::StrJoin(missing, " and ")));
}

template <typename Sink>
absl::StatusOr<std::unique_ptr<TicketSink>> Make(const SinkOptions& o, absl::Status checked) {
  if (!checked.ok()) return checked;
  return std::make_unique<Sink>(o);
}

// One line per sink kind, with what that kind cannot work without.
const std::map<std::string, Factory>& Factories() {
  static const auto* factories = new std::map<std::string, Factory>{
      {"webhook",
       [](const SinkOptions& o) {
         return Make<WebhookSink>(o, Require(o, {{"url", &o.url}}));
       }},
      {"alertmanager",
       [](const SinkOptions& o) {
         return Make<AlertmanagerSink>(o, Require(o, {{"url", &o.url}}));
       }},
      {"pagerduty",
       [](const SinkOptions& o) {
         return Make<PagerDutySink>(o, Require(o, {{"routing_key", &o.routing_key}}));
       }},
      {"jira",
       [](const SinkOptions& o) {
         return Make<JiraSink>(o, Require(o, {{"url", &o.url},
                                              {"project", &o.project},
                                              {"api_key", &o.api_key},
                                              {"issue_type", &o.issue_type},
                                              {"resolve_transition", &o.resolve_transition}}));
       }},
      {"github",
       [](const SinkOptions& o) -> absl::StatusOr<std::unique_ptr<TicketSink>> {
         absl::Status checked =
             Require(o, {{"repository", &o.repository}, {"api_key", &o.api_key}});
         size_t slash = o.repository.find('/');
         if (checked.ok() &&
             (slash == 0 || slash == std::string::npos || slash + 1 == o.repository.size() ||
              o.repository.find('/', slash + 1) != std::string::npos)) {
           checked = absl::InvalidArgumentError(absl::StrCat(
               "sink \"", o.name, "\": repository \"", o.repository, "\" is not \"owner/name\""));
         }
         return Make<GitHubSink>(o, checked);
       }},
      {"redmine",
       [](const SinkOptions& o) -> absl::StatusOr<std::unique_ptr<TicketSink>> {
         absl::Status checked =
             Require(o, {{"url", &o.url}, {"project", &o.project}, {"api_key", &o.api_key}});
         if (checked.ok() && o.resolved_status_id <= 0) {
           checked = absl::InvalidArgumentError(absl::StrCat(
               "sink \"", o.name, "\": resolved_status_id must be a Redmine status id (> 0)"));
         }
         if (checked.ok() && o.incident_field_id < 0) {
           checked = absl::InvalidArgumentError(absl::StrCat(
               "sink \"", o.name,
               "\": incident_field_id must be a Redmine custom field id (> 0), or 0 for none"));
         }
         return Make<RedmineSink>(o, checked);
       }},
      {"chat",
       [](const SinkOptions& o) { return Make<ChatSink>(o, Require(o, {{"url", &o.url}})); }},
      {"email",
       [](const SinkOptions& o) -> absl::StatusOr<std::unique_ptr<TicketSink>> {
         absl::Status checked = Require(o, {{"url", &o.url}, {"from", &o.from}}, /*mail=*/true);
         if (checked.ok() && !IsMailAddress(o.from)) {
           checked = absl::InvalidArgumentError(
               absl::StrCat("sink \"", o.name, "\": from \"", o.from, "\" is not an e-mail address"));
         }
         for (const std::string& to : o.to) {
           if (checked.ok() && !IsMailAddress(to)) {
             checked = absl::InvalidArgumentError(
                 absl::StrCat("sink \"", o.name, "\": to \"", to, "\" is not an e-mail address"));
           }
         }
         if (checked.ok() && o.user.empty() != o.secret.empty()) {
           checked = absl::InvalidArgumentError(absl::StrCat(
               "sink \"", o.name, "\": SMTP AUTH needs both user and secret, or neither"));
         }
         return Make<EmailSink>(o, checked);
       }},
  };
  return *factories;
}

}  // namespace

std::vector<std::string> TicketSinkTypes() {
  std::vector<std::string> types;
  for (const auto& [type, factory] : Factories()) types.push_back(type);
  return types;
}

absl::StatusOr<std::unique_ptr<TicketSink>> MakeTicketSink(const SinkOptions& options) {
  auto it = Factories().find(options.type);
  if (it == Factories().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sink \"", options.name, "\": unknown type \"", options.type,
                     "\" (known: ", absl::StrJoin(TicketSinkTypes(), ", "), ")"));
  }
  return it->second(options);
}

}  // namespace klaxon
