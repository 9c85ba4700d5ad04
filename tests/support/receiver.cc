#include "tests/support/receiver.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "exporters/internal/http_client.h"
#include "gtest/gtest.h"

namespace klaxon::testing {

WebhookReceiver::WebhookReceiver() {
  auto server = HttpServer::Start("127.0.0.1:0", [this](const HttpRequest& request) {
    ReceivedRequest received;
    received.idempotency_key = std::string(request.Header("idempotency-key"));
    received.body = nlohmann::json::parse(request.body, nullptr, false);
    if (received.body.is_object()) {
      received.event = received.body.value("event", "");
      if (received.body.contains("incident") && received.body["incident"].is_object()) {
        received.incident_id = received.body["incident"].value("id", "");
      }
    }
    received.answered = status_.load();
    {
      std::lock_guard lock(mu_);
      requests_.push_back(received);
    }
    if (received.answered >= 200 && received.answered < 300) {
      return HttpResponse::Json(received.answered,
                                nlohmann::json{{"id", "T-" + received.incident_id}}.dump());
    }
    return HttpResponse::Text(received.answered, "receiver says no\n");
  });
  EXPECT_TRUE(server.ok()) << server.status();
  if (server.ok()) server_ = std::move(*server);
}

std::string WebhookReceiver::url() const {
  return absl::StrCat("http://", server_->address(), "/hook");
}

std::vector<ReceivedRequest> WebhookReceiver::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<ReceivedRequest> WebhookReceiver::accepted() const {
  std::vector<ReceivedRequest> out;
  for (auto& r : requests()) {
    if (r.answered >= 200 && r.answered < 300) out.push_back(r);
  }
  return out;
}

std::vector<ReceivedRequest> WebhookReceiver::accepted(const std::string& event) const {
  std::vector<ReceivedRequest> out;
  for (auto& r : accepted()) {
    if (r.event == event) out.push_back(r);
  }
  return out;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "klaxon-test-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

HttpResult HttpGet(const std::string& url) {
  internal::HttpCall call;
  call.method = "GET";
  call.url = url;
  call.timeout = absl::Seconds(5);
  auto reply = internal::Perform(call);
  if (!reply.ok()) return {};
  return {reply->status, reply->body};
}

HttpResult HttpPost(const std::string& url, const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers) {
  return HttpSend("POST", url, body, std::move(headers));
}

HttpResult HttpSend(const std::string& method, const std::string& url, const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers) {
  internal::HttpCall call;
  call.method = method;
  call.url = url;
  call.body = body;
  call.headers = std::move(headers);
  call.timeout = absl::Seconds(5);
  auto reply = internal::Perform(call);
  if (!reply.ok()) return {};
  return {reply->status, reply->body};
}

}  // namespace klaxon::testing
