// A blocking HTTP request with libcurl's easy interface, for sinks: one request
// per call on the delivery thread that owns the sink. Thread-compatible.
#ifndef KLAXON_EXPORTERS_INTERNAL_HTTP_CLIENT_H_
#define KLAXON_EXPORTERS_INTERNAL_HTTP_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace klaxon::internal {

struct HttpCall {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  absl::Duration timeout = absl::Seconds(10);
};

struct HttpReply {
  long status = 0;
  std::string body;
};

// kUnavailable when no HTTP answer came (refused, timeout, TLS); any answer,
// whatever its status, is returned as an HttpReply.
absl::StatusOr<HttpReply> Perform(const HttpCall& call);

}  // namespace klaxon::internal

#endif  // KLAXON_EXPORTERS_INTERNAL_HTTP_CLIENT_H_
