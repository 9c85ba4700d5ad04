// Decoders for klaxon's push API: a request body in the Prometheus text format
// (POST /api/v1/write) or a JSON array of events (POST /api/v1/events) becomes
// one SampleBatch, all of it or, on any error, none of it. Thread-compatible:
// one PushDecoder per server thread; the SeriesIndex is thread-safe.
#ifndef KLAXON_PROBES_PUSH_H_
#define KLAXON_PROBES_PUSH_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "detector/sample.h"
#include "detector/series_index.h"
#include "probes/prom_text.h"

namespace klaxon {

class PushDecoder {
 public:
  explicit PushDecoder(SeriesIndex& index) : index_(index) {}
  // Non-copyable: keeps the parser's scratch.
  PushDecoder(const PushDecoder&) = delete;
  PushDecoder& operator=(const PushDecoder&) = delete;

  // The samples of a text body; those without a timestamp get `now_ms`.
  // kInvalidArgument "line L, column C: ..." for a malformed body.
  absl::StatusOr<SampleBatch> DecodeText(absl::string_view body, ExpositionFormat format,
                                         int64_t now_ms);

  // A JSON array of {"name", "labels", "value", "timestamp"}: `labels` an
  // object of strings (optional), `value` a number or "NaN"/"+Inf"/"-Inf",
  // `timestamp` (optional, default `now_ms`) RFC 3339 text or Unix seconds.
  // kInvalidArgument naming the element and field that is wrong.
  absl::StatusOr<SampleBatch> DecodeEvents(absl::string_view body, int64_t now_ms);

 private:
  SeriesIndex& index_;
  ExpositionParser parser_;
  // Series ids by the text a pusher wrote them in, as the scraper keeps per
  // target: a pusher sends the same series again and again, and interning
  // each sample's labels anew was most of the decoding. Ids never change, so
  // the cache is only ever dropped whole, when it reaches kMaxCachedSeries.
  absl::flat_hash_map<std::string, SeriesId> series_cache_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_PUSH_H_
