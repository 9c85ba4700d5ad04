// The whole-system benchmark's load driver (issue 6, figures 1 and 2): one
// process on 127.0.0.1 that plays every target and every receiver, so that all
// times are read from one clock.
//
//   - Virtual HTTP targets GET /p/PROBER/I (I in 0..targets-1): 200 "ok", or 503
//     while target I is down. Each prober (klaxon, a blackbox exporter) gets its
//     own PROBER path segment, so the target records which prober found it down
//     and when. Outages follow a fixed schedule (below), computed from the
//     driver's start, so "the moment the target went down" is exact.
//   - Prometheus text pages GET /metrics/K (K in 0..pages-1): `series` counters
//     each, whose values grow with time (figure 2).
//   - Webhook receivers POST /webhook/STACK: klaxon's webhook payload (an
//     `incident`, event `opened`/`reopened`) or Alertmanager's (`alerts`, status
//     `firing`); the arrival time is recorded with the target the alert names
//     (label `target`, else `probe`, "tN").
//   - GET /stats: counters (`pages_served N`, `samples_served N`, ...).
//
// Stacks are matched by name: the tickets on /webhook/S answer the probes on
// /p/S/. Outage k (0-based) takes target k % targets down at
// warmup_s + k * spacing_s + jitter_k (jitter_k uniform in [0, jitter_s),
// seeded) for down_s seconds. It stops by itself after duration_s (or on
// SIGTERM/SIGINT) and writes, with --out=PREFIX:
//   PREFIX.outages.tsv  one row per stack and outage: down, up, the first probe
//                       that found the target down, the ticket, and
//                       a = ticket - down, b = ticket - (first down probe + for);
//                       b split at the time the stack says the alert fired
//                       (klaxon's `opened_at`, Alertmanager's `startsAt`):
//                       fired_late = fired - (first down probe + for),
//                       delivery = ticket - fired
//   PREFIX.events.tsv   every probe request and webhook, for checking by hand
// and prints `key value` summary lines on stdout. Times are milliseconds since
// the driver started (steady clock); `start_unix_ms` anchors them.
//
//   load_driver --port_file=F [--port=0] [--targets=30] [--outages=25]
//       [--warmup_s=30] [--spacing_s=4] [--jitter_s=5] [--down_s=30] [--for_s=10]
//       [--duration_s=0 (schedule + 10 s)] [--pages=100] [--series=1000]
//       [--seed=6] [--out=PREFIX]
#include <signal.h>

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including
// <utility>, which GCC 12 no longer pulls in otherwise.
#include <utility>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cctype>
#include <cmath>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

const char* Flag(int argc, char** argv, const char* name) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return argv[i] + prefix.size();
  }
  return nullptr;
}

double NumFlag(int argc, char** argv, const char* name, double fallback) {
  const char* text = Flag(argc, argv, name);
  return text == nullptr ? fallback : std::strtod(text, nullptr);
}

std::string StrFlag(int argc, char** argv, const char* name, const char* fallback) {
  const char* text = Flag(argc, argv, name);
  return text == nullptr ? fallback : text;
}

struct Outage {
  int index;
  int target;
  double down_ms;
  double up_ms;
};

struct Probe {
  double at_ms;
  bool down;  // answered 503
};

struct Ticket {
  double at_ms;
  int target;
  std::string what;  // klaxon's event or Alertmanager's status
  // When the stack says the alert fired (klaxon's incident `opened_at`,
  // Alertmanager's `startsAt`, which Prometheus sets to the evaluation that
  // fired it), in driver milliseconds; NaN if the payload has none.
  double fired_ms;
};

// Unix milliseconds of an RFC 3339 time ("2026-11-24T02:22:56.130Z", with any
// fraction, or an offset); NaN if it is not one.
double ParseRfc3339Ms(const std::string& text) {
  int year, month, day, hour, minute, second, used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &used) != 6) {
    return std::nan("");
  }
  struct tm tm = {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  double ms = static_cast<double>(timegm(&tm)) * 1000;
  size_t i = used;
  if (i < text.size() && text[i] == '.') {
    double scale = 100;
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      ms += (text[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) == 2) {
      ms -= (text[i] == '+' ? 1 : -1) * (oh * 3600000.0 + om * 60000.0);
    }
  }
  return ms;
}

// Everything the driver serves and records. Thread-compatible: only the one
// io_context thread touches it.
class Driver {
 public:
  Driver(int targets, std::vector<Outage> outages, int pages, int series)
      : start_(std::chrono::steady_clock::now()),
        // Read together with start_, so that wall times in payloads convert.
        start_unix_ms_(std::chrono::duration<double, std::milli>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()),
        targets_(targets),
        outages_(std::move(outages)),
        by_target_(targets),
        pages_(pages),
        series_(series) {
    for (const Outage& outage : outages_) by_target_[outage.target].push_back(&outage);
    // The label part of every series, written once: a page is then these
    // prefixes and numbers.
    page_prefixes_.resize(pages_);
    for (int k = 0; k < pages_; ++k) {
      for (int j = 0; j < series_; ++j) {
        page_prefixes_[k].push_back("bench_requests_total{page=\"" + std::to_string(k) +
                                    "\",series=\"" + std::to_string(j) + "\"} ");
      }
    }
  }

  double NowMs() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
        .count();
  }

  bool Down(int target, double at_ms) const {
    for (const Outage* outage : by_target_[target]) {
      if (at_ms >= outage->down_ms && at_ms < outage->up_ms) return true;
    }
    return false;
  }

  void Handle(const http::request<http::string_body>& req, http::response<http::string_body>& res,
              double at_ms) {
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "klaxon-load-driver");
    res.set(http::field::content_type, "text/plain");
    const std::string target(req.target());
    res.result(http::status::ok);
    if (target.rfind("/p/", 0) == 0) {
      HandleProbe(target.substr(3), res, at_ms);
    } else if (target.rfind("/metrics/", 0) == 0) {
      HandlePage(target.substr(9), res);
    } else if (target.rfind("/webhook/", 0) == 0 && req.method() == http::verb::post) {
      HandleWebhook(target.substr(9), req.body(), res, at_ms);
    } else if (target == "/stats") {
      res.body() = Stats();
    } else if (target == "/healthz") {
      res.body() = "ok\n";
    } else {
      ++bad_requests_;
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    res.prepare_payload();
  }

  std::string Stats() const {
    std::string out = "pages_served " + std::to_string(pages_served_) + "\n";
    out += "samples_served " + std::to_string(pages_served_ * static_cast<uint64_t>(series_)) + "\n";
    out += "bad_requests " + std::to_string(bad_requests_) + "\n";
    out += "bad_webhooks " + std::to_string(bad_webhooks_) + "\n";
    for (const auto& [stack, probes] : probes_) {
      size_t n = 0;
      for (const auto& list : probes) n += list.size();
      out += "probes{stack=\"" + stack + "\"} " + std::to_string(n) + "\n";
    }
    for (const auto& [stack, tickets] : tickets_) {
      out += "webhooks{stack=\"" + stack + "\"} " + std::to_string(tickets.size()) + "\n";
    }
    return out;
  }

  // Writes PREFIX.outages.tsv and PREFIX.events.tsv; prints the summary.
  void Report(const std::string& prefix, double for_ms, double stopped_ms) const {
    std::map<std::string, bool> stacks;
    for (const auto& [stack, unused] : probes_) stacks[stack] = true;
    for (const auto& [stack, unused] : tickets_) stacks[stack] = true;

    std::ofstream rows(prefix + ".outages.tsv");
    rows << "stack\toutage\ttarget\tdown_ms\tup_ms\tfirst_down_probe_ms\tticket_ms\ta_ms\tb_ms\t"
            "fired_ms\tfired_late_ms\tdelivery_ms\n";
    std::printf("start_unix_ms %.3f\nstopped_ms %.0f\n", start_unix_ms_,
                stopped_ms);
    std::printf("outages %zu\n", outages_.size());
    std::fputs(Stats().c_str(), stdout);
    for (const auto& [stack, unused] : stacks) {
      static const std::vector<std::vector<Probe>> kNoProbes;
      static const std::vector<Ticket> kNoTickets;
      auto p = probes_.find(stack);
      auto t = tickets_.find(stack);
      const auto& probes = p == probes_.end() ? kNoProbes : p->second;
      const auto& tickets = t == tickets_.end() ? kNoTickets : t->second;
      int detected = 0, missed = 0, unseen = 0;
      std::vector<bool> used(tickets.size(), false);
      for (const Outage& outage : outages_) {
        std::optional<double> first;
        if (outage.target < static_cast<int>(probes.size())) {
          for (const Probe& probe : probes[outage.target]) {
            if (probe.down && probe.at_ms >= outage.down_ms && probe.at_ms < outage.up_ms) {
              first = probe.at_ms;
              break;
            }
          }
        }
        // The first firing ticket naming the target, from the outage's start to
        // the target's next outage.
        double until = 1e300;
        for (const Outage* other : by_target_[outage.target]) {
          if (other->down_ms > outage.down_ms) until = std::min(until, other->down_ms);
        }
        std::optional<double> ticket, fired;
        for (size_t i = 0; i < tickets.size(); ++i) {
          const Ticket& tk = tickets[i];
          if (tk.target == outage.target && Firing(tk.what) && tk.at_ms >= outage.down_ms &&
              tk.at_ms < until) {
            if (!ticket) {
              ticket = tk.at_ms;
              if (!std::isnan(tk.fired_ms)) fired = tk.fired_ms;
            }
            used[i] = true;
          }
        }
        if (!first) ++unseen;
        if (ticket) ++detected; else ++missed;
        auto cell = [](std::optional<double> v) {
          char buf[32];
          if (!v) return std::string("nan");
          std::snprintf(buf, sizeof buf, "%.3f", *v);
          return std::string(buf);
        };
        std::optional<double> a, b, fired_late, delivery;
        if (ticket) a = *ticket - outage.down_ms;
        if (ticket && first) b = *ticket - (*first + for_ms);
        // b split in two: from (first down probe + for) to the stack's own
        // firing time, and from there to the ticket's arrival.
        if (fired && first) fired_late = *fired - (*first + for_ms);
        if (fired && ticket) delivery = *ticket - *fired;
        rows << stack << '\t' << outage.index << "\tt" << outage.target << '\t'
             << cell(outage.down_ms) << '\t' << cell(outage.up_ms) << '\t' << cell(first) << '\t'
             << cell(ticket) << '\t' << cell(a) << '\t' << cell(b) << '\t' << cell(fired) << '\t'
             << cell(fired_late) << '\t' << cell(delivery) << '\n';
      }
      int spurious = 0;
      for (size_t i = 0; i < tickets.size(); ++i) {
        if (Firing(tickets[i].what) && !used[i]) ++spurious;
      }
      std::printf("stack %s detected %d missed %d outages_no_down_probe %d spurious_tickets %d\n",
                  stack.c_str(), detected, missed, unseen, spurious);
    }

    std::ofstream events(prefix + ".events.tsv");
    events << "kind\tstack\ttarget\tat_ms\twhat\n";
    for (const auto& [stack, probes] : probes_) {
      for (size_t target = 0; target < probes.size(); ++target) {
        for (const Probe& probe : probes[target]) {
          events << "probe\t" << stack << "\tt" << target << '\t' << probe.at_ms << '\t'
                 << (probe.down ? 503 : 200) << '\n';
        }
      }
    }
    for (const auto& [stack, tickets] : tickets_) {
      for (const Ticket& tk : tickets) {
        events << "webhook\t" << stack << "\tt" << tk.target << '\t' << tk.at_ms << '\t' << tk.what
               << '\n';
      }
    }
  }


 private:
  static bool Firing(const std::string& what) {
    return what == "opened" || what == "reopened" || what == "firing";
  }

  static double TimeField(const nlohmann::json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return std::nan("");
    return ParseRfc3339Ms(it->get<std::string>());
  }

  double DriverMs(double unix_ms) const { return unix_ms - start_unix_ms_; }

  static int ParseTarget(const std::string& text) {
    if (text.size() < 2 || text[0] != 't') return -1;
    char* end = nullptr;
    const long n = std::strtol(text.c_str() + 1, &end, 10);
    return *end == '\0' ? static_cast<int>(n) : -1;
  }

  void HandleProbe(const std::string& rest, http::response<http::string_body>& res, double at_ms) {
    const size_t slash = rest.find('/');
    const int target = slash == std::string::npos ? -1 : std::atoi(rest.c_str() + slash + 1);
    if (target < 0 || target >= targets_) {
      ++bad_requests_;
      res.result(http::status::not_found);
      res.body() = "no such target\n";
      return;
    }
    auto& probes = probes_[rest.substr(0, slash)];
    probes.resize(targets_);
    const bool down = Down(target, at_ms);
    probes[target].push_back({at_ms, down});
    if (down) {
      res.result(http::status::service_unavailable);
      res.body() = "down\n";
    } else {
      res.body() = "ok\n";
    }
  }

  void HandlePage(const std::string& rest, http::response<http::string_body>& res) {
    const int page = std::atoi(rest.c_str());
    if (rest.empty() || page < 0 || page >= pages_) {
      ++bad_requests_;
      res.result(http::status::not_found);
      res.body() = "no such page\n";
      return;
    }
    ++pages_served_;
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    // Counters that grow with time, at different speeds, never reset.
    const uint64_t tenths = static_cast<uint64_t>(NowMs() / 100);
    std::string& body = res.body();
    body.reserve(page_prefixes_[page].size() * 48 + 128);
    body = "# HELP bench_requests_total Requests served (load driver).\n"
           "# TYPE bench_requests_total counter\n";
    char number[32];
    for (int j = 0; j < series_; ++j) {
      body += page_prefixes_[page][j];
      const int len = std::snprintf(number, sizeof number, "%llu\n",
                                    static_cast<unsigned long long>(tenths * (1 + j % 10)));
      body.append(number, len);
    }
  }

  void HandleWebhook(const std::string& stack, const std::string& body,
                     http::response<http::string_body>& res, double at_ms) {
    auto& tickets = tickets_[stack];
    nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    auto label_target = [](const nlohmann::json& labels) {
      if (!labels.is_object()) return -1;
      for (const char* key : {"target", "probe"}) {
        auto it = labels.find(key);
        if (it != labels.end() && it->is_string()) return ParseTarget(it->get<std::string>());
      }
      return -1;
    };
    bool understood = false;
    if (doc.is_object() && doc.contains("incident")) {  // klaxon's webhook
      const nlohmann::json& incident = doc["incident"];
      if (incident.is_object() && doc.value("event", "").size() > 0) {
        tickets.push_back({at_ms, label_target(incident.value("labels", nlohmann::json())),
                           doc.value("event", ""), DriverMs(TimeField(incident, "opened_at"))});
        understood = true;
      }
    } else if (doc.is_object() && doc.contains("alerts") && doc["alerts"].is_array()) {
      for (const nlohmann::json& alert : doc["alerts"]) {  // Alertmanager's
        if (!alert.is_object()) continue;
        tickets.push_back({at_ms, label_target(alert.value("labels", nlohmann::json())),
                           alert.value("status", ""), DriverMs(TimeField(alert, "startsAt"))});
        understood = true;
      }
    }
    if (!understood) ++bad_webhooks_;
    ++ticket_ids_;
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"id\": \"T-" + std::to_string(ticket_ids_) + "\"}\n";
  }

  const std::chrono::steady_clock::time_point start_;
  const double start_unix_ms_;
  const int targets_;
  const std::vector<Outage> outages_;
  std::vector<std::vector<const Outage*>> by_target_;
  const int pages_;
  const int series_;
  std::vector<std::vector<std::string>> page_prefixes_;
  uint64_t pages_served_ = 0;
  uint64_t bad_requests_ = 0;
  uint64_t bad_webhooks_ = 0;
  uint64_t ticket_ids_ = 0;
  std::map<std::string, std::vector<std::vector<Probe>>> probes_;  // stack -> target -> probes
  std::map<std::string, std::vector<Ticket>> tickets_;
};

// One kept-alive connection: read a request, answer it, repeat.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Driver& driver) : stream_(std::move(socket)), driver_(driver) {}

  void Read() {
    req_ = {};
    auto self = shared_from_this();
    http::async_read(stream_, buffer_, req_,
                     [self](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    res_ = {};
    driver_.Handle(req_, res_, driver_.NowMs());
    auto self = shared_from_this();
    http::async_write(stream_, res_, [self](beast::error_code ec, std::size_t) {
      if (!ec && self->res_.keep_alive()) {
        self->Read();
      } else {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      }
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  Driver& driver_;
};

void Accept(tcp::acceptor& acceptor, Driver& driver) {
  acceptor.async_accept([&acceptor, &driver](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket), driver)->Read();
    }
    Accept(acceptor, driver);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const int targets = static_cast<int>(NumFlag(argc, argv, "targets", 30));
  const int outage_count = static_cast<int>(NumFlag(argc, argv, "outages", 25));
  const double warmup_s = NumFlag(argc, argv, "warmup_s", 30);
  const double spacing_s = NumFlag(argc, argv, "spacing_s", 4);
  const double jitter_s = NumFlag(argc, argv, "jitter_s", 5);
  const double down_s = NumFlag(argc, argv, "down_s", 30);
  const double for_s = NumFlag(argc, argv, "for_s", 10);
  double duration_s = NumFlag(argc, argv, "duration_s", 0);
  const int pages = static_cast<int>(NumFlag(argc, argv, "pages", 100));
  const int series = static_cast<int>(NumFlag(argc, argv, "series", 1000));
  const unsigned seed = static_cast<unsigned>(NumFlag(argc, argv, "seed", 6));
  const int port = static_cast<int>(NumFlag(argc, argv, "port", 0));
  const std::string port_file = StrFlag(argc, argv, "port_file", "");
  const std::string out = StrFlag(argc, argv, "out", "");
  if (targets <= 0 || outage_count < 0 || pages < 0 || series <= 0) {
    std::fprintf(stderr, "load_driver: bad flags\n");
    return 2;
  }

  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(0, jitter_s * 1000);
  std::vector<Outage> outages;
  for (int k = 0; k < outage_count; ++k) {
    const double down_ms = warmup_s * 1000 + k * spacing_s * 1000 + jitter(rng);
    outages.push_back({k, k % targets, down_ms, down_ms + down_s * 1000});
  }
  double last_up_ms = 0;
  for (const Outage& o : outages) last_up_ms = std::max(last_up_ms, o.up_ms);
  // A target's next outage must start after its previous one ended, with room
  // for the stacks to see it up again in between.
  for (const Outage& o : outages) {
    if (o.index + targets < outage_count && outages[o.index + targets].down_ms < o.up_ms + 30000) {
      std::fprintf(stderr, "load_driver: target t%d's outages overlap; use more targets\n",
                   o.target);
      return 2;
    }
  }
  if (duration_s <= 0) duration_s = last_up_ms / 1000 + 10;
  if (duration_s * 1000 < last_up_ms) {
    std::fprintf(stderr, "load_driver: --duration_s=%.0f ends before the last outage (%.0f s)\n",
                 duration_s, last_up_ms / 1000);
    return 2;
  }

  Driver driver(targets, std::move(outages), pages, series);
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  beast::error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "load_driver: cannot listen on 127.0.0.1:%d: %s\n", port,
                 ec.message().c_str());
    return 1;
  }
  const int bound = acceptor.local_endpoint().port();
  if (!port_file.empty()) {
    // Written whole under another name, then renamed: a reader never sees half.
    std::ofstream(port_file + ".tmp") << bound << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  std::printf("port %d\nduration_s %.1f\n", bound, duration_s);
  std::fflush(stdout);

  Accept(acceptor, driver);
  asio::steady_timer stop(io, std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000)));
  stop.async_wait([&io](beast::error_code) { io.stop(); });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  io.run();

  if (!out.empty()) driver.Report(out, for_s * 1000, driver.NowMs());
  return 0;
}
