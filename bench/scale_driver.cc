// Load for the scale bench (issue 6, figure 4; bench/scale_bench.sh): a
// klaxon config of many rules over sharded request counters, and a pusher that
// delivers every series to POST /api/v1/write once per interval, as a scrape
// would, each shard's page at its own moment of the interval.
//
//   scale_driver free-port                     a port that was free a moment ago
//   scale_driver config --port=P --data_dir=D [--shards=1000]
//                                              the klaxon.toml on stdout, one
//                                              rule per shard
//   scale_driver push --port=P --token=T [--shards=1000] [--instances=10]
//       [--interval_s=15] [--backfill=20] [--duration_s=300]
//
// The series: http_requests_total{job, shard, instance, handler, method, code},
// `--shards` shards of `--instances` instances of 100 series (25 handlers x 4
// codes), 1,000,000 by default. Counters grow at a steady per-series rate
// (about 2/s for code 200, far less for errors), so no rule fires.
//
// `push` first backfills `--backfill` intervals of history with explicit
// timestamps (ten shards a request, as fast as klaxon answers), so that the
// windows hold their full 5 minutes from the start; then pushes live, without
// timestamps (klaxon stamps them on arrival, as for a scrape), one request per
// shard spread evenly over each interval, until `--duration_s` has passed. A
// request answered other than 2xx stops it with exit status 1. Output is one
// line per interval, for the log.
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* Flag(int argc, char** argv, const char* name) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 2; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  }
  return nullptr;
}

long IntFlag(int argc, char** argv, const char* name, long fallback) {
  const char* text = Flag(argc, argv, name);
  return text == nullptr ? fallback : std::strtol(text, nullptr, 10);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("free-port");
    return 1;
  }
  std::printf("%d\n", ntohs(address.sin_port));
  close(fd);
  return 0;
}

// Four rule shapes, each reading one shard's 1,000 series; none fires under
// the pusher's rates (about 2.1 requests/s a series, 1.4% errors).
int Config(int argc, char** argv) {
  const long port = IntFlag(argc, argv, "port", 0);
  const char* data_dir = Flag(argc, argv, "data_dir");
  const long shards = IntFlag(argc, argv, "shards", 1000);
  if (port == 0 || data_dir == nullptr) {
    std::fprintf(stderr, "config needs --port and --data_dir\n");
    return 2;
  }
  std::printf("[server]\nlisten = \"127.0.0.1:%ld\"\ndata_dir = \"%s\"\n"
              "push_tokens = [\"env:SCALE_TOKEN\"]\n\n",
              port, data_dir);
  for (long s = 0; s < shards; ++s) {
    const char* expr = nullptr;
    const char* for_duration = nullptr;
    switch (s % 4) {
      case 0:
        expr = "rate(http_requests_total{shard=\"s%ld\"}[5m]) > 10";
        for_duration = "1m";
        break;
      case 1:
        expr = "sum by (instance) (rate(http_requests_total{shard=\"s%ld\"}[5m])) > 500";
        for_duration = "2m";
        break;
      case 2:
        expr = "sum by (handler) (increase(http_requests_total{shard=\"s%ld\"}[5m])) > 100000";
        for_duration = "5m";
        break;
      default:
        expr = "sum(rate(http_requests_total{shard=\"s%ld\",code=~\"5..\"}[5m]))"
               " / sum(rate(http_requests_total{shard=\"s%ld\"}[5m])) > 0.05";
        for_duration = "5m";
        break;
    }
    char text[512];
    std::snprintf(text, sizeof(text), expr, s, s);
    std::printf("[[rule]]\nname = \"Shard%ldRule\"\nexpr = '%s'\nfor = \"%s\"\nseverity = \"major\"\n\n",
                s, text, for_duration);
  }
  return 0;
}

constexpr const char* kHandlers[25] = {
    "/",           "/login",         "/logout",        "/search",        "/cart",
    "/checkout",   "/api/v1/orders", "/api/v1/users",  "/api/v1/items",  "/api/v1/stock",
    "/api/v1/pay", "/api/v1/refund", "/api/v1/ship",   "/api/v1/track",  "/api/v2/orders",
    "/api/v2/users", "/api/v2/items", "/static",       "/img",           "/healthz",
    "/metrics",    "/admin",         "/admin/reports", "/feed",          "/ws"};
constexpr const char* kCodes[4] = {"200", "404", "500", "503"};
constexpr double kRates[4] = {2.0, 0.1, 0.02, 0.01};  // per second, by code

struct Series {
  std::string text;  // `name{labels} `, ready for the value
  double rate;
};

// Every series of one shard, in the order a target's page lists them.
std::vector<Series> ShardSeries(long shard, long instances) {
  std::vector<Series> out;
  for (long i = 0; i < instances; ++i) {
    const long host = shard * instances + i;
    char instance[32];
    std::snprintf(instance, sizeof(instance), "10.%ld.%ld.%ld:8080", host / 65536 % 256,
                  host / 256 % 256, host % 256);
    for (int h = 0; h < 25; ++h) {
      const char* method = (h % 3 == 2) ? "POST" : "GET";
      for (int c = 0; c < 4; ++c) {
        char text[256];
        std::snprintf(text, sizeof(text),
                      "http_requests_total{job=\"api\",shard=\"s%ld\",instance=\"%s\","
                      "handler=\"%s\",method=\"%s\",code=\"%s\"} ",
                      shard, instance, kHandlers[h], method, kCodes[c]);
        // A little spread between series, the same on every run.
        const double spread = 0.75 + 0.5 * double((host * 31 + h * 7 + c) % 101) / 100.0;
        out.push_back({text, kRates[c] * spread});
      }
    }
  }
  return out;
}

// Appends each series' value at `at_ms` (seconds since `origin_ms` times its
// rate, whole numbers as a counter reads), with the timestamp when asked.
void AppendPage(const std::vector<Series>& series, int64_t origin_ms, int64_t at_ms,
                bool with_timestamp, std::string& body) {
  char number[64];
  for (const Series& s : series) {
    body += s.text;
    const long long value = static_cast<long long>(s.rate * double(at_ms - origin_ms) / 1000.0);
    int n = with_timestamp ? std::snprintf(number, sizeof(number), "%lld %lld\n", value,
                                           static_cast<long long>(at_ms))
                           : std::snprintf(number, sizeof(number), "%lld\n", value);
    body.append(number, size_t(n));
  }
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

class Pusher {
 public:
  Pusher(long port, const std::string& token) {
    curl_ = curl_easy_init();
    url_ = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/write";
    headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + token).c_str());
    headers_ = curl_slist_append(headers_, "Content-Type: text/plain; version=0.0.4");
    headers_ = curl_slist_append(headers_, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  }
  ~Pusher() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  Pusher(const Pusher&) = delete;
  Pusher& operator=(const Pusher&) = delete;

  // False (with the reason on stderr) unless klaxon answered 2xx.
  bool Post(const std::string& body) {
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    CURLcode code = curl_easy_perform(curl_);
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status / 100 != 2) {
      std::fprintf(stderr, "push failed: %s, HTTP %ld\n", curl_easy_strerror(code), status);
      return false;
    }
    return true;
  }

 private:
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string url_;
};

int Push(int argc, char** argv) {
  const long port = IntFlag(argc, argv, "port", 0);
  const char* token = Flag(argc, argv, "token");
  const long shards = IntFlag(argc, argv, "shards", 1000);
  const long instances = IntFlag(argc, argv, "instances", 10);
  const long interval_ms = IntFlag(argc, argv, "interval_s", 15) * 1000;
  const long backfill = IntFlag(argc, argv, "backfill", 20);
  const long duration_ms = IntFlag(argc, argv, "duration_s", 300) * 1000;
  if (port == 0 || token == nullptr) {
    std::fprintf(stderr, "push needs --port and --token\n");
    return 2;
  }
  std::vector<std::vector<Series>> pages;
  for (long s = 0; s < shards; ++s) pages.push_back(ShardSeries(s, instances));
  curl_global_init(CURL_GLOBAL_ALL);
  Pusher pusher(port, token);
  const int64_t start_ms = WallMs();
  const int64_t origin_ms = start_ms - (backfill + 1) * interval_ms;
  std::string body;

  for (long round = 0; round < backfill; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t at_ms = start_ms - (backfill - round) * interval_ms;
    for (long s = 0; s < shards; s += 10) {
      body.clear();
      for (long t = s; t < std::min(shards, s + 10); ++t) AppendPage(pages[t], origin_ms, at_ms, true, body);
      if (!pusher.Post(body)) return 1;
    }
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("backfill %ld/%ld: %ld series in %.2f s\n", round + 1, backfill, shards * instances * 100,
                took);
    std::fflush(stdout);
  }

  const int64_t live_ms = WallMs();
  for (long round = 0;; ++round) {
    const int64_t round_ms = live_ms + round * interval_ms;
    if (round_ms - live_ms >= duration_ms) break;
    int64_t worst_lag_ms = 0;
    for (long s = 0; s < shards; ++s) {
      const int64_t due_ms = round_ms + s * interval_ms / shards;
      const int64_t now_ms = WallMs();
      if (now_ms < due_ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(due_ms - now_ms));
      } else {
        worst_lag_ms = std::max(worst_lag_ms, now_ms - due_ms);
      }
      body.clear();
      AppendPage(pages[s], origin_ms, std::max(due_ms, WallMs()), false, body);
      if (!pusher.Post(body)) return 1;
    }
    std::printf("live %ld: %ld series pushed; at worst %lld ms behind schedule\n", round + 1,
                shards * instances * 100, static_cast<long long>(worst_lag_ms));
    std::fflush(stdout);
  }
  curl_global_cleanup();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "free-port") return FreePort();
  if (command == "config") return Config(argc, argv);
  if (command == "push") return Push(argc, argv);
  std::fprintf(stderr, "usage: scale_driver free-port | config --port=P --data_dir=D | push --port=P --token=T\n");
  return 2;
}
