// EmailSink against a real SMTP server: tests/support/smtp_receiver.py, on
// Debian's python3-aiosmtpd, started on a port of its own choosing and
// writing each message it accepts to a file, as it was received.
#include "exporters/email_sink.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "exporters/sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::string_view kDash = "\xE2\x80\x94";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// RFC 2047 "B" words decoded, written here without the sink's code.
std::string DecodeWords(absl::string_view value) {
  std::string out;
  bool last_was_word = false;
  while (!value.empty()) {
    size_t start = value.find("=?UTF-8?B?");
    if (start == absl::string_view::npos) {
      absl::StrAppend(&out, value);
      break;
    }
    absl::string_view between = value.substr(0, start);
    // Whitespace between two encoded words is folding, not text.
    if (!(last_was_word && absl::StripAsciiWhitespace(between).empty()))
      absl::StrAppend(&out, between);
    value.remove_prefix(start + 10);
    size_t end = value.find("?=");
    if (end == absl::string_view::npos) return "(unterminated encoded word)";
    std::string decoded;
    if (!absl::Base64Unescape(value.substr(0, end), &decoded)) return "(bad base64)";
    out += decoded;
    value.remove_prefix(end + 2);
    last_was_word = true;
  }
  return out;
}

// One message as the SMTP server received it.
struct Mail {
  std::string raw;
  std::string mail_from;
  std::vector<std::string> rcpt_tos;
  std::string login;
  std::vector<std::pair<std::string, std::string>> headers;  // unfolded, names lower-cased
  std::string body;

  // The value of the first header of that name, or "(none)".
  std::string Header(absl::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == absl::AsciiStrToLower(name)) return v;
    }
    return "(none)";
  }
  int Count(absl::string_view name) const {
    return std::count_if(headers.begin(), headers.end(),
                         [&](const auto& h) { return h.first == absl::AsciiStrToLower(name); });
  }
};

Mail ParseMail(std::string raw, const nlohmann::json& envelope) {
  Mail mail;
  mail.raw = std::move(raw);
  mail.mail_from = envelope.value("mail_from", "");
  mail.rcpt_tos = envelope.value("rcpt_tos", std::vector<std::string>{});
  if (envelope.contains("login") && envelope["login"].is_string()) mail.login = envelope["login"];
  size_t split = mail.raw.find("\r\n\r\n");
  absl::string_view head = absl::string_view(mail.raw).substr(0, split);
  mail.body = split == std::string::npos ? "" : mail.raw.substr(split + 4);
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !mail.headers.empty()) {
      absl::StrAppend(&mail.headers.back().second, line);  // unfold
      continue;
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    mail.headers.push_back(
        {absl::AsciiStrToLower(line.substr(0, colon)),
         std::string(absl::StripLeadingAsciiWhitespace(line.substr(colon + 1)))});
  }
  return mail;
}

std::string Python() {
  // Debian's interpreter, which has python3-aiosmtpd, before any other on PATH.
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return testing::FindProgram("python3");
}

class SmtpReceiver {
 public:
  explicit SmtpReceiver(std::vector<std::string> options = {}) {
    std::filesystem::create_directories(mail_dir());
    std::vector<std::string> argv = {Python(),
                                     testing::SourcePath("tests/support/smtp_receiver.py"),
                                     mail_dir(), "--max-seconds", "120"};
    argv.insert(argv.end(), options.begin(), options.end());
    process_ = std::make_unique<testing::ChildProcess>(argv, dir_.File("smtp.log"));
    std::optional<std::string> listening =
        process_->WaitForLog("listening on 127.0.0.1:", absl::Seconds(20));
    int port = 0;
    if (listening.has_value()) {
      absl::string_view rest = *listening;
      absl::ConsumePrefix(&rest, "listening on 127.0.0.1:");
      rest = rest.substr(0, rest.find('\n'));
      if (!absl::SimpleAtoi(rest, &port)) port = 0;
    }
    EXPECT_GT(port, 0) << "the SMTP receiver did not start: " << process_->Log();
    url_ = absl::StrCat("smtp://127.0.0.1:", port);
  }

  const std::string& url() const { return url_; }
  std::string log() const { return process_->Log(); }
  void Stop() {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(10));
  }

  SinkOptions Options() const {
    SinkOptions options;
    options.name = "mail";
    options.type = "email";
    options.url = url_;
    options.from = "klaxon <klaxon@alerts.example.com>";
    options.to = {"ops@example.com"};
    options.timeout = absl::Seconds(10);
    return options;
  }

  // The messages accepted so far, in order, once there are at least `n`.
  std::vector<Mail> Mails(size_t n) const {
    auto files = [&] {
      std::vector<std::string> names;
      for (const auto& entry : std::filesystem::directory_iterator(mail_dir())) {
        if (entry.path().extension() == ".eml") names.push_back(entry.path().stem().string());
      }
      std::sort(names.begin(), names.end());
      return names;
    };
    EXPECT_TRUE(testing::WaitFor([&] { return files().size() >= n; }, absl::Seconds(10)))
        << "expected " << n << " mails, got " << files().size() << "; log: " << log();
    std::vector<Mail> mails;
    for (const std::string& name : files()) {
      std::string base = absl::StrCat(mail_dir(), "/", name);
      nlohmann::json envelope = nlohmann::json::parse(ReadFile(base + ".json"), nullptr, false);
      mails.push_back(ParseMail(ReadFile(base + ".eml"), envelope));
    }
    return mails;
  }

 private:
  std::string mail_dir() const { return dir_.File("mail"); }

  testing::TempDir dir_;
  std::unique_ptr<testing::ChildProcess> process_;
  std::string url_;
};

OutboxRow Row(const std::string& event, int64_t id) {
  OutboxRow row;
  row.id = id;
  row.sink = "mail";
  row.event = event;
  Incident& incident = row.incident;
  incident.number = 42;
  incident.rule = "CheckoutDown";
  incident.service = "checkout";
  incident.severity = "critical";
  incident.summary = "checkout health probe failing";
  incident.labels = Labels{{"alertname", "CheckoutDown"}, {"probe", "home"}};
  incident.fingerprint = 0x5f0c6a1d2e3b4c5dULL;
  incident.first_evidence = absl::FromUnixSeconds(1'790'000'000);
  incident.opened_at = incident.first_evidence + absl::Seconds(30);
  incident.reason = "connection refused";
  incident.clocks = {
      {"time_to_ticket", incident.first_evidence, incident.first_evidence + absl::Minutes(5),
       ClockState::kMet, incident.opened_at + absl::Seconds(2)},
      {"time_to_acknowledge", incident.first_evidence, incident.first_evidence + absl::Minutes(15),
       ClockState::kRunning, std::nullopt},
  };
  incident.tickets = {{"tickets", "OPS-12"}, {"gh", "https://github.com/acme/ops/issues/7"}};
  row.created_at = incident.opened_at;
  return row;
}

OutboxRow Resolved(int64_t id) {
  OutboxRow row = Row("resolved", id);
  row.incident.state = IncidentState::kResolved;
  row.incident.resolved_at = row.incident.first_evidence + absl::Seconds(4 * 60 + 12);
  row.created_at = *row.incident.resolved_at;
  return row;
}

absl::Status Send(const SinkOptions& options, const OutboxRow& row) {
  absl::StatusOr<std::unique_ptr<TicketSink>> sink = MakeTicketSink(options);
  if (!sink.ok()) return sink.status();
  return (*sink)->Deliver(row).status();
}

TEST(EmailSinkTest, TheOpenedMailShowsWhatAPersonNeeds) {
  SmtpReceiver receiver;
  ASSERT_TRUE(Send(receiver.Options(), Row("opened", 7)).ok());
  std::vector<Mail> mails = receiver.Mails(1);
  ASSERT_EQ(mails.size(), 1u);
  const Mail& mail = mails[0];

  EXPECT_EQ(mail.mail_from, "klaxon@alerts.example.com");
  EXPECT_THAT(mail.rcpt_tos, ElementsAre("ops@example.com"));
  EXPECT_EQ(mail.Header("From"), "\"klaxon\" <klaxon@alerts.example.com>");
  EXPECT_EQ(mail.Header("To"), "ops@example.com");
  EXPECT_EQ(mail.Header("Subject"),
            "[klaxon] OPEN INC-000042 critical checkout: checkout health probe failing");
  EXPECT_EQ(mail.Header("Date"), "Mon, 21 Sep 2026 14:13:50 +0000");
  EXPECT_EQ(mail.Header("Message-ID"),
            "<klaxon.INC-000042.5f0c6a1d2e3b4c5d.opened@alerts.example.com>");
  EXPECT_EQ(mail.Count("In-Reply-To"), 0);
  EXPECT_EQ(mail.Header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(mail.Header("MIME-Version"), "1.0");

  EXPECT_THAT(mail.body, StartsWith(absl::StrCat(
                             "[OPEN] INC-000042 critical checkout: checkout health probe failing ",
                             kDash, " connection refused\r\n\r\n")));
  EXPECT_THAT(mail.body, HasSubstr("\r\nWhat: checkout health probe failing\r\n"));
  EXPECT_THAT(mail.body, HasSubstr("\r\nReason: connection refused\r\n"));
  EXPECT_THAT(mail.body, HasSubstr("\r\nFirst evidence: 2026-09-21T14:13:20.000Z\r\n"));
  EXPECT_THAT(mail.body, HasSubstr("\r\nLabels: alertname=\"CheckoutDown\", probe=\"home\"\r\n"));
  EXPECT_THAT(mail.body, HasSubstr("\r\n  time_to_ticket: met at 2026-09-21T14:13:52.000Z, "
                                   "deadline 2026-09-21T14:18:20.000Z (5m budget)\r\n"));
  EXPECT_THAT(mail.body, HasSubstr("\r\n  time_to_acknowledge: running, deadline "
                                   "2026-09-21T14:28:20.000Z (15m budget)\r\n"));
  EXPECT_THAT(mail.body, HasSubstr("\r\n  tickets: OPS-12\r\n"));
  EXPECT_THAT(mail.body, HasSubstr("\r\nLink: https://github.com/acme/ops/issues/7\r\n"));
  EXPECT_THAT(mail.body, Not(HasSubstr("Link: OPS-12")));
  // Every line ends in CRLF: no bare LF reached the wire.
  EXPECT_EQ(mail.raw.find("\n"), mail.raw.find("\r\n") + 1);
  for (size_t at = mail.raw.find('\n'); at != std::string::npos; at = mail.raw.find('\n', at + 1)) {
    ASSERT_EQ(mail.raw[at - 1], '\r') << "bare LF at byte " << at;
  }
}

TEST(EmailSinkTest, RecipientsOfTheRowReplaceTheSinksTo) {
  SmtpReceiver receiver;
  OutboxRow row = Row("escalated", 8);
  // A notify list shared with a chat sink: the handle is not an address.
  row.recipients = {"@alice", "alice@example.com", "Bob Example <bob@example.com>"};
  ASSERT_TRUE(Send(receiver.Options(), row).ok());
  std::vector<Mail> mails = receiver.Mails(1);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_THAT(mails[0].rcpt_tos, ElementsAre("alice@example.com", "bob@example.com"));
  EXPECT_EQ(mails[0].Header("To"), "alice@example.com, \"Bob Example\" <bob@example.com>");
  EXPECT_THAT(mails[0].raw, Not(HasSubstr("ops@example.com")));
}

TEST(EmailSinkTest, ARetryKeepsItsMessageIdAndLaterMailsThreadUnderTheOpenedOne) {
  SmtpReceiver receiver;
  SinkOptions options = receiver.Options();
  OutboxRow ack = Row("acknowledged", 10);
  ack.incident.state = IncidentState::kAcknowledged;
  ASSERT_TRUE(Send(options, Row("opened", 9)).ok());
  ASSERT_TRUE(Send(options, ack).ok());
  ack.attempts = 1;  // the dispatcher retries a row it did not hear back about
  ASSERT_TRUE(Send(options, ack).ok());
  ASSERT_TRUE(Send(options, Resolved(11)).ok());
  std::vector<Mail> mails = receiver.Mails(4);
  ASSERT_EQ(mails.size(), 4u);
  const Mail& opened = mails[0];
  const Mail& resolved = mails[3];

  EXPECT_EQ(mails[1].Header("Message-ID"), mails[2].Header("Message-ID"));
  EXPECT_EQ(mails[1].raw, mails[2].raw);  // the same mail, byte for byte
  EXPECT_NE(mails[1].Header("Message-ID"), opened.Header("Message-ID"));
  EXPECT_NE(resolved.Header("Message-ID"), opened.Header("Message-ID"));
  EXPECT_NE(resolved.Header("Message-ID"), mails[1].Header("Message-ID"));
  EXPECT_EQ(resolved.Header("In-Reply-To"), opened.Header("Message-ID"));
  EXPECT_EQ(resolved.Header("References"), opened.Header("Message-ID"));
  EXPECT_EQ(mails[1].Header("In-Reply-To"), opened.Header("Message-ID"));
  EXPECT_EQ(opened.Header("Message-ID"),
            IncidentMessageId(Row("opened", 1).incident, options.from));

  EXPECT_EQ(resolved.Header("Subject"),
            "[klaxon] RESOLVED INC-000042 critical checkout: checkout health probe failing");
  EXPECT_THAT(resolved.body, StartsWith(absl::StrCat("[RESOLVED] INC-000042 critical checkout: "
                                                     "checkout health probe failing ",
                                                     kDash, " after 4m12s\r\n")));
  EXPECT_THAT(resolved.body,
              HasSubstr("\r\nResolved: 2026-09-21T14:17:32.000Z (4m12s after first evidence)\r\n"));
  EXPECT_EQ(mails[1].Header("Subject"),
            "[klaxon] ACK INC-000042 critical checkout: checkout health probe failing");
}

TEST(EmailSinkTest, NonAsciiHeadersAreEncodedAndTheBodyIsUtf8) {
  SmtpReceiver receiver;
  OutboxRow row = Row("opened", 12);
  row.incident.summary =
      "Kasse l\xC3\xA4uft nicht: Zahlungsdienst antwortet mit 503 \xE2\x80\x94 "
      "Gr\xC3\xBC\xC3\x9F"
      "e an alle Bestellungen, die h\xC3\xA4ngen";
  SinkOptions options = receiver.Options();
  options.from = "Kl\xC3\xA4xon <klaxon@alerts.example.com>";
  ASSERT_TRUE(Send(options, row).ok());
  std::vector<Mail> mails = receiver.Mails(1);
  ASSERT_EQ(mails.size(), 1u);
  const Mail& mail = mails[0];
  std::string head = mail.raw.substr(0, mail.raw.find("\r\n\r\n"));
  EXPECT_TRUE(std::all_of(head.begin(), head.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80;
  })) << head;
  EXPECT_EQ(DecodeWords(mail.Header("Subject")),
            absl::StrCat("[klaxon] OPEN INC-000042 critical checkout: ", row.incident.summary));
  EXPECT_EQ(DecodeWords(mail.Header("From")), "Kl\xC3\xA4xon <klaxon@alerts.example.com>");
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    EXPECT_LE(line.size(), 78u) << line;  // encoded words are folded
  }
  EXPECT_THAT(mail.body, HasSubstr(absl::StrCat("What: ", row.incident.summary, "\r\n")));
}

TEST(EmailSinkTest, ALoneDotInTheTextDoesNotEndTheMail) {
  SmtpReceiver receiver;
  OutboxRow row = Row("opened", 13);
  row.incident.reason = "first line\n.\n.hidden\nlast line";
  ASSERT_TRUE(Send(receiver.Options(), row).ok());
  std::vector<Mail> mails = receiver.Mails(1);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_THAT(mails[0].body, HasSubstr("\r\nReason: first line\r\n.\r\n.hidden\r\nlast line\r\n"));
  EXPECT_THAT(mails[0].body, HasSubstr("klaxon, INC-000042, event \"opened\"\r\n"));
}

TEST(EmailSinkTest, AnIncidentsTextCannotAddHeadersOrRecipients) {
  SmtpReceiver receiver;
  OutboxRow row = Row("opened", 14);
  row.incident.summary = "down\r\nBcc: mallory@example.com";
  row.recipients = {"carol@example.com\r\nBcc: mallory@example.com", "dave@example.com"};
  ASSERT_TRUE(Send(receiver.Options(), row).ok());
  std::vector<Mail> mails = receiver.Mails(1);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].Count("Bcc"), 0);
  EXPECT_THAT(mails[0].rcpt_tos, ElementsAre("dave@example.com"));
  EXPECT_EQ(mails[0].Header("Subject"),
            "[klaxon] OPEN INC-000042 critical checkout: down  Bcc: mallory@example.com");
}

TEST(EmailSinkTest, NoRecipientsAtAllIsAConfigurationError) {
  SmtpReceiver receiver;
  SinkOptions options = receiver.Options();
  options.to.clear();
  OutboxRow row = Row("opened", 15);
  row.recipients = {"@alice"};
  absl::Status status = Send(options, row);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("no recipients"));
}

TEST(EmailSinkTest, AServerThatIsDownIsAnErrorNamingTheUrl) {
  SmtpReceiver receiver;
  SinkOptions options = receiver.Options();
  receiver.Stop();
  absl::Status status = Send(options, Row("opened", 16));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("SMTP ", options.url, ": ")));
}

TEST(EmailSinkTest, LogsInWithUserAndSecretAndNeverShowsThePassword) {
  SmtpReceiver receiver({"--user", "klaxon", "--password", "s3cret-pw"});
  SinkOptions options = receiver.Options();
  options.user = "klaxon";
  options.secret = "s3cret-pw";
  absl::Status sent = Send(options, Row("opened", 17));
  ASSERT_TRUE(sent.ok()) << sent << "\n" << receiver.log();
  std::vector<Mail> mails = receiver.Mails(1);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].login, "klaxon");

  options.secret = "wr0ng-password";
  absl::Status refused = Send(options, Row("acknowledged", 18));
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_THAT(refused.message(), HasSubstr(options.url));
  EXPECT_THAT(refused.message(), Not(HasSubstr("wr0ng-password")));

  options.user.clear();
  options.secret.clear();
  absl::Status anonymous = Send(SinkOptions(options), Row("acknowledged", 19));
  EXPECT_FALSE(anonymous.ok());  // this server takes no mail without a login
  EXPECT_EQ(receiver.Mails(1).size(), 1u);
}

TEST(EmailSinkTest, AMailTheServerDefersIsRetried) {
  SmtpReceiver receiver({"--data-reply", "451 4.3.0 mailbox busy, try later"});
  absl::Status status = Send(receiver.Options(), Row("opened", 20));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("451"));
}

TEST(EmailSinkTest, OneUnknownRecipientDoesNotStopTheMailToTheOthers) {
  SmtpReceiver receiver({"--reject-rcpt", "gone@example.com"});
  SinkOptions options = receiver.Options();
  options.to = {"gone@example.com", "ops@example.com"};
  absl::Status status = Send(options, Row("opened", 21));
  ASSERT_TRUE(status.ok()) << status;
  std::vector<Mail> mails = receiver.Mails(1);
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_THAT(mails[0].rcpt_tos, ElementsAre("ops@example.com"));
}

TEST(EmailSinkTest, TheFactoryChecksFromUrlToAndLogin) {
  SinkOptions options;
  options.name = "mail";
  options.type = "email";
  options.url = "smtp://127.0.0.1:2525";
  auto no_from = MakeTicketSink(options);
  ASSERT_FALSE(no_from.ok());
  EXPECT_THAT(no_from.status().message(), HasSubstr("sink \"mail\": an email sink needs from"));

  options.from = "klaxon";
  EXPECT_THAT(MakeTicketSink(options).status().message(),
              HasSubstr("from \"klaxon\" is not an e-mail address"));
  options.from = "klaxon@example.com";
  EXPECT_TRUE(MakeTicketSink(options).ok());

  options.to = {"@alice"};
  EXPECT_THAT(MakeTicketSink(options).status().message(),
              HasSubstr("to \"@alice\" is not an e-mail address"));
  options.to = {"ops@example.com"};

  options.url = "https://mail.example.com";
  EXPECT_THAT(MakeTicketSink(options).status().message(), HasSubstr("is not smtp:// or smtps://"));
  options.url = "smtps://mail.example.com:465";
  EXPECT_TRUE(MakeTicketSink(options).ok());

  options.user = "klaxon";
  EXPECT_THAT(MakeTicketSink(options).status().message(),
              HasSubstr("SMTP AUTH needs both user and secret"));
}

TEST(EmailSinkTest, MailAddressesAreCheckedLoosely) {
  EXPECT_TRUE(IsMailAddress("ops@example.com"));
  EXPECT_TRUE(IsMailAddress("On call <ops+pager@example.com>"));
  EXPECT_TRUE(IsMailAddress("\"Ops, EU\" <ops@example.com>"));
  EXPECT_FALSE(IsMailAddress("@alice"));
  EXPECT_FALSE(IsMailAddress("alice@"));
  EXPECT_FALSE(IsMailAddress("alice"));
  EXPECT_FALSE(IsMailAddress("a@b@c"));
  EXPECT_FALSE(IsMailAddress("a b@example.com"));
  EXPECT_FALSE(IsMailAddress("ops@example.com\r\nBcc: x@y.z"));
}

}  // namespace
}  // namespace klaxon
