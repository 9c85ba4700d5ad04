#include "probes/log_source.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "detector/labels.h"
#include "detector/log.h"
#include "nlohmann/json.hpp"
#include "probes/log_tailer.h"
#include "probes/syslog.h"

namespace klaxon {
namespace {

// The saved state of one log: its file positions as one JSON line, then the
// matcher's counters as the matcher wrote them.
std::string EncodeState(const std::vector<FilePosition>& positions, absl::string_view counters) {
  nlohmann::json files = nlohmann::json::array();
  for (const FilePosition& p : positions) {
    files.push_back({{"path", p.path},
                     {"device", p.device},
                     {"inode", p.inode},
                     {"offset", p.offset},
                     {"head_hash", p.head_hash},
                     {"head_bytes", p.head_bytes}});
  }
  // dump() escapes control characters, so the JSON holds no raw newline.
  return absl::StrCat(files.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "\n",
                      counters);
}

absl::Status DecodeState(absl::string_view state, std::vector<FilePosition>& positions,
                         std::string& counters) {
  const size_t newline = state.find('\n');
  if (newline == absl::string_view::npos) return absl::DataLossError("no position line");
  absl::string_view json = state.substr(0, newline);
  nlohmann::json files = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (!files.is_array()) return absl::DataLossError("positions are not a JSON array");
  try {
    for (const nlohmann::json& f : files) {
      FilePosition p;
      p.path = f.at("path").get<std::string>();
      p.device = f.at("device").get<uint64_t>();
      p.inode = f.at("inode").get<uint64_t>();
      p.offset = f.at("offset").get<int64_t>();
      p.head_hash = f.at("head_hash").get<uint64_t>();
      p.head_bytes = f.at("head_bytes").get<uint32_t>();
      positions.push_back(std::move(p));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("bad position: ", e.what()));
  }
  counters = std::string(state.substr(newline + 1));
  return absl::OkStatus();
}

}  // namespace

struct LogSources::State {
  struct Log {
    LogSourceOptions options;
    std::mutex mu;  // the syslog thread feeds the matcher too
    std::unique_ptr<LogMatcher> matcher ABSL_GUARDED_BY(mu);
    std::unique_ptr<LogTailer> tailer;  // poll thread only
    std::unique_ptr<SyslogListener> listener;
    bool changed ABSL_GUARDED_BY(mu) = true;    // emit once at start, even with nothing read
    uint64_t bytes_read = 0;                    // poll thread only: the tailer's, at the last poll
    std::string last_error;                     // reported once until it changes
    absl::flat_hash_map<Labels, SeriesId> ids;  // poll thread only
  };

  State(std::vector<LogSourceOptions> options, SeriesIndex& index, const Clock& clock,
        SampleConsumer consumer, LogStateStore& store, absl::Duration poll_interval)
      : index(index),
        clock(clock),
        consumer(std::move(consumer)),
        store(store),
        poll_interval(poll_interval) {
    for (LogSourceOptions& o : options) {
      auto log = std::make_unique<Log>();
      log->options = std::move(o);
      logs.push_back(std::move(log));
    }
  }

  absl::Status Start() {
    for (auto& log : logs) {
      const std::string& name = log->options.matcher.log;
      absl::StatusOr<std::unique_ptr<LogMatcher>> matcher =
          LogMatcher::Create(log->options.matcher);
      if (!matcher.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("log \"", name, "\": ", matcher.status().message()));
      }
      std::vector<FilePosition> positions;
      absl::StatusOr<std::optional<std::string>> saved = store.Load(name);
      if (!saved.ok()) return saved.status();
      if (saved->has_value()) {
        std::string counters;
        absl::Status decoded = DecodeState(**saved, positions, counters);
        if (decoded.ok()) decoded = (*matcher)->RestoreState(counters);
        if (!decoded.ok()) {
          // Starting over beats refusing to start: the counters reset, which
          // rate() and increase() read as a restart of the source.
          positions.clear();
          LogError(*log,
                   absl::StrCat("saved state unreadable, starting afresh: ", decoded.message()));
        }
      }
      {
        std::lock_guard lock(log->mu);
        log->matcher = std::move(*matcher);
      }
      if (!log->options.paths.empty()) {
        LogTailerOptions tailer;
        tailer.paths = log->options.paths;
        tailer.start_at_beginning = log->options.start_at_beginning;
        // One byte over the matcher's limit, so that the matcher sees (and
        // counts) every line that was cut.
        tailer.max_line_bytes = log->options.matcher.max_line_bytes + 1;
        log->tailer = std::make_unique<LogTailer>(std::move(tailer), std::move(positions));
      }
    }
    for (auto& log : logs) {
      if (log->options.syslog_udp.empty() && log->options.syslog_tcp.empty()) continue;
      SyslogListenerOptions options;
      options.udp_address = log->options.syslog_udp;
      options.tcp_address = log->options.syslog_tcp;
      options.max_message_bytes = log->options.matcher.max_line_bytes + 1;
      options.clock = &clock;
      Log* target = log.get();
      absl::StatusOr<std::unique_ptr<SyslogListener>> listener =
          SyslogListener::Start(options, [target](const SyslogMessage& message) {
            std::lock_guard lock(target->mu);
            target->matcher->Consume(message.message);
            target->changed = true;
          });
      if (!listener.ok()) {
        return absl::Status(listener.status().code(),
                            absl::StrCat("log \"", log->options.matcher.log,
                                         "\": syslog listener: ", listener.status().message()));
      }
      log->listener = std::move(*listener);
    }
    stopping = false;
    thread = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (!thread.joinable()) return;
    {
      std::lock_guard lock(stop_mu);
      stopping = true;
    }
    stop_cv.notify_all();
    thread.join();
    for (auto& log : logs) {
      if (log->listener) log->listener->Stop();
    }
    // What the listeners delivered last is saved and emitted too.
    PollAll();
  }

  void Loop() {
    std::unique_lock lock(stop_mu);
    while (!stopping) {
      lock.unlock();
      PollAll();
      lock.lock();
      stop_cv.wait_for(lock, absl::ToChronoMilliseconds(poll_interval),
                       [this] { return stopping; });
    }
  }

  void PollAll() {
    for (auto& log : logs) Poll(*log);
  }

  void Poll(Log& log) {
    SampleBatch batch;
    {
      std::lock_guard lock(log.mu);
      if (log.matcher == nullptr) return;
      if (log.tailer != nullptr) {
        absl::Status status =
            log.tailer->Poll([&](absl::string_view lines) { log.matcher->Consume(lines); });
        if (!status.ok()) LogError(log, std::string(status.message()));
        const uint64_t bytes_read = log.tailer->stats().bytes_read;
        if (bytes_read != log.bytes_read) log.changed = true;
        log.bytes_read = bytes_read;
      }
      if (!log.changed) return;
      const std::vector<FilePosition> positions =
          log.tailer != nullptr ? log.tailer->Positions() : std::vector<FilePosition>{};
      // Saved before anything is emitted: what rules have seen is never
      // ahead of what a restart resumes from.
      absl::Status saved =
          store.Save(log.options.matcher.log, EncodeState(positions, log.matcher->SaveState()));
      if (!saved.ok()) {
        LogError(log, absl::StrCat("cannot save position: ", saved.message()));
        return;  // tried again on the next poll; the counters keep counting
      }
      log.changed = false;
      const int64_t now_ms = absl::ToUnixMillis(clock.WallNow());
      for (LogMatcher::SeriesValue& value : log.matcher->Snapshot()) {
        auto [it, inserted] = log.ids.try_emplace(value.labels, 0);
        if (inserted) it->second = index.Intern(value.labels);
        batch.samples.push_back({it->second, now_ms, value.value});
        absl::string_view match = value.labels.Get("match");
        if (value.labels.MetricName() == "log_matches_total" && !match.empty()) {
          batch.notes.push_back({it->second, absl::StrJoin(log.matcher->RecentLines(match), "\n")});
        }
      }
    }
    consumer(std::move(batch));
  }

  void LogError(Log& log, std::string error) {
    if (error == log.last_error) return;
    log.last_error = error;
    LogLine(absl::StrCat("log \"", log.options.matcher.log, "\": ", error));
  }

  SeriesIndex& index;
  const Clock& clock;
  const SampleConsumer consumer;
  LogStateStore& store;
  const absl::Duration poll_interval;
  std::vector<std::unique_ptr<Log>> logs;
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread thread;
};

LogSources::LogSources(std::vector<LogSourceOptions> logs, SeriesIndex& index, const Clock& clock,
                       SampleConsumer consumer, LogStateStore& store, absl::Duration poll_interval)
    : state_(std::make_unique<State>(std::move(logs), index, clock, std::move(consumer), store,
                                     poll_interval)) {}

LogSources::~LogSources() { Stop(); }

absl::Status LogSources::Start() { return state_->Start(); }

void LogSources::Stop() { state_->Stop(); }

}  // namespace klaxon
