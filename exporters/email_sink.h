// EmailSink tells people by e-mail: one RFC 5322 message per outbox row, sent
// over SMTP (smtp:// with STARTTLS when the server offers it, or smtps://)
// through libcurl. The mails of one incident form one thread in a mail client,
// and a retry of a row sends the same Message-ID, so a receiver that drops
// duplicates drops it. Thread-compatible: one delivery thread uses it.
#ifndef KLAXON_EXPORTERS_EMAIL_SINK_H_
#define KLAXON_EXPORTERS_EMAIL_SINK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "exporters/sink.h"

namespace klaxon {

// The Message-ID ("<...>") of the "opened" mail of `incident`, which every
// later mail of the incident names in In-Reply-To and References. Derived
// from the incident's id and fingerprint and the domain of `from` alone, so a
// resolve mail finds it without looking anything up.
std::string IncidentMessageId(const Incident& incident, absl::string_view from);

// One mail as it goes on the wire.
struct EmailMessage {
  std::string envelope_from;             // "klaxon@example.com"
  std::vector<std::string> envelope_to;  // bare addresses, as given to RCPT TO
  std::string message_id;                // "<...>", also in `text`
  std::string text;                      // headers and body, CRLF line ends
};

// The mail for `row`: to the mail addresses among row.recipients (a notify
// list may also hold chat handles), or options.to when it has none.
// kFailedPrecondition when neither names anyone: a configuration that only a
// person can fix, so the dispatcher retries and finally dead-letters the row.
absl::StatusOr<EmailMessage> ComposeEmail(const OutboxRow& row, const SinkOptions& options);

class EmailSink final : public TicketSink {
 public:
  explicit EmailSink(SinkOptions options) : options_(std::move(options)) {}
  // OK once the SMTP server accepted the message for at least one recipient;
  // the receipt names no ticket, since a mail is not one. kUnavailable when
  // the server is down or refused it (retried), kPermissionDenied when it
  // refused the login; messages name the url and never the password.
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_EMAIL_SINK_H_
