// SampleWindow holds the recent samples of one series, oldest first, in a ring
// buffer of 12 bytes a sample: a 32-bit millisecond offset from a per-window
// base and a double. Capacity grows by a quarter when full and, once the window
// starts evicting, is trimmed whenever it exceeds the held samples by more than
// a sixteenth, so a steady window of a few hundred samples costs under 13
// bytes a sample and appends without allocating.
// A window spans at most 2^32 ms (about 49 days); older samples are dropped.
// Thread-compatible: the engine's thread owns every window.
#ifndef KLAXON_DETECTOR_WINDOW_H_
#define KLAXON_DETECTOR_WINDOW_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "detector/series_reader.h"

namespace klaxon {

class SampleWindow {
 public:
  using Point = SeriesReader::Point;

  SampleWindow() = default;
  // Non-copyable: a window is the one copy of its samples.
  SampleWindow(const SampleWindow&) = delete;
  SampleWindow& operator=(const SampleWindow&) = delete;
  SampleWindow(SampleWindow&&) noexcept = default;
  SampleWindow& operator=(SampleWindow&&) noexcept = default;

  // Appends a sample newer than every held one and drops those older than
  // `oldest_kept_ms`, always keeping the newest.
  void Append(Point point, int64_t oldest_kept_ms);

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  Point newest() const { return At(size_ - 1); }
  // The newest point at or before `at_ms`.
  std::optional<Point> NewestAt(int64_t at_ms) const;
  // Appends to `out` the points with timestamps in [from_ms, to_ms], oldest first.
  void CopyRange(int64_t from_ms, int64_t to_ms, std::vector<Point>& out) const;
  // Heap bytes held, for the memory benchmarks.
  size_t capacity_bytes() const { return capacity_ * (sizeof(uint32_t) + sizeof(double)); }

 private:
  size_t Slot(size_t i) const {
    size_t slot = head_ + i;
    return slot >= capacity_ ? slot - capacity_ : slot;
  }
  Point At(size_t i) const {
    size_t slot = Slot(i);
    return {base_ms_ + offsets_[slot], values_[slot]};
  }
  int64_t TimeAt(size_t i) const { return base_ms_ + offsets_[Slot(i)]; }
  void DropOldest();
  // Index of the first held point with timestamp >= t (size_ if none).
  size_t LowerBound(int64_t t) const;
  void Reallocate(size_t capacity);
  void Rebase(int64_t new_base_ms);

  std::unique_ptr<uint32_t[]> offsets_;
  std::unique_ptr<double[]> values_;
  int64_t base_ms_ = 0;
  size_t capacity_ = 0;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_WINDOW_H_
