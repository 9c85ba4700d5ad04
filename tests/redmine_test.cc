// klaxon's Redmine sink against a real Redmine (Debian 12's redmine package,
// started on 127.0.0.1 by scripts/redmine-peer.sh with its own sqlite database):
// one issue per incident holding the incident id, a note on acknowledgement, the
// Resolved status and a note on recovery, and a lost answer to the creating POST
// that must not leave a second issue behind. Skipped, with the reason, where
// Redmine is not installed or does not start.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/daemon.h"
#include "exporters/internal/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using testing::HttpGet;
using testing::HttpPost;
using testing::TempDir;
using testing::WaitFor;

// The first start builds the template database (seconds alone, minutes on a
// busy machine); later ones copy it.
constexpr absl::Duration kStartBound = absl::Seconds(240);
// Rails loads the whole application before it answers: ~10s alone, ~25s busy.
constexpr absl::Duration kBootBound = absl::Seconds(90);
constexpr absl::Duration kBound = absl::Seconds(30);
constexpr char kPushToken[] = "redmine-test-push-token";
constexpr char kAliceToken[] = "redmine-test-alice-token";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Tail(const std::string& text, size_t bytes = 3000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

// A Redmine server started by scripts/redmine-peer.sh. The destructor ends its
// process group, however the test went.
class RedminePeer {
 public:
  explicit RedminePeer(std::string dir) : dir_(std::move(dir)) {}
  ~RedminePeer() {
    if (pid_ > 0) {
      kill(-pid_, SIGTERM);
      WaitFor([&] { return kill(-pid_, 0) != 0; }, absl::Seconds(10));
      kill(-pid_, SIGKILL);
    }
    // Removes the instance's registration under /var/lib/redmine.
    testing::ChildProcess stop({"/bin/bash", Script(), "stop", dir_}, dir_ + "/stop.log");
    stop.Wait(absl::Seconds(20));
  }
  RedminePeer(const RedminePeer&) = delete;
  RedminePeer& operator=(const RedminePeer&) = delete;

  // "" once Redmine answers its REST API, else why not.
  std::string Start() {
    port_ = testing::FreePort();
    testing::ChildProcess start(
        {"/bin/bash", Script(), "start", dir_, absl::StrCat(port_), absl::StrCat(getpid())},
        dir_ + "/start.log");
    std::optional<int> code = start.Wait(kStartBound);
    if (!code.has_value()) {
      return absl::StrCat(Script(), " start did not finish within ",
                          absl::FormatDuration(kStartBound), ":\n", Tail(start.Log()));
    }
    if (*code == 3) {
      return absl::StrCat("redmine is not installed (", Script(), " install):\n", Tail(start.Log()));
    }
    if (*code != 0) {
      failed_ = true;
      return absl::StrCat(Script(), " start exited with ", *code, ":\n", Tail(start.Log()));
    }
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(dir_ + "/redmine.pid")), &pid_) ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(dir_ + "/incident_field_id")),
                          &field_id_)) {
      failed_ = true;
      return absl::StrCat(Script(), " start wrote no pid or field id in ", dir_);
    }
    std::cerr << start.Log();
    api_key_ = std::string(absl::StripAsciiWhitespace(ReadFile(dir_ + "/api_key")));
    const absl::Time started = absl::Now();
    if (!WaitFor([&] { return Get("/projects/ops.json") != nullptr; }, kBootBound)) {
      failed_ = true;
      return absl::StrCat("Redmine's REST API did not answer within ",
                          absl::FormatDuration(kBootBound), "; its log:\n",
                          Tail(ReadFile(dir_ + "/redmine.log")));
    }
    std::cerr << "Redmine answered " << absl::FormatDuration(absl::Now() - started)
              << " after its start\n";
    return "";
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  int port() const { return port_; }
  // Installed but would not start or answer: a failure, not a reason to skip.
  bool failed() const { return failed_; }
  std::string api_key_file() const { return dir_ + "/api_key"; }
  int field_id() const { return field_id_; }

  // The JSON of a 200 answer, else null.
  nlohmann::json Get(const std::string& path) const {
    internal::HttpCall call;
    call.method = "GET";
    call.url = url() + path;
    call.headers = {{"X-Redmine-API-Key", api_key_}};
    call.timeout = absl::Seconds(10);
    absl::StatusOr<internal::HttpReply> reply = internal::Perform(call);
    if (!reply.ok() || reply->status != 200) return nullptr;
    nlohmann::json json = nlohmann::json::parse(reply->body, nullptr, false);
    return json.is_discarded() ? nullptr : json;
  }

  // Every issue in project ops, any status, read without Redmine's filters.
  std::vector<nlohmann::json> Issues() const {
    nlohmann::json answer = Get("/issues.json?project_id=ops&status_id=*&limit=100");
    std::vector<nlohmann::json> issues;
    if (answer.is_object() && answer["issues"].is_array()) {
      for (const auto& issue : answer["issues"]) issues.push_back(issue);
    }
    return issues;
  }
  // The issues of ops whose incident field holds `incident_id`.
  std::vector<nlohmann::json> IssuesFor(const std::string& incident_id) const {
    std::vector<nlohmann::json> found;
    for (const auto& issue : Issues()) {
      for (const auto& field : issue.value("custom_fields", nlohmann::json::array())) {
        if (internal::JsonText(field, {"id"}) == absl::StrCat(field_id_) &&
            internal::JsonText(field, {"value"}) == incident_id) {
          found.push_back(issue);
        }
      }
    }
    return found;
  }
  nlohmann::json Issue(int id) const {
    nlohmann::json answer = Get(absl::StrCat("/issues/", id, ".json?include=journals"));
    const nlohmann::json* issue = internal::JsonAt(answer, {"issue"});
    return issue != nullptr ? *issue : nlohmann::json();
  }
  // "3" for Resolved; "" when the issue cannot be read.
  std::string StatusOf(int id) const { return internal::JsonText(Issue(id), {"status", "id"}); }
  // The notes of issue `id`'s journals that contain `text`.
  std::vector<nlohmann::json> JournalsWith(int id, const std::string& text) const {
    std::vector<nlohmann::json> found;
    nlohmann::json issue = Issue(id);
    if (!issue.is_object()) return found;
    for (const auto& journal : issue.value("journals", nlohmann::json::array())) {
      if (absl::StrContains(internal::JsonText(journal, {"notes"}), text)) {
        found.push_back(journal);
      }
    }
    return found;
  }

 private:
  static std::string Script() { return testing::SourcePath("scripts/redmine-peer.sh"); }

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string api_key_;
  int field_id_ = 0;
  bool failed_ = false;
};

// Forwards TCP connections from a loopback port to Redmine. Armed, it passes the
// next "POST /issues.json" to Redmine but throws Redmine's answer away, so that
// klaxon times out on an issue Redmine did create; connections made meanwhile
// wait until Redmine has answered it. Assumes one request per connection, as
// klaxon's libcurl calls make. Thread-safe.
class AnswerDroppingProxy {
 public:
  explicit AnswerDroppingProxy(int upstream_port) : upstream_port_(upstream_port) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener_, 16) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "proxy cannot listen on 127.0.0.1";
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~AnswerDroppingProxy() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard<std::mutex> lock(mu_);
      connections.swap(connections_);
    }
    for (auto& t : connections) t.join();
    close(listener_);
  }
  AnswerDroppingProxy(const AnswerDroppingProxy&) = delete;
  AnswerDroppingProxy& operator=(const AnswerDroppingProxy&) = delete;

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  void DropNextCreateAnswer() { armed_ = true; }
  // Answers read from Redmine and never passed on.
  int dropped() const { return dropped_; }
  // The request line of every request passed on, in order.
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd fd{listener_, POLLIN, 0};
      if (poll(&fd, 1, 50) <= 0) continue;
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      connections_.emplace_back([this, client] { Serve(client); });
    }
  }

  void Serve(int client) {
    // Redmine first finishes the request whose answer is being dropped.
    WaitFor([&] { return stop_ || holding_ == 0; }, absl::Seconds(15));
    int upstream = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(upstream_port_);
    if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(upstream);
      close(client);
      return;
    }
    std::string head;  // the start of the request, until its first line is known
    bool line_known = false, dropping = false, answered = false, client_open = true;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    char buf[16384];
    while (!stop_ && absl::Now() < deadline) {
      pollfd fds[2] = {{client_open ? client : -1, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (poll(fds, 2, 50) <= 0) continue;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(client, buf, sizeof(buf), 0);
        if (n <= 0) {
          client_open = false;
          // klaxon gave up on the dropped answer; Redmine's is still read whole.
          if (!dropping || answered) break;
          continue;
        }
        if (!line_known) {
          head.append(buf, n);
          size_t end = head.find("\r\n");
          if (end != std::string::npos) {
            line_known = true;
            std::string line = head.substr(0, end);
            if (absl::StartsWith(line, "POST /issues.json") && armed_.exchange(false)) {
              dropping = true;
              ++holding_;
            }
            std::lock_guard<std::mutex> lock(mu_);
            requests_.push_back(line);
          }
        }
        send(upstream, buf, n, MSG_NOSIGNAL);
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(upstream, buf, sizeof(buf), 0);
        if (n <= 0) break;
        if (!dropping) {
          send(client, buf, n, MSG_NOSIGNAL);
          continue;
        }
        if (!answered) {
          answered = true;
          ++dropped_;
          --holding_;
        }
        if (!client_open) break;
      }
    }
    if (dropping && !answered) --holding_;
    close(upstream);
    close(client);
  }

  const int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> armed_{false};
  std::atomic<int> holding_{0};
  std::atomic<int> dropped_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> connections_;
  std::vector<std::string> requests_;
};

class RedmineTest : public ::testing::Test {
 protected:
  RedmineTest() {
    setenv("KLAXON_TEST_PUSH_TOKEN", kPushToken, 1);
    setenv("KLAXON_TEST_ALICE_TOKEN", kAliceToken, 1);
  }

  void SetUp() override {
    std::filesystem::create_directories(dir_.File("redmine"));
    redmine_ = std::make_unique<RedminePeer>(dir_.File("redmine"));
    std::string why = redmine_->Start();
    if (!why.empty() && redmine_->failed()) FAIL() << "Redmine is installed but did not start: " << why;
    if (!why.empty()) GTEST_SKIP() << "no Redmine to test against: " << why;
    proxy_ = std::make_unique<AnswerDroppingProxy>(redmine_->port());

    absl::StatusOr<Config> config =
        LoadConfigString(absl::StrFormat(R"(
[server]
listen = "127.0.0.1:0"
data_dir = "%s"
push_tokens = ["env:KLAXON_TEST_PUSH_TOKEN"]
api_tokens = { alice = "env:KLAXON_TEST_ALICE_TOKEN" }

[[rule]]
name = "CheckoutDown"
severity = "critical"
expr = 'checkout_up == 0'
summary = "checkout {{ $labels.instance }} is down"

[[sink]]
name = "tickets"
type = "redmine"
url = "%s"
api_key = "file:%s"
project = "ops"
incident_field_id = %d
timeout = "1s"
)",
                                         dir_.File("klaxon"), proxy_->url(),
                                         redmine_->api_key_file(), redmine_->field_id()),
                         dir_.File("klaxon.toml"));
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(*config, clock_);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("http://", daemon_->address(), path);
  }
  void Push(const std::string& text) {
    testing::HttpResult pushed = HttpPost(Url("/api/v1/write"), text,
                                          {{"Authorization", absl::StrCat("Bearer ", kPushToken)}});
    ASSERT_EQ(pushed.status, 200) << pushed.body;
  }
  nlohmann::json Incident(const std::string& id) const {
    nlohmann::json json =
        nlohmann::json::parse(HttpGet(Url("/api/v1/incidents/" + id)).body, nullptr, false);
    return json.is_object() ? json : nlohmann::json::object();
  }
  // The issue id klaxon recorded for `id` in sink "tickets", or "".
  std::string TicketRef(const std::string& id) const {
    nlohmann::json incident = Incident(id);
    if (!incident.is_object()) return "";
    for (const auto& ticket : incident.value("tickets", nlohmann::json::array())) {
      if (internal::JsonText(ticket, {"sink"}) == "tickets") {
        return internal::JsonText(ticket, {"ref"});
      }
    }
    return "";
  }

  // The requests klaxon sent to make or find an issue (not those to update one).
  std::vector<std::string> CreatesAndSearches() const {
    std::vector<std::string> lines;
    for (const std::string& line : proxy_->requests()) {
      if (absl::StartsWith(line, "POST /issues.json") ||
          absl::StartsWith(line, "GET /issues.json")) {
        lines.push_back(line);
      }
    }
    return lines;
  }

  // Destroyed in reverse: klaxon stops first, Redmine before its folder goes.
  TempDir dir_;
  std::unique_ptr<RedminePeer> redmine_;
  std::unique_ptr<AnswerDroppingProxy> proxy_;
  RealClock clock_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(RedmineTest, AnIncidentKeepsOneIssueThroughAckResolveAndALostAnswer) {
  // An outage opens exactly one issue, found by its incident field.
  Push("checkout_up{instance=\"a\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return !redmine_->IssuesFor("INC-000001").empty(); }, kBound))
      << "no issue in Redmine for INC-000001; klaxon's incident: " << Incident("INC-000001").dump();
  ASSERT_TRUE(WaitFor([&] { return !TicketRef("INC-000001").empty(); }, kBound));
  std::vector<nlohmann::json> issues = redmine_->Issues();
  ASSERT_EQ(issues.size(), 1u);
  ASSERT_EQ(redmine_->IssuesFor("INC-000001").size(), 1u);
  const nlohmann::json issue = issues[0];
  int issue_id = 0;
  ASSERT_TRUE(absl::SimpleAtoi(internal::JsonText(issue, {"id"}), &issue_id));
  EXPECT_EQ(TicketRef("INC-000001"), absl::StrCat(issue_id));
  EXPECT_THAT(internal::JsonText(issue, {"subject"}), HasSubstr("INC-000001"));
  EXPECT_THAT(internal::JsonText(issue, {"subject"}), HasSubstr("checkout a is down"));
  EXPECT_EQ(internal::JsonText(issue, {"status", "id"}), "1") << "New";

  // An acknowledgement over klaxon's API becomes a note on that issue.
  testing::HttpResult acked =
      HttpPost(Url("/api/v1/incidents/INC-000001/ack"), R"({"comment": "on it"})",
               {{"Authorization", absl::StrCat("Bearer ", kAliceToken)}});
  ASSERT_EQ(acked.status, 200) << acked.body;
  ASSERT_TRUE(WaitFor(
      [&] { return !redmine_->JournalsWith(issue_id, "INC-000001 acknowledged").empty(); }, kBound))
      << redmine_->Issue(issue_id).dump();
  EXPECT_EQ(redmine_->StatusOf(issue_id), "1") << "still New";

  // Recovery resolves the issue: status Resolved (3) and a note, in one journal.
  Push("checkout_up{instance=\"a\"} 1\n");
  ASSERT_TRUE(WaitFor([&] { return redmine_->StatusOf(issue_id) == "3"; }, kBound))
      << redmine_->Issue(issue_id).dump();
  std::vector<nlohmann::json> resolved =
      redmine_->JournalsWith(issue_id, "klaxon resolved INC-000001");
  ASSERT_EQ(resolved.size(), 1u) << redmine_->Issue(issue_id).dump();
  EXPECT_THAT(resolved[0]["details"].dump(), HasSubstr(R"("name":"status_id")"));
  EXPECT_THAT(resolved[0]["details"].dump(), HasSubstr(R"("new_value":"3")"));
  EXPECT_EQ(redmine_->Issues().size(), 1u);
  // klaxon has heard all three answers (opened, acknowledged, resolved).
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(
            HttpGet(Url("/metrics")).body,
            "klaxon_sink_deliveries_total{sink=\"tickets\",result=\"success\"} 3");
      },
      kBound));

  // Redmine creates the next issue but its answer never reaches klaxon, whose
  // 1s timeout passes: the retry must find that issue, not make a second one.
  const size_t seen = CreatesAndSearches().size();
  proxy_->DropNextCreateAnswer();
  Push("checkout_up{instance=\"b\"} 0\n");
  ASSERT_TRUE(WaitFor([&] { return !TicketRef("INC-000002").empty(); }, kBound))
      << "the delivery was never confirmed; klaxon's incident: " << Incident("INC-000002").dump();
  EXPECT_EQ(proxy_->dropped(), 1) << "Redmine's answer to the POST was not the one lost";
  std::vector<nlohmann::json> second = redmine_->IssuesFor("INC-000002");
  ASSERT_EQ(second.size(), 1u) << "issues for INC-000002 after the retry";
  EXPECT_EQ(TicketRef("INC-000002"), internal::JsonText(second[0], {"id"}));
  EXPECT_THAT(internal::JsonText(second[0], {"subject"}), HasSubstr("INC-000002"));
  EXPECT_EQ(redmine_->Issues().size(), 2u);

  // What klaxon sent since: one create, then a search by the incident field,
  // and no second create.
  std::vector<std::string> sent = CreatesAndSearches();
  sent.erase(sent.begin(), sent.begin() + std::min(sent.size(), seen));
  ASSERT_GE(sent.size(), 2u) << ::testing::PrintToString(sent);
  EXPECT_THAT(sent[0], HasSubstr("POST /issues.json"));
  EXPECT_THAT(sent[1], HasSubstr("GET /issues.json?project_id=ops&status_id=*"));
  EXPECT_THAT(sent[1], HasSubstr(absl::StrCat("&cf_", redmine_->field_id(), "=INC-000002")));
  int creates = 0;
  for (const auto& line : sent) creates += absl::StartsWith(line, "POST /issues.json");
  EXPECT_EQ(creates, 1) << ::testing::PrintToString(sent);
  EXPECT_THAT(Incident("INC-000002")["timeline"].dump(), HasSubstr("delivery_failed"));
}

}  // namespace
}  // namespace klaxon
