#include "detector/log.h"

#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "detector/incident.h"

namespace klaxon {

void LogLine(absl::string_view line) {
  static std::mutex mu;
  std::string text = absl::StrCat(FormatTimestamp(absl::Now()), " ", line, "\n");
  std::lock_guard lock(mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace klaxon
