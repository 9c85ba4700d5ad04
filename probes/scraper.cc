#include "probes/scraper.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "probes/internal/probe_schedule.h"
#include "probes/prom_text.h"

namespace klaxon {
namespace {

using probes_internal::StableHash;

// Upper bound on one curl_multi_poll, so that the loop re-reads the injected
// clock regularly even when no target is due soon.
constexpr int kMaxPollMs = 1000;

const char kUserAgent[] = "klaxon";

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}


// The non-empty value of a label in an unsorted list, or nullptr.
const std::string* Find(const std::vector<Label>& labels, absl::string_view name) {
  for (const Label& label : labels) {
    if (label.name == name && !label.value.empty()) return &label.value;
  }
  return nullptr;
}

}  // namespace

struct Scraper::State {
  // One scraped series as this target wrote it, in Prometheus's scrape cache.
  struct CacheEntry {
    SeriesId id;
    uint64_t last_seen = 0;  // the scrape that last had the line
    // Had no timestamp of its own: only such series get stale markers.
    bool tracked = false;
    // In the last successful scrape (and tracked): owed a stale marker when
    // it goes away.
    bool in_last_success = false;
  };

  struct Target {
    const ScrapeOptions* options = nullptr;
    std::string url;
    std::string instance;
    std::vector<Label> target_labels;  // sorted, the labels every series gets
    SeriesId up = 0;
    SeriesId duration = 0;
    SeriesId samples_scraped = 0;
    SeriesId samples_post_relabeling = 0;
    absl::flat_hash_map<std::string, CacheEntry> cache;
    uint64_t scrapes = 0;
    // The scrape in flight, at most one; these belong to it.
    CURL* easy = nullptr;  // kept across scrapes so that connections are reused
    curl_slist* headers = nullptr;
    bool in_flight = false;
    std::string body;
    bool body_too_large = false;
    int64_t start_ms = 0;
    absl::Duration start_monotonic;
    char error_buffer[CURL_ERROR_SIZE] = {};
  };

  State(std::vector<ScrapeOptions> job_options, SeriesIndex& index, const Clock& clock,
        SampleConsumer consumer)
      : jobs(std::move(job_options)), index(index), clock(clock), consumer(std::move(consumer)) {
    GlobalInitOnce();
    for (const ScrapeOptions& job : jobs) {
      absl::Status status = Validate(job);
      if (!status.ok()) {
        if (config_error.ok()) config_error = std::move(status);
        continue;
      }
      for (const std::string& url : job.targets) {
        auto target = std::make_unique<Target>();
        target->options = &job;
        target->url = url;
        target->instance = InstanceOf(url);
        std::vector<Label> labels = {{"job", job.job}, {"instance", target->instance}};
        labels.insert(labels.end(), job.labels.begin(), job.labels.end());
        // Labels keeps the last of equal names: configured labels win.
        target->target_labels = Labels(std::move(labels)).ToVector();
        target->up = InternReport(*target, "up");
        target->duration = InternReport(*target, "scrape_duration_seconds");
        target->samples_scraped = InternReport(*target, "scrape_samples_scraped");
        target->samples_post_relabeling =
            InternReport(*target, "scrape_samples_post_metric_relabeling");
        targets.push_back(std::move(target));
      }
    }
  }

  ~State() { Stop(); }

  static absl::Status Validate(const ScrapeOptions& o) {
    auto invalid = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("scrape job \"", o.job, "\": ", why));
    };
    if (o.job.empty()) return invalid("job must not be empty");
    if (o.interval <= absl::ZeroDuration() || o.interval == absl::InfiniteDuration()) {
      return invalid("interval must be positive and finite");
    }
    if (o.timeout <= absl::ZeroDuration()) return invalid("timeout must be positive");
    if (o.timeout > o.interval) {
      return invalid(absl::StrCat("timeout ", absl::FormatDuration(o.timeout),
                                  " is longer than the interval ",
                                  absl::FormatDuration(o.interval)));
    }
    if (o.body_size_limit == 0) return invalid("body_size_limit must be positive");
    std::vector<absl::string_view> names;
    for (const Label& label : o.labels) {
      if (!IsLabelName(label.name)) {
        return invalid(absl::StrCat("\"", label.name, "\" is not a valid label name"));
      }
      if (absl::StartsWith(label.name, "__")) {
        return invalid(absl::StrCat("label \"", label.name, "\" uses the reserved prefix __"));
      }
      if (std::find(names.begin(), names.end(), label.name) != names.end()) {
        return invalid(absl::StrCat("label \"", label.name, "\" is given twice"));
      }
      names.push_back(label.name);
    }
    std::vector<absl::string_view> urls;
    for (const std::string& url : o.targets) {
      CURLU* parsed = curl_url();
      const CURLUcode code = curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0);
      char* scheme = nullptr;
      if (code == CURLUE_OK) curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0);
      const bool http = scheme != nullptr && (absl::string_view(scheme) == "http" ||
                                              absl::string_view(scheme) == "https");
      curl_free(scheme);
      curl_url_cleanup(parsed);
      if (code != CURLUE_OK) {
        return invalid(absl::StrCat("target \"", url, "\": ", curl_url_strerror(code)));
      }
      if (!http) return invalid(absl::StrCat("target \"", url, "\": not an http(s) URL"));
      if (std::find(urls.begin(), urls.end(), url) != urls.end()) {
        return invalid(absl::StrCat("target \"", url, "\" is listed twice"));
      }
      urls.push_back(url);
    }
    return absl::OkStatus();
  }

  // host:port of a URL that Validate accepted, with the scheme's default port.
  static std::string InstanceOf(const std::string& url) {
    CURLU* parsed = curl_url();
    curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0);
    char* host = nullptr;
    char* port = nullptr;
    curl_url_get(parsed, CURLUPART_HOST, &host, 0);
    curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    std::string instance =
        absl::StrCat(host != nullptr ? host : "", ":", port != nullptr ? port : "");
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(parsed);
    return instance;
  }

  SeriesId InternReport(const Target& target, absl::string_view metric) {
    std::vector<Label> labels = target.target_labels;
    labels.push_back({std::string(kMetricNameLabel), std::string(metric)});
    return index.Intern(Labels(std::move(labels)));
  }

  // The labels of a newly seen scraped series, with the target labels merged
  // as Prometheus's honor_labels says.
  SeriesId InternScraped(const Target& target, const ExpositionSample& sample) {
    std::vector<Label> labels;
    labels.reserve(sample.labels.size() + target.target_labels.size() + 2);
    labels.push_back({std::string(kMetricNameLabel), std::string(sample.name)});
    for (const auto& [name, value] : sample.labels) {
      labels.push_back({std::string(name), std::string(value)});
    }
    if (target.options->honor_labels) {
      for (const Label& label : target.target_labels) {
        if (Find(labels, label.name) == nullptr) labels.push_back(label);
      }
    } else {
      std::vector<Label> conflicts;
      for (const Label& label : target.target_labels) {
        for (auto it = labels.begin(); it != labels.end(); ++it) {
          if (it->name != label.name) continue;
          if (!it->value.empty()) conflicts.push_back(std::move(*it));
          labels.erase(it);
          break;
        }
        labels.push_back(label);
      }
      // Shortest names first, as Prometheus resolves them.
      std::stable_sort(conflicts.begin(), conflicts.end(), [](const Label& a, const Label& b) {
        return a.name.size() < b.name.size();
      });
      for (Label& conflict : conflicts) {
        std::string name = conflict.name;
        do {
          name = absl::StrCat("exported_", name);
        } while (Find(labels, name) != nullptr);
        labels.push_back({std::move(name), std::move(conflict.value)});
      }
    }
    return index.Intern(Labels(std::move(labels)));
  }

  absl::Status Start() {
    if (thread.joinable()) return absl::FailedPreconditionError("scraper already started");
    if (!config_error.ok()) return config_error;
    multi = curl_multi_init();
    if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
    due = {};
    const absl::Duration now = clock.MonotonicNow();
    for (size_t i = 0; i < targets.size(); ++i) {
      Target& target = *targets[i];
      absl::Status status = Prepare(target);
      if (!status.ok()) {
        CleanUp();
        return status;
      }
      const int64_t interval_ms =
          std::max<int64_t>(1, absl::ToInt64Milliseconds(target.options->interval));
      const uint64_t hash = StableHash(absl::StrCat(target.options->job, "\n", target.url));
      due.push({now + absl::Milliseconds(hash % interval_ms), i});
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
    CleanUp();
  }

  void CleanUp() {
    for (auto& target : targets) {
      if (target->easy != nullptr) {
        if (target->in_flight) curl_multi_remove_handle(multi, target->easy);
        curl_easy_cleanup(target->easy);
        target->easy = nullptr;
      }
      target->in_flight = false;
      curl_slist_free_all(target->headers);
      target->headers = nullptr;
    }
    if (multi != nullptr) curl_multi_cleanup(multi);
    multi = nullptr;
  }

  // The handle's options, set once: each scrape only re-adds it to the multi
  // handle, which keeps the connection alive between scrapes as Prometheus does.
  absl::Status Prepare(Target& target) {
    CURL* easy = curl_easy_init();
    if (easy == nullptr) return absl::InternalError("could not create a curl handle");
    target.easy = easy;
    const ScrapeOptions& o = *target.options;
    target.headers =
        curl_slist_append(nullptr, absl::StrCat("Accept: ", kScrapeAcceptHeader).c_str());
    target.headers = curl_slist_append(
        target.headers,
        absl::StrCat("X-Prometheus-Scrape-Timeout-Seconds: ", absl::ToDoubleSeconds(o.timeout))
            .c_str());
    curl_easy_setopt(easy, CURLOPT_URL, target.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, target.headers);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    // 0 would mean no timeout at all.
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(o.timeout))));
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);  // Prometheus follows redirects
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // gzip, deflate; decoded for us
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.body_size_limit));
    curl_easy_setopt(easy, CURLOPT_USERAGENT, kUserAgent);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, target.error_buffer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &State::OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &target);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &target);
    return absl::OkStatus();
  }

  void Loop() {
    while (!stopping.load()) {
      const absl::Duration now = clock.MonotonicNow();
      while (!due.empty() && due.top().first <= now) {
        const auto [when, i] = due.top();
        due.pop();
        Target& target = *targets[i];
        // timeout <= interval, so a scrape in flight here is late by no more
        // than the loop's own delay; this slot is skipped rather than overlap.
        if (!target.in_flight) Launch(target);
        const absl::Duration interval = target.options->interval;
        absl::Duration unused;
        due.push({when + interval * (absl::IDivDuration(now - when, interval, &unused) + 1), i});
      }

      int running = 0;
      curl_multi_perform(multi, &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        void* target = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &target);
        Finish(*static_cast<Target*>(target), message->data.result);
      }

      absl::Duration wait = absl::Milliseconds(kMaxPollMs);
      if (!due.empty()) wait = std::min(wait, due.top().first - clock.MonotonicNow());
      // curl shortens the wait itself when a transfer needs attention sooner.
      curl_multi_poll(multi, nullptr, 0,
                      static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(wait))),
                      nullptr);
    }
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    Target& target = *static_cast<Target*>(user);
    const size_t n = size * count;
    if (target.body.size() + n > target.options->body_size_limit) {
      target.body_too_large = true;
      return 0;  // ends the transfer
    }
    target.body.append(data, n);
    return n;
  }

  void Launch(Target& target) {
    target.body.clear();
    target.body_too_large = false;
    target.error_buffer[0] = '\0';
    target.start_ms = absl::ToUnixMillis(clock.WallNow());
    target.start_monotonic = clock.MonotonicNow();
    if (curl_multi_add_handle(multi, target.easy) != CURLM_OK) {
      Report(target, "could not start the request", 0, absl::ZeroDuration());
      return;
    }
    target.in_flight = true;
  }

  void Finish(Target& target, CURLcode code) {
    CURL* easy = target.easy;
    const absl::Duration duration = clock.MonotonicNow() - target.start_monotonic;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    char* content_type = nullptr;
    curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type);
    const ExpositionFormat format = ExpositionFormatFromContentType(
        content_type != nullptr ? absl::string_view(content_type) : absl::string_view());
    std::string reason;
    if (target.body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
      reason = absl::StrCat("body larger than body_size_limit of ", target.options->body_size_limit,
                            " bytes");
    } else if (code != CURLE_OK) {
      reason = Describe(target, easy, code);
    } else if (status < 200 || status > 299) {
      reason = absl::StrCat("status ", status);
    }
    curl_multi_remove_handle(multi, easy);
    target.in_flight = false;
    if (!reason.empty()) {
      Report(target, std::move(reason), 0, duration);
    } else {
      Ingest(target, format, duration);
    }
  }

  // Parses the body into one batch with the report series and stale markers.
  void Ingest(Target& target, ExpositionFormat format, absl::Duration duration) {
    const uint64_t scrape = ++target.scrapes;
    const size_t limit = target.options->sample_limit;
    SampleBatch batch;
    batch.samples.reserve(target.cache.size() + 8);
    size_t scraped = 0;
    const absl::Status parsed =
        parser.Parse(target.body, format, [&](const ExpositionSample& sample) {
          ++scraped;
          // Past the limit the rest is only counted, for the failure reason.
          if (limit != 0 && scraped > limit) return;
          auto it = target.cache.find(sample.series_text);
          if (it == target.cache.end()) {
            it = target.cache
                     .emplace(std::string(sample.series_text),
                              CacheEntry{.id = InternScraped(target, sample)})
                     .first;
          }
          CacheEntry& entry = it->second;
          // A line repeated within one scrape: Prometheus keeps the first too.
          if (entry.last_seen == scrape) return;
          entry.last_seen = scrape;
          entry.tracked = !sample.timestamp_ms.has_value();
          batch.samples.push_back(
              {entry.id, sample.timestamp_ms.value_or(target.start_ms), sample.value});
        });
    std::string reason;
    if (!parsed.ok()) {
      reason = std::string(parsed.message());
    } else if (limit != 0 && scraped > limit) {
      reason = absl::StrCat("sample_limit ", limit, " exceeded: ", scraped, " samples");
    }
    if (!reason.empty()) {
      Report(target, std::move(reason), scraped, duration);
      return;
    }

    // Stale markers for what the last successful scrape had and this one has
    // not; the cache forgets lines this scrape did not have.
    const size_t delivered = batch.samples.size();
    std::vector<SeriesId> vanished;
    for (auto it = target.cache.begin(); it != target.cache.end();) {
      CacheEntry& entry = it->second;
      const bool seen = entry.last_seen == scrape;
      if (entry.in_last_success && !seen) vanished.push_back(entry.id);
      entry.in_last_success = seen && entry.tracked;
      if (seen) {
        ++it;
      } else {
        target.cache.erase(it++);
      }
    }
    if (!vanished.empty()) {
      // The same series written another way (`a{x="1"}`, `a{ x="1" }`) is
      // another cache line but no vanished series.
      absl::flat_hash_set<SeriesId> live;
      for (size_t i = 0; i < delivered; ++i) live.insert(batch.samples[i].series);
      for (SeriesId id : vanished) {
        if (!live.contains(id)) batch.samples.push_back({id, target.start_ms, StaleNaN()});
      }
    }
    AppendReport(target, batch, true, scraped, delivered, duration);
    batch.notes.push_back({target.up, ""});  // clears the last failure reason
    consumer(std::move(batch));
  }

  // A failed scrape: up=0 with the reason, and stale markers for every series
  // of the last successful scrape, as Prometheus writes on failure.
  void Report(Target& target, std::string reason, size_t scraped, absl::Duration duration) {
    SampleBatch batch;
    const double stale = StaleNaN();
    for (auto& [text, entry] : target.cache) {
      if (!entry.in_last_success) continue;
      batch.samples.push_back({entry.id, target.start_ms, stale});
      entry.in_last_success = false;
    }
    AppendReport(target, batch, false, scraped, 0, duration);
    batch.notes.push_back({target.up, std::move(reason)});
    consumer(std::move(batch));
  }

  static void AppendReport(const Target& target, SampleBatch& batch, bool up, size_t scraped,
                           size_t delivered, absl::Duration duration) {
    const int64_t ts = target.start_ms;
    batch.samples.push_back({target.up, ts, up ? 1.0 : 0.0});
    batch.samples.push_back({target.duration, ts, absl::ToDoubleSeconds(duration)});
    batch.samples.push_back({target.samples_scraped, ts, static_cast<double>(scraped)});
    batch.samples.push_back({target.samples_post_relabeling, ts, static_cast<double>(delivered)});
  }

  // The reason as the on-call person should read it in the incident timeline.
  std::string Describe(const Target& target, CURL* easy, CURLcode code) {
    const std::string detail = target.error_buffer[0] != '\0' ? std::string(target.error_buffer)
                                                              : curl_easy_strerror(code);
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
        return absl::StrCat("timeout after ", absl::FormatDuration(target.options->timeout), phase);
      }
      case CURLE_COULDNT_RESOLVE_HOST:
        return absl::StrCat("DNS lookup failed for ", target.instance);
      case CURLE_GOT_NOTHING:
        return "connection closed without a response";
      case CURLE_TOO_MANY_REDIRECTS:
        return "too many redirects";
      default:
        if (target.error_buffer[0] == '\0') return curl_easy_strerror(code);
        return absl::StrCat(curl_easy_strerror(code), ": ", target.error_buffer);
    }
  }

  using Due = std::pair<absl::Duration, size_t>;  // monotonic time, target index

  const std::vector<ScrapeOptions> jobs;  // targets point into it
  SeriesIndex& index;
  const Clock& clock;
  const SampleConsumer consumer;
  absl::Status config_error;
  std::vector<std::unique_ptr<Target>> targets;  // stable addresses: curl holds them
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due;
  ExpositionParser parser;
  CURLM* multi = nullptr;
  std::thread thread;
  std::atomic<bool> stopping{false};
};

Scraper::Scraper(std::vector<ScrapeOptions> jobs, SeriesIndex& index, const Clock& clock,
                 SampleConsumer consumer)
    : state_(std::make_unique<State>(std::move(jobs), index, clock, std::move(consumer))) {}

Scraper::~Scraper() { Stop(); }

absl::Status Scraper::Start() { return state_->Start(); }

void Scraper::Stop() { state_->Stop(); }

}  // namespace klaxon
