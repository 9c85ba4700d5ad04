#include "probes/http_probe.h"

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "detector/labels.h"
#include "re2/re2.h"

namespace klaxon {
namespace {

// Bodies are kept only for the expect_body check; a probe target that streams
// without end must not grow the prober's memory.
constexpr size_t kMaxBodyBytes = 1 << 20;

// Upper bound on one curl_multi_poll, so that the loop re-reads the injected
// clock regularly even when no probe is due soon.
constexpr int kMaxPollMs = 1000;

const char kUserAgent[] = "klaxon";

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// FNV-1a: the same probe name gets the same offset on every start and every
// machine, so restarts do not reshuffle when targets are hit.
uint64_t StableHash(absl::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

SeriesId InternProbeSeries(SeriesIndex& index, absl::string_view metric,
                           const HttpProbeOptions& options) {
  std::vector<Label> labels = {{std::string(kMetricNameLabel), std::string(metric)},
                               {"probe", options.name}};
  if (!options.service.empty()) labels.push_back({"service", options.service});
  return index.Intern(Labels(std::move(labels)));
}

}  // namespace

struct HttpProber::State {
  struct Probe {
    HttpProbeOptions options;
    SeriesId success_series = 0;
    SeriesId duration_series = 0;
    SeriesId status_series = 0;
    std::unique_ptr<RE2> expect_body;
    std::string host;           // for the DNS failure reason
    absl::Status config_error;  // reported by Start()
    absl::Duration next_due;    // monotonic
    // One run in flight at most; these belong to it.
    CURL* easy = nullptr;
    std::string body;
    bool body_truncated = false;
    char error_buffer[CURL_ERROR_SIZE] = {};
  };

  State(std::vector<HttpProbeOptions> probe_options, SeriesIndex& index, const Clock& clock,
        SampleConsumer consumer)
      : clock(clock), consumer(std::move(consumer)) {
    GlobalInitOnce();
    probes.reserve(probe_options.size());
    for (HttpProbeOptions& options : probe_options) {
      auto probe = std::make_unique<Probe>();
      probe->success_series = InternProbeSeries(index, "probe_success", options);
      probe->duration_series = InternProbeSeries(index, "probe_duration_seconds", options);
      probe->status_series = InternProbeSeries(index, "probe_http_status_code", options);
      probe->options = std::move(options);
      Validate(*probe);
      probes.push_back(std::move(probe));
    }
  }

  ~State() { Stop(); }

  static void Validate(Probe& probe) {
    const HttpProbeOptions& o = probe.options;
    auto invalid = [&](absl::string_view why) {
      probe.config_error =
          absl::InvalidArgumentError(absl::StrCat("http probe \"", o.name, "\": ", why));
    };
    if (o.interval <= absl::ZeroDuration() || o.interval == absl::InfiniteDuration()) {
      return invalid("interval must be positive and finite");
    }
    if (o.timeout <= absl::ZeroDuration()) return invalid("timeout must be positive");
    if (o.expect_body.has_value()) {
      RE2::Options re_options;
      re_options.set_log_errors(false);
      probe.expect_body = std::make_unique<RE2>(*o.expect_body, re_options);
      if (!probe.expect_body->ok()) {
        return invalid(absl::StrCat("expect_body \"", *o.expect_body,
                                    "\" is not a valid RE2 pattern: ", probe.expect_body->error()));
      }
    }
    CURLU* url = curl_url();
    char* host = nullptr;
    const CURLUcode parsed = curl_url_set(url, CURLUPART_URL, o.url.c_str(), 0);
    if (parsed == CURLUE_OK && curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
      probe.host = host;
    }
    curl_free(host);
    curl_url_cleanup(url);
    if (parsed != CURLUE_OK) {
      return invalid(absl::StrCat("url \"", o.url, "\": ", curl_url_strerror(parsed)));
    }
  }

  absl::Status Start() {
    if (thread.joinable()) return absl::FailedPreconditionError("http prober already started");
    for (const auto& probe : probes) {
      if (!probe->config_error.ok()) return probe->config_error;
    }
    multi = curl_multi_init();
    if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
    const absl::Duration now = clock.MonotonicNow();
    for (auto& probe : probes) {
      const int64_t interval_ms =
          std::max<int64_t>(1, absl::ToInt64Milliseconds(probe->options.interval));
      probe->next_due = now + absl::Milliseconds(StableHash(probe->options.name) % interval_ms);
    }
    stopping.store(false);
    thread = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (!thread.joinable()) return;
    stopping.store(true);
    curl_multi_wakeup(multi);
    thread.join();
    for (auto& probe : probes) {
      if (probe->easy == nullptr) continue;
      curl_multi_remove_handle(multi, probe->easy);
      curl_easy_cleanup(probe->easy);
      probe->easy = nullptr;
    }
    curl_multi_cleanup(multi);
    multi = nullptr;
  }

  void Loop() {
    while (!stopping.load()) {
      const absl::Duration now = clock.MonotonicNow();
      for (auto& probe : probes) {
        if (probe->next_due > now) continue;
        // A run still in flight (timeout longer than the interval) makes this
        // slot be skipped: overlapping runs would measure the prober, not the target.
        if (probe->easy == nullptr) Launch(*probe);
        const absl::Duration interval = probe->options.interval;
        absl::Duration unused;
        probe->next_due +=
            interval * (absl::IDivDuration(now - probe->next_due, interval, &unused) + 1);
      }

      int running = 0;
      curl_multi_perform(multi, &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        void* probe = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &probe);
        Finish(*static_cast<Probe*>(probe), message->data.result);
      }

      absl::Duration wait = absl::Milliseconds(kMaxPollMs);
      const absl::Duration after = clock.MonotonicNow();
      for (const auto& probe : probes) wait = std::min(wait, probe->next_due - after);
      // curl shortens the wait itself when a transfer needs attention sooner.
      curl_multi_poll(multi, nullptr, 0,
                      static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(wait))),
                      nullptr);
    }
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    Probe& probe = *static_cast<Probe*>(user);
    const size_t n = size * count;
    if (probe.body.size() + n > kMaxBodyBytes) {
      probe.body.append(data, kMaxBodyBytes - probe.body.size());
      probe.body_truncated = true;
      // Ends the transfer: the rest cannot change the check's input.
      return 0;
    }
    probe.body.append(data, n);
    return n;
  }

  void Launch(Probe& probe) {
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      Emit(probe, false, 0, 0, "could not create a curl handle");
      return;
    }
    probe.body.clear();
    probe.body_truncated = false;
    probe.error_buffer[0] = '\0';
    // Each run is what a customer's first visit sees: its own DNS lookup, TCP
    // connection and TLS handshake, never a warm connection from the last run.
    curl_easy_setopt(easy, CURLOPT_URL, probe.options.url.c_str());
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    // 0 would mean no timeout at all.
    curl_easy_setopt(
        easy, CURLOPT_TIMEOUT_MS,
        static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(probe.options.timeout))));
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, kUserAgent);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, probe.error_buffer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &State::OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &probe);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &probe);
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
      curl_easy_cleanup(easy);
      Emit(probe, false, 0, 0, "could not start the request");
      return;
    }
    probe.easy = easy;
  }

  void Finish(Probe& probe, CURLcode code) {
    CURL* easy = probe.easy;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t total_us = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
    // A body cut at the cap still carries a full status line and enough to match.
    const bool completed = code == CURLE_OK || (code == CURLE_WRITE_ERROR && probe.body_truncated);
    std::string reason = completed ? CheckResponse(probe, status) : Describe(probe, easy, code);
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    probe.easy = nullptr;
    const bool success = reason.empty();
    Emit(probe, success, static_cast<double>(total_us) / 1e6, status, std::move(reason));
  }

  static std::string CheckResponse(const Probe& probe, long status) {
    const std::vector<int>& expected = probe.options.expect_status;
    const bool status_ok =
        expected.empty() ? (status >= 200 && status <= 299)
                         : std::find(expected.begin(), expected.end(), status) != expected.end();
    if (!status_ok) {
      return absl::StrCat("status ", status, " (expected ",
                          expected.empty() ? "2xx" : absl::StrJoin(expected, ", "), ")");
    }
    if (probe.expect_body != nullptr && !RE2::PartialMatch(probe.body, *probe.expect_body)) {
      return absl::StrCat("body did not match \"", *probe.options.expect_body, "\"");
    }
    return "";
  }

  // The reason as the on-call person should read it in the incident timeline.
  static std::string Describe(const Probe& probe, CURL* easy, CURLcode code) {
    const std::string detail =
        probe.error_buffer[0] != '\0' ? std::string(probe.error_buffer) : curl_easy_strerror(code);
    switch (code) {
      case CURLE_COULDNT_CONNECT: {
        long os_errno = 0;
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNREFUSED) return "connection refused";
        if (os_errno != 0) {
          return absl::StrCat("connection failed: ", std::strerror(static_cast<int>(os_errno)));
        }
        return absl::StrCat("connection failed: ", detail);
      }
      case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connected_us = 0;
        curl_off_t first_byte_us = 0;
        curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected_us);
        curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte_us);
        const char* phase = connected_us == 0    ? " while connecting"
                            : first_byte_us == 0 ? " waiting for the response"
                                                 : " reading the body";
        return absl::StrCat("timeout after ", absl::FormatDuration(probe.options.timeout), phase);
      }
      case CURLE_COULDNT_RESOLVE_HOST:
        return absl::StrCat("DNS lookup failed for ", probe.host);
      case CURLE_SSL_CONNECT_ERROR:
        return absl::StrCat("TLS handshake failed: ", detail);
      case CURLE_PEER_FAILED_VERIFICATION:
        return absl::StrCat("TLS certificate not trusted: ", detail);
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ENGINE_NOTFOUND:
      case CURLE_SSL_ENGINE_SETFAILED:
      case CURLE_SSL_SHUTDOWN_FAILED:
      case CURLE_SSL_CRL_BADFILE:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
      case CURLE_SSL_CLIENTCERT:
        return absl::StrCat("TLS error: ", detail);
      case CURLE_GOT_NOTHING:
        return "connection closed without a response";
      default:
        if (probe.error_buffer[0] == '\0') return curl_easy_strerror(code);
        return absl::StrCat(curl_easy_strerror(code), ": ", probe.error_buffer);
    }
  }

  void Emit(const Probe& probe, bool success, double duration_seconds, long status,
            std::string reason) {
    const int64_t ts = ToUnixMillis(clock.WallNow());
    SampleBatch batch;
    batch.samples = {
        {probe.success_series, ts, success ? 1.0 : 0.0},
        {probe.duration_series, ts, duration_seconds},
        {probe.status_series, ts, static_cast<double>(status)},
    };
    // An empty note on success clears the last failure reason.
    batch.notes.push_back({probe.success_series, std::move(reason)});
    consumer(std::move(batch));
  }

  const Clock& clock;
  const SampleConsumer consumer;
  std::vector<std::unique_ptr<Probe>> probes;  // stable addresses: curl holds them
  CURLM* multi = nullptr;
  std::thread thread;
  std::atomic<bool> stopping{false};
};

HttpProber::HttpProber(std::vector<HttpProbeOptions> probes, SeriesIndex& index, const Clock& clock,
                       SampleConsumer consumer)
    : state_(std::make_unique<State>(std::move(probes), index, clock, std::move(consumer))) {}

HttpProber::~HttpProber() { Stop(); }

absl::Status HttpProber::Start() { return state_->Start(); }

void HttpProber::Stop() { state_->Stop(); }

}  // namespace klaxon
