#include "detector/series_index.h"

#include <mutex>
#include <new>

namespace klaxon {

SeriesIndex::~SeriesIndex() {
  const size_t n = size();
  for (size_t id = 0; id < n; ++id) Slot(id)->~Labels();
  for (std::atomic<Labels*>& segment : segments_) {
    ::operator delete(segment.load(std::memory_order_relaxed));
  }
}

SeriesId SeriesIndex::Intern(const Labels& labels) {
  {
    std::shared_lock lock(mu_);
    auto it = ids_.find(labels);
    if (it != ids_.end()) return *it;
  }
  std::unique_lock lock(mu_);
  // Another thread may have interned it between the two locks.
  if (auto it = ids_.find(labels); it != ids_.end()) return *it;
  const size_t id = size_.load(std::memory_order_relaxed);
  const int s = SegmentOf(id);
  if (segments_[s].load(std::memory_order_relaxed) == nullptr) {
    // Raw storage, constructed slot by slot: a segment's pages cost memory
    // only once series fill them.
    segments_[s].store(static_cast<Labels*>(::operator new(sizeof(Labels) * (kFirst << s))),
                       std::memory_order_release);
  }
  new (Slot(id)) Labels(labels);
  size_.store(id + 1, std::memory_order_release);
  ids_.insert(static_cast<SeriesId>(id));
  return static_cast<SeriesId>(id);
}

}  // namespace klaxon
