// Samples are what sources emit and the engine consumes: a value of one interned
// series at one instant. Plain values; batches move between threads by value.
#ifndef KLAXON_DETECTOR_SAMPLE_H_
#define KLAXON_DETECTOR_SAMPLE_H_

#include <bit>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace klaxon {

// Dense id of an interned series (see SeriesIndex). Hot paths carry ids only.
using SeriesId = uint32_t;

// Prometheus's stale marker: a NaN with this exact bit pattern ends a series
// (a target vanished, a scrape failed); any other NaN is an ordinary value.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ull;
inline double StaleNaN() { return std::bit_cast<double>(kStaleNaNBits); }
inline bool IsStaleNaN(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }

struct Sample {
  SeriesId series;
  int64_t timestamp_ms;  // UTC milliseconds since the epoch.
  double value;
};

// Why a source saw what it saw, attached to one series of a batch: the failure
// reason of a probe ("connection refused", "status 503"). The engine keeps the
// latest note per series for the incident timeline.
struct SeriesNote {
  SeriesId series;
  std::string text;
};

struct SampleBatch {
  std::vector<Sample> samples;
  std::vector<SeriesNote> notes;
};

// Where sources deliver their batches. Called from the source's own thread; the
// engine's implementation only queues the batch.
using SampleConsumer = std::function<void(SampleBatch)>;

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_SAMPLE_H_
