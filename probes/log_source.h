// LogSources runs every configured [[log]]: files followed as `tail -F` does
// (or stdin) on one polling thread, and syslog listeners on their own, each
// log's text counted by its LogMatcher. After each read it saves the log's
// file positions and counters together through a LogStateStore and only then
// emits the counters as samples, so that a restart continues both from the
// same point: no line lost, none counted twice. Owned by the daemon; Start()
// and Stop() from one thread.
#ifndef KLAXON_PROBES_LOG_SOURCE_H_
#define KLAXON_PROBES_LOG_SOURCE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "detector/clock.h"
#include "detector/sample.h"
#include "detector/series_index.h"
#include "probes/log_matcher.h"

namespace klaxon {

struct LogSourceOptions {
  LogMatcherOptions matcher;  // matcher.log is the [[log]]'s name
  // Exactly one of the three inputs is set.
  std::vector<std::string> paths;  // files or glob patterns; "-" is stdin
  std::string syslog_udp;          // "127.0.0.1:5514": a syslog listener
  std::string syslog_tcp;
  // For a file klaxon has never read: from its beginning, or (default) only
  // what is written after klaxon first sees it.
  bool start_at_beginning = false;
};

// Durable storage of each log's state. Save must be durable when it returns OK.
class LogStateStore {
 public:
  virtual ~LogStateStore() = default;
  virtual absl::StatusOr<std::optional<std::string>> Load(const std::string& log) = 0;
  virtual absl::Status Save(const std::string& log, absl::string_view state) = 0;
};

class LogSources {
 public:
  // `store` outlives this object.
  LogSources(std::vector<LogSourceOptions> logs, SeriesIndex& index, const Clock& clock,
             SampleConsumer consumer, LogStateStore& store,
             absl::Duration poll_interval = absl::Milliseconds(250));
  // Non-copyable: owns threads, files and sockets.
  LogSources(const LogSources&) = delete;
  LogSources& operator=(const LogSources&) = delete;
  ~LogSources();  // Stops.

  // Restores each log's saved state and starts reading. kInvalidArgument for a
  // pattern the matcher refuses, kUnavailable for a syslog address in use.
  absl::Status Start();
  // Reads what is left, saves, emits, and stops.
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_LOG_SOURCE_H_
