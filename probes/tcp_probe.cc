#include "probes/tcp_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "detector/labels.h"
#include "probes/internal/probe_schedule.h"
#include "re2/re2.h"

namespace klaxon {
namespace {

using probes_internal::Quote;
using probes_internal::StableHash;
using probes_internal::StartStats;

using SteadyTime = std::chrono::steady_clock::time_point;

constexpr absl::Duration kMaxWait = absl::Seconds(1);  // re-read the injected clock
constexpr size_t kMaxLineBytes = 64 * 1024;  // a longer line is checked as cut here
constexpr int kMaxEvents = 256;
constexpr uint32_t kWakeTag = 0xffffffffu;




struct Address {
  sockaddr_storage storage = {};
  socklen_t length = 0;
  int family() const { return storage.ss_family; }
};

Address V4(const in_addr& ip, uint16_t port) {
  Address a;
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr = ip;
  a.length = sizeof(sockaddr_in);
  return a;
}

Address V6(const in6_addr& ip, uint16_t port) {
  Address a;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = ip;
  a.length = sizeof(sockaddr_in6);
  return a;
}

bool FamilyAllowed(IpFamily family, int af) {
  return family == IpFamily::kAny || (family == IpFamily::kIPv4 && af == AF_INET) ||
         (family == IpFamily::kIPv6 && af == AF_INET6);
}

const char* FamilyNote(IpFamily family) {
  return family == IpFamily::kIPv4   ? " (IPv4 only)"
         : family == IpFamily::kIPv6 ? " (IPv6 only)"
                                     : "";
}

std::string ConnectFailure(int error) {
  if (error == ECONNREFUSED) return "connection refused";
  return absl::StrCat("connection failed: ", std::strerror(error));
}

// Where getaddrinfo_a's completion threads leave their results. Shared, since
// a lookup that outlived its timeout may complete after the prober stopped.
struct Mailbox {
  struct Resolved {
    void* probe;
    uint64_t generation;
    int error;
    addrinfo* result;
  };
  std::mutex mu;
  int wake_fd = -1;  // -1 once the prober stopped: late results are dropped
  std::vector<Resolved> done;
};

// One name lookup in flight; owned by getaddrinfo_a until its completion runs.
struct Lookup {
  gaicb request = {};
  addrinfo hints = {};
  std::string host;
  void* probe = nullptr;
  uint64_t generation = 0;
  std::shared_ptr<Mailbox> mailbox;
};

void OnLookupDone(sigval value) {
  std::unique_ptr<Lookup> lookup(static_cast<Lookup*>(value.sival_ptr));
  const int error = gai_error(&lookup->request);
  addrinfo* result = error == 0 ? lookup->request.ar_result : nullptr;
  Mailbox& mailbox = *lookup->mailbox;
  std::lock_guard lock(mailbox.mu);
  if (mailbox.wake_fd < 0) {
    if (result != nullptr) freeaddrinfo(result);
    return;
  }
  mailbox.done.push_back({lookup->probe, lookup->generation, error, result});
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t written = write(mailbox.wake_fd, &one, sizeof(one));
}

}  // namespace

struct TcpProber::State {
  enum class Stage { kIdle, kResolving, kConnecting, kSending, kReading };

  struct Probe {
    TcpProbeOptions options;
    uint32_t index = 0;
    SeriesId success_series = 0;
    SeriesId duration_series = 0;
    SeriesId regex_series = 0;

    // Built once from the options.
    std::unique_ptr<RE2> expect;
    std::string host;
    uint16_t port = 0;
    // Literal addresses and localhost need no lookup; resolved once here.
    bool needs_lookup = true;
    std::vector<Address> fixed_addresses;
    std::string send_data;
    absl::Status config_error;

    absl::Duration next_due;  // on the injected clock

    // The run in flight, if stage != kIdle.
    Stage stage = Stage::kIdle;
    uint64_t generation = 0;
    SteadyTime started;
    std::vector<Address> addresses;
    size_t next_address = 0;
    std::string connect_error;
    int fd = -1;
    size_t sent = 0;
    std::string partial_line;
    std::string last_line;
    bool got_reply = false;
  };

  struct Due {
    absl::Duration when;
    Probe* probe;
    bool operator>(const Due& other) const { return when > other.when; }
  };
  struct Deadline {
    SteadyTime when;
    Probe* probe;
    uint64_t generation;
    bool operator>(const Deadline& other) const { return when > other.when; }
  };

  State(std::vector<TcpProbeOptions> probe_options, SeriesIndex& index, const Clock& clock,
        SampleConsumer consumer, ConnectivityMonitor* connectivity)
      : clock(clock), consumer(std::move(consumer)), connectivity(connectivity) {
    probes.reserve(probe_options.size());
    for (TcpProbeOptions& options : probe_options) {
      auto probe = std::make_unique<Probe>();
      probe->index = static_cast<uint32_t>(probes.size());
      auto intern = [&](absl::string_view metric) {
        std::vector<Label> labels = {{std::string(kMetricNameLabel), std::string(metric)},
                                     {"probe", options.name}};
        if (!options.service.empty()) labels.push_back({"service", options.service});
        return index.Intern(Labels(std::move(labels)));
      };
      probe->success_series = intern("probe_success");
      probe->duration_series = intern("probe_duration_seconds");
      probe->regex_series = intern("probe_failed_due_to_regex");
      probe->options = std::move(options);
      Prepare(*probe);
      probes.push_back(std::move(probe));
    }
  }

  ~State() { Stop(); }

  static void Prepare(Probe& probe) {
    const TcpProbeOptions& o = probe.options;
    auto invalid = [&](absl::string_view why) {
      probe.config_error =
          absl::InvalidArgumentError(absl::StrCat("tcp probe \"", o.name, "\": ", why));
    };
    if (o.interval <= absl::ZeroDuration() || o.interval == absl::InfiniteDuration()) {
      return invalid("interval must be positive and finite");
    }
    if (o.timeout <= absl::ZeroDuration() || o.timeout == absl::InfiniteDuration()) {
      return invalid("timeout must be positive and finite");
    }
    const size_t colon = o.address.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(o.address.substr(colon + 1), &port) ||
        port == 0 || port > 65535) {
      return invalid(absl::StrCat("address \"", o.address, "\" is not host:port"));
    }
    probe.port = static_cast<uint16_t>(port);
    std::string host = o.address.substr(0, colon);
    const bool bracketed = absl::StartsWith(host, "[") && absl::EndsWith(host, "]");
    if (bracketed) host = host.substr(1, host.size() - 2);
    if (host.empty() || (!bracketed && host.find(':') != std::string::npos)) {
      return invalid(absl::StrCat("address \"", o.address,
                                  "\" is not host:port (an IPv6 address goes in [brackets])"));
    }
    probe.host = host;
    in_addr ip4;
    in6_addr ip6;
    if (bracketed) {
      if (inet_pton(AF_INET6, host.c_str(), &ip6) != 1) {
        return invalid(absl::StrCat("address \"", o.address, "\" has no valid IPv6 address"));
      }
      probe.needs_lookup = false;
      probe.fixed_addresses.push_back(V6(ip6, probe.port));
    } else if (inet_pton(AF_INET, host.c_str(), &ip4) == 1) {
      probe.needs_lookup = false;
      probe.fixed_addresses.push_back(V4(ip4, probe.port));
    } else if (absl::EqualsIgnoreCase(host, "localhost") ||
               absl::EndsWithIgnoreCase(host, ".localhost")) {
      // RFC 6761, as curl does: the loopback addresses, whatever /etc/hosts
      // says, so that ip_family picks between ::1 and 127.0.0.1.
      probe.needs_lookup = false;
      probe.fixed_addresses.push_back(V6(in6addr_loopback, probe.port));
      ip4.s_addr = htonl(INADDR_LOOPBACK);
      probe.fixed_addresses.push_back(V4(ip4, probe.port));
    }
    if (o.expect.has_value()) {
      RE2::Options re_options;
      re_options.set_log_errors(false);
      probe.expect = std::make_unique<RE2>(*o.expect, re_options);
      if (!probe.expect->ok()) {
        return invalid(absl::StrCat("expect \"", *o.expect,
                                    "\" is not a valid RE2 pattern: ", probe.expect->error()));
      }
    }
    if (!o.send.empty()) {
      probe.send_data = o.send;
      if (!absl::EndsWith(probe.send_data, "\n")) probe.send_data += "\n";
    }
  }

  absl::Status Start() {
    if (thread.joinable()) return absl::FailedPreconditionError("tcp prober already started");
    for (const auto& probe : probes) {
      if (!probe->config_error.ok()) return probe->config_error;
    }
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd < 0 || wake_fd < 0) {
      const int error = errno;
      CloseFds();
      return absl::InternalError(absl::StrCat("tcp prober: ", std::strerror(error)));
    }
    epoll_event wake = {};
    wake.events = EPOLLIN;
    wake.data.u64 = kWakeTag;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake);
    mailbox = std::make_shared<Mailbox>();
    mailbox->wake_fd = wake_fd;

    schedule = {};
    deadlines = {};
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
    {
      std::lock_guard lock(mailbox->mu);
      mailbox->wake_fd = -1;
      for (const Mailbox::Resolved& resolved : mailbox->done) {
        if (resolved.result != nullptr) freeaddrinfo(resolved.result);
      }
      mailbox->done.clear();
    }
    mailbox.reset();
    for (auto& probe : probes) {
      CloseSocket(*probe);
      probe->stage = Stage::kIdle;
    }
    CloseFds();
  }

  void CloseFds() {
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
    epoll_fd = -1;
    wake_fd = -1;
  }

  void Loop() {
    epoll_event events[kMaxEvents];
    while (!stopping.load(std::memory_order_relaxed)) {
      StartDueRuns();
      ExpireDeadlines();
      absl::Duration wait = kMaxWait;
      if (!schedule.empty()) wait = std::min(wait, schedule.top().when - clock.MonotonicNow());
      if (!deadlines.empty()) {
        wait = std::min(wait,
                        absl::FromChrono(deadlines.top().when - std::chrono::steady_clock::now()));
      }
      const int wait_ms = static_cast<int>(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1)))));
      const int n = epoll_wait(epoll_fd, events, kMaxEvents, wait_ms);
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (static_cast<uint32_t>(tag) == kWakeTag) {
          uint64_t count = 0;
          [[maybe_unused]] ssize_t r = read(wake_fd, &count, sizeof(count));
          DrainLookups();
          continue;
        }
        Probe& probe = *probes[static_cast<uint32_t>(tag)];
        // The socket may have been replaced (next address) since the event.
        if (probe.stage == Stage::kIdle || probe.fd != static_cast<int>(tag >> 32)) continue;
        OnSocketEvent(probe);
      }
    }
  }

  void StartDueRuns() {
    while (!schedule.empty()) {
      const absl::Duration now = clock.MonotonicNow();
      const Due due = schedule.top();
      if (due.when > now) return;
      schedule.pop();
      Probe& probe = *due.probe;
      if (probe.stage != Stage::kIdle) {
        start_stats.Skipped();
      } else {
        start_stats.Started(now - due.when);
        StartRun(probe);
      }
      const absl::Duration interval = probe.options.interval;
      absl::Duration unused;
      probe.next_due =
          due.when + interval * (absl::IDivDuration(now - due.when, interval, &unused) + 1);
      schedule.push({probe.next_due, &probe});
    }
  }

  void ExpireDeadlines() {
    const SteadyTime now = std::chrono::steady_clock::now();
    while (!deadlines.empty() && deadlines.top().when <= now) {
      const Deadline deadline = deadlines.top();
      deadlines.pop();
      Probe& probe = *deadline.probe;
      if (probe.stage == Stage::kIdle || probe.generation != deadline.generation) continue;
      // A reply that did not match is the regex's failure, even when the
      // timeout ends the wait for a better line.
      const bool regex_failed = probe.stage == Stage::kReading && probe.got_reply;
      End(probe, TimeoutReason(probe), regex_failed);
    }
  }

  std::string TimeoutReason(const Probe& probe) const {
    const std::string after = absl::FormatDuration(probe.options.timeout);
    switch (probe.stage) {
      case Stage::kResolving:
        return absl::StrCat("timeout after ", after, " resolving ", probe.host);
      case Stage::kConnecting:
        return absl::StrCat("timeout after ", after, " while connecting");
      case Stage::kSending:
        return absl::StrCat("timeout after ", after, " sending");
      case Stage::kReading:
      case Stage::kIdle:
        break;
    }
    if (probe.got_reply) {
      return absl::StrCat("reply did not match ", Quote(*probe.options.expect), " within ", after,
                          ": last line ", Quote(LastLine(probe)));
    }
    return absl::StrCat("timeout after ", after, " waiting for a reply");
  }

  static std::string LastLine(const Probe& probe) {
    return probe.partial_line.empty() ? probe.last_line : probe.partial_line;
  }

  void StartRun(Probe& probe) {
    ++probe.generation;
    probe.started = std::chrono::steady_clock::now();
    probe.addresses.clear();
    probe.next_address = 0;
    probe.connect_error.clear();
    probe.sent = 0;
    probe.partial_line.clear();
    probe.last_line.clear();
    probe.got_reply = false;
    deadlines.push({probe.started + absl::ToChronoNanoseconds(probe.options.timeout), &probe,
                    probe.generation});
    if (!probe.needs_lookup) {
      for (const Address& a : probe.fixed_addresses) {
        if (FamilyAllowed(probe.options.ip_family, a.family())) probe.addresses.push_back(a);
      }
      if (probe.addresses.empty()) {
        probe.stage = Stage::kResolving;  // so that Fail finds a run to end
        Fail(probe,
             absl::StrCat("no ", probe.options.ip_family == IpFamily::kIPv6 ? "IPv6" : "IPv4",
                          " address for ", probe.host));
        return;
      }
      ConnectNext(probe);
      return;
    }
    probe.stage = Stage::kResolving;
    auto lookup = std::make_unique<Lookup>();
    lookup->host = probe.host;
    lookup->hints.ai_socktype = SOCK_STREAM;
    lookup->hints.ai_family = probe.options.ip_family == IpFamily::kIPv4   ? AF_INET
                              : probe.options.ip_family == IpFamily::kIPv6 ? AF_INET6
                                                                           : AF_UNSPEC;
    lookup->request.ar_name = lookup->host.c_str();
    lookup->request.ar_request = &lookup->hints;
    lookup->probe = &probe;
    lookup->generation = probe.generation;
    lookup->mailbox = mailbox;
    sigevent notify = {};
    notify.sigev_notify = SIGEV_THREAD;
    notify.sigev_notify_function = &OnLookupDone;
    notify.sigev_value.sival_ptr = lookup.get();
    gaicb* list[1] = {&lookup->request};
    // The lookup runs on glibc's threads; a resolver that never answers holds
    // one of them, never this loop, and the run's deadline still ends the run.
    const int error = getaddrinfo_a(GAI_NOWAIT, list, 1, &notify);
    if (error != 0) {
      Fail(probe, absl::StrCat("DNS lookup failed for ", probe.host, ": ", gai_strerror(error)));
      return;
    }
    lookup.release();  // OnLookupDone owns it now
  }

  void DrainLookups() {
    std::vector<Mailbox::Resolved> done;
    {
      std::lock_guard lock(mailbox->mu);
      done.swap(mailbox->done);
    }
    for (const Mailbox::Resolved& resolved : done) {
      Probe& probe = *static_cast<Probe*>(resolved.probe);
      const bool current =
          probe.stage == Stage::kResolving && probe.generation == resolved.generation;
      if (current && resolved.error != 0) {
        Fail(probe,
             absl::StrCat("DNS lookup failed for ", probe.host, FamilyNote(probe.options.ip_family),
                          ": ", gai_strerror(resolved.error)));
      } else if (current) {
        for (addrinfo* ai = resolved.result; ai != nullptr; ai = ai->ai_next) {
          if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
          if (!FamilyAllowed(probe.options.ip_family, ai->ai_family)) continue;
          Address a;
          std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
          a.length = ai->ai_addrlen;
          if (a.family() == AF_INET) {
            reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(probe.port);
          } else {
            reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(probe.port);
          }
          probe.addresses.push_back(a);
        }
        if (probe.addresses.empty()) {
          Fail(probe, absl::StrCat("DNS lookup failed for ", probe.host,
                                   FamilyNote(probe.options.ip_family), ": no address"));
        } else {
          ConnectNext(probe);
        }
      }
      if (resolved.result != nullptr) freeaddrinfo(resolved.result);
    }
  }

  // Tries the addresses in order until one accepts, as a client library would.
  void ConnectNext(Probe& probe) {
    CloseSocket(probe);
    while (probe.next_address < probe.addresses.size()) {
      const Address& a = probe.addresses[probe.next_address++];
      const int fd = socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        probe.connect_error = absl::StrCat("cannot create a socket: ", std::strerror(errno));
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      probe.fd = fd;
      if (connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length) == 0) {
        Watch(probe, EPOLLIN, EPOLL_CTL_ADD);
        Connected(probe);
        return;
      }
      if (errno == EINPROGRESS) {
        probe.stage = Stage::kConnecting;
        Watch(probe, EPOLLOUT, EPOLL_CTL_ADD);
        return;
      }
      probe.connect_error = ConnectFailure(errno);
      CloseSocket(probe);
    }
    Fail(probe, probe.connect_error.empty() ? "connection failed" : probe.connect_error);
  }

  void Watch(Probe& probe, uint32_t events, int op) {
    epoll_event event = {};
    event.events = events;
    event.data.u64 = (static_cast<uint64_t>(probe.fd) << 32) | probe.index;
    epoll_ctl(epoll_fd, op, probe.fd, &event);
  }

  void CloseSocket(Probe& probe) {
    if (probe.fd < 0) return;
    // Closing drops the socket from the epoll set: it has no other descriptor.
    close(probe.fd);
    probe.fd = -1;
  }

  void OnSocketEvent(Probe& probe) {
    switch (probe.stage) {
      case Stage::kConnecting: {
        int error = 0;
        socklen_t length = sizeof(error);
        getsockopt(probe.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
          probe.connect_error = ConnectFailure(error);
          ConnectNext(probe);
          return;
        }
        Connected(probe);
        return;
      }
      case Stage::kSending:
        Send(probe);
        return;
      case Stage::kReading:
        Read(probe);
        return;
      case Stage::kResolving:
      case Stage::kIdle:
        return;
    }
  }

  void Connected(Probe& probe) {
    if (!probe.send_data.empty()) {
      probe.stage = Stage::kSending;
      Send(probe);
      return;
    }
    AfterSend(probe);
  }

  void Send(Probe& probe) {
    while (probe.sent < probe.send_data.size()) {
      const ssize_t n = send(probe.fd, probe.send_data.data() + probe.sent,
                             probe.send_data.size() - probe.sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        Watch(probe, EPOLLOUT, EPOLL_CTL_MOD);
        return;
      }
      if (n < 0) {
        Fail(probe, absl::StrCat("connection broken while sending: ", std::strerror(errno)));
        return;
      }
      probe.sent += static_cast<size_t>(n);
    }
    AfterSend(probe);
  }

  void AfterSend(Probe& probe) {
    if (probe.expect == nullptr) {
      Succeed(probe);
      return;
    }
    probe.stage = Stage::kReading;
    Watch(probe, EPOLLIN, EPOLL_CTL_MOD);
  }

  void Read(Probe& probe) {
    char buffer[4096];
    while (true) {
      const ssize_t n = recv(probe.fd, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) {
        Fail(probe, absl::StrCat("connection broken waiting for a reply: ", std::strerror(errno)));
        return;
      }
      if (n == 0) {
        // The last line may lack its newline.
        if (!probe.partial_line.empty() && CheckLine(probe, probe.partial_line)) return;
        if (!probe.got_reply) {
          Fail(probe, "connection closed without a reply");
        } else {
          End(probe,
              absl::StrCat("reply did not match ", Quote(*probe.options.expect), ": last line ",
                           Quote(LastLine(probe))),
              /*regex_failed=*/true);
        }
        return;
      }
      probe.got_reply = true;
      absl::string_view data(buffer, static_cast<size_t>(n));
      while (!data.empty()) {
        const size_t newline = data.find('\n');
        const absl::string_view piece = data.substr(0, newline);
        const size_t room = kMaxLineBytes - std::min(kMaxLineBytes, probe.partial_line.size());
        probe.partial_line.append(piece.data(), std::min(room, piece.size()));
        if (newline == absl::string_view::npos) break;
        data.remove_prefix(newline + 1);
        std::string line = std::move(probe.partial_line);
        probe.partial_line.clear();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (CheckLine(probe, line)) return;
        probe.last_line = std::move(line);
      }
    }
  }

  // True when the line matched and the run ended in success.
  bool CheckLine(Probe& probe, const std::string& line) {
    if (!RE2::PartialMatch(line, *probe.expect)) return false;
    Succeed(probe);
    return true;
  }

  void Succeed(Probe& probe) { End(probe, "", false); }

  void Fail(Probe& probe, std::string reason) { End(probe, std::move(reason), false); }

  void End(Probe& probe, std::string reason, bool regex_failed) {
    CloseSocket(probe);
    probe.stage = Stage::kIdle;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - probe.started).count();
    const bool success = reason.empty();
    if (connectivity != nullptr) {
      if (probe.options.canary) {
        connectivity->RecordCanary(probe.options.name, success);
      } else if (!success && connectivity->CutOff()) {
        reason = absl::StrCat(kMonitorCutOffReason, " (", reason, ")");
      }
    }
    const int64_t ts = absl::ToUnixMillis(clock.WallNow());
    SampleBatch batch;
    batch.samples = {
        {probe.success_series, ts, success ? 1.0 : 0.0},
        {probe.duration_series, ts, seconds},
        {probe.regex_series, ts, regex_failed ? 1.0 : 0.0},
    };
    // An empty note on success clears the last failure reason.
    batch.notes.push_back({probe.success_series, std::move(reason)});
    consumer(std::move(batch));
  }

  const Clock& clock;
  const SampleConsumer consumer;
  ConnectivityMonitor* const connectivity;
  std::vector<std::unique_ptr<Probe>> probes;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> schedule;
  // Run timeouts; entries of runs that already ended are skipped when popped.
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> deadlines;
  std::shared_ptr<Mailbox> mailbox;
  int epoll_fd = -1;
  int wake_fd = -1;
  StartStats start_stats;
  std::thread thread;
  std::atomic<bool> stopping{false};
};

TcpProber::TcpProber(std::vector<TcpProbeOptions> probes, SeriesIndex& index, const Clock& clock,
                     SampleConsumer consumer, ConnectivityMonitor* connectivity)
    : state_(std::make_unique<State>(std::move(probes), index, clock, std::move(consumer),
                                     connectivity)) {}

TcpProber::~TcpProber() { Stop(); }

absl::Status TcpProber::Start() { return state_->Start(); }

void TcpProber::Stop() { state_->Stop(); }

ProberStats TcpProber::stats() const { return state_->start_stats.Read(); }

}  // namespace klaxon
