// Load driver for klaxon's HTTP prober: N probes of distinct URLs on one
// target (bench/sources/run.sh starts a loopback nginx that answers 200 "ok"
// to any path), run for a fixed time with the daemon's defaults (a fresh
// connection per run). It reports the prober's CPU per 1,000 completed probes
// (getrusage RUSAGE_SELF over the run, so the consumer's work is included),
// peak RSS, and the prober's own start-lateness statistics.
//
//   probe_bench --base_url=http://127.0.0.1:PORT/p/ [--probes=1000]
//       [--interval_ms=2000] [--timeout_ms=2000] [--duration_s=10]
//   probe_bench free-port      (prints a port that was free a moment ago)
//
// Output is `key value` lines for the script to read.
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "detector/clock.h"
#include "detector/sample.h"
#include "detector/series_index.h"
#include "probes/http_probe.h"

namespace klaxon {
namespace {

const char* Flag(int argc, char** argv, absl::string_view name) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], prefix)) return argv[i] + prefix.size();
  }
  return nullptr;
}

bool IntFlag(int argc, char** argv, absl::string_view name, int64_t* value) {
  const char* text = Flag(argc, argv, name);
  if (text == nullptr) return true;
  if (absl::SimpleAtoi(text, value) && *value > 0) return true;
  std::fprintf(stderr, "--%s=%s is not a positive integer\n", std::string(name).c_str(), text);
  return false;
}

long SelfStatusKb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  const size_t key_len = std::strlen(key);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, key, key_len) == 0) kb = std::strtol(line + key_len, nullptr, 10);
  }
  std::fclose(f);
  return kb;
}

double Seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("free-port");
    return 1;
  }
  std::printf("%d\n", ntohs(address.sin_port));
  close(fd);
  return 0;
}

int Run(int argc, char** argv) {
  const char* base_url = Flag(argc, argv, "base_url");
  int64_t probes = 1000, interval_ms = 2000, timeout_ms = 2000, duration_s = 10;
  if (base_url == nullptr) {
    std::fprintf(stderr, "--base_url=http://127.0.0.1:PORT/p/ is required\n");
    return 2;
  }
  if (!IntFlag(argc, argv, "probes", &probes) ||
      !IntFlag(argc, argv, "interval_ms", &interval_ms) ||
      !IntFlag(argc, argv, "timeout_ms", &timeout_ms) ||
      !IntFlag(argc, argv, "duration_s", &duration_s)) {
    return 2;
  }

  std::vector<HttpProbeOptions> options;
  options.reserve(static_cast<size_t>(probes));
  for (int64_t i = 0; i < probes; ++i) {
    HttpProbeOptions o;
    o.name = absl::StrCat("p", i);
    o.service = "bench";
    o.url = absl::StrCat(base_url, i);
    o.interval = absl::Milliseconds(interval_ms);
    o.timeout = absl::Milliseconds(timeout_ms);
    options.push_back(std::move(o));
  }

  SeriesIndex index;
  RealClock clock;
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> succeeded{0};
  std::mutex reasons_mu;
  std::vector<std::string> reasons;  // the first few failure reasons, to show
  // Each run emits one batch whose first sample is probe_success.
  SampleConsumer consumer = [&](SampleBatch batch) {
    completed.fetch_add(1, std::memory_order_relaxed);
    if (!batch.samples.empty() && batch.samples[0].value == 1.0) {
      succeeded.fetch_add(1, std::memory_order_relaxed);
    } else if (!batch.notes.empty()) {
      std::lock_guard lock(reasons_mu);
      if (reasons.size() < 5) reasons.push_back(batch.notes[0].text);
    }
  };
  HttpProber prober(std::move(options), index, clock, std::move(consumer));

  // What the probes' series and options cost before any run: the series
  // index is the daemon's, shared with every other source.
  const long setup_rss_kb = SelfStatusKb("VmRSS:");
  rusage before = {};
  getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  if (absl::Status status = prober.Start(); !status.ok()) {
    std::fprintf(stderr, "start: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  // A load driver runs for a fixed time: the prober's schedule is the load.
  absl::SleepFor(absl::Seconds(duration_s));
  prober.Stop();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage after = {};
  getrusage(RUSAGE_SELF, &after);

  const double user = Seconds(after.ru_utime) - Seconds(before.ru_utime);
  const double sys = Seconds(after.ru_stime) - Seconds(before.ru_stime);
  const ProberStats stats = prober.stats();
  const uint64_t done = completed.load();
  std::printf("probes %lld\ninterval_ms %lld\nwall_s %.3f\n", static_cast<long long>(probes),
              static_cast<long long>(interval_ms), wall);
  std::printf("completed %llu\nsucceeded %llu\nfailed %llu\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(succeeded),
              static_cast<unsigned long long>(done - succeeded));
  std::printf("cpu_s %.3f\nuser_s %.3f\nsys_s %.3f\ncpu_s_per_1000 %.4f\ncpu_utilisation %.3f\n",
              user + sys, user, sys, done == 0 ? 0.0 : (user + sys) * 1000.0 / done,
              (user + sys) / wall);
  std::printf("max_rss_kb %ld\nsetup_rss_kb %ld\nseries %zu\n", after.ru_maxrss, setup_rss_kb,
              index.size());
  std::printf("runs_started %llu\nruns_skipped %llu\nstarted_late %llu\nmax_lateness_ms %.3f\n",
              static_cast<unsigned long long>(stats.runs_started),
              static_cast<unsigned long long>(stats.runs_skipped),
              static_cast<unsigned long long>(stats.started_late),
              absl::ToDoubleMilliseconds(stats.max_start_lateness));
  std::printf(
      "lateness_le_1ms %llu\nlateness_le_10ms %llu\nlateness_le_100ms %llu\n"
      "lateness_gt_100ms %llu\n",
      static_cast<unsigned long long>(stats.lateness_buckets[0]),
      static_cast<unsigned long long>(stats.lateness_buckets[1]),
      static_cast<unsigned long long>(stats.lateness_buckets[2]),
      static_cast<unsigned long long>(stats.lateness_buckets[3]));
  for (const std::string& reason : reasons) std::printf("failure_reason %s\n", reason.c_str());
  return 0;
}

}  // namespace
}  // namespace klaxon

int main(int argc, char** argv) {
  if (argc > 1 && absl::string_view(argv[1]) == "free-port") return klaxon::FreePort();
  return klaxon::Run(argc, argv);
}
