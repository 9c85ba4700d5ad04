// One line per event on stderr, prefixed with the UTC time: what an operator
// reads in the journal. Thread-safe; lines from different threads never mix.
#ifndef KLAXON_DETECTOR_LOG_H_
#define KLAXON_DETECTOR_LOG_H_

#include "absl/strings/string_view.h"

namespace klaxon {

void LogLine(absl::string_view line);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_LOG_H_
