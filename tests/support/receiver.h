// WebhookReceiver stands in for a ticketing system in tests: a real HTTP server
// on loopback that records every request and answers with a status the test
// can change at any time. Thread-safe.
#ifndef KLAXON_TESTS_SUPPORT_RECEIVER_H_
#define KLAXON_TESTS_SUPPORT_RECEIVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "detector/http_server.h"
#include "nlohmann/json.hpp"

namespace klaxon::testing {

struct ReceivedRequest {
  std::string idempotency_key;
  std::string event;        // from the JSON body
  std::string incident_id;  // from the JSON body
  nlohmann::json body;
  int answered;  // the status the receiver gave
};

class WebhookReceiver {
 public:
  WebhookReceiver();
  // "http://127.0.0.1:PORT/hook"
  std::string url() const;
  void set_status(int status) { status_ = status; }
  std::vector<ReceivedRequest> requests() const;
  // Requests answered 2xx, i.e. deliveries klaxon may count as done.
  std::vector<ReceivedRequest> accepted() const;
  // Accepted requests for one event ("opened", "resolved").
  std::vector<ReceivedRequest> accepted(const std::string& event) const;

 private:
  std::atomic<int> status_{200};
  mutable std::mutex mu_;
  std::vector<ReceivedRequest> requests_;
  std::unique_ptr<HttpServer> server_;
};

// Polls `condition` every 10ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

// A folder under $TMPDIR removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A free TCP port on 127.0.0.1 (bound and released at once), for peers that
// cannot be told to bind port 0 and report it.
int FreePort();

struct HttpResult {
  long status = 0;
  std::string body;
};
// GET or POST with libcurl; status 0 when no answer came.
HttpResult HttpGet(const std::string& url);
HttpResult HttpPost(const std::string& url, const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers = {});
// Any method ("DELETE", "PUT").
HttpResult HttpSend(const std::string& method, const std::string& url, const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace klaxon::testing

#endif  // KLAXON_TESTS_SUPPORT_RECEIVER_H_
