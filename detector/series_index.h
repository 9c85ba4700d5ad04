// SeriesIndex interns label sets to dense SeriesIds, once per series for the life
// of the process. Thread-safe: sources intern from their own threads while the
// engine and the metrics page resolve ids. Ids are never reused.
// Each label set is held once, in segments that never move: the lookup table
// holds ids and hashes the label sets they name (about 10 bytes a series on
// top of its labels), and Get() takes no lock, since the engine resolves
// every series a rule reads on every evaluation.
#ifndef KLAXON_DETECTOR_SERIES_INDEX_H_
#define KLAXON_DETECTOR_SERIES_INDEX_H_

#include <array>
#include <atomic>
#include <bit>
#include <shared_mutex>
#include <stdexcept>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "detector/labels.h"
#include "detector/sample.h"

namespace klaxon {

class SeriesIndex {
 public:
  SeriesIndex() : ids_(0, IdHash{this}, IdEq{this}) {}
  ~SeriesIndex();
  // Non-copyable: ids handed out refer to this instance, and the lookup table
  // points into it.
  SeriesIndex(const SeriesIndex&) = delete;
  SeriesIndex& operator=(const SeriesIndex&) = delete;

  SeriesId Intern(const Labels& labels);
  // The labels of an id this index returned (std::out_of_range for another).
  // The reference stays valid for the index's lifetime.
  const Labels& Get(SeriesId id) const {
    if (id >= size()) throw std::out_of_range("SeriesIndex::Get: unknown SeriesId");
    return *Slot(id);
  }
  size_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  // Segment s holds ids [kFirst * (2^s - 1), kFirst * (2^(s+1) - 1)): each twice
  // the one before, so 32 of them hold every 32-bit id.
  static constexpr int kFirstBits = 10;
  static constexpr uint64_t kFirst = uint64_t{1} << kFirstBits;
  static constexpr int kSegments = 32;
  static int SegmentOf(uint64_t id) { return std::bit_width(id + kFirst) - 1 - kFirstBits; }
  Labels* Slot(uint64_t id) const {
    const int s = SegmentOf(id);
    return segments_[s].load(std::memory_order_acquire) + (id + kFirst - (kFirst << s));
  }

  // Ids hash and compare as the label sets they name, so that a Labels finds
  // its id without the table holding a second copy of it.
  struct IdHash {
    using is_transparent = void;
    const SeriesIndex* index;
    size_t operator()(SeriesId id) const { return absl::Hash<Labels>{}(*index->Slot(id)); }
    size_t operator()(const Labels& l) const { return absl::Hash<Labels>{}(l); }
  };
  struct IdEq {
    using is_transparent = void;
    const SeriesIndex* index;
    const Labels& Of(SeriesId id) const { return *index->Slot(id); }
    const Labels& Of(const Labels& l) const { return l; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Of(a) == Of(b);
    }
  };

  // Writers (Intern) hold mu_ exclusively; a segment and a slot are written
  // before the size that covers them is published.
  mutable std::shared_mutex mu_;
  std::array<std::atomic<Labels*>, kSegments> segments_{};
  std::atomic<size_t> size_{0};
  absl::flat_hash_set<SeriesId, IdHash, IdEq> ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_SERIES_INDEX_H_
