// Syslog as a source of log lines: a parser for RFC 5424 and RFC 3164 (with the
// sloppy variants real daemons send), an RFC 6587 TCP framer, and a listener
// that owns one thread with its UDP and TCP sockets and hands each message to a
// callback. ParseSyslog and SyslogFramer are plain values (thread-compatible);
// SyslogListener is thread-safe for Stop() and its accessors.
//
// Which format a message is read as, after an optional `<PRI>`:
//   - RFC 5424 when a version and a space are followed by "-" or a four-digit
//     year: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`. Errors in
//     such a message are reported, not guessed around; field lengths are not
//     enforced, and a message with no SD field at all has its rest as MSG.
//   - RFC 3164 otherwise, as liberally as rsyslog: `[<PRI>][TIMESTAMP ][HOSTNAME ]
//     [TAG[PID]: ]MSG`. TIMESTAMP is `Mmm dd hh:mm:ss` (optionally with a year
//     before the time and a fraction after it, as Cisco and ASA send) or RFC
//     3339; Cisco's `SEQ: [HOST: ][*.]TIMESTAMP[ TZ]: ` prefix is understood. A
//     TAG is taken only when it ends in ":" (or is `name[pid]`), so a plain
//     message keeps its first word. Text without a PRI is a message too (RFC
//     3164 allows it); only a timestamp with impossible values is an error.
#ifndef KLAXON_PROBES_SYSLOG_H_
#define KLAXON_PROBES_SYSLOG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/clock.h"

namespace klaxon {

enum class SyslogFormat { kRfc5424, kRfc3164 };

struct SyslogMessage {
  SyslogFormat format = SyslogFormat::kRfc3164;
  // From PRI. Without a PRI: user.notice (1, 5), as RFC 3164 §4.3.3 tells a
  // relay to assign.
  int facility = 1;                     // 0..23
  int severity = 5;                     // 0 (emergency) .. 7 (debug)
  std::optional<absl::Time> timestamp;  // unset: NILVALUE or none sent
  std::string hostname;                 // empty: NILVALUE or none sent
  std::string app_name;                 // RFC 3164: the TAG before "[PID]"
  std::string procid;                   // RFC 3164: the PID inside "[...]"
  std::string msgid;                    // RFC 5424 only
  // The SD-ELEMENTs as sent, escapes kept ("[id k=\"v\"][id2]"); empty for
  // NILVALUE. ParseSyslogStructuredData splits them.
  std::string structured_data;
  // The free text, a UTF-8 BOM removed; trailing CR, LF and NUL removed.
  std::string message;
  // Set by SyslogListener only: the text could not be parsed and `message`
  // holds it raw (the other fields keep their defaults).
  bool malformed = false;
  // Set by SyslogListener only: the message was cut at max_message_bytes.
  bool truncated = false;
};

// Parses one syslog message. `now` and `zone` serve RFC 3164 timestamps only,
// which carry neither year nor zone: the year is whichever of now's year and
// its neighbours puts the time nearest to `now` (so "Dec 31 23:59:59" read on
// 1 January is last year's), and the time is read in `zone`. Malformed input
// gives kInvalidArgument naming the problem and its 1-based byte column.
absl::StatusOr<SyslogMessage> ParseSyslog(absl::string_view message, absl::Time now,
                                          absl::TimeZone zone = absl::UTCTimeZone());

struct SyslogSdParam {
  std::string name;
  std::string value;  // unescaped
  friend bool operator==(const SyslogSdParam&, const SyslogSdParam&) = default;
};
struct SyslogSdElement {
  std::string id;
  std::vector<SyslogSdParam> params;  // in the order sent
  friend bool operator==(const SyslogSdElement&, const SyslogSdElement&) = default;
};

// Splits SyslogMessage::structured_data into elements ("" and "-" give none).
absl::StatusOr<std::vector<SyslogSdElement>> ParseSyslogStructuredData(absl::string_view sd);

// SyslogFramer cuts one TCP byte stream into syslog messages per RFC 6587,
// deciding per message between octet counting ("LEN SP MSG", LEN without a
// leading zero) and non-transparent framing (terminated by LF or NUL, a CR
// before the LF dropped). Blank separators between messages are skipped.
// Memory is bounded: a message longer than max_message_bytes is delivered cut,
// flagged truncated, and the rest of it is skipped. Non-copyable because it
// holds the partial message of one connection; thread-compatible.
class SyslogFramer {
 public:
  // `frame` is valid only during the call.
  using FrameCallback = absl::FunctionRef<void(absl::string_view frame, bool truncated)>;

  // max_message_bytes is raised to at least 16.
  explicit SyslogFramer(size_t max_message_bytes);
  SyslogFramer(const SyslogFramer&) = delete;
  SyslogFramer& operator=(const SyslogFramer&) = delete;

  // Any bytes, split anywhere; calls on_frame for each message completed.
  void Feed(absl::string_view bytes, FrameCallback on_frame);
  // The stream ended: delivers an unterminated last message (flagged truncated
  // when an octet-counted one was cut short) and resets.
  void Finish(FrameCallback on_frame);

  // Bytes held for the message in progress; at most max_message_bytes.
  size_t buffered_bytes() const { return buffer_.size(); }

 private:
  enum class Mode { kFrameStart, kLength, kCounted, kSkipCounted, kLine, kSkipLine };
  void Emit(absl::string_view frame, bool truncated, FrameCallback on_frame);

  const size_t max_message_bytes_;
  Mode mode_ = Mode::kFrameStart;
  std::string buffer_;      // the message in progress (or the digits of LEN)
  uint64_t length_ = 0;     // kCounted: LEN as sent
  uint64_t remaining_ = 0;  // kCounted, kSkipCounted: bytes of the message still to come
};

struct SyslogListenerOptions {
  // "HOST:PORT" ("127.0.0.1:5514", "[::1]:5514", "0.0.0.0:514"); port 0 binds a
  // free port. Empty: no such socket. At least one must be set.
  std::string udp_address;
  std::string tcp_address;
  // Default: 64 KiB. Longer messages are cut to this and counted as truncated.
  size_t max_message_bytes = 64 * 1024;
  // Default: 256. Connections past this are closed at once and counted; each
  // holds at most max_message_bytes plus a 16 KiB read buffer.
  size_t max_connections = 256;
  // Default: 4 MiB, capped by the kernel (net.core.rmem_max). UDP has no flow
  // control: a burst beyond this while the callback runs is dropped.
  int udp_receive_buffer_bytes = 4 << 20;
  // RFC 3164 timestamps are read in this zone. Default: this machine's, as
  // rsyslog does.
  absl::TimeZone rfc3164_zone = absl::LocalTimeZone();
  // Where "now" comes from for RFC 3164's missing year. nullptr: the real clock.
  // Must outlive the listener.
  const Clock* clock = nullptr;
};

class SyslogListener {
 public:
  // Called on the listener's thread for each message, in arrival order per
  // socket; it must stay quick and must not throw. The reference is valid only
  // during the call.
  using MessageCallback = std::function<void(const SyslogMessage&)>;

  // Binds the sockets and starts the thread. kInvalidArgument for bad options
  // or addresses; kUnavailable or kPermissionDenied when a bind fails.
  static absl::StatusOr<std::unique_ptr<SyslogListener>> Start(SyslogListenerOptions options,
                                                               MessageCallback on_message);
  // Non-copyable: owns a thread and its sockets.
  SyslogListener(const SyslogListener&) = delete;
  SyslogListener& operator=(const SyslogListener&) = delete;
  ~SyslogListener();  // Stops.

  // Closes the sockets and joins the thread; no callback runs after it
  // returns. Messages not yet read are dropped. Idempotent.
  void Stop();

  // The bound addresses, "127.0.0.1:40123" ("[::1]:40123" for IPv6); empty when
  // not configured.
  std::string udp_address() const;
  std::string tcp_address() const;

  struct Stats {
    uint64_t received = 0;     // messages handed to the callback
    uint64_t malformed = 0;    // of which unparsable
    uint64_t truncated = 0;    // of which cut at max_message_bytes
    uint64_t connections = 0;  // TCP connections accepted, ever
    uint64_t open_connections = 0;
    uint64_t rejected_connections = 0;  // closed at once: max_connections reached
  };
  Stats stats() const;

 private:
  struct State;
  explicit SyslogListener(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_SYSLOG_H_
