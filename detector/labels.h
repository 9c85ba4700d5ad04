// Labels is a metric name plus label set, kept sorted by label name so that equal
// sets compare and hash equal. A value type: copy freely off the hot path; hot
// paths carry the SeriesId that SeriesIndex interns for a Labels instead.
// Stored as one string (each label a length-prefixed name and value), since a
// million series each keep one: a set of 7 labels takes about 130 bytes in one
// allocation, where a vector of string pairs took 570 in two or more.
#ifndef KLAXON_DETECTOR_LABELS_H_
#define KLAXON_DETECTOR_LABELS_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"

namespace klaxon {

// The label that holds a series' metric name, as in Prometheus.
inline constexpr absl::string_view kMetricNameLabel = "__name__";

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
  friend auto operator<=>(const Label&, const Label&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Label& l) {
    return H::combine(std::move(h), l.name, l.value);
  }
};

// One label of a Labels, viewing its storage: valid while the Labels lives
// unchanged.
struct LabelRef {
  absl::string_view name;
  absl::string_view value;
  friend bool operator==(const LabelRef&, const LabelRef&) = default;
};

class Labels {
 public:
  Labels() = default;
  // Sorts by name; a later duplicate name replaces an earlier one.
  explicit Labels(std::vector<Label> labels);
  Labels(std::initializer_list<Label> labels) : Labels(std::vector<Label>(labels)) {}

  // Returns "" for an absent label, as Prometheus treats absent and empty alike.
  absl::string_view Get(absl::string_view name) const;
  bool Has(absl::string_view name) const;
  absl::string_view MetricName() const { return Get(kMetricNameLabel); }

  // Sets (or with an empty value, removes) one label, keeping the order.
  void Set(absl::string_view name, absl::string_view value);
  Labels WithoutMetricName() const {
    return Filter([](LabelRef l) { return l.name != kMetricNameLabel; });
  }
  // The labels for which `keep(LabelRef)` is true, in one allocation.
  template <typename Keep>
  Labels Filter(const Keep& keep) const;

  // Iterates the labels in name order, as LabelRefs.
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = LabelRef;
    using difference_type = std::ptrdiff_t;
    using pointer = const LabelRef*;
    using reference = LabelRef;
    Iterator() = default;
    LabelRef operator*() const { return Decode(at_).first; }
    Iterator& operator++() {
      at_ = Decode(at_).second;
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(Iterator a, Iterator b) { return a.at_ == b.at_; }

   private:
    friend class Labels;
    explicit Iterator(const char* at) : at_(at) {}
    const char* at_ = nullptr;
  };
  struct Items {
    using value_type = LabelRef;
    using const_iterator = Iterator;
    using iterator = Iterator;
    Iterator b, e;
    Iterator begin() const { return b; }
    Iterator end() const { return e; }
  };
  Items items() const { return {begin(), end()}; }
  Iterator begin() const { return Iterator(data_.data()); }
  Iterator end() const { return Iterator(data_.data() + data_.size()); }
  // A copy as separate name and value strings, for code that edits them.
  std::vector<Label> ToVector() const;
  bool empty() const { return data_.empty(); }
  size_t size() const;

  // Prometheus notation: `name{a="x", b="y"}`, values escaped.
  std::string ToString() const;
  // A stable 64-bit hash of the set (FNV-1a over names and values); the same
  // labels give the same fingerprint on every machine and every run.
  uint64_t Fingerprint() const;

  // The encoding is canonical: equal sets are equal strings.
  friend bool operator==(const Labels& a, const Labels& b) { return a.data_ == b.data_; }
  // Ordered as the sequences of (name, value) pairs.
  friend std::strong_ordering operator<=>(const Labels& a, const Labels& b);
  template <typename H>
  friend H AbslHashValue(H h, const Labels& l) {
    return H::combine(std::move(h), l.data_);
  }

 private:
  // Each label: its name's length, its value's length (one byte each below
  // 255, else 255 and 4 bytes), the name, the value.
  static void AppendLength(std::string& out, size_t n);
  static std::pair<LabelRef, const char*> Decode(const char* at);
  void Append(LabelRef label);

  std::string data_;
};

template <typename Keep>
Labels Labels::Filter(const Keep& keep) const {
  Labels out;
  out.data_.reserve(data_.size());
  for (LabelRef l : *this) {
    if (keep(l)) out.Append(l);
  }
  return out;
}

// Prometheus's name syntax: label names [a-zA-Z_][a-zA-Z0-9_]*, metric
// names [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsLabelName(absl::string_view name);
bool IsMetricName(absl::string_view name);

// Parses Prometheus series notation: `up`, `up{job="api"}`, `{__name__="up"}`.
absl::StatusOr<Labels> ParseSeries(absl::string_view text);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_LABELS_H_
