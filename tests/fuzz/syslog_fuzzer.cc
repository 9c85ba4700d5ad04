// Fuzzes the syslog parser and the RFC 6587 framer with arbitrary bytes.
// Beyond "no crash, no out-of-bounds read" it checks what callers rely on:
// parsed values in range, structured data that re-parses, frames within the
// bound, and the same frames however the stream is split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "probes/syslog.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

struct Frame {
  std::string text;
  bool truncated;
  bool operator==(const Frame& o) const { return text == o.text && truncated == o.truncated; }
};

std::vector<Frame> FrameAll(absl::string_view stream, size_t max_bytes, size_t piece) {
  std::vector<Frame> frames;
  klaxon::SyslogFramer framer(max_bytes);
  const auto collect = [&](absl::string_view frame, bool truncated) {
    Check(frame.size() <= max_bytes);
    frames.push_back({std::string(frame), truncated});
  };
  for (size_t i = 0; i < stream.size(); i += piece) {
    framer.Feed(stream.substr(i, piece), collect);
    Check(framer.buffered_bytes() <= max_bytes);
  }
  framer.Finish(collect);
  Check(framer.buffered_bytes() == 0);
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  // Near a year's end, so that the year choice is exercised.
  static const absl::Time kNow =
      absl::FromCivil(absl::CivilSecond(2024, 12, 31, 23, 59, 30), absl::UTCTimeZone());
  absl::StatusOr<klaxon::SyslogMessage> m = klaxon::ParseSyslog(input, kNow);
  if (m.ok()) {
    Check(m->facility >= 0 && m->facility <= 23);
    Check(m->severity >= 0 && m->severity <= 7);
    Check(m->message.size() <= size);
    Check(klaxon::ParseSyslogStructuredData(m->structured_data).ok());
  } else {
    Check(m.status().code() == absl::StatusCode::kInvalidArgument);
  }
  (void)klaxon::ParseSyslogStructuredData(input);

  // The framer: the first byte picks the bound and the piece size.
  if (size == 0) return 0;
  const size_t max_bytes = 16 + (data[0] & 0x3f);
  const size_t piece = 1 + (data[0] >> 6) * 3;
  const absl::string_view stream = input.substr(1);
  const std::vector<Frame> whole = FrameAll(stream, max_bytes, stream.size() + 1);
  Check(FrameAll(stream, max_bytes, piece) == whole);
  return 0;
}
