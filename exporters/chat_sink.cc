#include "exporters/chat_sink.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "exporters/internal/http_client.h"
#include "exporters/internal/notification.h"
#include "nlohmann/json.hpp"

namespace klaxon {

namespace {

// Slack's three control characters; everything else is shown as written.
std::string EscapeForChat(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}});
}

std::string Mention(absl::string_view recipient) {
  recipient = absl::StripAsciiWhitespace(recipient);
  if (recipient.empty()) return "";
  if (absl::StartsWith(recipient, "@") || absl::StartsWith(recipient, "<")) {
    return internal::OneLine(recipient, 100);
  }
  return absl::StrCat("@", internal::OneLine(recipient, 100));
}

// An incoming webhook's URL is its credential (Slack's and Mattermost's both
// end in the key), so messages show only its scheme and host.
std::vector<std::string> SecretsWithUrl(const SinkOptions& options) {
  std::vector<std::string> secrets = internal::SecretsOf(options);
  absl::string_view url = options.url;
  size_t scheme = url.find("://");
  size_t path = url.find('/', scheme == absl::string_view::npos ? 0 : scheme + 3);
  if (path != absl::string_view::npos && path + 1 < url.size()) {
    secrets.push_back(std::string(url.substr(path + 1)));
    // The key alone, as a receiver may quote it back.
    size_t last = url.find_last_of('/');
    if (last > path) secrets.push_back(std::string(url.substr(last + 1)));
  }
  return secrets;
}

}  // namespace

std::string ChatText(const OutboxRow& row, const std::vector<std::string>& default_recipients) {
  std::string text = EscapeForChat(internal::NotificationHeadline(row));
  const std::vector<std::string>& recipients =
      row.recipients.empty() ? default_recipients : row.recipients;
  std::string mentions;
  for (const std::string& recipient : recipients) {
    std::string mention = Mention(recipient);
    if (!mention.empty()) absl::StrAppend(&mentions, " ", mention);
  }
  if (!mentions.empty()) absl::StrAppend(&text, " cc", mentions);
  return text;
}

absl::StatusOr<DeliveryReceipt> ChatSink::Deliver(const OutboxRow& row) {
  internal::HttpCall call;
  call.url = options_.url;
  call.timeout = options_.timeout;
  // `text` alone: the one field Slack and Mattermost read alike.
  call.body = internal::DumpJson({{"text", ChatText(row, options_.to)}});
  call.headers = options_.headers;
  call.headers.push_back({"Content-Type", "application/json"});
  absl::StatusOr<internal::HttpReply> reply = internal::Perform(call);
  if (!reply.ok()) {
    return absl::Status(
        reply.status().code(),
        internal::Redact(std::string(reply.status().message()), SecretsWithUrl(options_)));
  }
  if (reply->status < 200 || reply->status > 299) {
    return internal::ReplyError("POST", options_.url, *reply, SecretsWithUrl(options_));
  }
  return DeliveryReceipt{};
}

}  // namespace klaxon
