// klaxon's command line: run the daemon, check a config, run the demo.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/daemon.h"
#include "detector/demo.h"
#include "detector/duration.h"
#include "detector/version.h"

namespace {

constexpr char kUsage[] = R"(klaxon: notices outages, opens tickets, keeps SLA clocks.

Usage:
  klaxon run   --config FILE    run the daemon until SIGTERM or SIGINT
  klaxon check --config FILE    validate a config; exit 1 with every error
  klaxon demo  [--config FILE]  the demo: a local service that fails on a
                                schedule, a local ticketing receiver, klaxon
                                (default config: examples/demo.toml)
  klaxon --version
  klaxon --help

Options:
  --config FILE      the TOML configuration (see README.md)
  --duration D       demo only: stop after D (e.g. "90s"); default: until Ctrl-C
)";

struct Args {
  std::string command;
  std::string config;
  std::string duration;
};

bool Parse(int argc, char** argv, Args& args, std::string& error) {
  std::vector<std::string> words(argv + 1, argv + argc);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    auto value = [&](std::string& out) {
      size_t eq = w.find('=');
      if (eq != std::string::npos) {
        out = w.substr(eq + 1);
        return true;
      }
      if (i + 1 >= words.size()) {
        error = absl::StrCat(w, " needs a value");
        return false;
      }
      out = words[++i];
      return true;
    };
    if (w == "--help" || w == "-h" || w == "help") {
      args.command = "help";
    } else if (w == "--version" || w == "version") {
      args.command = "version";
    } else if (w.rfind("--config", 0) == 0) {
      if (!value(args.config)) return false;
    } else if (w.rfind("--duration", 0) == 0) {
      if (!value(args.duration)) return false;
    } else if (!w.empty() && w[0] != '-' && args.command.empty()) {
      args.command = w;
    } else {
      error = absl::StrCat("unknown argument \"", w, "\"");
      return false;
    }
  }
  if (args.command.empty()) args.command = "help";
  return true;
}

// Blocks SIGINT/SIGTERM in every thread (call before any thread starts) so that
// WaitForSignal() is the one place they arrive.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// True when a stop signal arrived within `timeout`.
bool WaitForSignal(const sigset_t& set, absl::Duration timeout) {
  timespec ts = absl::ToTimespec(timeout);
  while (true) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) return true;
    if (sig < 0 && errno == EINTR) continue;
    return false;
  }
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "klaxon: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!Parse(argc, argv, args, error)) {
    std::fprintf(stderr, "klaxon: %s\n\n%s", error.c_str(), kUsage);
    return 2;
  }
  if (args.command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.command == "version") {
    std::printf("klaxon %s\n", klaxon::kVersion);
    return 0;
  }
  if (args.command == "check") {
    if (args.config.empty()) return Fail(absl::InvalidArgumentError("check needs --config FILE"));
    absl::StatusOr<klaxon::Config> config = klaxon::LoadConfigFile(args.config);
    if (!config.ok()) return Fail(config.status());
    std::printf("%s: ok (%zu services, %zu probes, %zu rules, %zu sinks)\n", args.config.c_str(),
                config->services.size(), config->http_probes.size(), config->rules.size(),
                config->sinks.size());
    return 0;
  }
  if (args.command == "run") {
    if (args.config.empty()) return Fail(absl::InvalidArgumentError("run needs --config FILE"));
    absl::StatusOr<klaxon::Config> config = klaxon::LoadConfigFile(args.config);
    if (!config.ok()) return Fail(config.status());
    sigset_t signals = BlockStopSignals();
    klaxon::RealClock clock;
    absl::StatusOr<std::unique_ptr<klaxon::Daemon>> daemon =
        klaxon::Daemon::Start(*std::move(config), clock);
    if (!daemon.ok()) return Fail(daemon.status());
    while (!WaitForSignal(signals, absl::Hours(1))) {
    }
    (*daemon)->Stop();
    return 0;
  }
  if (args.command == "demo") {
    klaxon::DemoOptions options;
    if (!args.config.empty()) options.config_path = args.config;
    absl::Duration duration = absl::InfiniteDuration();
    if (!args.duration.empty()) {
      absl::StatusOr<absl::Duration> parsed = klaxon::ParseDuration(args.duration);
      if (!parsed.ok()) return Fail(parsed.status());
      duration = *parsed;
    }
    sigset_t signals = BlockStopSignals();
    absl::Time end = absl::Now() + duration;
    absl::Status status = klaxon::RunDemo(options, [&](absl::Duration wait) {
      absl::Duration left = end - absl::Now();
      if (left <= absl::ZeroDuration()) return true;
      return WaitForSignal(signals, std::min(wait, left)) || absl::Now() >= end;
    });
    if (!status.ok()) return Fail(status);
    return 0;
  }
  std::fprintf(stderr, "klaxon: unknown command \"%s\"\n\n%s", args.command.c_str(), kUsage);
  return 2;
}
