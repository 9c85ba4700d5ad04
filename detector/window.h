// SampleWindow holds the recent samples of one series, oldest first, compressed
// as Prometheus's chunks are (Gorilla style, byte-aligned): after the oldest
// sample, each one is the change of its timestamp's step (zigzag varint: one
// byte for a steady scrape interval within ±63 ms) and its value XOR the one
// before (a byte of zero-byte counts and the bytes that differ: 2 to 4 bytes
// for a counter, 1 for a value that did not change), after the oldest and
// newest samples kept whole. A 5m window of 15s counter samples takes about
// 170 bytes, 24 of them this object, where 12 bytes a sample took 300.
// Reading decodes from the oldest sample on: CopyRange costs a few ns a
// sample held, NewestAt is free for the newest sample and linear otherwise.
// Appending never re-encodes: the encoded bytes grow at the end and are
// consumed at the front, moved down only when the end reaches the capacity,
// which grows by half when short and shrinks only when under a half used, so
// a steady window appends without allocating.
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
  SampleWindow(SampleWindow&& other) noexcept { *this = std::move(other); }
  SampleWindow& operator=(SampleWindow&& other) noexcept;

  // Appends a sample newer than every held one and drops those older than
  // `oldest_kept_ms`, always keeping the newest.
  void Append(Point point, int64_t oldest_kept_ms);

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // The newest point; the window must not be empty.
  Point newest() const;
  // The newest point at or before `at_ms`.
  std::optional<Point> NewestAt(int64_t at_ms) const;
  // Appends to `out` the points with timestamps in [from_ms, to_ms], oldest first.
  void CopyRange(int64_t from_ms, int64_t to_ms, std::vector<Point>& out) const;
  // Heap bytes held, for the memory benchmarks.
  size_t capacity_bytes() const { return capacity_ == 0 ? 0 : capacity_ + kPaddingBytes; }

 private:
  // The oldest and newest samples, kept whole at the front of the buffer: the
  // oldest is where decoding starts, the newest what the next sample is
  // encoded against. Each with its step from the sample before it (0 when
  // there is none); a step stays below 2^32 ms, the span of a window.
  struct Ends {
    int64_t head_ms;
    double head_value;
    int64_t tail_ms;
    double tail_value;
    uint32_t head_step_ms;
    uint32_t tail_step_ms;
  };
  static constexpr uint32_t kEndsBytes = sizeof(Ends);
  // The most bytes one encoded sample takes: a 5-byte varint for a step
  // change within ±2^32 ms, and a header byte with 8 value bytes.
  static constexpr uint32_t kMaxSampleBytes = 14;
  // Past the capacity, so that decoding may read a sample's value as 8 bytes.
  static constexpr uint32_t kPaddingBytes = 8;
  struct Free {
    void operator()(uint8_t* bytes) const { ::operator delete(bytes); }
  };

  Ends& ends() const { return *reinterpret_cast<Ends*>(bytes_.get()); }
  // Decodes the sample after (`ms`, `bits`, whose step from its predecessor
  // was `step`) at `at`, updating all three; returns the byte after it.
  static const uint8_t* Decode(const uint8_t* at, int64_t& ms, uint64_t& bits, int64_t& step);
  void DropOldest();
  // Makes room for one more encoded sample after the `stream` bytes held.
  void Reserve(uint32_t stream);

  // The Ends, then the encoded samples after the oldest in [begin_, end_).
  std::unique_ptr<uint8_t, Free> bytes_;
  uint32_t capacity_ = 0;
  uint32_t begin_ = 0;
  uint32_t end_ = 0;
  uint32_t size_ = 0;  // samples held, the oldest and newest included
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_WINDOW_H_
