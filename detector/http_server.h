// HttpServer is klaxon's one HTTP/1.1 server (Boost.Beast): the daemon's API and
// /metrics, and the small local services of the demo and tests. One I/O thread
// runs every connection; the handler is called on it and must not block long.
// Thread-safe: Stop() and port() may be called from any thread.
#ifndef KLAXON_DETECTOR_HTTP_SERVER_H_
#define KLAXON_DETECTOR_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace klaxon {

struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // "/api/v1/incidents?state=open"
  std::string path;    // "/api/v1/incidents"
  std::string query;   // "state=open"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote_address;  // "127.0.0.1"

  // The first header of that (case-insensitive) name, or "".
  absl::string_view Header(absl::string_view name) const;
  // The first query parameter of that name, percent-decoded, or "".
  std::string QueryParam(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Text(int status, std::string body);
  static HttpResponse Json(int status, std::string body);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  size_t max_body_bytes = 1 << 20;            // Default: 1 MiB; larger bodies get 413.
  absl::Duration idle_timeout = absl::Seconds(60);  // Default: 60s. Keep-alive idle limit.
};

class HttpServer {
 public:
  // Binds `listen` ("127.0.0.1:9477", "[::1]:0"; port 0 picks a free port) and
  // starts serving. kInvalidArgument for a malformed address, kUnavailable when
  // the address cannot be bound (in use).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(absl::string_view listen,
                                                           HttpHandler handler,
                                                           HttpServerOptions options = {});
  // Non-copyable: owns a socket and a thread.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();  // Stops.

  uint16_t port() const;
  // "127.0.0.1:PORT", or "[::1]:PORT", with the bound port.
  std::string address() const;
  // Closes the listener and every connection, and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_HTTP_SERVER_H_
