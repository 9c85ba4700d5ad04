#include "probes/syslog.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <limits>
#include <list>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"

namespace klaxon {
namespace {

namespace asio = boost::asio;

// ---------------------------------------------------------------------------
// Parsing

absl::Status ErrorAt(size_t column, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("syslog: ", what, " at column ", column));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Every read is bounds-checked here, so the parsers above it cannot run off
// the end of a message whatever it holds.
class Cursor {
 public:
  explicit Cursor(absl::string_view text) : text_(text) {}

  size_t pos() const { return pos_; }
  size_t column() const { return pos_ + 1; }
  bool AtEnd() const { return pos_ >= text_.size(); }
  // The byte `ahead` positions on, or NUL past the end (callers that care
  // about a real NUL check Has() first).
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  bool Has(size_t n) const { return text_.size() - pos_ >= n; }
  bool Is(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool Consume(char c) {
    if (!Is(c)) return false;
    ++pos_;
    return true;
  }
  void Advance(size_t n) { pos_ = std::min(text_.size(), pos_ + n); }
  absl::string_view Rest() const { return text_.substr(pos_); }

  // Reads up to `max_digits` (at most 9, so that int cannot overflow) decimal
  // digits; returns how many were read.
  int Number(int max_digits, int* value) {
    max_digits = std::min(max_digits, 9);
    int n = 0;
    int v = 0;
    while (n < max_digits && pos_ < text_.size() && IsDigit(text_[pos_])) {
      v = v * 10 + (text_[pos_] - '0');
      ++pos_;
      ++n;
    }
    *value = v;
    return n;
  }
  // Exactly `digits` digits, or false with the position unchanged.
  bool Fixed(int digits, int* value) {
    const size_t start = pos_;
    if (Number(digits, value) == digits) return true;
    pos_ = start;
    return false;
  }
  // The bytes up to the next space (or the end).
  absl::string_view Word() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ' ') ++pos_;
    return text_.substr(start, pos_ - start);
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

constexpr absl::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};

// 1..12 for a three-letter English month name in any case, else 0.
int MonthNumber(absl::string_view name) {
  if (name.size() != 3) return 0;
  char lower[3];
  for (int i = 0; i < 3; ++i) lower[i] = absl::ascii_tolower(static_cast<unsigned char>(name[i]));
  for (int m = 0; m < 12; ++m) {
    if (absl::string_view(lower, 3) == kMonths[m]) return m + 1;
  }
  return 0;
}

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Checks hour, minute and second; `column` is where the time starts.
absl::Status CheckTimeOfDay(int hour, int minute, int second, size_t column) {
  if (hour > 23) return ErrorAt(column, absl::StrCat("TIMESTAMP: hour ", hour, " out of range"));
  if (minute > 59) {
    return ErrorAt(column + 3, absl::StrCat("TIMESTAMP: minute ", minute, " out of range"));
  }
  // 60 is a leap second; civil time carries it into the next minute.
  if (second > 60) {
    return ErrorAt(column + 6, absl::StrCat("TIMESTAMP: second ", second, " out of range"));
  }
  return absl::OkStatus();
}

// ".digits": the fraction of a second, to nanoseconds; further digits are read
// and ignored. Nothing when there is no '.' followed by a digit.
absl::Duration ParseFraction(Cursor& c) {
  if (!c.Is('.') || !IsDigit(c.Peek(1))) return absl::ZeroDuration();
  c.Advance(1);
  int64_t nanos = 0;
  int digits = 0;
  while (c.Has(1) && IsDigit(c.Peek())) {
    if (digits < 9) {
      nanos = nanos * 10 + (c.Peek() - '0');
      ++digits;
    }
    c.Advance(1);
  }
  for (; digits < 9; ++digits) nanos *= 10;
  return absl::Nanoseconds(nanos);
}

// RFC 3339 as RFC 5424 restricts it ("2024-11-24T10:00:00.123+01:00"), plus a
// lowercase t/z and a "+hhmm" offset. Without an offset (allowed only when
// `local` is given) the time is read in *local.
absl::Status ParseRfc3339(Cursor& c, const absl::TimeZone* local, absl::Time* out) {
  const size_t start = c.column();
  int year, month, day, hour, minute, second;
  if (!c.Fixed(4, &year) || !c.Consume('-')) {
    return ErrorAt(c.column(), "TIMESTAMP: expected YYYY-MM-DD");
  }
  if (!c.Fixed(2, &month) || !c.Consume('-')) {
    return ErrorAt(c.column(), "TIMESTAMP: expected a two-digit month and '-'");
  }
  if (!c.Fixed(2, &day)) return ErrorAt(c.column(), "TIMESTAMP: expected a two-digit day");
  if (month < 1 || month > 12) {
    return ErrorAt(start + 5, absl::StrCat("TIMESTAMP: month ", month, " out of range"));
  }
  if (day < 1 || day > DaysInMonth(year, month)) {
    return ErrorAt(start + 8, absl::StrCat("TIMESTAMP: day ", day, " out of range"));
  }
  if (!c.Consume('T') && !c.Consume('t')) {
    return ErrorAt(c.column(), "TIMESTAMP: expected 'T' between date and time");
  }
  const size_t time_column = c.column();
  if (!c.Fixed(2, &hour) || !c.Consume(':') || !c.Fixed(2, &minute) || !c.Consume(':') ||
      !c.Fixed(2, &second)) {
    return ErrorAt(c.column(), "TIMESTAMP: expected hh:mm:ss");
  }
  if (absl::Status s = CheckTimeOfDay(hour, minute, second, time_column); !s.ok()) return s;
  const absl::Duration fraction = ParseFraction(c);
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (c.Consume('Z') || c.Consume('z')) {
    *out = absl::FromCivil(civil, absl::UTCTimeZone()) + fraction;
    return absl::OkStatus();
  }
  if (c.Is('+') || c.Is('-')) {
    const size_t offset_column = c.column();
    const int sign = c.Is('-') ? -1 : 1;
    c.Advance(1);
    int offset_hours, offset_minutes;
    if (!c.Fixed(2, &offset_hours)) {
      return ErrorAt(c.column(), "TIMESTAMP: expected a zone offset +hh:mm");
    }
    c.Consume(':');
    if (!c.Fixed(2, &offset_minutes)) {
      return ErrorAt(c.column(), "TIMESTAMP: expected the minutes of the zone offset");
    }
    if (offset_hours > 23 || offset_minutes > 59) {
      return ErrorAt(offset_column, "TIMESTAMP: zone offset out of range");
    }
    const absl::Duration offset = absl::Hours(offset_hours) + absl::Minutes(offset_minutes);
    *out = absl::FromCivil(civil, absl::UTCTimeZone()) - sign * offset + fraction;
    return absl::OkStatus();
  }
  if (local == nullptr) {
    return ErrorAt(c.column(), "TIMESTAMP: expected 'Z' or a zone offset");
  }
  *out = absl::FromCivil(civil, *local) + fraction;
  return absl::OkStatus();
}

// <PRI>: 1-3 digits, 0..191 (leading zeros tolerated). No '<': no PRI.
absl::Status ParsePri(Cursor& c, SyslogMessage& m) {
  if (!c.Consume('<')) return absl::OkStatus();
  const size_t digits_column = c.column();
  int value;
  const int digits = c.Number(3, &value);
  if (digits == 0) return ErrorAt(c.column(), "PRI: expected a number after '<'");
  if (c.Has(1) && IsDigit(c.Peek())) return ErrorAt(digits_column, "PRI: more than 3 digits");
  if (!c.Consume('>')) return ErrorAt(c.column(), "PRI: expected '>'");
  if (value > 191) {
    return ErrorAt(digits_column, absl::StrCat("PRI ", value, " out of range 0..191"));
  }
  m.facility = value / 8;
  m.severity = value % 8;
  return absl::OkStatus();
}

// Whether the bytes after PRI are an RFC 5424 header: VERSION SP, then a
// NILVALUE timestamp or a four-digit year and '-'. Anything weaker is a
// 3164 message whose text happens to start with a number.
bool LooksLikeRfc5424(absl::string_view rest) {
  size_t i = 0;
  if (rest.empty() || rest[0] < '1' || rest[0] > '9') return false;
  while (i < rest.size() && i < 3 && IsDigit(rest[i])) ++i;
  if (i >= rest.size() || rest[i] != ' ') return false;
  absl::string_view ts = rest.substr(i + 1);
  if (ts.size() >= 2 && ts[0] == '-' && ts[1] == ' ') return true;
  return ts.size() >= 5 && IsDigit(ts[0]) && IsDigit(ts[1]) && IsDigit(ts[2]) && IsDigit(ts[3]) &&
         ts[4] == '-';
}

// SD-NAME: PRINTUSASCII except '=', SP, ']' and '"'.
absl::string_view SdName(Cursor& c, absl::string_view text) {
  const size_t start = c.pos();
  while (c.Has(1)) {
    const char ch = c.Peek();
    if (ch < 33 || ch > 126 || ch == '=' || ch == ']' || ch == '"') break;
    c.Advance(1);
  }
  return text.substr(start, c.pos() - start);
}

// One or more SD-ELEMENTs from '['; appends them to *out when it is given.
// Lenient where senders are: an unescaped ']' inside a quoted value, a
// backslash before any other byte (kept, as RFC 5424 says), extra spaces.
absl::Status ParseSdElements(Cursor& c, absl::string_view text, std::vector<SyslogSdElement>* out) {
  while (c.Consume('[')) {
    SyslogSdElement* element = nullptr;
    if (out != nullptr) element = &out->emplace_back();
    const absl::string_view id = SdName(c, text);
    if (id.empty()) return ErrorAt(c.column(), "STRUCTURED-DATA: expected an SD-ID after '['");
    if (element != nullptr) element->id = std::string(id);
    while (true) {
      if (c.Consume(']')) break;
      if (!c.Consume(' ')) {
        if (c.AtEnd()) return ErrorAt(c.column(), "STRUCTURED-DATA: unterminated SD-ELEMENT");
        return ErrorAt(c.column(), "STRUCTURED-DATA: expected ' ' or ']' in SD-ELEMENT");
      }
      while (c.Consume(' ')) {
      }
      if (c.Consume(']')) break;
      const absl::string_view name = SdName(c, text);
      if (name.empty()) return ErrorAt(c.column(), "STRUCTURED-DATA: expected a PARAM-NAME");
      if (!c.Consume('=')) return ErrorAt(c.column(), "STRUCTURED-DATA: expected '='");
      if (!c.Consume('"')) return ErrorAt(c.column(), "STRUCTURED-DATA: expected '\"'");
      const size_t value_column = c.column();
      std::string* value = nullptr;
      if (element != nullptr) {
        element->params.push_back({std::string(name), ""});
        value = &element->params.back().value;
      }
      while (true) {
        if (c.AtEnd()) {
          return ErrorAt(value_column, "STRUCTURED-DATA: unterminated PARAM-VALUE");
        }
        const char ch = c.Peek();
        if (ch == '"') {
          c.Advance(1);
          break;
        }
        if (ch == '\\' && c.Has(2) && (c.Peek(1) == '"' || c.Peek(1) == '\\' || c.Peek(1) == ']')) {
          if (value != nullptr) value->push_back(c.Peek(1));
          c.Advance(2);
          continue;
        }
        if (value != nullptr) value->push_back(ch);
        c.Advance(1);
      }
    }
  }
  return absl::OkStatus();
}

// A header field: the bytes up to the next space, "-" meaning none.
absl::Status HeaderField(Cursor& c, absl::string_view name, std::string& out) {
  if (c.AtEnd()) return ErrorAt(c.column(), absl::StrCat("message ends before ", name));
  const size_t column = c.column();
  const absl::string_view word = c.Word();
  if (word.empty()) return ErrorAt(column, absl::StrCat(name, " is empty (two spaces)"));
  if (!c.Consume(' ')) {
    return ErrorAt(c.column(), absl::StrCat("message ends after ", name));
  }
  if (word == "-") {
    out.clear();
  } else {
    out.assign(word.data(), word.size());
  }
  return absl::OkStatus();
}

void SetMessage(absl::string_view text, SyslogMessage& m) {
  m.message.assign(text.data(), text.size());
}

absl::Status ParseRfc5424(Cursor& c, absl::string_view text, SyslogMessage& m) {
  m.format = SyslogFormat::kRfc5424;
  const size_t version_column = c.column();
  int version;
  c.Number(3, &version);
  if (version != 1) {
    return ErrorAt(version_column, absl::StrCat("unsupported syslog protocol version ", version));
  }
  c.Consume(' ');
  if (c.Consume('-')) {
    m.timestamp.reset();
  } else {
    absl::Time t;
    if (absl::Status s = ParseRfc3339(c, nullptr, &t); !s.ok()) return s;
    m.timestamp = t;
  }
  if (!c.Consume(' ')) {
    if (c.AtEnd()) return ErrorAt(c.column(), "message ends after TIMESTAMP");
    return ErrorAt(c.column(), "TIMESTAMP: unexpected character");
  }
  if (absl::Status s = HeaderField(c, "HOSTNAME", m.hostname); !s.ok()) return s;
  if (absl::Status s = HeaderField(c, "APP-NAME", m.app_name); !s.ok()) return s;
  if (absl::Status s = HeaderField(c, "PROCID", m.procid); !s.ok()) return s;
  // Read by hand, so that a message ending here says STRUCTURED-DATA is missing.
  if (c.AtEnd()) return ErrorAt(c.column(), "message ends before MSGID");
  {
    const size_t column = c.column();
    const absl::string_view word = c.Word();
    if (word.empty()) return ErrorAt(column, "MSGID is empty (two spaces)");
    if (word == "-") {
      m.msgid.clear();
    } else {
      m.msgid.assign(word.data(), word.size());
    }
    if (!c.Consume(' ')) return ErrorAt(c.column(), "message ends before STRUCTURED-DATA");
  }
  if (c.AtEnd()) return ErrorAt(c.column(), "message ends before STRUCTURED-DATA");
  if (c.Is('-') && (!c.Has(2) || c.Peek(1) == ' ')) {
    c.Advance(1);
    m.structured_data.clear();
  } else if (c.Is('[')) {
    const size_t start = c.pos();
    if (absl::Status s = ParseSdElements(c, text, nullptr); !s.ok()) return s;
    m.structured_data.assign(text.data() + start, c.pos() - start);
  } else {
    // No SD field at all (seen from hand-rolled senders): the rest is MSG.
    m.structured_data.clear();
    SetMessage(c.Rest(), m);
    return absl::OkStatus();
  }
  if (c.AtEnd()) {
    m.message.clear();
    return absl::OkStatus();
  }
  if (!c.Consume(' ')) return ErrorAt(c.column(), "expected ' ' after STRUCTURED-DATA");
  absl::string_view msg = c.Rest();
  if (msg.size() >= 3 && msg.substr(0, 3) == "\xEF\xBB\xBF") msg.remove_prefix(3);
  SetMessage(msg, m);
  return absl::OkStatus();
}

// Whether an RFC 3339 timestamp starts `ahead` bytes on, by its shape
// "YYYY-MM-DDThh:mm:ss" (so "2024-11-24 backup done" stays text).
bool LooksLikeIsoTimestamp(const Cursor& c, size_t ahead) {
  constexpr absl::string_view kShape = "0000-00-00T00:00:00";
  if (!c.Has(ahead + kShape.size())) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    const char ch = c.Peek(ahead + i);
    const bool ok = kShape[i] == '0'   ? IsDigit(ch)
                    : kShape[i] == 'T' ? (ch == 'T' || ch == 't')
                                       : ch == kShape[i];
    if (!ok) return false;
  }
  return true;
}

// Whether a timestamp starts here: an optional Cisco '*' or '.', then
// "Mmm " or an RFC 3339 timestamp.
bool LooksLikeTimestamp(const Cursor& c) {
  size_t i = 0;
  if (c.Peek() == '*' || c.Peek() == '.') i = 1;
  if (!c.Has(i + 5)) return false;
  if (IsDigit(c.Peek(i))) return LooksLikeIsoTimestamp(c, i);
  const char name[3] = {c.Peek(i), c.Peek(i + 1), c.Peek(i + 2)};
  return MonthNumber(absl::string_view(name, 3)) != 0 && c.Peek(i + 3) == ' ';
}

// Picks the year for a yearless date: the one of now's year and its
// neighbours in which the date lies nearest to `now`.
absl::Status ResolveYear(int month, int day, int hour, int minute, int second,
                         absl::Duration fraction, absl::Time now, absl::TimeZone zone,
                         size_t column, absl::Time* out) {
  const int64_t year = absl::ToCivilYear(now, zone).year();
  bool found = false;
  absl::Duration best_distance;
  for (int64_t y : {year, year - 1, year + 1}) {
    if (day > DaysInMonth(y, month)) continue;  // Feb 29 outside leap years
    const absl::Time t =
        absl::FromCivil(absl::CivilSecond(y, month, day, hour, minute, second), zone) + fraction;
    const absl::Duration distance = absl::AbsDuration(t - now);
    if (!found || distance < best_distance) {
      found = true;
      best_distance = distance;
      *out = t;
    }
  }
  if (!found) return ErrorAt(column, "TIMESTAMP: Feb 29 in no leap year near now");
  return absl::OkStatus();
}

// "Mmm dd hh:mm:ss" with the variants seen in the wild: a space-padded or
// one-digit day, a year before the time ("Nov 24 2024 10:00:00", Cisco and
// ASA), a fraction after it. The caller saw LooksLikeTimestamp. Returns
// kNotFound (position unchanged) when the shape does not match, so that the
// text is taken as message; a matching shape with bad values is an error.
absl::Status ParseBsdTimestamp(Cursor& c, absl::Time now, absl::TimeZone zone, absl::Time* out) {
  const Cursor start = c;
  const size_t column = c.column();
  const char name[3] = {c.Peek(), c.Peek(1), c.Peek(2)};
  const int month = MonthNumber(absl::string_view(name, 3));
  c.Advance(4);
  if (c.Is(' ')) c.Advance(1);  // "Nov  4"
  const size_t day_column = c.column();
  int day, hour, minute, second, year = 0;
  bool has_year = false;
  if (c.Number(2, &day) == 0 || !c.Consume(' ')) {
    c = start;
    return absl::NotFoundError("");
  }
  {
    Cursor y = c;
    if (y.Fixed(4, &year) && y.Consume(' ')) {
      c = y;
      has_year = true;
    }
  }
  const size_t time_column = c.column();
  if (!c.Fixed(2, &hour) || !c.Consume(':') || !c.Fixed(2, &minute) || !c.Consume(':') ||
      !c.Fixed(2, &second)) {
    c = start;
    return absl::NotFoundError("");
  }
  if (day < 1 || day > (has_year ? DaysInMonth(year, month) : DaysInMonth(2000, month))) {
    return ErrorAt(day_column, absl::StrCat("TIMESTAMP: day ", day, " out of range for ",
                                            absl::string_view(name, 3)));
  }
  if (absl::Status s = CheckTimeOfDay(hour, minute, second, time_column); !s.ok()) return s;
  const absl::Duration fraction = ParseFraction(c);
  // Cisco appends its zone name before the colon: "10:00:00.123 UTC:". Only
  // UTC and GMT can be read without a zone database of abbreviations.
  absl::TimeZone use_zone = zone;
  {
    Cursor z = c;
    if (z.Consume(' ')) {
      const size_t begin = z.pos();
      while (z.Has(1) && absl::ascii_isupper(static_cast<unsigned char>(z.Peek()))) z.Advance(1);
      const size_t letters = z.pos() - begin;
      if (letters >= 3 && letters <= 5 && z.Is(':')) {
        const absl::string_view abbreviation = c.Rest().substr(1, letters);
        if (abbreviation == "UTC" || abbreviation == "GMT") use_zone = absl::UTCTimeZone();
        c = z;
      }
    }
  }
  if (has_year) {
    *out = absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second), use_zone) +
           fraction;
    return absl::OkStatus();
  }
  return ResolveYear(month, day, hour, minute, second, fraction, now, use_zone, column, out);
}

bool IsHostnameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
         c == ':';
}

// TAG[PID]: at c, taken only when it ends in ": " (or ":" at the end) or is
// `name[pid]` followed by a space; otherwise the message keeps all its text.
void ParseTag(Cursor& c, absl::string_view text, SyslogMessage& m) {
  Cursor t = c;
  const size_t name_start = t.pos();
  while (t.Has(1) && t.Peek() != ' ' && t.Peek() != ':' && t.Peek() != '[') t.Advance(1);
  const absl::string_view name = text.substr(name_start, t.pos() - name_start);
  if (name.empty()) return;
  absl::string_view pid;
  if (t.Consume('[')) {
    const size_t pid_start = t.pos();
    while (t.Has(1) && t.Peek() != ']' && t.Peek() != ' ') t.Advance(1);
    if (!t.Is(']')) return;
    pid = text.substr(pid_start, t.pos() - pid_start);
    t.Advance(1);
    if (t.Consume(':')) {
      if (!t.AtEnd() && !t.Is(' ')) return;
    } else if (!t.Is(' ')) {
      return;
    }
  } else {
    if (!t.Consume(':')) return;
    if (!t.AtEnd() && !t.Is(' ')) return;  // "http://...", "10:00" are text
  }
  t.Consume(' ');
  m.app_name.assign(name.data(), name.size());
  m.procid.assign(pid.data(), pid.size());
  c = t;
}

absl::Status ParseRfc3164(Cursor& c, absl::string_view text, absl::Time now, absl::TimeZone zone,
                          SyslogMessage& m) {
  m.format = SyslogFormat::kRfc3164;
  // Cisco IOS: "SEQ: [HOST: ]*TIMESTAMP: ". Taken only when a timestamp
  // follows, so that "404: not found" stays text.
  if (!LooksLikeTimestamp(c)) {
    Cursor p = c;
    int seq;
    const bool has_seq = p.Number(9, &seq) > 0 && p.Consume(':') && p.Consume(' ');
    if (!has_seq) p = c;
    if (has_seq && LooksLikeTimestamp(p)) {
      c = p;
    } else {
      Cursor h = p;
      const size_t host_start = h.pos();
      while (h.Has(1) && IsHostnameChar(h.Peek()) && h.Peek() != ':') h.Advance(1);
      const absl::string_view host = text.substr(host_start, h.pos() - host_start);
      if (!host.empty() && h.Consume(':') && h.Consume(' ') && LooksLikeTimestamp(h)) {
        m.hostname.assign(host.data(), host.size());
        c = h;
      }
    }
  }
  bool has_timestamp = false;
  bool cisco_colon = false;
  if (LooksLikeTimestamp(c)) {
    const Cursor before = c;
    if (c.Is('*') || c.Is('.')) c.Advance(1);
    absl::Time t;
    absl::Status s =
        IsDigit(c.Peek()) ? ParseRfc3339(c, &zone, &t) : ParseBsdTimestamp(c, now, zone, &t);
    if (absl::IsNotFound(s)) {
      c = before;
    } else if (!s.ok()) {
      return s;
    } else {
      m.timestamp = t;
      has_timestamp = true;
      cisco_colon = c.Consume(':');
      if (!c.AtEnd() && !c.Consume(' ')) {
        return ErrorAt(c.column(), "TIMESTAMP: expected ' ' after it");
      }
    }
  }
  if (has_timestamp && !cisco_colon && m.hostname.empty()) {
    // A hostname is a plain word followed by more text; a word ending in ':'
    // or holding '[' is the TAG of a sender that sent no hostname (glibc's
    // syslog(3), journald's forwarding).
    Cursor h = c;
    const absl::string_view word = h.Word();
    const bool is_hostname = !word.empty() && h.Is(' ') && word.back() != ':' &&
                             std::all_of(word.begin(), word.end(), IsHostnameChar);
    if (is_hostname) {
      m.hostname.assign(word.data(), word.size());
      h.Advance(1);
      // Cisco ASA with a hostname: "fw01 : %ASA-6-...".
      if (h.Is(':') && h.Peek(1) == ' ') h.Advance(2);
      c = h;
    }
  }
  ParseTag(c, text, m);
  SetMessage(c.Rest(), m);
  return absl::OkStatus();
}

void ResetMessage(SyslogMessage& m) {
  m.format = SyslogFormat::kRfc3164;
  m.facility = 1;
  m.severity = 5;
  m.timestamp.reset();
  m.hostname.clear();
  m.app_name.clear();
  m.procid.clear();
  m.msgid.clear();
  m.structured_data.clear();
  m.message.clear();
  m.malformed = false;
  m.truncated = false;
}

absl::string_view StripLineEnd(absl::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == '\0')) {
    text.remove_suffix(1);
  }
  return text;
}

// Parses into `m`, reusing its strings' capacity: the listener parses every
// message into one scratch value and so allocates nothing in steady state.
absl::Status ParseInto(absl::string_view text, absl::Time now, absl::TimeZone zone,
                       SyslogMessage& m) {
  ResetMessage(m);
  text = StripLineEnd(text);
  if (text.empty()) return ErrorAt(1, "empty message");
  Cursor c(text);
  if (absl::Status s = ParsePri(c, m); !s.ok()) return s;
  if (c.pos() > 0 && LooksLikeRfc5424(c.Rest())) return ParseRfc5424(c, text, m);
  return ParseRfc3164(c, text, now, zone, m);
}

}  // namespace

absl::StatusOr<SyslogMessage> ParseSyslog(absl::string_view message, absl::Time now,
                                          absl::TimeZone zone) {
  SyslogMessage m;
  if (absl::Status s = ParseInto(message, now, zone, m); !s.ok()) return s;
  return m;
}

absl::StatusOr<std::vector<SyslogSdElement>> ParseSyslogStructuredData(absl::string_view sd) {
  std::vector<SyslogSdElement> elements;
  if (sd.empty() || sd == "-") return elements;
  Cursor c(sd);
  if (!c.Is('[')) return ErrorAt(1, "STRUCTURED-DATA: expected '['");
  if (absl::Status s = ParseSdElements(c, sd, &elements); !s.ok()) return s;
  if (!c.AtEnd()) return ErrorAt(c.column(), "STRUCTURED-DATA: unexpected text after ']'");
  return elements;
}

// ---------------------------------------------------------------------------
// Framing

namespace {
// LEN has no more digits than this; longer digit runs start a plain line.
constexpr size_t kMaxLengthDigits = 10;
}  // namespace

SyslogFramer::SyslogFramer(size_t max_message_bytes)
    : max_message_bytes_(std::max<size_t>(max_message_bytes, 16)) {}

void SyslogFramer::Emit(absl::string_view frame, bool truncated, FrameCallback on_frame) {
  if (mode_ != Mode::kCounted) {
    while (!frame.empty() && frame.back() == '\r') frame.remove_suffix(1);
  }
  on_frame(frame, truncated);
}

void SyslogFramer::Feed(absl::string_view data, FrameCallback on_frame) {
  size_t i = 0;
  while (i < data.size()) {
    switch (mode_) {
      case Mode::kFrameStart: {
        const char c = data[i];
        if (c == '\n' || c == '\r' || c == '\0') {
          ++i;  // blank separators, and the LF some senders add after a counted frame
        } else if (c >= '1' && c <= '9') {
          buffer_.clear();
          length_ = 0;
          mode_ = Mode::kLength;
        } else {
          buffer_.clear();
          mode_ = Mode::kLine;
        }
        break;
      }
      case Mode::kLength: {
        const char c = data[i];
        if (IsDigit(c) && buffer_.size() < kMaxLengthDigits) {
          buffer_.push_back(c);
          length_ = length_ * 10 + static_cast<uint64_t>(c - '0');
          ++i;
        } else if (c == ' ') {
          ++i;
          buffer_.clear();
          remaining_ = length_;
          mode_ = Mode::kCounted;
        } else {
          // Not a length after all: the digits begin a terminated message.
          mode_ = Mode::kLine;
        }
        break;
      }
      case Mode::kCounted: {
        const size_t available = data.size() - i;
        if (buffer_.empty() && available >= remaining_ && remaining_ <= max_message_bytes_) {
          Emit(data.substr(i, remaining_), false, on_frame);  // no copy
          i += remaining_;
          mode_ = Mode::kFrameStart;
          break;
        }
        const size_t take = static_cast<size_t>(std::min<uint64_t>(available, remaining_));
        const size_t keep = std::min(take, max_message_bytes_ - buffer_.size());
        buffer_.append(data.data() + i, keep);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          Emit(buffer_, length_ > max_message_bytes_, on_frame);
          buffer_.clear();
          mode_ = Mode::kFrameStart;
        } else if (buffer_.size() == max_message_bytes_) {
          // Deliver what fits now; the rest is skipped, not held.
          Emit(buffer_, true, on_frame);
          buffer_.clear();
          mode_ = remaining_ > 0 ? Mode::kSkipCounted : Mode::kFrameStart;
        }
        break;
      }
      case Mode::kSkipCounted: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(data.size() - i, remaining_));
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) mode_ = Mode::kFrameStart;
        break;
      }
      case Mode::kLine: {
        const char* begin = data.data() + i;
        const size_t available = data.size() - i;
        size_t end = available;
        if (const void* lf = std::memchr(begin, '\n', available)) {
          end = static_cast<const char*>(lf) - begin;
        }
        if (const void* nul = std::memchr(begin, '\0', end)) {
          end = static_cast<const char*>(nul) - begin;
        }
        const size_t room =
            buffer_.size() < max_message_bytes_ ? max_message_bytes_ - buffer_.size() : 0;
        if (end < available) {  // terminated here
          if (buffer_.empty() && end <= max_message_bytes_) {
            Emit(absl::string_view(begin, end), false, on_frame);  // no copy
          } else {
            const size_t keep = std::min(end, room);
            buffer_.append(begin, keep);
            Emit(buffer_, keep < end, on_frame);
            buffer_.clear();
          }
          i += end + 1;
          mode_ = Mode::kFrameStart;
        } else {
          const size_t keep = std::min(available, room);
          buffer_.append(begin, keep);
          i += available;
          if (keep < available) {
            Emit(buffer_, true, on_frame);
            buffer_.clear();
            mode_ = Mode::kSkipLine;
          }
        }
        break;
      }
      case Mode::kSkipLine: {
        const char* begin = data.data() + i;
        const size_t available = data.size() - i;
        size_t end = available;
        if (const void* lf = std::memchr(begin, '\n', available)) {
          end = static_cast<const char*>(lf) - begin;
        }
        if (const void* nul = std::memchr(begin, '\0', end)) {
          end = static_cast<const char*>(nul) - begin;
        }
        if (end < available) {
          i += end + 1;
          mode_ = Mode::kFrameStart;
        } else {
          i += available;
        }
        break;
      }
    }
  }
}

void SyslogFramer::Finish(FrameCallback on_frame) {
  switch (mode_) {
    case Mode::kLength:
    case Mode::kLine:
      if (!buffer_.empty()) {
        mode_ = Mode::kLine;
        Emit(buffer_, false, on_frame);
      }
      break;
    case Mode::kCounted:
      if (!buffer_.empty()) Emit(buffer_, true, on_frame);
      break;
    case Mode::kFrameStart:
    case Mode::kSkipCounted:
    case Mode::kSkipLine:
      break;
  }
  buffer_.clear();
  buffer_.shrink_to_fit();
  length_ = 0;
  remaining_ = 0;
  mode_ = Mode::kFrameStart;
}

// ---------------------------------------------------------------------------
// Listener

namespace {

// Bytes read from a TCP connection per system call.
constexpr size_t kTcpReadBytes = 16 * 1024;
// After an accept error such as EMFILE, wait this long before accepting again
// instead of spinning.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// The largest UDP payload over IPv4 or IPv6 without jumbograms.
constexpr size_t kMaxDatagramBytes = 65535;

absl::Status BindError(absl::string_view what, const std::string& address,
                       const boost::system::error_code& ec) {
  const std::string message =
      absl::StrCat("syslog: cannot ", what, " ", address, ": ", ec.message());
  if (ec == boost::asio::error::access_denied) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

// Splits "host:port" or "[v6]:port".
absl::Status SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("syslog: address \"", address, "\": ", why, " (expected HOST:PORT)"));
  };
  size_t colon;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos) return bad("unclosed '['");
    *host = address.substr(1, close - 1);
    colon = close + 1;
    if (colon >= address.size() || address[colon] != ':') return bad("no port");
  } else {
    colon = address.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    *host = address.substr(0, colon);
    if (host->find(':') != std::string::npos) return bad("IPv6 hosts go in brackets");
  }
  *port = address.substr(colon + 1);
  uint32_t number;
  if (!absl::SimpleAtoi(*port, &number) || number > 65535) return bad("bad port");
  if (host->empty()) return bad("no host");
  return absl::OkStatus();
}

template <typename Endpoint>
std::string FormatEndpoint(const Endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  if (address.is_v6()) return absl::StrCat("[", address.to_string(), "]:", endpoint.port());
  return absl::StrCat(address.to_string(), ":", endpoint.port());
}

template <typename Protocol>
absl::StatusOr<typename Protocol::endpoint> Resolve(asio::io_context& io,
                                                    const std::string& address) {
  std::string host, port;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  typename Protocol::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, Protocol::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("syslog: cannot resolve \"", address,
                                                   "\": ", ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint();
}

}  // namespace

struct SyslogListener::State {
  struct Connection {
    Connection(asio::io_context& io, size_t max_message_bytes)
        : socket(io), framer(max_message_bytes) {}
    asio::ip::tcp::socket socket;
    SyslogFramer framer;
    std::array<char, kTcpReadBytes> buffer;
    std::list<std::shared_ptr<Connection>>::iterator self;
  };

  State(SyslogListenerOptions options, MessageCallback on_message)
      : options(std::move(options)), on_message(std::move(on_message)), accept_retry(io) {
    udp_buffer.resize(std::min(this->options.max_message_bytes + 1, kMaxDatagramBytes));
  }

  absl::Status Bind() {
    boost::system::error_code ec;
    if (!options.udp_address.empty()) {
      absl::StatusOr<asio::ip::udp::endpoint> endpoint =
          Resolve<asio::ip::udp>(io, options.udp_address);
      if (!endpoint.ok()) return endpoint.status();
      udp.emplace(io);
      udp->open(endpoint->protocol(), ec);
      if (ec) return BindError("open", options.udp_address, ec);
      // Best effort: the kernel caps it and an unprivileged process cannot
      // raise the cap.
      udp->set_option(asio::socket_base::receive_buffer_size(options.udp_receive_buffer_bytes), ec);
      udp->bind(*endpoint, ec);
      if (ec) return BindError("bind", options.udp_address, ec);
      udp_bound = FormatEndpoint(udp->local_endpoint(ec));
    }
    if (!options.tcp_address.empty()) {
      absl::StatusOr<asio::ip::tcp::endpoint> endpoint =
          Resolve<asio::ip::tcp>(io, options.tcp_address);
      if (!endpoint.ok()) return endpoint.status();
      acceptor.emplace(io);
      acceptor->open(endpoint->protocol(), ec);
      if (ec) return BindError("open", options.tcp_address, ec);
      acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      acceptor->bind(*endpoint, ec);
      if (ec) return BindError("bind", options.tcp_address, ec);
      acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return BindError("listen on", options.tcp_address, ec);
      tcp_bound = FormatEndpoint(acceptor->local_endpoint(ec));
    }
    return absl::OkStatus();
  }

  void Run() {
    if (udp) ReceiveDatagram();
    if (acceptor) Accept();
    thread = std::thread([this] { io.run(); });
  }

  void Stop() {
    if (stopped.exchange(true)) return;
    io.stop();
    if (thread.joinable()) thread.join();
    // The thread is gone: closing from here races with nothing.
    boost::system::error_code ec;
    if (udp) udp->close(ec);
    if (acceptor) acceptor->close(ec);
    for (const std::shared_ptr<Connection>& connection : connections) {
      connection->socket.close(ec);
    }
    connections.clear();
    open_connections.store(0, std::memory_order_relaxed);
  }

  void Deliver(absl::string_view raw, bool truncated) {
    const absl::Time now = options.clock != nullptr ? options.clock->WallNow() : absl::Now();
    received.fetch_add(1, std::memory_order_relaxed);
    if (!ParseInto(raw, now, options.rfc3164_zone, scratch).ok()) {
      ResetMessage(scratch);
      scratch.message.assign(raw.data(), raw.size());
      scratch.malformed = true;
      malformed.fetch_add(1, std::memory_order_relaxed);
    }
    if (truncated) {
      scratch.truncated = true;
      this->truncated.fetch_add(1, std::memory_order_relaxed);
    }
    on_message(scratch);
  }

  void ReceiveDatagram() {
    udp->async_receive_from(asio::buffer(udp_buffer), udp_peer,
                            [this](boost::system::error_code ec, size_t n) {
                              if (ec == asio::error::operation_aborted) return;
                              if (!ec && n > 0) {
                                absl::string_view datagram(udp_buffer.data(), n);
                                bool cut = false;
                                if (datagram.size() > options.max_message_bytes) {
                                  datagram = datagram.substr(0, options.max_message_bytes);
                                  cut = true;
                                }
                                datagram = StripLineEnd(datagram);
                                if (!datagram.empty()) Deliver(datagram, cut);
                              }
                              // Errors on a UDP socket (an ICMP report of an earlier send) are
                              // about one datagram, not the socket: keep receiving.
                              ReceiveDatagram();
                            });
  }

  void Accept() {
    acceptor->async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        accept_retry.expires_after(kAcceptRetryDelay);
        accept_retry.async_wait([this](boost::system::error_code wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      if (connections.size() >= options.max_connections) {
        // Counted before the close, so that whoever sees the close sees the count.
        rejected_connections.fetch_add(1, std::memory_order_relaxed);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto connection = std::make_shared<Connection>(io, options.max_message_bytes);
        connection->socket = std::move(socket);
        connections.push_front(connection);
        connection->self = connections.begin();
        this->connections_accepted.fetch_add(1, std::memory_order_relaxed);
        open_connections.store(connections.size(), std::memory_order_relaxed);
        Read(std::move(connection));
      }
      Accept();
    });
  }

  void Read(std::shared_ptr<Connection> connection) {
    Connection& c = *connection;
    c.socket.async_read_some(asio::buffer(c.buffer), [this, connection = std::move(connection)](
                                                         boost::system::error_code ec, size_t n) {
      if (ec == asio::error::operation_aborted) return;
      const auto deliver = [this](absl::string_view frame, bool cut) {
        if (!frame.empty()) Deliver(frame, cut);
      };
      if (n > 0) connection->framer.Feed(absl::string_view(connection->buffer.data(), n), deliver);
      if (ec) {  // EOF or a reset: the peer is done
        connection->framer.Finish(deliver);
        boost::system::error_code ignored;
        connection->socket.close(ignored);
        connections.erase(connection->self);
        open_connections.store(connections.size(), std::memory_order_relaxed);
        return;
      }
      Read(connection);
    });
  }

  const SyslogListenerOptions options;
  const MessageCallback on_message;
  asio::io_context io;
  std::optional<asio::ip::udp::socket> udp;
  std::optional<asio::ip::tcp::acceptor> acceptor;
  asio::steady_timer accept_retry;
  std::string udp_bound;
  std::string tcp_bound;
  // Owned by the listener's thread.
  std::vector<char> udp_buffer;
  asio::ip::udp::endpoint udp_peer;
  std::list<std::shared_ptr<Connection>> connections;
  SyslogMessage scratch;

  std::thread thread;
  std::atomic<bool> stopped{false};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> truncated{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> open_connections{0};
  std::atomic<uint64_t> rejected_connections{0};
};

absl::StatusOr<std::unique_ptr<SyslogListener>> SyslogListener::Start(SyslogListenerOptions options,
                                                                      MessageCallback on_message) {
  if (options.udp_address.empty() && options.tcp_address.empty()) {
    return absl::InvalidArgumentError("syslog: neither a UDP nor a TCP address is set");
  }
  if (options.max_message_bytes < 16) {
    return absl::InvalidArgumentError("syslog: max_message_bytes must be at least 16");
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("syslog: max_connections must be at least 1");
  }
  if (!on_message) return absl::InvalidArgumentError("syslog: no message callback");
  auto state = std::make_unique<State>(std::move(options), std::move(on_message));
  if (absl::Status s = state->Bind(); !s.ok()) return s;
  state->Run();
  return std::unique_ptr<SyslogListener>(new SyslogListener(std::move(state)));
}

SyslogListener::SyslogListener(std::unique_ptr<State> state) : state_(std::move(state)) {}

SyslogListener::~SyslogListener() { Stop(); }

void SyslogListener::Stop() { state_->Stop(); }

std::string SyslogListener::udp_address() const { return state_->udp_bound; }
std::string SyslogListener::tcp_address() const { return state_->tcp_bound; }

SyslogListener::Stats SyslogListener::stats() const {
  Stats s;
  s.received = state_->received.load(std::memory_order_relaxed);
  s.malformed = state_->malformed.load(std::memory_order_relaxed);
  s.truncated = state_->truncated.load(std::memory_order_relaxed);
  s.connections = state_->connections_accepted.load(std::memory_order_relaxed);
  s.open_connections = state_->open_connections.load(std::memory_order_relaxed);
  s.rejected_connections = state_->rejected_connections.load(std::memory_order_relaxed);
  return s;
}

}  // namespace klaxon
