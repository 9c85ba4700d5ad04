// SeriesIndex interns label sets to dense SeriesIds, once per series for the life
// of the process. Thread-safe: sources intern from their own threads while the
// engine and the metrics page resolve ids. Ids are never reused.
#ifndef KLAXON_DETECTOR_SERIES_INDEX_H_
#define KLAXON_DETECTOR_SERIES_INDEX_H_

#include <deque>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "detector/labels.h"
#include "detector/sample.h"

namespace klaxon {

class SeriesIndex {
 public:
  SeriesIndex() = default;
  // Non-copyable: ids handed out refer to this instance.
  SeriesIndex(const SeriesIndex&) = delete;
  SeriesIndex& operator=(const SeriesIndex&) = delete;

  SeriesId Intern(const Labels& labels);
  // The labels of an id this index returned. The reference stays valid for the
  // index's lifetime.
  const Labels& Get(SeriesId id) const;
  size_t size() const;


 private:
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<Labels, SeriesId> ids_ ABSL_GUARDED_BY(mu_);
  std::deque<Labels> labels_ ABSL_GUARDED_BY(mu_);  // deque: stable references
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_SERIES_INDEX_H_
