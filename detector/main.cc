// klaxon's command line: run the daemon, check a config, test rules, run the demo.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/daemon.h"
#include "detector/demo.h"
#include "detector/duration.h"
#include "detector/incidents_cli.h"
#include "detector/version.h"
#include "rules/rule_test_runner.h"

namespace {

constexpr char kUsage[] = R"(klaxon: notices outages, opens tickets, keeps SLA clocks.

Usage:
  klaxon run   --config FILE    run the daemon until SIGTERM or SIGINT; SIGHUP reloads
  klaxon check --config FILE    validate a config; exit 1 with every error
  klaxon test  FILE...          run rule unit tests (promtool-style, TOML);
                                exit 0 all pass, 1 a test failed, 2 a file
                                could not be read or has an error
  klaxon demo  [--config FILE]  the demo: a local service that fails on a
                                schedule, a local ticketing receiver, klaxon
                                (default config: examples/demo.toml)
  klaxon incidents list [--state S] | show ID | ack ID | resolve ID
                                a running klaxon's incidents, through its API
                                (--server HOST:PORT, default 127.0.0.1:9477;
                                ack and resolve send $KLAXON_TOKEN)
  klaxon postmortem ID [--server HOST:PORT | --state DATA_DIR]
                                an incident's post-mortem document (Markdown:
                                summary, timeline, SLA clocks, sections to
                                fill in), from a running klaxon's API or read
                                from the ledger in DATA_DIR
  klaxon sla report [--service S] [--month 2026-11] [--format table|json|csv]
                                a service's availability and error budget for a
                                calendar month, from a running klaxon's API
  klaxon --version
  klaxon --help

Options:
  --config FILE      the TOML configuration (see README.md)
  --duration D       demo only: stop after D (e.g. "90s"); default: until Ctrl-C
  --server HOST:PORT incidents and postmortem: the klaxon to ask
  --state S          incidents list: open, acknowledged or resolved;
                     postmortem: the data_dir whose ledger to read
  --comment C        incidents ack/resolve only: recorded on the timeline
  --service S        sla report: one service (default: every one with an objective)
  --month YYYY-MM    sla report: the calendar month (default: this one)
  --format F         sla report: table (default), json or csv
)";

struct Args {
  std::string command;
  std::string config;
  std::string duration;
  std::vector<std::string> files;  // `test` only; `incidents`: its words
  klaxon::IncidentsCliOptions incidents;
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
    } else if (w.rfind("--server", 0) == 0) {
      if (!value(args.incidents.server)) return false;
    } else if (w.rfind("--state", 0) == 0) {
      if (!value(args.incidents.state)) return false;
    } else if (w.rfind("--comment", 0) == 0) {
      if (!value(args.incidents.comment)) return false;
    } else if (w.rfind("--service", 0) == 0) {
      if (!value(args.incidents.service)) return false;
    } else if (w.rfind("--month", 0) == 0) {
      if (!value(args.incidents.month)) return false;
    } else if (w.rfind("--format", 0) == 0) {
      if (!value(args.incidents.format)) return false;
    } else if (!w.empty() && w[0] != '-' && args.command.empty()) {
      args.command = w;
    } else if (!w.empty() && w[0] != '-' &&
               (args.command == "test" || args.command == "incidents" ||
                args.command == "postmortem" || args.command == "sla")) {
      args.files.push_back(w);
    } else {
      error = absl::StrCat("unknown argument \"", w, "\"");
      return false;
    }
  }
  if (args.command.empty()) args.command = "help";
  return true;
}

// Blocks SIGINT/SIGTERM (and SIGHUP, reload) in every thread (call before any
// thread starts) so that WaitForSignal() is the one place they arrive.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// True when a stop signal arrived within `timeout`. A SIGHUP calls `on_hangup`
// (reload) and keeps waiting.
bool WaitForSignal(const sigset_t& set, absl::Duration timeout,
                   const std::function<void()>& on_hangup = {}) {
  timespec ts = absl::ToTimespec(timeout);
  while (true) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) return true;
    if (sig == SIGHUP) {
      if (on_hangup) on_hangup();
      continue;
    }
    if (sig < 0 && errno == EINTR) continue;
    return false;
  }
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "klaxon: %s\n", std::string(status.message()).c_str());
  return 1;
}

// `klaxon test FILE...`: loads each test file and the rule files it names,
// runs the tests and prints promtool's report. Exit status: 0 all passed, 1 a
// test failed, 2 a file could not be read or has an error (nothing of that
// file ran).
int RunRuleTestFiles(const std::vector<std::string>& paths) {
  int files_broken = 0;
  klaxon::RuleTestResult total;
  for (const std::string& path : paths) {
    absl::StatusOr<klaxon::RuleTestFile> file = klaxon::LoadRuleTestFile(path);
    klaxon::RulesUnderTest rules;
    std::vector<std::string> errors;
    if (!file.ok()) {
      errors.push_back(std::string(file.status().message()));
    } else {
      for (const klaxon::RuleTestFile::RuleFile& rule_file : file->rule_files) {
        absl::StatusOr<klaxon::Config> config = klaxon::LoadConfigFile(rule_file.resolved);
        if (!config.ok()) {
          errors.push_back(absl::StrCat(path, ":", rule_file.line, ":", rule_file.column,
                                        ": rule_files: cannot load \"", rule_file.path,
                                        "\": ", config.status().message()));
          continue;
        }
        for (const klaxon::RuleConfig& rule : config->rules) {
          rules.alerting.push_back(klaxon::AlertingOptionsFor(rule));
        }
        for (const klaxon::RecordConfig& record : config->records) {
          rules.recording.push_back(klaxon::RecordingOptionsFor(record));
        }
      }
    }
    if (!errors.empty()) {
      ++files_broken;
      std::printf("Unit Testing: %s\n  ERROR:\n%s\n\n", path.c_str(),
                  absl::StrJoin(errors, "\n").c_str());
      continue;
    }
    klaxon::RuleTestResult result = klaxon::RunRuleTests(*file, rules);
    std::fputs(klaxon::FormatRuleTestReport(path, result).c_str(), stdout);
    std::fputs("\n", stdout);
    total.tests += result.tests;
    total.failed_tests += result.failed_tests;
    total.checks += result.checks;
    total.failed_checks += result.failed_checks;
  }
  std::printf("%d of %d tests passed (%d of %d checks) in %zu file%s",
              total.tests - total.failed_tests, total.tests, total.checks - total.failed_checks,
              total.checks, paths.size(), paths.size() == 1 ? "" : "s");
  if (files_broken > 0)
    std::printf("; %d file%s with errors", files_broken, files_broken == 1 ? "" : "s");
  std::printf("\n");
  std::fflush(stdout);
  if (files_broken > 0) return 2;
  return total.failed_tests > 0 ? 1 : 0;
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
    std::printf(
        "%s: ok (%zu services, %zu probes, %zu scrape jobs, %zu logs, %zu rules, %zu sinks)\n",
        args.config.c_str(), config->services.size(),
        config->http_probes.size() + config->tcp_probes.size(), config->scrapes.size(),
        config->logs.size(), config->rules.size(), config->sinks.size());
    return 0;
  }
  if (args.command == "test") {
    if (args.files.empty()) {
      std::fprintf(stderr, "klaxon: test needs at least one test file\n\n%s", kUsage);
      return 2;
    }
    return RunRuleTestFiles(args.files);
  }
  if (args.command == "incidents") {
    if (const char* token = std::getenv("KLAXON_TOKEN")) args.incidents.token = token;
    return klaxon::RunIncidentsCommand(args.files, args.incidents, stdout, stderr);
  }
  if (args.command == "sla") {
    return klaxon::RunSlaCommand(args.files, args.incidents, stdout, stderr);
  }
  if (args.command == "postmortem") {
    if (const char* token = std::getenv("KLAXON_TOKEN")) args.incidents.token = token;
    // --state names a data_dir here, not an incident state.
    args.incidents.data_dir = args.incidents.state;
    return klaxon::RunPostmortemCommand(args.files, args.incidents, stdout, stderr);
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
    klaxon::Daemon* running = daemon->get();
    while (!WaitForSignal(signals, absl::Hours(1), [running] { (void)running->Reload(); })) {
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
