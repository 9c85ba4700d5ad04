// Crash safety of the real daemon: 1,000 incidents opened and resolved while
// `klaxon run` is killed with SIGKILL at random moments 20 times and restarted
// at once on the same data_dir. Afterwards every incident is there exactly
// once, every owed delivery reached the receiver under one Idempotency-Key, and
// no SLA clock lost its start.
//
// The kill schedule comes from a seed printed at the start; set
// KLAXON_CRASH_SEED to run the same schedule again (the moments still depend
// on timing, so a failure is likely, not certain, to repeat).
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using testing::BinaryPath;
using testing::ChildProcess;
using testing::HttpGet;
using testing::HttpPost;
using testing::TempDir;
using testing::WaitFor;
using testing::WebhookReceiver;

constexpr int kInstances = 1000;
constexpr int kWaves = 20;  // of kInstances / kWaves instances each
constexpr int kKills = 20;
// Owed deliveries: "opened" and "resolved" for every incident.
constexpr int kOwed = 2 * kInstances;
// Steps of work the kills are spread over: two flips per instance, one
// request per owed delivery.
constexpr int kProgress = 2 * kInstances + kOwed;
constexpr char kPushToken[] = "crash-test-push-token";
// Every wait is bounded by one of these.
constexpr absl::Duration kStartBound = absl::Seconds(30);
constexpr absl::Duration kWaveBound = absl::Seconds(90);
constexpr absl::Duration kProgressBound = absl::Seconds(120);
constexpr absl::Duration kDrainBound = absl::Seconds(120);
constexpr absl::Duration kPushEvery = absl::Milliseconds(200);

// Like WaitFor, at a pace that leaves klaxon the CPU: the conditions here
// read the receiver's whole record or one of klaxon's pages.
bool PollUntil(const std::function<bool()>& condition, absl::Duration bound,
               absl::Duration every = absl::Milliseconds(100)) {
  const absl::Time deadline = absl::Now() + bound;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(every);
  }
}

std::string Instance(int i) { return absl::StrFormat("i%04d", i); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

// `object[key]`, or null: operator[] on a const json must not meet a missing key.
nlohmann::json Field(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nlohmann::json(nullptr) : *it;
}

std::string InstanceOf(const nlohmann::json& incident) {
  const nlohmann::json labels = Field(incident, "labels");
  return labels.is_object() ? labels.value("instance", "") : "";
}

absl::Time ParseTimestamp(const nlohmann::json& value) {
  absl::Time t = absl::InfinitePast();
  std::string error;
  if (value.is_string()) absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &t, &error);
  return t;
}

// The `klaxon run` child under test: one thread kills and restarts it while
// others ask where it listens. Thread-safe.
class Klaxon {
 public:
  explicit Klaxon(const TempDir& dir) : dir_(dir) {}

  void Spawn() {
    std::lock_guard lock(mu_);
    ++generation_;
    log_path_ = dir_.File(absl::StrFormat("klaxon-%02d.log", generation_));
    logs_.push_back(log_path_);
    address_.clear();
    exit_status_.reset();
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BinaryPath("klaxon"), "run", "--config", dir_.File("klaxon.toml")},
        log_path_);
  }

  // SIGKILL and reap. An error if the child had ended before the signal: a
  // klaxon that dies by itself is a failure of its own.
  absl::Status KillNine() {
    std::lock_guard lock(mu_);
    address_.clear();
    if (std::optional<int> gone = Exited()) {
      return absl::InternalError(
          absl::StrCat(log_path_, ": klaxon exited by itself with status ", *gone));
    }
    child_->Signal(SIGKILL);
    std::optional<int> status = child_->Wait(absl::Seconds(10));
    if (!status) return absl::InternalError("klaxon did not die of SIGKILL within 10s");
    if (*status != 128 + SIGKILL) {
      return absl::InternalError(
          absl::StrCat(log_path_, ": klaxon exited by itself with status ", *status));
    }
    return absl::OkStatus();
  }

  // "127.0.0.1:PORT" once the current child logged that it listens; "" before.
  std::string address() {
    std::lock_guard lock(mu_);
    if (address_.empty() && child_ != nullptr) {
      const std::string log = ReadFile(log_path_);
      const std::string kListening = "listening on http://";
      size_t at = log.find(kListening);
      if (at != std::string::npos) {
        at += kListening.size();
        size_t end = log.find(' ', at);
        if (end != std::string::npos) address_ = log.substr(at, end - at);
      }
    }
    return address_;
  }

  // "" when the bound passed or the child ended first.
  std::string WaitForAddress(absl::Duration bound) {
    std::string found;
    WaitFor(
        [&] {
          found = address();
          std::lock_guard lock(mu_);
          return !found.empty() || Exited().has_value();
        },
        bound);
    return found;
  }

  // The ends of the last two logs: the killed process's last words and its successor's.
  std::string LogTails() {
    std::lock_guard lock(mu_);
    std::string out;
    for (size_t i = logs_.size() >= 2 ? logs_.size() - 2 : 0; i < logs_.size(); ++i) {
      absl::StrAppend(&out, "----- ", logs_[i], " (last 3000 bytes)\n",
                      Tail(ReadFile(logs_[i]), 3000), "\n");
    }
    return out;
  }

  int generation() {
    std::lock_guard lock(mu_);
    return generation_;
  }

 private:
  const TempDir& dir_;
  std::mutex mu_;
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::string log_path_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> logs_ ABSL_GUARDED_BY(mu_);
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ChildProcess> child_ ABSL_GUARDED_BY(mu_);
  std::optional<int> exit_status_ ABSL_GUARDED_BY(mu_);  // of child_, once reaped

  std::optional<int> Exited() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!exit_status_) exit_status_ = child_->Wait(absl::Milliseconds(1));
    return exit_status_;
  }
};

// The value of the /metrics line `series VALUE`, or nullopt.
std::optional<double> MetricValue(const std::string& address, const std::string& series) {
  testing::HttpResult page = HttpGet(absl::StrCat("http://", address, "/metrics"));
  if (page.status != 200) return std::nullopt;
  size_t at = page.body.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  size_t start = at + series.size() + 2;
  double value = 0;
  if (!absl::SimpleAtod(page.body.substr(start, page.body.find('\n', start) - start), &value)) {
    return std::nullopt;
  }
  return value;
}

// The instances with an open incident, or nullopt while klaxon does not answer.
std::optional<std::set<std::string>> OpenInstances(const std::string& address) {
  if (address.empty()) return std::nullopt;
  testing::HttpResult reply =
      HttpGet(absl::StrCat("http://", address, "/api/v1/incidents?state=open"));
  if (reply.status != 200) return std::nullopt;
  nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, false);
  if (!body.is_object() || !body["incidents"].is_array()) return std::nullopt;
  std::set<std::string> out;
  for (const nlohmann::json& incident : body["incidents"]) {
    out.insert(InstanceOf(incident));
  }
  return out;
}

struct KillPlan {
  // Early kills land while klaxon starts (opening the ledger, loading open
  // incidents, resuming the outbox); the others once `after_progress` steps
  // of the work are done, wherever it then is. The work is the driver's flips
  // (an instance going bad, then good) and the receiver's requests: deliveries
  // trail the incidents by seconds, and kills should find both under way.
  bool early = false;
  int after_progress = 0;
  absl::Duration delay;
};

std::vector<KillPlan> PlanKills(uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<int> thresholds;
  std::uniform_int_distribution<int> threshold(1, kProgress - 1);
  for (int k = 0; k < kKills; ++k) thresholds.push_back(threshold(random));
  std::sort(thresholds.begin(), thresholds.end());
  std::vector<KillPlan> plan;
  for (int k = 0; k < kKills; ++k) {
    KillPlan kill;
    kill.early = std::uniform_real_distribution<double>(0, 1)(random) < 0.25;
    kill.after_progress = thresholds[k];
    kill.delay =
        absl::Milliseconds(std::uniform_int_distribution<int>(0, kill.early ? 150 : 300)(random));
    plan.push_back(kill);
  }
  return plan;
}

TEST(CrashTest, ThousandIncidentsSurviveTwentyKillNines) {
  uint64_t seed = std::random_device()();
  if (const char* fixed = std::getenv("KLAXON_CRASH_SEED")) {
    ASSERT_TRUE(absl::SimpleAtoi(fixed, &seed)) << "KLAXON_CRASH_SEED=" << fixed;
  }
  std::printf("crash_test: seed %llu (KLAXON_CRASH_SEED=%llu runs this kill schedule again)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  SCOPED_TRACE(absl::StrCat("KLAXON_CRASH_SEED=", seed));
  const absl::Time test_start = absl::Now();

  ASSERT_EQ(access(BinaryPath("klaxon").c_str(), X_OK), 0) << BinaryPath("klaxon");
  TempDir dir;
  WebhookReceiver receiver;  // outlives every klaxon
  setenv("KLAXON_CRASH_PUSH_TOKEN", kPushToken, 1);
  {
    std::ofstream config(dir.File("klaxon.toml"));
    config << absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "data"
push_tokens = ["env:KLAXON_CRASH_PUSH_TOKEN"]

[rules]
tick = "200ms"

[[service]]
name = "crash"
[service.sla]
time_to_ticket = "1h"
time_to_acknowledge = "1h"
time_to_resolve = "1h"

[[rule]]
name = "CrashDown"
service = "crash"
severity = "critical"
expr = 'up_fake{job="crash"} == 0'
for = "0s"
summary = "{{ $labels.instance }} is down"

[[sink]]
name = "hook"
type = "webhook"
url = "%s"
)",
                              receiver.url());
  }

  Klaxon klaxon(dir);
  klaxon.Spawn();
  ASSERT_FALSE(klaxon.WaitForAddress(kStartBound).empty()) << klaxon.LogTails();

  // What the driver wants each instance's up_fake to be; the pusher sends all
  // of it every kPushEvery, because a restarted klaxon has no samples.
  std::vector<std::atomic<int>> intended(kInstances);
  for (auto& value : intended) value = 1;
  std::atomic<bool> stop_pushing{false};
  std::atomic<int> pushes_ok{0}, pushes_unanswered{0}, pushes_refused{0};
  std::mutex refusal_mu;
  std::string refusal;
  std::thread pusher([&] {
    while (!stop_pushing) {
      std::string body;
      body.reserve(kInstances * 48);
      for (int i = 0; i < kInstances; ++i) {
        absl::StrAppend(&body, "up_fake{job=\"crash\",instance=\"", Instance(i), "\"} ",
                        intended[i].load(), "\n");
      }
      const std::string address = klaxon.address();
      testing::HttpResult reply{};
      if (!address.empty()) {
        reply = HttpPost(absl::StrCat("http://", address, "/api/v1/write"), body,
                         {{"Authorization", absl::StrCat("Bearer ", kPushToken)},
                          {"Content-Type", "text/plain; version=0.0.4"}});
      }
      if (reply.status == 200) {
        ++pushes_ok;
        absl::SleepFor(kPushEvery);
      } else {
        // Down or starting: all-or-nothing, so the next push simply retries.
        if (reply.status == 0) {
          ++pushes_unanswered;
        } else {
          ++pushes_refused;
          std::lock_guard lock(refusal_mu);
          refusal = absl::StrCat(reply.status, " ", reply.body);
        }
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  });

  // The killer: SIGKILL at each planned moment, restart at once.
  const std::vector<KillPlan> plan = PlanKills(seed);
  std::atomic<int> flips{0};
  auto progress = [&] { return flips + int(receiver.requests().size()); };
  std::atomic<int> kills_done{0};
  std::atomic<bool> stop_killing{false};
  std::mutex killer_mu;
  std::vector<std::string> killer_errors;
  std::vector<std::string> kill_log;
  std::thread killer([&] {
    for (int k = 0; k < kKills; ++k) {
      const KillPlan& kill = plan[k];
      if (!kill.early &&
          !PollUntil([&] { return stop_killing || progress() >= kill.after_progress; },
                     kProgressBound, absl::Milliseconds(50))) {
        std::lock_guard lock(killer_mu);
        killer_errors.push_back(absl::StrCat("kill ", k + 1, ": no progress from ", progress(),
                                             " in ", absl::FormatDuration(kProgressBound),
                                             ", waiting for ", kill.after_progress));
        return;
      }
      absl::SleepFor(kill.delay);
      if (stop_killing) return;
      const int seen = progress();
      absl::Status killed = klaxon.KillNine();
      klaxon.Spawn();
      ++kills_done;
      std::lock_guard lock(killer_mu);
      kill_log.push_back(absl::StrCat(kill.early ? "early" : "at", " ", seen));
      if (!killed.ok()) killer_errors.push_back(std::string(killed.message()));
    }
  });

  // A failed ASSERT leaves through here too: threads still running then would
  // end the whole test binary.
  absl::Cleanup stop_threads = [&] {
    stop_killing = true;
    stop_pushing = true;
    if (killer.joinable()) killer.join();
    if (pusher.joinable()) pusher.join();
  };

  // The waves: a batch of instances goes bad; once klaxon shows each of their
  // incidents open (recorded, so a kill cannot take it back), they go good and
  // the next batch goes bad while these resolve.
  std::vector<absl::Time> bad_since(kInstances), good_since(kInstances);
  const int per_wave = kInstances / kWaves;
  bool waves_done = true;
  for (int wave = 0; wave < kWaves && waves_done; ++wave) {
    const int first = wave * per_wave;
    std::set<std::string> missing;
    for (int i = first; i < first + per_wave; ++i) {
      bad_since[i] = absl::Now();
      intended[i] = 0;
      ++flips;
      missing.insert(Instance(i));
    }
    waves_done = PollUntil(
        [&] {
          std::optional<std::set<std::string>> open = OpenInstances(klaxon.address());
          if (!open) return false;
          for (auto it = missing.begin(); it != missing.end();) {
            it = open->contains(*it) ? missing.erase(it) : std::next(it);
          }
          return missing.empty();
        },
        kWaveBound);
    EXPECT_TRUE(waves_done) << "wave " << wave << ": no open incident within " << kWaveBound
                            << " for " << missing.size() << " instances, e.g. " << *missing.begin()
                            << "\n"
                            << klaxon.LogTails();
    for (int i = first; i < first + per_wave; ++i) {
      good_since[i] = absl::Now();
      intended[i] = 1;
      ++flips;
    }
  }
  const absl::Time waves_end = absl::Now();

  if (!waves_done) stop_killing = true;
  killer.join();
  {
    std::lock_guard lock(killer_mu);
    for (const std::string& error : killer_errors)
      ADD_FAILURE() << error << "\n" << klaxon.LogTails();
  }
  const absl::Time kills_end = absl::Now();

  // Everything is good and klaxon stays up: every incident resolves and the
  // outbox empties.
  std::string address = klaxon.WaitForAddress(kStartBound);
  ASSERT_FALSE(address.empty()) << klaxon.LogTails();
  const std::string pending_series = "klaxon_outbox_pending{sink=\"hook\"}";
  bool drained = PollUntil(
      [&] {
        std::optional<std::set<std::string>> open = OpenInstances(address);
        if (!open || !open->empty()) return false;
        return MetricValue(address, pending_series) == 0.0;
      },
      kDrainBound);
  stop_pushing = true;
  pusher.join();
  std::optional<std::set<std::string>> still_open = OpenInstances(address);
  ASSERT_TRUE(drained) << "after " << kDrainBound << ": open incidents "
                       << (still_open ? absl::StrCat(still_open->size()) : "unknown") << ", "
                       << pending_series << " " << MetricValue(address, pending_series).value_or(-1)
                       << "\n"
                       << klaxon.LogTails();
  const absl::Time drained_at = absl::Now();
  EXPECT_EQ(pushes_refused, 0) << "a push was refused: " << refusal;
  EXPECT_EQ(kills_done, kKills);

  // Every incident the ledger holds, with timeline and clocks, one at a time:
  // the list of them all is more than the test's HTTP client reads (1 MiB).
  std::vector<nlohmann::json> incidents;
  std::vector<int64_t> gaps;
  for (int64_t n = 1, unknown_in_a_row = 0; unknown_in_a_row < 20; ++n) {
    testing::HttpResult one;
    for (int attempt = 0; attempt < 3; ++attempt) {
      one = HttpGet(absl::StrCat("http://", address, "/api/v1/incidents/", n));
      if (one.status == 200 || one.status == 404) break;
    }
    if (one.status == 404) {
      gaps.push_back(n);
      ++unknown_in_a_row;
      continue;
    }
    ASSERT_EQ(one.status, 200) << "GET /api/v1/incidents/" << n << ": " << Tail(one.body, 2000);
    incidents.push_back(nlohmann::json::parse(one.body, nullptr, false));
    ASSERT_TRUE(incidents.back().is_object()) << Tail(one.body, 2000);
    unknown_in_a_row = 0;
  }
  gaps.resize(gaps.size() - 20);  // the unknown numbers after the last incident
  EXPECT_TRUE(gaps.empty()) << "incident numbers missing: " << absl::StrJoin(gaps, ", ");

  // Each instance has exactly one incident, resolved after it went good, with
  // its three clocks started at its first evidence.
  std::map<std::string, std::vector<std::string>> by_instance;
  std::map<std::string, const nlohmann::json*> by_id;
  std::vector<std::string> wrong;
  auto fault = [&](const std::string& id, const std::string& what) {
    wrong.push_back(absl::StrCat(id, ": ", what));
  };
  for (const nlohmann::json& incident : incidents) {
    const std::string id = incident.value("id", "?");
    by_id[id] = &incident;
    const std::string instance = InstanceOf(incident);
    by_instance[instance].push_back(id);
    int i = -1;
    if (instance.size() != 5 || !absl::SimpleAtoi(instance.substr(1), &i) || i < 0 ||
        i >= kInstances) {
      fault(id, absl::StrCat("unknown instance \"", instance, "\""));
      continue;
    }
    if (incident.value("state", "") != "resolved") {
      fault(id, absl::StrCat("state ", incident.value("state", "")));
    }
    const absl::Time first_evidence = ParseTimestamp(Field(incident, "first_evidence_at"));
    const absl::Time opened = ParseTimestamp(Field(incident, "opened_at"));
    const absl::Time resolved = ParseTimestamp(Field(incident, "resolved_at"));
    // Timestamps are whole milliseconds, the driver's are not.
    const absl::Duration ms = absl::Milliseconds(1);
    if (first_evidence < bad_since[i] - ms || first_evidence > opened) {
      fault(id, absl::StrCat("first evidence ", Field(incident, "first_evidence_at").dump(),
                             " not between going bad at ", absl::FormatTime(bad_since[i]),
                             " and opened_at ", Field(incident, "opened_at").dump()));
    }
    if (resolved < good_since[i] - ms) {
      fault(id,
            absl::StrCat("resolved at ", Field(incident, "resolved_at").dump(),
                         ", before the instance went good at ", absl::FormatTime(good_since[i])));
    }
    std::map<std::string, int> kinds;
    for (const nlohmann::json& entry : incident.value("timeline", nlohmann::json::array())) {
      ++kinds[entry.value("kind", "")];
    }
    for (const char* kind : {"first_evidence", "opened", "resolved"}) {
      if (kinds[kind] != 1)
        fault(id, absl::StrCat(kinds[kind], " \"", kind, "\" timeline entries"));
    }
    std::set<std::string> clocks;
    for (const nlohmann::json& clock : incident.value("sla_clocks", nlohmann::json::array())) {
      const std::string name = clock.value("clock", "");
      if (!clocks.insert(name).second) fault(id, absl::StrCat("two clocks ", name));
      if (Field(clock, "start") != Field(incident, "first_evidence_at")) {
        fault(id, absl::StrCat(name, " starts at ", Field(clock, "start").dump(),
                               ", first evidence ", Field(incident, "first_evidence_at").dump()));
      }
      if (clock.value("state", "") != "met") {
        fault(id, absl::StrCat(name, " is ", clock.value("state", "")));
      }
    }
    if (clocks !=
        std::set<std::string>{"time_to_ticket", "time_to_acknowledge", "time_to_resolve"}) {
      fault(id, absl::StrCat("clocks {", absl::StrJoin(clocks, ", "), "}"));
    }
    const nlohmann::json expected_ticket = {{"sink", "hook"}, {"ref", "T-" + id}};
    if (incident.value("tickets", nlohmann::json::array()) !=
        nlohmann::json::array({expected_ticket})) {
      fault(id, absl::StrCat("tickets ", incident.value("tickets", nlohmann::json()).dump()));
    }
  }
  for (int i = 0; i < kInstances; ++i) {
    const std::vector<std::string>& ids = by_instance[Instance(i)];
    if (ids.size() != 1) {
      fault(Instance(i), absl::StrCat(ids.size(), " incidents {", absl::StrJoin(ids, ", "), "}"));
    }
  }
  EXPECT_EQ(incidents.size(), size_t(kInstances));

  // Every owed delivery arrived under exactly one key, each copy the same
  // document; copies are only what a kill between the receiver's answer and
  // the ledger's confirmation can cause, at most one per kill (one sink, one
  // delivery in flight at a time).
  struct Delivery {
    std::set<std::string> keys;
    std::set<std::string> bodies;
    int copies = 0;
  };
  std::map<std::pair<std::string, std::string>, Delivery> deliveries;
  std::map<std::string, std::set<std::pair<std::string, std::string>>> owners_of_key;
  const std::vector<testing::ReceivedRequest> requests = receiver.requests();
  std::vector<std::string> undelivered;
  for (const testing::ReceivedRequest& request : requests) {
    Delivery& d = deliveries[{request.incident_id, request.event}];
    d.keys.insert(request.idempotency_key);
    d.bodies.insert(request.body.dump());
    ++d.copies;
    owners_of_key[request.idempotency_key].insert({request.incident_id, request.event});
  }
  int duplicates = 0;
  for (const auto& [what, delivery] : deliveries) {
    const auto& [id, event] = what;
    if (!by_id.contains(id)) fault(id, absl::StrCat("\"", event, "\" delivered for no incident"));
    if (event != "opened" && event != "resolved") fault(id, absl::StrCat("event \"", event, "\""));
    if (delivery.keys.size() != 1) {
      fault(id, absl::StrCat(event, " delivered under ", delivery.keys.size(), " keys {",
                             absl::StrJoin(delivery.keys, ", "), "}: a double ticket"));
    }
    if (delivery.bodies.size() != 1) {
      fault(id, absl::StrCat(event, " sent as ", delivery.bodies.size(), " different documents"));
    }
    duplicates += delivery.copies - 1;
  }
  for (const auto& [key, owners] : owners_of_key) {
    if (key.empty()) fault("?", "a delivery without Idempotency-Key");
    if (owners.size() != 1) fault(key, "one key for several deliveries");
  }
  for (const auto& [id, incident] : by_id) {
    for (const char* event : {"opened", "resolved"}) {
      if (!deliveries.contains({id, event})) undelivered.push_back(absl::StrCat(id, " ", event));
    }
  }
  EXPECT_TRUE(undelivered.empty())
      << undelivered.size() << " owed deliveries never arrived: "
      << absl::StrJoin(undelivered.begin(),
                       undelivered.begin() + std::min<size_t>(undelivered.size(), 30), ", ");
  EXPECT_EQ(deliveries.size(), size_t(kOwed));
  EXPECT_LE(duplicates, kKills) << "more copies than kills could cause";
  for (const testing::ReceivedRequest& request : requests) {
    EXPECT_EQ(request.answered, 200);
  }
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " problems, the first ones:\n"
                             << absl::StrJoin(wrong.begin(),
                                              wrong.begin() + std::min<size_t>(wrong.size(), 30),
                                              "\n");
  // The ledger's own counters agree.
  EXPECT_EQ(MetricValue(address, "klaxon_incidents_total{service=\"crash\",severity=\"critical\"}"),
            double(kInstances));
  EXPECT_EQ(MetricValue(address, "klaxon_incidents_open{service=\"crash\",severity=\"critical\"}"),
            0.0);

  std::printf(
      "crash_test: seed %llu: %d kills (%s), %d restarts, %zu incidents, %zu deliveries "
      "received, %d duplicates; pushes %d ok, %d unanswered; waves %s, kills %s, drained %s, "
      "total %s\n",
      static_cast<unsigned long long>(seed), kills_done.load(),
      absl::StrJoin(kill_log, ", ").c_str(), klaxon.generation() - 1, incidents.size(),
      requests.size(), duplicates, pushes_ok.load(), pushes_unanswered.load(),
      absl::FormatDuration(absl::Trunc(waves_end - test_start, absl::Milliseconds(100))).c_str(),
      absl::FormatDuration(absl::Trunc(kills_end - test_start, absl::Milliseconds(100))).c_str(),
      absl::FormatDuration(absl::Trunc(drained_at - test_start, absl::Milliseconds(100))).c_str(),
      absl::FormatDuration(absl::Trunc(absl::Now() - test_start, absl::Milliseconds(100))).c_str());
  if (HasFailure()) std::printf("%s", klaxon.LogTails().c_str());
}

}  // namespace
}  // namespace klaxon
