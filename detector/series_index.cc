#include "detector/series_index.h"

#include <mutex>

namespace klaxon {

SeriesId SeriesIndex::Intern(const Labels& labels) {
  {
    std::shared_lock lock(mu_);
    auto it = ids_.find(labels);
    if (it != ids_.end()) return it->second;
  }
  std::unique_lock lock(mu_);
  auto [it, inserted] = ids_.try_emplace(labels, static_cast<SeriesId>(labels_.size()));
  if (inserted) labels_.push_back(labels);
  return it->second;
}

const Labels& SeriesIndex::Get(SeriesId id) const {
  std::shared_lock lock(mu_);
  return labels_.at(id);
}

size_t SeriesIndex::size() const {
  std::shared_lock lock(mu_);
  return labels_.size();
}

}  // namespace klaxon
