#include "detector/window.h"

#include <limits>

namespace klaxon {

namespace {
constexpr int64_t kMaxSpanMs = std::numeric_limits<uint32_t>::max();
}  // namespace

void SampleWindow::DropOldest() {
  head_ = Slot(1);
  --size_;
}

void SampleWindow::Append(Point point, int64_t oldest_kept_ms) {
  bool evicted = false;
  while (size_ > 0 && (TimeAt(0) < oldest_kept_ms || point.timestamp_ms - TimeAt(0) > kMaxSpanMs)) {
    DropOldest();
    evicted = true;
  }
  if (size_ == 0) {
    base_ms_ = point.timestamp_ms;
    head_ = 0;
  } else if (point.timestamp_ms - base_ms_ > kMaxSpanMs) {
    Rebase(TimeAt(0));
  }
  if (size_ == capacity_) {
    Reallocate(size_ + size_ / 4 + 2);
  } else if (evicted && capacity_ > size_ + size_ / 16 + 4) {
    // The window has reached the length its retention allows: fit it, with
    // room for a little jitter in the sampling interval.
    Reallocate(size_ + size_ / 32 + 2);
  }
  size_t slot = Slot(size_);
  offsets_[slot] = static_cast<uint32_t>(point.timestamp_ms - base_ms_);
  values_[slot] = point.value;
  ++size_;
}

void SampleWindow::Reallocate(size_t capacity) {
  std::unique_ptr<uint32_t[]> offsets(new uint32_t[capacity]);
  std::unique_ptr<double[]> values(new double[capacity]);
  for (size_t i = 0; i < size_; ++i) {
    size_t slot = Slot(i);
    offsets[i] = offsets_[slot];
    values[i] = values_[slot];
  }
  offsets_ = std::move(offsets);
  values_ = std::move(values);
  capacity_ = capacity;
  head_ = 0;
}

void SampleWindow::Rebase(int64_t new_base_ms) {
  for (size_t i = 0; i < size_; ++i) {
    size_t slot = Slot(i);
    offsets_[slot] = static_cast<uint32_t>(base_ms_ + offsets_[slot] - new_base_ms);
  }
  base_ms_ = new_base_ms;
}

size_t SampleWindow::LowerBound(int64_t t) const {
  size_t lo = 0, hi = size_;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (TimeAt(mid) < t) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

std::optional<SampleWindow::Point> SampleWindow::NewestAt(int64_t at_ms) const {
  if (size_ == 0) return std::nullopt;
  if (TimeAt(size_ - 1) <= at_ms) return newest();
  size_t after = LowerBound(at_ms + 1);  // the first point later than at_ms
  if (after == 0) return std::nullopt;
  return At(after - 1);
}

void SampleWindow::CopyRange(int64_t from_ms, int64_t to_ms, std::vector<Point>& out) const {
  for (size_t i = LowerBound(from_ms); i < size_ && TimeAt(i) <= to_ms; ++i) out.push_back(At(i));
}

}  // namespace klaxon
