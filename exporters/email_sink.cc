#include "exporters/email_sink.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "exporters/internal/http_client.h"
#include "exporters/internal/notification.h"

namespace klaxon {

namespace {

// RFC 5322 allows 998 bytes a line; body lines longer than this are broken.
constexpr size_t kBodyLineBytes = 900;
// Raw bytes per RFC 2047 encoded word: base64 of 39 bytes is 52 characters,
// 64 with "=?UTF-8?B?" and "?=", so that even the first, after "Subject: ",
// keeps its line within the 76 characters the RFC allows.
constexpr size_t kEncodedWordBytes = 39;
// RFC 5322's "SHOULD" for a header line; plain text is folded at a space.
constexpr size_t kHeaderLineChars = 78;
// The most timeline entries a mail quotes, the latest ones.
constexpr size_t kTimelineEntries = 30;

struct Mailbox {
  std::string display;  // "" when none
  std::string address;  // "ops@example.com"
};

bool IsBareAddress(absl::string_view address) {
  size_t at = address.find('@');
  if (at == absl::string_view::npos || at == 0 || at + 1 == address.size()) return false;
  if (address.find('@', at + 1) != absl::string_view::npos) return false;
  return std::none_of(address.begin(), address.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' ||
           c == '(' || c == ')' || c == '\\';
  });
}

std::optional<Mailbox> ParseMailbox(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  Mailbox mailbox;
  size_t open = text.rfind('<');
  if (absl::EndsWith(text, ">") && open != absl::string_view::npos) {
    absl::string_view display = absl::StripAsciiWhitespace(text.substr(0, open));
    if (display.size() >= 2 && display.front() == '"' && display.back() == '"') {
      display = display.substr(1, display.size() - 2);
    }
    if (std::any_of(display.begin(), display.end(),
                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; })) {
      return std::nullopt;
    }
    mailbox.display = std::string(display);
    text = text.substr(open + 1, text.size() - open - 2);
  }
  if (!IsBareAddress(text)) return std::nullopt;
  mailbox.address = std::string(text);
  return mailbox;
}

std::string DomainOf(absl::string_view from) {
  std::optional<Mailbox> mailbox = ParseMailbox(from);
  if (!mailbox.has_value()) return "klaxon.invalid";
  return absl::AsciiStrToLower(mailbox->address.substr(mailbox->address.find('@') + 1));
}

// The local part of a Message-ID: dot-atom text, so the incident id, a hex
// fingerprint and lowercase event names are all safe in it.
std::string MessageIdLocal(const Incident& incident) {
  return absl::StrCat("klaxon.", incident.id(), ".",
                      absl::Hex(incident.fingerprint, absl::kZeroPad16));
}

bool IsPlainAscii(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7F;
  });
}

// `text` as a header value: as written when it is plain ASCII, otherwise as
// RFC 2047 "B" encoded words cut at character boundaries, one per folded line.
std::string EncodeHeaderText(absl::string_view raw) {
  std::string text = internal::OneLine(raw, 900);
  if (IsPlainAscii(text)) return text;
  std::vector<std::string> words;
  absl::string_view rest = text;
  while (!rest.empty()) {
    size_t cut = std::min(rest.size(), kEncodedWordBytes);
    while (cut < rest.size() && cut > 0 && (static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    words.push_back(absl::StrCat("=?UTF-8?B?", absl::Base64Escape(rest.substr(0, cut)), "?="));
    rest.remove_prefix(cut);
  }
  return absl::StrJoin(words, "\r\n ");
}

// "Name: value\r\n", plain text folded at spaces to keep lines within
// kHeaderLineChars where it can (a long word stays whole). Encoded words come
// folded already.
std::string HeaderLine(absl::string_view name, absl::string_view value) {
  std::string line = absl::StrCat(name, ":");
  if (absl::StrContains(value, "\r\n")) return absl::StrCat(line, " ", value, "\r\n");
  size_t column = line.size();
  for (absl::string_view word : absl::StrSplit(value, ' ')) {
    if (column > name.size() + 1 && column + 1 + word.size() > kHeaderLineChars) {
      line += "\r\n";
      column = 0;
    }
    absl::StrAppend(&line, " ", word);
    column += 1 + word.size();
  }
  return line + "\r\n";
}

std::string FormatMailbox(const Mailbox& mailbox) {
  if (mailbox.display.empty()) return mailbox.address;
  std::string display;
  if (IsPlainAscii(mailbox.display)) {
    // A quoted string, so that a comma or a dot in a name stays in the name.
    display = "\"";
    for (char c : mailbox.display) {
      if (c == '"' || c == '\\') display += '\\';
      display += c;
    }
    display += "\"";
  } else {
    display = EncodeHeaderText(mailbox.display);
  }
  return absl::StrCat(display, " <", mailbox.address, ">");
}

// "Tue, 24 Nov 2026 02:22:52 +0000", in English whatever the locale.
std::string MailDate(absl::Time t) {
  static constexpr const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  absl::CivilSecond s = absl::ToCivilSecond(t, absl::UTCTimeZone());
  int weekday = static_cast<int>(absl::GetWeekday(s));  // absl: Monday is 0
  return absl::StrFormat("%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[weekday], s.day(),
                         kMonths[s.month() - 1], s.year(), s.hour(), s.minute(), s.second());
}

std::string Body(const OutboxRow& row) {
  const Incident& incident = row.incident;
  std::string body = absl::StrCat(internal::NotificationHeadline(row), "\n\n");
  absl::StrAppend(&body, "What: ", incident.summary.empty() ? incident.rule : incident.summary,
                  "\n");
  absl::StrAppend(&body, "Service: ", incident.service, "\n");
  absl::StrAppend(&body, "Severity: ", incident.severity, "\n");
  absl::StrAppend(&body, "Rule: ", incident.rule, "\n");
  absl::StrAppend(&body, "State: ", IncidentStateName(incident.state), "\n");
  if (!incident.reason.empty()) absl::StrAppend(&body, "Reason: ", incident.reason, "\n");
  absl::StrAppend(&body, "Value: ", incident.value, "\n");
  absl::StrAppend(&body, "First evidence: ", FormatTimestamp(incident.first_evidence), "\n");
  absl::StrAppend(&body, "Opened: ", FormatTimestamp(incident.opened_at), "\n");
  if (incident.resolved_at.has_value()) {
    absl::StrAppend(&body, "Resolved: ", FormatTimestamp(*incident.resolved_at));
    if (*incident.resolved_at > incident.first_evidence) {
      absl::StrAppend(&body, " (",
                      internal::WholeSeconds(*incident.resolved_at - incident.first_evidence),
                      " after first evidence)");
    }
    body += "\n";
  }
  std::vector<std::string> labels;
  for (LabelRef label : incident.labels.items()) {
    labels.push_back(absl::StrCat(label.name, "=\"", label.value, "\""));
  }
  if (!labels.empty()) absl::StrAppend(&body, "Labels: ", absl::StrJoin(labels, ", "), "\n");

  if (!incident.clocks.empty()) {
    body += "\nSLA clocks:\n";
    for (const SlaClock& clock : incident.clocks) {
      absl::StrAppend(&body, "  ", clock.name, ": ", ClockStateName(clock.state));
      if (clock.stopped_at.has_value()) {
        absl::StrAppend(&body, " at ", FormatTimestamp(*clock.stopped_at));
      }
      absl::StrAppend(&body, ", deadline ", FormatTimestamp(clock.deadline), " (",
                      internal::WholeSeconds(clock.deadline - clock.start), " budget)\n");
    }
  }

  bool any_ticket = false;
  std::vector<std::string> links;
  for (const TicketRef& ticket : incident.tickets) {
    if (ticket.ref.empty()) continue;
    if (!any_ticket) body += "\nTickets:\n";
    any_ticket = true;
    absl::StrAppend(&body, "  ", ticket.sink, ": ", ticket.ref, "\n");
    if (absl::StartsWith(ticket.ref, "https://") || absl::StartsWith(ticket.ref, "http://")) {
      links.push_back(ticket.ref);
    }
  }
  for (const std::string& link : links) absl::StrAppend(&body, "Link: ", link, "\n");

  if (!incident.timeline.empty()) {
    body += "\nTimeline:\n";
    size_t skip = incident.timeline.size() > kTimelineEntries
                      ? incident.timeline.size() - kTimelineEntries
                      : 0;
    if (skip > 0) absl::StrAppend(&body, "  (", skip, " earlier entries not shown)\n");
    for (size_t i = skip; i < incident.timeline.size(); ++i) {
      const TimelineEntry& entry = incident.timeline[i];
      absl::StrAppend(&body, "  ", FormatTimestamp(entry.at), " ", entry.text, "\n");
    }
  }
  absl::StrAppend(&body, "\n-- \nklaxon, ", incident.id(), ", event \"", row.event, "\"\n");
  return body;
}

// `text` with CRLF line ends and no line longer than kBodyLineBytes.
std::string WireLines(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 20);
  size_t line = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') continue;
    if (c == '\n') {
      out += "\r\n";
      line = 0;
      continue;
    }
    // Break before a character's first byte, never inside it.
    if (line >= kBodyLineBytes && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      out += "\r\n";
      line = 0;
    }
    out += c;
    ++line;
  }
  if (!absl::EndsWith(out, "\r\n")) out += "\r\n";
  return out;
}

struct Upload {
  absl::string_view rest;
};

size_t ReadUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  size_t n = std::min(size * count, upload->rest.size());
  std::memcpy(buffer, upload->rest.data(), n);
  upload->rest.remove_prefix(n);
  return n;
}

}  // namespace

bool IsMailAddress(absl::string_view mailbox) { return ParseMailbox(mailbox).has_value(); }

std::string IncidentMessageId(const Incident& incident, absl::string_view from) {
  return absl::StrCat("<", MessageIdLocal(incident), ".opened@", DomainOf(from), ">");
}

absl::StatusOr<EmailMessage> ComposeEmail(const OutboxRow& row, const SinkOptions& options) {
  std::optional<Mailbox> from = ParseMailbox(options.from);
  if (!from.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("sink \"", options.name, "\": from \"",
                                                   options.from, "\" is not an e-mail address"));
  }
  std::vector<Mailbox> to;
  for (const std::string& recipient : row.recipients) {
    if (std::optional<Mailbox> mailbox = ParseMailbox(recipient)) to.push_back(*mailbox);
  }
  if (to.empty()) {
    for (const std::string& recipient : options.to) {
      if (std::optional<Mailbox> mailbox = ParseMailbox(recipient)) to.push_back(*mailbox);
    }
  }
  if (to.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("sink \"", options.name, "\": no recipients for ", row.incident.id(), " ",
                     row.event, ": the row names no e-mail address and the sink has no `to`"));
  }

  EmailMessage message;
  message.envelope_from = from->address;
  for (const Mailbox& mailbox : to) message.envelope_to.push_back(mailbox.address);
  std::string thread = IncidentMessageId(row.incident, options.from);
  // The "opened" mail is the thread's root, so its id is the one later mails
  // point at; every other mail's id is its own row's.
  message.message_id = row.event == "opened"
                           ? thread
                           : absl::StrCat("<", MessageIdLocal(row.incident), ".", row.event, ".",
                                          row.id, "@", DomainOf(options.from), ">");

  std::vector<std::string> recipients;
  for (const Mailbox& mailbox : to) recipients.push_back(FormatMailbox(mailbox));
  std::string subject = absl::StrCat("[klaxon] ", internal::NotificationMarker(row.event), " ",
                                     internal::NotificationTitle(row.incident));

  std::string& text = message.text;
  absl::StrAppend(&text, "Date: ", MailDate(row.created_at), "\r\n");
  absl::StrAppend(&text, "From: ", FormatMailbox(*from), "\r\n");
  absl::StrAppend(&text, "To: ", absl::StrJoin(recipients, ",\r\n "), "\r\n");
  text += HeaderLine("Subject", EncodeHeaderText(subject));
  absl::StrAppend(&text, "Message-ID: ", message.message_id, "\r\n");
  if (row.event != "opened") {
    absl::StrAppend(&text, "In-Reply-To: ", thread, "\r\n");
    absl::StrAppend(&text, "References: ", thread, "\r\n");
  }
  // RFC 3834: tells vacation responders not to answer a machine.
  absl::StrAppend(&text, "Auto-Submitted: auto-generated\r\n");
  absl::StrAppend(&text, "X-Klaxon-Incident: ", row.incident.id(), "\r\n");
  absl::StrAppend(&text, "X-Klaxon-Event: ", EncodeHeaderText(row.event), "\r\n");
  for (const auto& [name, value] : options.headers) {
    absl::StrAppend(&text, internal::OneLine(name, 200), ": ", EncodeHeaderText(value), "\r\n");
  }
  absl::StrAppend(&text, "MIME-Version: 1.0\r\n");
  absl::StrAppend(&text, "Content-Type: text/plain; charset=utf-8\r\n");
  absl::StrAppend(&text, "Content-Transfer-Encoding: 8bit\r\n");
  absl::StrAppend(&text, "\r\n");
  absl::StrAppend(&text, WireLines(internal::ValidUtf8(Body(row))));
  return message;
}

absl::StatusOr<DeliveryReceipt> EmailSink::Deliver(const OutboxRow& row) {
  absl::StatusOr<EmailMessage> message = ComposeEmail(row, options_);
  if (!message.ok()) return message.status();

  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::ResourceExhaustedError("curl_easy_init failed");
  struct curl_slist* raw_rcpt = nullptr;
  for (const std::string& address : message->envelope_to) {
    raw_rcpt = curl_slist_append(raw_rcpt, absl::StrCat("<", address, ">").c_str());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt(raw_rcpt, curl_slist_free_all);
  std::string mail_from = absl::StrCat("<", message->envelope_from, ">");
  Upload upload{message->text};
  char error[CURL_ERROR_SIZE] = {0};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, options_.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#endif
  if (absl::StartsWith(options_.url, "smtp://")) {
    curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
  }
  if (!options_.user.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, options_.user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options_.secret.c_str());
  }
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt.get());
  // One unknown address must not hold back the mail to everyone else.
#if LIBCURL_VERSION_NUM >= 0x080200
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#elif LIBCURL_VERSION_NUM >= 0x074500
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message->text.size()));
  curl_easy_setopt(
      h, CURLOPT_TIMEOUT_MS,
      std::max<long>(1, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout))));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) return DeliveryReceipt{};

  long reply = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply);
  std::string what =
      absl::StrCat("SMTP ", options_.url, ": ", error[0] ? error : curl_easy_strerror(rc));
  if (reply >= 400) absl::StrAppend(&what, " (last reply ", reply, ")");
  what = internal::Redact(std::move(what), internal::SecretsOf(options_));
  switch (rc) {
    case CURLE_LOGIN_DENIED:
      return absl::PermissionDeniedError(what);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(what);
    default:
      // Refused, timed out, or a 4xx/5xx the server may not repeat: retried,
      // and dead-lettered by the dispatcher if it never goes through.
      return absl::UnavailableError(what);
  }
}

}  // namespace klaxon
