// Drives the Prometheus blackbox exporter as Prometheus would: GET
// /probe?module=...&target=URL at a fixed rate, over kept-alive connections,
// cycling over N distinct target URLs. It measures only the exporter: the CPU
// time of --pid (utime + stime from /proc/PID/stat, all threads) over the
// measured requests, and its peak RSS (VmHWM). A probe counts as succeeded
// when the exporter's answer has `probe_success 1`.
//
//   blackbox_driver --exporter=http://127.0.0.1:PORT --target_base=http://127.0.0.1:N/p/
//       --pid=PID [--targets=1000] [--rate=500] [--count=5000] [--warmup=500]
//       [--module=http_2xx] [--max_inflight=256] [--plain_path=/-/healthy]
//
// With --plain_path it requests that path instead of /probe (and a 200 is a
// success): the exporter's cost of serving an HTTP request without probing,
// to see how much of a probe's cost is the exporter's own HTTP server.
//
// Output is `key value` lines for bench/sources/run.sh.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* Flag(int argc, char** argv, const char* name) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  }
  return nullptr;
}

long IntFlag(int argc, char** argv, const char* name, long fallback) {
  const char* text = Flag(argc, argv, name);
  return text == nullptr ? fallback : std::strtol(text, nullptr, 10);
}

// utime + stime of every thread of `pid`, in seconds; -1 if unreadable.
double ProcessCpuSeconds(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields from 3 (state) on; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long StatusKb(long pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + std::strlen(key), nullptr, 10);
  }
  return -1;
}

std::string Escape(CURL* easy, const std::string& text) {
  char* escaped = curl_easy_escape(easy, text.c_str(), static_cast<int>(text.size()));
  std::string out = escaped;
  curl_free(escaped);
  return out;
}

struct Request {
  CURL* easy = nullptr;
  std::string body;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<Request*>(user)->body.append(data, size * count);
  return size * count;
}

struct Tally {
  uint64_t completed = 0;
  uint64_t succeeded = 0;
  std::string first_failure;
};

// Sends `count` requests at `rate` per second, starting with target number
// `first`, and waits for all of them.
Tally Drive(CURLM* multi, std::vector<std::unique_ptr<Request>>& idle, const std::string& prefix,
            const std::string& target_base, bool plain, long targets, long first, long count,
            double rate, long timeout_ms) {
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  long sent = 0;
  long inflight = 0;
  while (sent < count || inflight > 0) {
    const auto now = std::chrono::steady_clock::now();
    while (sent < count && !idle.empty() &&
           start + std::chrono::duration<double>(sent / rate) <= now) {
      std::unique_ptr<Request> request = std::move(idle.back());
      idle.pop_back();
      request->body.clear();
      CURL* easy = request->easy;
      const std::string url =
          plain ? prefix
                : prefix + Escape(easy, target_base + std::to_string((first + sent) % targets));
      curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, request.get());
      curl_easy_setopt(easy, CURLOPT_PRIVATE, request.get());
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
      curl_easy_setopt(easy, CURLOPT_PROXY, "");
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
      curl_multi_add_handle(multi, easy);
      request.release();  // owned through CURLOPT_PRIVATE while in flight
      ++sent;
      ++inflight;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      Request* request = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &request);
      long code = 0;
      curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      ++tally.completed;
      const bool ok = message->data.result == CURLE_OK && code == 200 &&
                      (plain || request->body.rfind("probe_success 1\n", 0) == 0 ||
                       request->body.find("\nprobe_success 1\n") != std::string::npos);
      if (ok) {
        ++tally.succeeded;
      } else if (tally.first_failure.empty()) {
        tally.first_failure =
            message->data.result != CURLE_OK
                ? curl_easy_strerror(message->data.result)
                : "status " + std::to_string(code) + ": " + request->body.substr(0, 300);
      }
      curl_multi_remove_handle(multi, message->easy_handle);
      idle.emplace_back(request);
      --inflight;
    }
    // Until the next send is due, or 100 ms.
    int wait_ms = 100;
    if (sent < count) {
      const auto due = start + std::chrono::duration<double>(sent / rate);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          due - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(100, left.count())));
    }
    curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }
  return tally;
}

}  // namespace

int main(int argc, char** argv) {
  const char* exporter = Flag(argc, argv, "exporter");
  const char* target_base = Flag(argc, argv, "target_base");
  const long pid = IntFlag(argc, argv, "pid", 0);
  const long targets = IntFlag(argc, argv, "targets", 1000);
  const double rate = static_cast<double>(IntFlag(argc, argv, "rate", 500));
  const long count = IntFlag(argc, argv, "count", 5000);
  const long warmup = IntFlag(argc, argv, "warmup", 500);
  const long max_inflight = IntFlag(argc, argv, "max_inflight", 256);
  const long timeout_ms = IntFlag(argc, argv, "timeout_ms", 10000);
  const char* module = Flag(argc, argv, "module");
  if (exporter == nullptr || target_base == nullptr || pid <= 0 || targets <= 0 || rate <= 0 ||
      count <= 0 || warmup < 0 || max_inflight <= 0) {
    std::fprintf(stderr,
                 "usage: blackbox_driver --exporter=URL --target_base=URL --pid=PID "
                 "[--targets=N] [--rate=N] [--count=N] [--warmup=N] [--module=NAME]\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_inflight);
  std::vector<std::unique_ptr<Request>> idle;
  for (long i = 0; i < max_inflight; ++i) {
    idle.push_back(std::make_unique<Request>());
    idle.back()->easy = curl_easy_init();
  }
  const char* plain_path = Flag(argc, argv, "plain_path");
  const bool plain = plain_path != nullptr;
  const std::string prefix =
      plain ? std::string(exporter) + plain_path
            : std::string(exporter) + "/probe?module=" + (module == nullptr ? "http_2xx" : module) +
                  "&target=";

  if (warmup > 0) {
    const Tally w =
        Drive(multi, idle, prefix, target_base, plain, targets, 0, warmup, rate, timeout_ms);
    if (w.succeeded != static_cast<uint64_t>(warmup)) {
      std::fprintf(stderr, "warm-up: %llu of %ld probes succeeded; first failure: %s\n",
                   static_cast<unsigned long long>(w.succeeded), warmup, w.first_failure.c_str());
    }
  }
  const double cpu_before = ProcessCpuSeconds(pid);
  const auto start = std::chrono::steady_clock::now();
  const Tally tally =
      Drive(multi, idle, prefix, target_base, plain, targets, warmup, count, rate, timeout_ms);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = ProcessCpuSeconds(pid) - cpu_before;

  std::printf("wall_s %.3f\ncompleted %llu\nsucceeded %llu\nfailed %llu\n", wall,
              static_cast<unsigned long long>(tally.completed),
              static_cast<unsigned long long>(tally.succeeded),
              static_cast<unsigned long long>(tally.completed - tally.succeeded));
  std::printf("cpu_s %.3f\ncpu_s_per_1000 %.4f\ncpu_utilisation %.3f\n", cpu,
              tally.completed == 0 ? 0.0 : cpu * 1000.0 / static_cast<double>(tally.completed),
              cpu / wall);
  std::printf("max_rss_kb %ld\nrss_kb %ld\n", StatusKb(pid, "VmHWM:"), StatusKb(pid, "VmRSS:"));
  if (!tally.first_failure.empty()) {
    std::printf("failure_reason %s\n", tally.first_failure.c_str());
  }
  for (auto& request : idle) curl_easy_cleanup(request->easy);
  curl_multi_cleanup(multi);
  return 0;
}
