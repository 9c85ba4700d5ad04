// ChatSink tells people in a Slack or Mattermost channel through an incoming
// webhook: one short line per outbox row ("[OPEN] INC-000042 critical checkout:
// ... cc @alice"), written to be read on a phone. Both services take the same
// {"text": ...} document. Thread-compatible: one delivery thread uses it.
#ifndef KLAXON_EXPORTERS_CHAT_SINK_H_
#define KLAXON_EXPORTERS_CHAT_SINK_H_

#include <string>
#include <vector>

#include "exporters/sink.h"

namespace klaxon {

// The line a channel shows for `row`: the event's marker, the incident, what
// the event adds, then "cc" and the recipients (row.recipients, or
// `default_recipients` when the row names none) as mentions. A recipient is
// written as given, with "@" put before one that has none; one in Slack's own
// form ("<@U024BE7LH>", "<!subteam^S0123>") is left alone. &, < and > in the
// incident's text are escaped as Slack requires (Mattermost's Markdown shows
// the escapes as the characters), so that a log line quoted in a reason
// cannot become a link or a "<!channel>".
std::string ChatText(const OutboxRow& row, const std::vector<std::string>& default_recipients);

class ChatSink final : public TicketSink {
 public:
  explicit ChatSink(SinkOptions options) : options_(std::move(options)) {}
  // OK on a 2xx; the receipt names no ticket, since a chat message is not one.
  // Any other answer is ReplyError()'s error. Messages show the webhook's
  // scheme and host only: the rest of an incoming webhook's URL is its key.
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_CHAT_SINK_H_
