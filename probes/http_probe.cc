#include "probes/http_probe.h"

#include <curl/curl.h>
#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "detector/labels.h"
#include "probes/internal/probe_schedule.h"
#include "re2/re2.h"

namespace klaxon {
namespace {

using probes_internal::Quote;
using probes_internal::StableHash;
using probes_internal::StartStats;

// Bodies are kept only for the expect_body checks; a probe target that streams
// without end must not grow the prober's memory.
constexpr size_t kMaxBodyBytes = 1 << 20;

// Upper bound on one wait, so that the loop re-reads the injected clock
// regularly even when no probe is due soon.
constexpr absl::Duration kMaxWait = absl::Seconds(1);

constexpr long kMaxRedirects = 10;  // as the blackbox exporter
constexpr int kMaxEvents = 256;

const char kUserAgent[] = "klaxon";

// The phases of probe_http_duration_seconds, in the blackbox exporter's names.
enum Phase { kResolve, kConnect, kTls, kProcessing, kTransfer, kPhaseCount };
constexpr const char* kPhaseNames[kPhaseCount] = {"resolve", "connect", "tls", "processing",
                                                  "transfer"};

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}


SeriesId InternProbeSeries(SeriesIndex& index, absl::string_view metric,
                           const HttpProbeOptions& options, const char* phase = nullptr) {
  std::vector<Label> labels = {{std::string(kMetricNameLabel), std::string(metric)},
                               {"probe", options.name}};
  if (!options.service.empty()) labels.push_back({"service", options.service});
  if (phase != nullptr) labels.push_back({"phase", phase});
  return index.Intern(Labels(std::move(labels)));
}

// "2xx" for a whole class, "200" for one code, "200-204" otherwise.
std::string FormatStatusRanges(const std::vector<StatusRange>& ranges) {
  if (ranges.empty()) return "2xx";
  return absl::StrJoin(ranges, ", ", [](std::string* out, const StatusRange& r) {
    if (r.low == r.high) {
      absl::StrAppend(out, r.low);
    } else if (r.low % 100 == 0 && r.high == r.low + 99) {
      absl::StrAppend(out, r.low / 100, "xx");
    } else {
      absl::StrAppend(out, r.low, "-", r.high);
    }
  });
}



bool IsHttpToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c <= ' ' || c >= 127 ||
        absl::string_view("\"(),/:;<=>?@[\\]{}").find(c) != absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Unix seconds of the earliest NotAfter in the chain the peer sent, if any.
std::optional<int64_t> EarliestExpiry(SSL* ssl) {
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  if (chain == nullptr) return std::nullopt;
  std::optional<int64_t> earliest;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    const ASN1_TIME* not_after = X509_get0_notAfter(sk_X509_value(chain, i));
    struct tm tm = {};
    if (not_after == nullptr || ASN1_TIME_to_tm(not_after, &tm) != 1) continue;
    const int64_t t = timegm(&tm);
    if (!earliest.has_value() || t < *earliest) earliest = t;
  }
  return earliest;
}

}  // namespace

struct HttpProber::State {
  struct Probe {
    ~Probe() { curl_slist_free_all(headers); }

    HttpProbeOptions options;
    SeriesId success_series = 0;
    SeriesId duration_series = 0;
    SeriesId phase_series[kPhaseCount] = {};
    SeriesId status_series = 0;
    SeriesId redirects_series = 0;
    SeriesId ssl_series = 0;
    SeriesId cert_expiry_series = 0;
    SeriesId regex_series = 0;

    // Built once from the options, used by every run.
    std::unique_ptr<RE2> expect_body;
    std::unique_ptr<RE2> expect_body_not;
    std::vector<std::unique_ptr<RE2>> expect_header;
    curl_slist* headers = nullptr;
    std::string host;  // for the DNS failure reason
    bool host_is_literal = false;
    long ip_resolve = CURL_IPRESOLVE_WHATEVER;
    long timeout_ms = 1;
    // Texts that must never reach a reason: passwords and tokens.
    std::vector<std::string> secrets;
    absl::Status config_error;  // reported by Start()

    absl::Duration next_due;  // monotonic, on the injected clock

    // One run in flight at most; these belong to it.
    CURL* easy = nullptr;
    std::string body;
    bool body_truncated = false;
    bool tls_started = false;
    std::optional<int64_t> cert_expiry;
    char error_buffer[CURL_ERROR_SIZE] = {};
  };

  struct Due {
    absl::Duration when;
    Probe* probe;
    bool operator>(const Due& other) const { return when > other.when; }
  };

  State(std::vector<HttpProbeOptions> probe_options, SeriesIndex& index, const Clock& clock,
        SampleConsumer consumer, ConnectivityMonitor* connectivity)
      : clock(clock), consumer(std::move(consumer)), connectivity(connectivity) {
    GlobalInitOnce();
    probes.reserve(probe_options.size());
    for (HttpProbeOptions& options : probe_options) {
      auto probe = std::make_unique<Probe>();
      probe->success_series = InternProbeSeries(index, "probe_success", options);
      probe->duration_series = InternProbeSeries(index, "probe_duration_seconds", options);
      for (int phase = 0; phase < kPhaseCount; ++phase) {
        probe->phase_series[phase] =
            InternProbeSeries(index, "probe_http_duration_seconds", options, kPhaseNames[phase]);
      }
      probe->status_series = InternProbeSeries(index, "probe_http_status_code", options);
      probe->redirects_series = InternProbeSeries(index, "probe_http_redirects", options);
      probe->ssl_series = InternProbeSeries(index, "probe_http_ssl", options);
      probe->cert_expiry_series =
          InternProbeSeries(index, "probe_ssl_earliest_cert_expiry", options);
      probe->regex_series = InternProbeSeries(index, "probe_failed_due_to_regex", options);
      probe->options = std::move(options);
      Prepare(*probe);
      probes.push_back(std::move(probe));
    }
  }

  ~State() { Stop(); }

  // Validates the options and builds what every run reuses.
  static void Prepare(Probe& probe) {
    const HttpProbeOptions& o = probe.options;
    auto invalid = [&](absl::string_view why) {
      probe.config_error =
          absl::InvalidArgumentError(absl::StrCat("http probe \"", o.name, "\": ", why));
    };
    if (o.interval <= absl::ZeroDuration() || o.interval == absl::InfiniteDuration()) {
      return invalid("interval must be positive and finite");
    }
    if (o.timeout <= absl::ZeroDuration() || o.timeout == absl::InfiniteDuration()) {
      return invalid("timeout must be positive and finite");
    }
    probe.timeout_ms =
        static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(o.timeout)));
    if (!IsHttpToken(o.method)) {
      return invalid(absl::StrCat("method \"", o.method, "\" is not valid"));
    }
    for (const StatusRange& r : o.expect_status) {
      if (r.low < 100 || r.high > 599 || r.low > r.high) {
        return invalid(absl::StrCat("expect_status ", r.low, "-", r.high, " is not a valid range"));
      }
    }
    if (o.tls_min_days.has_value() && *o.tls_min_days < 0) {
      return invalid("tls_min_days must not be negative");
    }

    RE2::Options re_options;
    re_options.set_log_errors(false);
    auto compile = [&](const std::string& pattern, absl::string_view what,
                       std::unique_ptr<RE2>& out) {
      out = std::make_unique<RE2>(pattern, re_options);
      if (out->ok()) return true;
      invalid(absl::StrCat(what, " \"", pattern, "\" is not a valid RE2 pattern: ", out->error()));
      return false;
    };
    if (o.expect_body.has_value() && !compile(*o.expect_body, "expect_body", probe.expect_body)) {
      return;
    }
    if (o.expect_body_not.has_value() &&
        !compile(*o.expect_body_not, "expect_body_not", probe.expect_body_not)) {
      return;
    }
    for (const HeaderExpectation& h : o.expect_header) {
      if (!IsHttpToken(h.name)) {
        return invalid(absl::StrCat("expect_header name \"", h.name, "\" is not valid"));
      }
      probe.expect_header.emplace_back();
      if (!compile(h.regex, absl::StrCat("expect_header ", h.name), probe.expect_header.back())) {
        return;
      }
    }

    // Built once: a header list costs allocations that 1,000 runs a second
    // should not pay again.
    for (const Label& header : o.headers) {
      if (!IsHttpToken(header.name)) {
        return invalid(absl::StrCat("header name \"", header.name, "\" is not valid"));
      }
      if (header.value.find_first_of("\r\n") != std::string::npos) {
        return invalid(absl::StrCat("header \"", header.name, "\" has a line break in its value"));
      }
      // "Name;" is curl's way of sending a header with an empty value.
      const std::string line = header.value.empty() ? absl::StrCat(header.name, ";")
                                                    : absl::StrCat(header.name, ": ", header.value);
      curl_slist* appended = curl_slist_append(probe.headers, line.c_str());
      if (appended == nullptr) return invalid("out of memory building headers");
      probe.headers = appended;
    }

    switch (o.ip_family) {
      case IpFamily::kAny:
        probe.ip_resolve = CURL_IPRESOLVE_WHATEVER;
        break;
      case IpFamily::kIPv4:
        probe.ip_resolve = CURL_IPRESOLVE_V4;
        break;
      case IpFamily::kIPv6:
        probe.ip_resolve = CURL_IPRESOLVE_V6;
        break;
    }

    if (!o.basic_auth_password.empty()) probe.secrets.push_back(o.basic_auth_password);
    if (!o.bearer_token.empty()) probe.secrets.push_back(o.bearer_token);

    CURLU* url = curl_url();
    const CURLUcode parsed = curl_url_set(url, CURLUPART_URL, o.url.c_str(), 0);
    if (parsed == CURLUE_OK) {
      char* part = nullptr;
      if (curl_url_get(url, CURLUPART_HOST, &part, 0) == CURLUE_OK) probe.host = part;
      curl_free(part);
      part = nullptr;
      if (curl_url_get(url, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK && part[0] != '\0') {
        probe.secrets.push_back(part);
      }
      curl_free(part);
      part = nullptr;
      if (curl_url_get(url, CURLUPART_SCHEME, &part, 0) == CURLUE_OK &&
          !absl::EqualsIgnoreCase(part, "http") && !absl::EqualsIgnoreCase(part, "https")) {
        invalid(absl::StrCat("url scheme \"", part, "\" is not http or https"));
      }
      curl_free(part);
    }
    curl_url_cleanup(url);
    if (parsed != CURLUE_OK) {
      // The URL may hold a password: name the problem, not the text.
      return invalid(absl::StrCat("url is not valid: ", curl_url_strerror(parsed)));
    }
    probe.host_is_literal = probe.host.find_first_not_of("0123456789.") == std::string::npos ||
                            absl::StartsWith(probe.host, "[");
    if (!o.tls_ca_file.empty() && access(o.tls_ca_file.c_str(), R_OK) != 0) {
      return invalid(absl::StrCat("tls_ca_file \"", o.tls_ca_file,
                                  "\" cannot be read: ", std::strerror(errno)));
    }
  }

  absl::Status Start() {
    if (thread.joinable()) return absl::FailedPreconditionError("http prober already started");
    for (const auto& probe : probes) {
      if (!probe->config_error.ok()) return probe->config_error;
    }
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd < 0 || wake_fd < 0) {
      const int error = errno;
      CloseFds();
      return absl::InternalError(absl::StrCat("http prober: ", std::strerror(error)));
    }
    epoll_event wake = {};
    wake.events = EPOLLIN;
    wake.data.fd = wake_fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake);

    multi = curl_multi_init();
    if (multi == nullptr) {
      CloseFds();
      return absl::InternalError("curl_multi_init failed");
    }
    // The socket interface: curl tells which sockets to watch and when it
    // wants a timeout, so that one event costs one transfer's work, not a walk
    // over every transfer in flight.
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &State::OnSocket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &State::OnTimer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);

    schedule = {};
    curl_deadline.reset();
    const absl::Duration now = clock.MonotonicNow();
    for (auto& probe : probes) {
      const int64_t interval_ns =
          std::max<int64_t>(1, absl::ToInt64Nanoseconds(probe->options.interval));
      probe->next_due = now + absl::Nanoseconds(StableHash(probe->options.name) %
                                                static_cast<uint64_t>(interval_ns));
      schedule.push({probe->next_due, probe.get()});
    }
    stopping.store(false);
    thread = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (!thread.joinable()) return;
    stopping.store(true);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t written = write(wake_fd, &one, sizeof(one));
    thread.join();
    for (auto& probe : probes) {
      if (probe->easy == nullptr) continue;
      curl_multi_remove_handle(multi, probe->easy);
      curl_easy_cleanup(probe->easy);
      probe->easy = nullptr;
    }
    for (CURL* easy : idle_easies) curl_easy_cleanup(easy);
    idle_easies.clear();
    curl_multi_cleanup(multi);
    multi = nullptr;
    CloseFds();
  }

  void CloseFds() {
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
    epoll_fd = -1;
    wake_fd = -1;
  }

  static int OnSocket(CURL*, curl_socket_t s, int what, void* user, void* socketp) {
    State& state = *static_cast<State*>(user);
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(state.epoll_fd, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event event = {};
    event.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    event.data.fd = s;
    if (socketp == nullptr) {
      epoll_ctl(state.epoll_fd, EPOLL_CTL_ADD, s, &event);
      // Any non-null marker: curl hands it back while the socket stays known.
      curl_multi_assign(state.multi, s, &state);
    } else {
      epoll_ctl(state.epoll_fd, EPOLL_CTL_MOD, s, &event);
    }
    return 0;
  }

  static int OnTimer(CURLM*, long timeout_ms, void* user) {
    State& state = *static_cast<State*>(user);
    if (timeout_ms < 0) {
      state.curl_deadline.reset();
    } else {
      state.curl_deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
  }

  void Loop() {
    epoll_event events[kMaxEvents];
    while (!stopping.load(std::memory_order_relaxed)) {
      StartDueRuns();
      // curl's own timeouts run on the real clock: a probe's timeout is a
      // promise about real waiting, whatever clock schedules the runs.
      if (curl_deadline.has_value() && *curl_deadline <= std::chrono::steady_clock::now()) {
        curl_deadline.reset();
        int running = 0;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        FinishDone();
      }

      absl::Duration wait = kMaxWait;
      if (!schedule.empty()) wait = std::min(wait, schedule.top().when - clock.MonotonicNow());
      if (curl_deadline.has_value()) {
        wait = std::min(wait, absl::FromChrono(*curl_deadline - std::chrono::steady_clock::now()));
      }
      // Rounded up: waking a little early would only spin until the due time.
      const int wait_ms = static_cast<int>(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1)))));
      const int n = epoll_wait(epoll_fd, events, kMaxEvents, wait_ms);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd) {
          uint64_t count = 0;
          [[maybe_unused]] ssize_t r = read(wake_fd, &count, sizeof(count));
          continue;
        }
        const uint32_t e = events[i].events;
        const int mask = (e & EPOLLIN ? CURL_CSELECT_IN : 0) |
                         (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                         (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        int running = 0;
        curl_multi_socket_action(multi, fd, mask, &running);
      }
      FinishDone();
    }
  }

  void StartDueRuns() {
    while (!schedule.empty()) {
      const absl::Duration now = clock.MonotonicNow();
      const Due due = schedule.top();
      if (due.when > now) return;
      schedule.pop();
      Probe& probe = *due.probe;
      if (probe.easy != nullptr) {
        start_stats.Skipped();
      } else {
        start_stats.Started(now - due.when);
        Launch(probe);
      }
      // The next slot strictly after now: a prober that was stalled catches up
      // with one run, not with a burst of missed ones.
      const absl::Duration interval = probe.options.interval;
      absl::Duration unused;
      probe.next_due =
          due.when + interval * (absl::IDivDuration(now - due.when, interval, &unused) + 1);
      schedule.push({probe.next_due, &probe});
    }
  }

  void FinishDone() {
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      void* probe = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &probe);
      Finish(*static_cast<Probe*>(probe), message->data.result);
    }
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    Probe& probe = *static_cast<Probe*>(user);
    const size_t n = size * count;
    // Without a body check the body is read and dropped, never copied.
    if (probe.expect_body == nullptr && probe.expect_body_not == nullptr) return n;
    if (probe.body.size() + n > kMaxBodyBytes) {
      probe.body.append(data, kMaxBodyBytes - probe.body.size());
      probe.body_truncated = true;
      // Ends the transfer: the rest cannot change the check's input.
      return 0;
    }
    probe.body.append(data, n);
    return n;
  }

  // Called for every header line; a status line starts each response, and
  // while it is read the connection (and its TLS state) is certainly alive,
  // which it may no longer be once the transfer is done.
  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    Probe& probe = *static_cast<Probe*>(user);
    const size_t n = size * count;
    if (n >= 5 && std::memcmp(data, "HTTP/", 5) == 0) {
      curl_tlssessioninfo* info = nullptr;
      probe.cert_expiry.reset();
      if (curl_easy_getinfo(probe.easy, CURLINFO_TLS_SSL_PTR, &info) == CURLE_OK &&
          info != nullptr && info->backend == CURLSSLBACKEND_OPENSSL &&
          info->internals != nullptr) {
        probe.cert_expiry = EarliestExpiry(static_cast<SSL*>(info->internals));
      }
    }
    return n;
  }

  // curl sets up TLS only once TCP is connected, and on a timeout in the TLS
  // handshake it reports no connect time; this is how the probe tells the two
  // phases apart.
  static CURLcode OnSslContext(CURL*, void*, void* user) {
    static_cast<Probe*>(user)->tls_started = true;
    return CURLE_OK;
  }

  void Launch(Probe& probe) {
    CURL* easy = nullptr;
    if (!idle_easies.empty()) {
      easy = idle_easies.back();
      idle_easies.pop_back();
    } else {
      easy = curl_easy_init();
    }
    if (easy == nullptr) {
      Emit(probe, Outcome{.reason = "could not create a curl handle"});
      return;
    }
    probe.easy = easy;
    probe.body.clear();
    probe.body_truncated = false;
    probe.tls_started = false;
    probe.cert_expiry.reset();
    probe.error_buffer[0] = '\0';
    const HttpProbeOptions& o = probe.options;

    curl_easy_setopt(easy, CURLOPT_URL, o.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &probe);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, probe.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    // A probe measures the target, not whatever proxy the environment names.
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, kUserAgent);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, probe.error_buffer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &State::OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &probe);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &State::OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &probe);
    if (!o.reuse_connection) {
      // Each run is what a customer's first visit sees: its own DNS lookup, TCP
      // connection and full TLS handshake, nothing warm from the last run.
      curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
      curl_easy_setopt(easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
      curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    }
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, o.follow_redirects ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, kMaxRedirects);
    curl_easy_setopt(easy, CURLOPT_IPRESOLVE, probe.ip_resolve);
    if (probe.headers != nullptr) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, probe.headers);

    if (o.method == "HEAD") {
      // A HEAD answer has no body; as a custom method curl would wait for one.
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (!o.body.empty() || o.method == "POST") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(o.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, o.body.c_str());
      if (o.method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, o.method.c_str());
    } else if (o.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, o.method.c_str());
    }
    if (o.basic_auth_user.has_value()) {
      curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(easy, CURLOPT_USERNAME, o.basic_auth_user->c_str());
      curl_easy_setopt(easy, CURLOPT_PASSWORD, o.basic_auth_password.c_str());
    } else if (!o.bearer_token.empty()) {
      // Not a custom header: curl drops this one on a redirect to another host.
      curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
      curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, o.bearer_token.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, o.tls_verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, o.tls_verify ? 2L : 0L);
    if (!o.tls_ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, o.tls_ca_file.c_str());
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &State::OnSslContext);
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, &probe);

    if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
      probe.easy = nullptr;
      curl_easy_cleanup(easy);
      Emit(probe, Outcome{.reason = "could not start the request"});
    }
  }

  struct Outcome {
    std::string reason;  // empty on success
    double duration_seconds = 0;
    double phases[kPhaseCount] = {};
    long status = 0;
    long redirects = 0;
    bool ssl = false;
    bool regex_failed = false;
    std::optional<int64_t> cert_expiry;
  };

  void Finish(Probe& probe, CURLcode code) {
    CURL* easy = probe.easy;
    Outcome outcome;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &outcome.status);
    curl_easy_getinfo(easy, CURLINFO_REDIRECT_COUNT, &outcome.redirects);
    curl_off_t resolved = 0, connected = 0, tls_done = 0, pretransfer = 0, first_byte = 0,
               total = 0;
    curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &resolved);
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected);
    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &tls_done);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte);
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
    char* effective_url = nullptr;
    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective_url);
    const bool https =
        effective_url != nullptr && absl::StartsWithIgnoreCase(effective_url, "https:");

    // curl's times run from the start of each request (summed over
    // redirects); the blackbox exporter's phases are the gaps between them.
    // A phase not reached is 0.
    auto seconds = [](curl_off_t us) {
      return static_cast<double>(std::max<curl_off_t>(0, us)) / 1e6;
    };
    outcome.duration_seconds = seconds(total);
    outcome.phases[kResolve] = seconds(resolved);
    if (connected > 0) outcome.phases[kConnect] = seconds(connected - resolved);
    if (tls_done > 0) outcome.phases[kTls] = seconds(tls_done - connected);
    if (first_byte > 0) {
      outcome.phases[kProcessing] =
          seconds(first_byte - std::max({pretransfer, tls_done, connected}));
      outcome.phases[kTransfer] = seconds(total - first_byte);
    }
    outcome.ssl = https && outcome.status > 0;
    outcome.cert_expiry = probe.cert_expiry;

    // A body cut at the cap still carries a full status line and enough to match.
    const bool completed = code == CURLE_OK || (code == CURLE_WRITE_ERROR && probe.body_truncated);
    if (completed) {
      CheckResponse(probe, total, outcome);
    } else {
      outcome.reason = Describe(probe, code, https, resolved, connected, tls_done, first_byte);
    }
    curl_multi_remove_handle(multi, easy);
    // Reset, not cleaned up: the next run of any probe takes the handle with
    // its buffers already allocated.
    curl_easy_reset(easy);
    idle_easies.push_back(easy);
    probe.easy = nullptr;
    Emit(probe, std::move(outcome));
  }

  void CheckResponse(const Probe& probe, curl_off_t total_us, Outcome& outcome) const {
    const HttpProbeOptions& o = probe.options;
    const long status = outcome.status;
    bool status_ok = false;
    if (o.expect_status.empty()) {
      status_ok = status >= 200 && status <= 299;
    } else {
      for (const StatusRange& r : o.expect_status) status_ok |= status >= r.low && status <= r.high;
    }
    if (!status_ok) {
      outcome.reason =
          absl::StrCat("status ", status, " (expected ", FormatStatusRanges(o.expect_status), ")");
      return;
    }
    if (o.tls_min_days.has_value() && outcome.cert_expiry.has_value()) {
      const absl::Duration left = absl::FromUnixSeconds(*outcome.cert_expiry) - clock.WallNow();
      if (left < absl::Hours(24) * *o.tls_min_days) {
        const int64_t days = absl::ToInt64Hours(left) / 24;
        outcome.reason = left < absl::ZeroDuration()
                             ? absl::StrCat("TLS certificate expired ", -days,
                                            " days ago (tls_min_days ", *o.tls_min_days, ")")
                             : absl::StrCat("TLS certificate expires in ", days,
                                            " days (tls_min_days ", *o.tls_min_days, ")");
        return;
      }
    }
    for (size_t i = 0; i < o.expect_header.size(); ++i) {
      const std::string& name = o.expect_header[i].name;
      // -1: the last request, the one the redirects led to.
      curl_header* header = nullptr;
      if (curl_easy_header(probe.easy, name.c_str(), 0, CURLH_HEADER, -1, &header) != CURLHE_OK) {
        outcome.reason = absl::StrCat("header ", Quote(name), " missing");
        outcome.regex_failed = true;
        return;
      }
      // Any one of several same-named headers may carry the expected value.
      bool matched = false;
      const size_t amount = header->amount;
      std::string last_value;
      for (size_t index = 0; index < amount && !matched; ++index) {
        if (index > 0 && curl_easy_header(probe.easy, name.c_str(), index, CURLH_HEADER, -1,
                                          &header) != CURLHE_OK) {
          break;
        }
        last_value = header->value;
        matched = RE2::PartialMatch(last_value, *probe.expect_header[i]);
      }
      if (!matched) {
        outcome.reason = absl::StrCat("header ", Quote(name), " value ", Quote(last_value),
                                      " did not match ", Quote(o.expect_header[i].regex));
        outcome.regex_failed = true;
        return;
      }
    }
    if (probe.expect_body != nullptr && !RE2::PartialMatch(probe.body, *probe.expect_body)) {
      outcome.reason = absl::StrCat("body did not match ", Quote(*o.expect_body));
      outcome.regex_failed = true;
      return;
    }
    if (probe.expect_body_not != nullptr && RE2::PartialMatch(probe.body, *probe.expect_body_not)) {
      outcome.reason = absl::StrCat("body matched forbidden ", Quote(*o.expect_body_not));
      outcome.regex_failed = true;
      return;
    }
    if (o.max_latency.has_value()) {
      const absl::Duration took = absl::Microseconds(total_us);
      if (took > *o.max_latency) {
        outcome.reason =
            absl::StrCat("slow: ", absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1))),
                         ", max_latency ", absl::FormatDuration(*o.max_latency));
      }
    }
  }

  // The reason as the on-call person should read it in the incident timeline.
  static std::string Describe(const Probe& probe, CURLcode code, bool https, curl_off_t resolved,
                              curl_off_t connected, curl_off_t tls_done, curl_off_t first_byte) {
    const std::string detail =
        probe.error_buffer[0] != '\0' ? std::string(probe.error_buffer) : curl_easy_strerror(code);
    CURL* easy = probe.easy;
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
        const bool in_tls = https && tls_done == 0 && probe.tls_started;
        const char* phase = resolved == 0 && !probe.host_is_literal ? " resolving the host name"
                            : in_tls                                ? " during the TLS handshake"
                            : connected == 0                        ? " while connecting"
                            : first_byte == 0                       ? " waiting for the response"
                                                                    : " reading the body";
        return absl::StrCat("timeout after ", absl::FormatDuration(probe.options.timeout), phase);
      }
      case CURLE_COULDNT_RESOLVE_HOST: {
        const IpFamily family = probe.options.ip_family;
        return absl::StrCat("DNS lookup failed for ", probe.host,
                            family == IpFamily::kIPv4   ? " (IPv4 only)"
                            : family == IpFamily::kIPv6 ? " (IPv6 only)"
                                                        : "");
      }
      case CURLE_SSL_CONNECT_ERROR:
        return absl::StrCat("TLS handshake failed: ", detail);
      case CURLE_PEER_FAILED_VERIFICATION: {
        absl::string_view why = detail;
        absl::ConsumePrefix(&why, "SSL certificate problem: ");
        return absl::StrCat("TLS certificate not trusted: ", why);
      }
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
      case CURLE_TOO_MANY_REDIRECTS:
        return absl::StrCat("more than ", kMaxRedirects, " redirects");
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_PARTIAL_FILE:
        return absl::StrCat("connection broken: ", detail);
      default:
        if (probe.error_buffer[0] == '\0') return curl_easy_strerror(code);
        return absl::StrCat(curl_easy_strerror(code), ": ", probe.error_buffer);
    }
  }

  void Emit(const Probe& probe, Outcome outcome) {
    const bool success = outcome.reason.empty();
    std::string reason = std::move(outcome.reason);
    if (connectivity != nullptr) {
      if (probe.options.canary) {
        connectivity->RecordCanary(probe.options.name, success);
      } else if (!success && connectivity->CutOff()) {
        reason = absl::StrCat(kMonitorCutOffReason, " (", reason, ")");
      }
    }
    // A server may echo what it was sent (the token in an error page that a
    // header check quotes); the reason goes to tickets and chat.
    for (const std::string& secret : probe.secrets) {
      if (reason.find(secret) != std::string::npos) {
        absl::StrReplaceAll({{secret, "<redacted>"}}, &reason);
      }
    }

    const int64_t ts = absl::ToUnixMillis(clock.WallNow());
    SampleBatch batch;
    batch.samples.reserve(10 + kPhaseCount);
    batch.samples.push_back({probe.success_series, ts, success ? 1.0 : 0.0});
    batch.samples.push_back({probe.duration_series, ts, outcome.duration_seconds});
    for (int phase = 0; phase < kPhaseCount; ++phase) {
      batch.samples.push_back({probe.phase_series[phase], ts, outcome.phases[phase]});
    }
    batch.samples.push_back({probe.status_series, ts, static_cast<double>(outcome.status)});
    batch.samples.push_back({probe.redirects_series, ts, static_cast<double>(outcome.redirects)});
    batch.samples.push_back({probe.ssl_series, ts, outcome.ssl ? 1.0 : 0.0});
    batch.samples.push_back({probe.regex_series, ts, outcome.regex_failed ? 1.0 : 0.0});
    if (outcome.cert_expiry.has_value()) {
      batch.samples.push_back(
          {probe.cert_expiry_series, ts, static_cast<double>(*outcome.cert_expiry)});
    }
    // An empty note on success clears the last failure reason.
    batch.notes.push_back({probe.success_series, std::move(reason)});
    consumer(std::move(batch));
  }

  const Clock& clock;
  const SampleConsumer consumer;
  ConnectivityMonitor* const connectivity;
  std::vector<std::unique_ptr<Probe>> probes;  // stable addresses: curl holds them
  // Runs by due time, earliest on top: the loop looks at due probes only.
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> schedule;
  std::vector<CURL*> idle_easies;
  std::optional<std::chrono::steady_clock::time_point> curl_deadline;
  CURLM* multi = nullptr;
  int epoll_fd = -1;
  int wake_fd = -1;
  StartStats start_stats;
  std::thread thread;
  std::atomic<bool> stopping{false};
};

HttpProber::HttpProber(std::vector<HttpProbeOptions> probes, SeriesIndex& index, const Clock& clock,
                       SampleConsumer consumer, ConnectivityMonitor* connectivity)
    : state_(std::make_unique<State>(std::move(probes), index, clock, std::move(consumer),
                                     connectivity)) {}

HttpProber::~HttpProber() { Stop(); }

absl::Status HttpProber::Start() { return state_->Start(); }

void HttpProber::Stop() { state_->Stop(); }

ProberStats HttpProber::stats() const { return state_->start_stats.Read(); }

}  // namespace klaxon
