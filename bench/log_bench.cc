// End-to-end throughput of a klaxon log source without its SQLite state: a
// file read through LogTailer (start_at_beginning) into one LogMatcher, as the
// daemon wires them. bench/sources/run.sh runs it against mtail on the same
// file with the same ten patterns and checks that the counts agree.
//
//   log_bench generate --out=FILE [--lines=2000000] [--seed=20240310]
//   log_bench match --file=FILE --patterns=mixed|literal|none [--read_chunk_bytes=N]
//   log_bench split --file=FILE        (pread + memchr only: the ceiling)
//   log_bench mtail-program --patterns=mixed|literal   (the same ten, for mtail)
//
// `match` prints `key value` lines: the figures (CPU from getrusage, loop only
// and whole process; peak RSS from ru_maxrss) and one `count NAME N` line per
// pattern, summed over its label sets.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "probes/log_matcher.h"
#include "probes/log_tailer.h"

namespace klaxon {
namespace {

// Deterministic on every platform (std:: distributions are not): splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
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

// An nginx access log in the combined format
//   $remote_addr - $remote_user [$time_local] "$request" $status
//   $body_bytes_sent "$http_referer" "$http_user_agent"
// of one shop: 70% of clients from 2,000 internal addresses, a request every
// ~40 ms, pages, API calls, assets, a few scanners; browsers, crawlers and
// scripts; statuses 88% 2xx, 5% 3xx, 5% 4xx, 2% 5xx. ~190 bytes a line.
void GenerateNginxLog(FILE* out, size_t lines, uint64_t seed) {
  static constexpr struct {
    const char* agent;
    uint32_t weight;  // of 100
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
  Rng rng(seed);
  std::string buffer;
  int64_t ms = 0;
  int64_t time_second = -1;
  char time_local[64] = "";
  for (size_t i = 0; i < lines; ++i) {
    ms += rng.Below(80);
    if (ms / 1000 != time_second) {
      time_second = ms / 1000;
      const int64_t day = time_second / 86400;
      const int64_t second_of_day = time_second % 86400;
      std::snprintf(time_local, sizeof time_local, "[%02d/%s/2024:%02d:%02d:%02d +0000]",
                    static_cast<int>(10 + day % 18), kMonths[2 + (day / 18) % 10],
                    static_cast<int>(second_of_day / 3600),
                    static_cast<int>(second_of_day / 60 % 60),
                    static_cast<int>(second_of_day % 60));
    }
    const uint32_t address = rng.Below(100) < 70 ? 0x0A000000u + rng.Below(2000)
                                                 : static_cast<uint32_t>(rng.Next() >> 32);
    const uint32_t r = rng.Below(100);
    const char* method = r < 80   ? "GET"
                         : r < 95 ? "POST"
                         : r < 97 ? "PUT"
                         : r < 98 ? "DELETE"
                                  : "HEAD";
    std::string path;
    switch (rng.Below(20)) {
      case 0:
      case 1:
        path = "/";
        break;
      case 2:
      case 3:
        path = absl::StrCat("/static/js/app.", absl::Hex(rng.Below(16), absl::kZeroPad8), ".js");
        break;
      case 4:
      case 5:
        path = absl::StrCat("/api/v1/products/", rng.Below(100000));
        break;
      case 6:
      case 7:
        path = absl::StrCat("/api/v1/orders/", rng.Below(1000000));
        break;
      case 8:
      case 9:
        path = "/api/v1/cart";
        break;
      case 10:
      case 11:
        path = absl::StrCat("/images/p/", rng.Below(50000), ".jpg");
        break;
      case 12:
      case 13:
        path = absl::StrCat("/search?q=item", rng.Below(1000), "&page=", rng.Below(10));
        break;
      case 14:
      case 15:
        path = "/healthz";
        break;
      case 16:
        path = absl::StrCat("/static/css/main.", absl::Hex(rng.Below(16), absl::kZeroPad8), ".css");
        break;
      case 17:
        // Scanners: a few requests for what the shop does not run.
        path = rng.Below(4) == 0 ? "/wp-login.php" : "/account/orders";
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
    const uint32_t body_bytes = status == 204 || status == 304 ? 0 : rng.Below(50000);
    absl::StrAppend(&buffer, address >> 24, ".", (address >> 16) & 255, ".", (address >> 8) & 255,
                    ".", address & 255, " - - ", time_local, " \"", method, " ", path, " HTTP/",
                    rng.Below(100) < 85 ? "1.1" : "2.0", "\" ", status, " ", body_bytes, " \"",
                    rng.Below(100) < 40 ? "-" : "https://shop.example.com/", "\" \"", agent,
                    "\"\n");
    if (buffer.size() >= (1 << 20)) {
      std::fwrite(buffer.data(), 1, buffer.size(), out);
      buffer.clear();
    }
  }
  std::fwrite(buffer.data(), 1, buffer.size(), out);
}

struct Pattern {
  const char* name;
  bool literal;      // contains, else regex
  const char* text;  // the literal, or an RE2 regex that Go's regexp reads alike
  // The regex's one named group, whose values label the counter; "" for none.
  const char* group;
};

// Ten patterns as an ops team alerts on an nginx log: status classes (one with
// its code as a label), an API, crawlers; six regexes, four literals.
const std::vector<Pattern>& MixedPatterns() {
  static const auto* patterns = new std::vector<Pattern>{
      {"http_5xx", false, R"(" (?P<code>5\d\d) )", "code"},
      {"http_4xx", false, R"(" 4\d\d )", ""},
      {"gateway_errors", false, R"(" 50[234] )", ""},
      {"redirects", false, R"(" 30[12] )", ""},
      {"order_api", false, R"("(?:GET|POST) /api/v1/orders/\d+)", ""},
      {"crawler_versions", false, R"(bot/\d+\.\d+)", ""},
      {"posts", true, "\"POST ", ""},
      {"googlebot", true, "Googlebot", ""},
      {"wp_login", true, "/wp-login.php", ""},
      {"curl", true, "curl/", ""},
  };
  return *patterns;
}

const std::vector<Pattern>& LiteralPatterns() {
  static const auto* patterns = new std::vector<Pattern>{
      {"posts", true, "\"POST ", ""},          {"googlebot", true, "Googlebot", ""},
      {"wp_login", true, "/wp-login.php", ""}, {"curl", true, "curl/", ""},
      {"orders", true, "/api/v1/orders/", ""}, {"bingbot", true, "bingbot", ""},
      {"unavailable", true, "\" 503 ", ""},    {"python", true, "python-requests", ""},
      {"healthz", true, "/healthz", ""},       {"http2", true, "HTTP/2.0\"", ""},
  };
  return *patterns;
}

const std::vector<Pattern>* PatternsNamed(absl::string_view set) {
  static const auto* none = new std::vector<Pattern>();
  if (set == "mixed") return &MixedPatterns();
  if (set == "literal") return &LiteralPatterns();
  if (set == "none") return none;
  return nullptr;
}

// mtail delimits a regex with '/'; a literal becomes a regex that matches
// exactly its bytes.
std::string MtailRegex(const Pattern& p) {
  std::string out;
  for (const char* c = p.text; *c != '\0'; ++c) {
    if (*c == '/') {
      out += "\\/";
    } else if (p.literal && std::strchr(R"(\.+*?()|[]{}^$)", *c) != nullptr) {
      out += '\\';
      out += *c;
    } else {
      out += *c;
    }
  }
  return out;
}

// One counter per pattern, incremented at most once per line, as LogMatcher
// counts; the named group labels its counter in both.
std::string MtailProgram(const std::vector<Pattern>& patterns) {
  std::string out = "# Generated by bench/log_bench mtail-program; one counter per pattern.\n";
  for (const Pattern& p : patterns) {
    absl::StrAppend(&out, "counter ", p.name, *p.group != '\0' ? " by " : "", p.group, "\n");
  }
  for (const Pattern& p : patterns) {
    absl::StrAppend(&out, "\n/", MtailRegex(p), "/ {\n  ", p.name);
    if (*p.group != '\0') absl::StrAppend(&out, "[$", p.group, "]");
    absl::StrAppend(&out, "++\n}\n");
  }
  return out;
}

double Seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

struct Usage {
  double user = 0;
  double system = 0;
  long max_rss_kb = 0;
};

Usage SelfUsage() {
  rusage ru = {};
  getrusage(RUSAGE_SELF, &ru);
  return {Seconds(ru.ru_utime), Seconds(ru.ru_stime), ru.ru_maxrss};
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Flags as --name=value; nullptr when absent.
const char* Flag(int argc, char** argv, absl::string_view name) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 2; i < argc; ++i) {
    if (absl::StartsWith(argv[i], prefix)) return argv[i] + prefix.size();
  }
  return nullptr;
}

int Generate(int argc, char** argv) {
  const char* path = Flag(argc, argv, "out");
  uint64_t lines = 2'000'000;
  uint64_t seed = 20240310;
  if (const char* v = Flag(argc, argv, "lines"); v != nullptr && !absl::SimpleAtoi(v, &lines)) {
    return 2;
  }
  if (const char* v = Flag(argc, argv, "seed"); v != nullptr && !absl::SimpleAtoi(v, &seed)) {
    return 2;
  }
  if (path == nullptr) {
    std::fprintf(stderr, "generate: --out=FILE is required\n");
    return 2;
  }
  FILE* out = std::fopen(path, "w");
  if (out == nullptr) {
    std::perror(path);
    return 1;
  }
  GenerateNginxLog(out, lines, seed);
  if (std::fclose(out) != 0) {
    std::perror(path);
    return 1;
  }
  return 0;
}

int64_t FileSize(const char* path) {
  struct stat st = {};
  if (stat(path, &st) != 0) return -1;
  return st.st_size;
}

void PrintFigures(uint64_t lines, int64_t bytes, double wall, const Usage& before,
                  const Usage& after) {
  const double cpu = (after.user - before.user) + (after.system - before.system);
  std::printf("lines %llu\nbytes %lld\n", static_cast<unsigned long long>(lines),
              static_cast<long long>(bytes));
  std::printf("wall_s %.4f\ncpu_s %.4f\nuser_s %.4f\nsys_s %.4f\n", wall, cpu,
              after.user - before.user, after.system - before.system);
  std::printf("lines_per_cpu_s %.0f\ngb_per_cpu_s %.3f\ngb_per_wall_s %.3f\n",
              static_cast<double>(lines) / cpu, static_cast<double>(bytes) / cpu / 1e9,
              static_cast<double>(bytes) / wall / 1e9);
  std::printf("process_cpu_s %.4f\nmax_rss_kb %ld\n", after.user + after.system, after.max_rss_kb);
}

int Match(int argc, char** argv) {
  const char* path = Flag(argc, argv, "file");
  const char* set = Flag(argc, argv, "patterns");
  const std::vector<Pattern>* patterns = PatternsNamed(set == nullptr ? "mixed" : set);
  if (path == nullptr || patterns == nullptr) {
    std::fprintf(stderr, "match: --file=FILE and --patterns=mixed|literal|none\n");
    return 2;
  }
  const int64_t size = FileSize(path);
  if (size < 0) {
    std::perror(path);
    return 1;
  }

  LogMatcherOptions options;
  options.log = "nginx";
  for (const Pattern& p : *patterns) {
    LogMatchOptions m;
    m.name = p.name;
    (p.literal ? m.contains : m.regex) = p.text;
    options.matches.push_back(std::move(m));
  }
  absl::StatusOr<std::unique_ptr<LogMatcher>> matcher = LogMatcher::Create(std::move(options));
  if (!matcher.ok()) {
    std::fprintf(stderr, "%s\n", std::string(matcher.status().message()).c_str());
    return 1;
  }
  LogTailerOptions tailer_options;
  tailer_options.paths = {path};
  tailer_options.start_at_beginning = true;
  if (const char* v = Flag(argc, argv, "read_chunk_bytes");
      v != nullptr && !absl::SimpleAtoi(v, &tailer_options.read_chunk_bytes)) {
    return 2;
  }
  LogTailer tailer(std::move(tailer_options), {});

  const Usage before = SelfUsage();
  const double start = WallSeconds();
  // A Poll reads at most max_bytes_per_poll of one file; the loop ends when
  // every byte has been read and a Poll has nothing more.
  for (int polls = 0;; ++polls) {
    bool got = false;
    absl::Status status = tailer.Poll([&](absl::string_view lines) {
      got = true;
      (*matcher)->Consume(lines);
    });
    if (!status.ok()) {
      std::fprintf(stderr, "poll: %s\n", std::string(status.message()).c_str());
      return 1;
    }
    if (!got && tailer.stats().bytes_read >= static_cast<uint64_t>(size)) break;
    if (polls > 100000) {
      std::fprintf(stderr, "poll: the file did not come to an end\n");
      return 1;
    }
  }
  const double wall = WallSeconds() - start;
  const Usage after = SelfUsage();

  uint64_t lines = 0;
  std::map<std::string, double> counts;
  for (const Pattern& p : *patterns) counts[p.name] = 0;
  for (const LogMatcher::SeriesValue& s : (*matcher)->Snapshot()) {
    if (s.labels.MetricName() == kLogLinesTotal) lines = static_cast<uint64_t>(s.value);
    if (s.labels.MetricName() == kLogMatchesTotal) {
      counts[std::string(s.labels.Get("match"))] += s.value;
    }
  }
  PrintFigures(lines, size, wall, before, after);
  for (const auto& [name, n] : counts) std::printf("count %s %.0f\n", name.c_str(), n);
  return 0;
}

// The floor under any line-oriented reader: pread in 1 MiB pieces from the
// page cache and memchr for each '\n'.
int Split(int argc, char** argv) {
  const char* path = Flag(argc, argv, "file");
  if (path == nullptr) {
    std::fprintf(stderr, "split: --file=FILE is required\n");
    return 2;
  }
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror(path);
    return 1;
  }
  std::vector<char> buffer(1 << 20);
  const Usage before = SelfUsage();
  const double start = WallSeconds();
  uint64_t lines = 0;
  int64_t offset = 0;
  for (;;) {
    const ssize_t n = pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0) {
      std::perror("pread");
      return 1;
    }
    if (n == 0) break;
    offset += n;
    const char* p = buffer.data();
    const char* end = p + n;
    while ((p = static_cast<const char*>(std::memchr(p, '\n', end - p))) != nullptr) {
      ++lines;
      ++p;
    }
  }
  const double wall = WallSeconds() - start;
  const Usage after = SelfUsage();
  close(fd);
  PrintFigures(lines, offset, wall, before, after);
  return 0;
}

int PrintMtailProgram(int argc, char** argv) {
  const char* set = Flag(argc, argv, "patterns");
  const std::vector<Pattern>* patterns = PatternsNamed(set == nullptr ? "mixed" : set);
  if (patterns == nullptr) return 2;
  std::fputs(MtailProgram(*patterns).c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace klaxon

int main(int argc, char** argv) {
  const absl::string_view command = argc > 1 ? argv[1] : "";
  if (command == "generate") return klaxon::Generate(argc, argv);
  if (command == "match") return klaxon::Match(argc, argv);
  if (command == "split") return klaxon::Split(argc, argv);
  if (command == "mtail-program") return klaxon::PrintMtailProgram(argc, argv);
  std::fprintf(stderr,
               "usage: log_bench generate --out=FILE [--lines=N] [--seed=N]\n"
               "       log_bench match --file=FILE --patterns=mixed|literal|none"
               " [--read_chunk_bytes=N]\n"
               "       log_bench split --file=FILE\n"
               "       log_bench mtail-program --patterns=mixed|literal\n");
  return 2;
}
