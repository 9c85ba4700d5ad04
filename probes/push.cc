#include "probes/push.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "detector/labels.h"
#include "nlohmann/json.hpp"

namespace klaxon {
namespace {

// Milliseconds, from Unix seconds (a JSON number) or RFC 3339 text.
absl::StatusOr<int64_t> EventTimestamp(const nlohmann::json& value) {
  if (value.is_number()) {
    const double seconds = value.get<double>();
    if (!std::isfinite(seconds) || std::fabs(seconds) > 1e11) {
      return absl::InvalidArgumentError("timestamp out of range");
    }
    return static_cast<int64_t>(std::llround(seconds * 1000));
  }
  if (value.is_string()) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &t, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("timestamp \"", value.get<std::string>(),
                                                     "\" is not RFC 3339 (", error, ")"));
    }
    return absl::ToUnixMillis(t);
  }
  return absl::InvalidArgumentError("timestamp must be Unix seconds or an RFC 3339 string");
}

absl::StatusOr<double> EventValue(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
    if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  }
  return absl::InvalidArgumentError("value must be a number, \"NaN\", \"+Inf\" or \"-Inf\"");
}

}  // namespace

absl::StatusOr<SampleBatch> PushDecoder::DecodeText(absl::string_view body, ExpositionFormat format,
                                                    int64_t now_ms) {
  // Bounds the cache's memory when pushers keep inventing series.
  constexpr size_t kMaxCachedSeries = 1 << 20;
  SampleBatch batch;
  std::vector<Label> labels;
  absl::Status status = parser_.Parse(body, format, [&](const ExpositionSample& sample) {
    auto cached = series_cache_.find(sample.series_text);
    if (cached == series_cache_.end()) {
      labels.clear();
      labels.push_back({std::string(kMetricNameLabel), std::string(sample.name)});
      for (const auto& [name, value] : sample.labels) {
        labels.push_back({std::string(name), std::string(value)});
      }
      if (series_cache_.size() >= kMaxCachedSeries) series_cache_.clear();
      cached = series_cache_
                   .emplace(std::string(sample.series_text), index_.Intern(Labels(std::move(labels))))
                   .first;
    }
    batch.samples.push_back({cached->second, sample.timestamp_ms.value_or(now_ms), sample.value});
  });
  if (!status.ok()) return status;
  return batch;
}

absl::StatusOr<SampleBatch> PushDecoder::DecodeEvents(absl::string_view body, int64_t now_ms) {
  nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                             /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("body is not valid JSON");
  if (!doc.is_array()) {
    return absl::InvalidArgumentError("expected a JSON array of {name, labels, value, timestamp}");
  }
  // Validated whole before anything is interned, so a bad element leaves no trace.
  struct Event {
    std::vector<Label> labels;
    int64_t timestamp_ms;
    double value;
  };
  std::vector<Event> events;
  events.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& element = doc[i];
    auto bad = [&](absl::string_view field, absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("events[", i, "]", field.empty() ? "" : ".", field, ": ", what));
    };
    if (!element.is_object()) return bad("", "expected an object");
    for (const auto& [key, unused] : element.items()) {
      if (key != "name" && key != "labels" && key != "value" && key != "timestamp") {
        return bad(key, "unknown field (expected name, labels, value, timestamp)");
      }
    }
    Event event;
    auto name = element.find("name");
    if (name == element.end() || !name->is_string()) return bad("name", "missing metric name");
    const std::string& metric = name->get_ref<const std::string&>();
    if (!IsMetricName(metric)) {
      return bad("name", absl::StrCat("invalid metric name \"", metric,
                                      "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
    }
    event.labels.push_back({std::string(kMetricNameLabel), metric});
    if (auto labels = element.find("labels"); labels != element.end()) {
      if (!labels->is_object()) return bad("labels", "expected an object of strings");
      for (const auto& [label, value] : labels->items()) {
        if (!IsLabelName(label) || label == kMetricNameLabel) {
          return bad(absl::StrCat("labels.", label),
                     "invalid label name: must match [a-zA-Z_][a-zA-Z0-9_]*");
        }
        if (!value.is_string()) return bad(absl::StrCat("labels.", label), "expected a string");
        const std::string& text = value.get_ref<const std::string&>();
        if (!text.empty()) event.labels.push_back({label, text});
      }
    }
    auto value = element.find("value");
    if (value == element.end()) return bad("value", "missing");
    absl::StatusOr<double> v = EventValue(*value);
    if (!v.ok()) return bad("value", v.status().message());
    event.value = *v;
    event.timestamp_ms = now_ms;
    if (auto timestamp = element.find("timestamp"); timestamp != element.end()) {
      absl::StatusOr<int64_t> t = EventTimestamp(*timestamp);
      if (!t.ok()) return bad("timestamp", t.status().message());
      event.timestamp_ms = *t;
    }
    events.push_back(std::move(event));
  }
  SampleBatch batch;
  batch.samples.reserve(events.size());
  for (Event& event : events) {
    batch.samples.push_back(
        {index_.Intern(Labels(std::move(event.labels))), event.timestamp_ms, event.value});
  }
  return batch;
}

}  // namespace klaxon
