// Throughput of LogMatcher on a generated nginx access log (combined format,
// 2,000,000 lines of ~190 bytes, fixed seed, ~2% 5xx), fed in chunks of whole
// lines as a log source reads them. Rates are per CPU-second.
//
// Not in CMake; build by hand from the repository root after building
// klaxon_log_matcher in build-logs:
//   g++ -std=c++20 -O2 -DNDEBUG -I. probes/log_matcher_benchmark.cc \
//     build-logs/probes/libklaxon_log_matcher.a \
//     build-logs/detector/libklaxon_vocabulary.a \
//     $(pkg-config --libs libhs re2 absl_strings absl_str_format absl_status \
//       absl_statusor absl_hash absl_raw_hash_set) -lbenchmark -lpthread \
//     -o /tmp/log_matcher_benchmark
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "probes/log_matcher.h"

namespace klaxon {

// Deterministic on every platform (std:: distributions are not): splitmix64.
class BenchRng {
 public:
  explicit BenchRng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }

 private:
  uint64_t state_;
};

// `lines` lines of an nginx access log in the combined format
//   $remote_addr - $remote_user [$time_local] "$request" $status
//   $body_bytes_sent "$http_referer" "$http_user_agent"
// from one shop: 70% of clients from a pool of 2000 addresses, a request every
// ~40 ms, 80% GET / 15% POST, a mix of pages, API calls and assets, browsers,
// crawlers and scripts as user agents, and statuses 88% 2xx, 5% 3xx, 5% 4xx,
// 2% 5xx. Lines average ~190 bytes. The same seed gives the same bytes.
std::string GenerateNginxAccessLog(size_t lines, uint64_t seed) {
  static constexpr struct {
    const char* agent;
    uint32_t weight;
  } kAgents[] = {
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/122.0.0.0 Safari/537.36",
       30},
      {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.3 Safari/605.1.15",
       15},
      {"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", 10},
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
       "Gecko) Mobile/15E148",
       15},
      {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 4},
      {"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 2},
      {"curl/7.88.1", 8},
      {"python-requests/2.31.0", 6},
      {"Go-http-client/1.1", 5},
      {"kube-probe/1.27", 5},
  };
  static constexpr struct {
    int status;
    uint32_t per_mille;
  } kStatuses[] = {{200, 800}, {201, 30}, {204, 20}, {304, 30}, {302, 20}, {404, 40}, {403, 10},
                   {400, 10},  {499, 20}, {500, 5},  {502, 7},  {503, 4},  {504, 4}};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  BenchRng rng(seed);
  std::string out;
  out.reserve(lines * 200);
  int64_t ms = 0;
  int64_t time_second = -1;
  std::string time_local;
  char buf[64];
  for (size_t i = 0; i < lines; ++i) {
    ms += rng.Below(80);
    if (ms / 1000 != time_second) {
      time_second = ms / 1000;
      int64_t day = time_second / 86400;
      int64_t second_of_day = time_second % 86400;
      std::snprintf(
          buf, sizeof buf, "[%02d/%s/2024:%02d:%02d:%02d +0000]", static_cast<int>(10 + day % 18),
          kMonths[2 + (day / 18) % 10], static_cast<int>(second_of_day / 3600),
          static_cast<int>(second_of_day / 60 % 60), static_cast<int>(second_of_day % 60));
      time_local = buf;
    }
    uint32_t address = rng.Below(100) < 70 ? 0x0A000000u + rng.Below(2000)
                                           : static_cast<uint32_t>(rng.Next() >> 32);
    uint32_t r = rng.Below(100);
    const char* method = r < 80   ? "GET"
                         : r < 95 ? "POST"
                         : r < 97 ? "PUT"
                         : r < 98 ? "DELETE"
                                  : "HEAD";
    std::string path;
    switch (rng.Below(10)) {
      case 0:
        path = "/";
        break;
      case 1:
        path = absl::StrCat("/static/js/app.", absl::Hex(rng.Below(16), absl::kZeroPad8), ".js");
        break;
      case 2:
        path = absl::StrCat("/api/v1/products/", rng.Below(100000));
        break;
      case 3:
        path = absl::StrCat("/api/v1/orders/", rng.Below(1000000));
        break;
      case 4:
        path = "/api/v1/cart";
        break;
      case 5:
        path = absl::StrCat("/images/p/", rng.Below(50000), ".jpg");
        break;
      case 6:
        path = absl::StrCat("/search?q=item", rng.Below(1000), "&page=", rng.Below(10));
        break;
      case 7:
        path = "/healthz";
        break;
      case 8:
        path = absl::StrCat("/static/css/main.", absl::Hex(rng.Below(16), absl::kZeroPad8), ".css");
        break;
      default:
        path = "/account/login";
        break;
    }
    uint32_t s = rng.Below(1000);
    int status = 200;
    for (const auto& st : kStatuses) {
      if (s < st.per_mille) {
        status = st.status;
        break;
      }
      s -= st.per_mille;
    }
    uint32_t w = rng.Below(100);
    const char* agent = kAgents[0].agent;
    for (const auto& a : kAgents) {
      if (w < a.weight) {
        agent = a.agent;
        break;
      }
      w -= a.weight;
    }
    uint32_t body_bytes = status == 204 || status == 304 ? 0 : rng.Below(50000);
    absl::StrAppend(&out, address >> 24, ".", (address >> 16) & 255, ".", (address >> 8) & 255, ".",
                    address & 255, " - - ", time_local, " \"", method, " ", path, " HTTP/",
                    rng.Below(100) < 85 ? "1.1" : "2.0", "\" ", status, " ", body_bytes, " \"",
                    rng.Below(100) < 40 ? "-" : "https://shop.example.com/", "\" \"", agent,
                    "\"\n");
  }
  return out;
}

namespace {

constexpr size_t kLines = 2'000'000;

const std::string& AccessLog() {
  static const std::string* log = new std::string(GenerateNginxAccessLog(kLines, 20240310));
  return *log;
}

// The log cut into pieces of whole lines of about `bytes` each.
std::vector<absl::string_view> Chunks(size_t bytes) {
  const std::string& log = AccessLog();
  std::vector<absl::string_view> chunks;
  size_t start = 0;
  while (start < log.size()) {
    size_t end = start + bytes >= log.size() ? log.size() : log.rfind('\n', start + bytes) + 1;
    if (end <= start) end = log.find('\n', start + bytes) + 1;
    chunks.push_back(absl::string_view(log).substr(start, end - start));
    start = end;
  }
  return chunks;
}

LogMatchOptions Regex(std::string name, std::string regex) {
  LogMatchOptions m;
  m.name = std::move(name);
  m.regex = std::move(regex);
  return m;
}

LogMatchOptions Literal(std::string name, std::string literal) {
  LogMatchOptions m;
  m.name = std::move(name);
  m.contains = std::move(literal);
  return m;
}

// Ten patterns as one might alert on: status classes (one with its code as a
// label), a URL, crawlers, methods, scripts, an absent upstream error.
std::vector<LogMatchOptions> MixedPatterns() {
  return {Regex("http_5xx", R"(" (?P<code>5\d\d) )"),
          Regex("http_4xx", R"(" 4\d\d )"),
          Regex("gateway_errors", R"(" 50[234] )"),
          Regex("redirects", R"(" 30[12] )"),
          Regex("order_api", R"("(?:GET|POST) /api/v1/orders/\d+)"),
          Regex("crawler_versions", R"(bot/\d+\.\d+)"),
          Literal("posts", "\"POST "),
          Literal("googlebot", "Googlebot"),
          Literal("upstream_timeouts", "upstream timed out"),
          Literal("curl", "curl/")};
}

// As MixedPatterns, plus what matches most lines: the 2xx class and the
// internal client addresses (70% of lines), replacing two literals.
std::vector<LogMatchOptions> HeavyPatterns() {
  std::vector<LogMatchOptions> p = MixedPatterns();
  p[8] = Regex("http_2xx", R"(" 2\d\d )");
  p[9] = Regex("internal_clients", R"(^10\.\d+\.\d+\.\d+ )");
  return p;
}

std::vector<LogMatchOptions> LiteralPatterns() {
  return {Literal("posts", "\"POST "),
          Literal("googlebot", "Googlebot"),
          Literal("upstream_timeouts", "upstream timed out"),
          Literal("curl", "curl/"),
          Literal("orders", "/api/v1/orders/"),
          Literal("bingbot", "bingbot"),
          Literal("unavailable", "\" 503 "),
          Literal("python", "python-requests"),
          Literal("wp_login", "/wp-login.php"),
          Literal("http2", "HTTP/2.0\"")};
}

// More literals than the SIMD literal scanner takes (16): Hyperscan finds them.
std::vector<LogMatchOptions> Literal20Patterns() {
  std::vector<LogMatchOptions> p = LiteralPatterns();
  for (const char* literal : {"Firefox/", "iPhone", "/api/v1/cart", "kube-probe", "Go-http-client",
                              "/images/", "\" 404 ", "/search?q=", "Safari/605", "/static/css/"}) {
    p.push_back(Literal(literal, literal));
  }
  return p;
}

void RunConsume(benchmark::State& state, std::vector<LogMatchOptions> patterns) {
  std::vector<absl::string_view> chunks = Chunks(static_cast<size_t>(state.range(0)));
  LogMatcherOptions options;
  options.log = "nginx";
  options.matches = std::move(patterns);
  auto matcher = LogMatcher::Create(options);
  if (!matcher.ok()) {
    state.SkipWithError(std::string(matcher.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    for (absl::string_view chunk : chunks) (*matcher)->Consume(chunk);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kLines);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * AccessLog().size());
  // What was found, per pass over the log, to see the patterns do match.
  double passes = static_cast<double>(state.iterations());
  for (const auto& s : (*matcher)->Snapshot()) {
    if (s.labels.MetricName() == kLogMatchesTotal && s.labels.Get("code").empty()) {
      state.counters[std::string(s.labels.Get("match"))] = s.value / passes;
    }
  }
}

void BM_Mixed10(benchmark::State& state) { RunConsume(state, MixedPatterns()); }
void BM_Heavy10(benchmark::State& state) { RunConsume(state, HeavyPatterns()); }
void BM_Literal10(benchmark::State& state) { RunConsume(state, LiteralPatterns()); }
void BM_Literal20(benchmark::State& state) { RunConsume(state, Literal20Patterns()); }
void BM_LinesOnly(benchmark::State& state) { RunConsume(state, {}); }

BENCHMARK(BM_Mixed10)->Arg(64 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Heavy10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Literal10)->Arg(64 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Literal20)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LinesOnly)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace klaxon

BENCHMARK_MAIN();
