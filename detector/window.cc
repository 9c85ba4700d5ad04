#include "detector/window.h"

#include <bit>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

namespace klaxon {

namespace {

constexpr int64_t kMaxSpanMs = std::numeric_limits<uint32_t>::max();

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }
double Value(uint64_t bits) { return std::bit_cast<double>(bits); }

}  // namespace

static_assert(sizeof(SampleWindow) <= 24, "a million series each keep one");

SampleWindow& SampleWindow::operator=(SampleWindow&& other) noexcept {
  bytes_ = std::move(other.bytes_);
  capacity_ = std::exchange(other.capacity_, 0);
  begin_ = std::exchange(other.begin_, 0);
  end_ = std::exchange(other.end_, 0);
  size_ = std::exchange(other.size_, 0);
  return *this;
}

SampleWindow::Point SampleWindow::newest() const { return {ends().tail_ms, ends().tail_value}; }

const uint8_t* SampleWindow::Decode(const uint8_t* at, int64_t& ms, uint64_t& bits,
                                    int64_t& step) {
  uint64_t zigzag = *at++;
  if (zigzag & 0x80) {  // steps that change by more than 63 ms: rare, or regular
    zigzag &= 0x7f;
    int shift = 7;
    uint8_t byte;
    do {
      byte = *at++;
      zigzag |= uint64_t{byte & 0x7fu} << shift;
      shift += 7;
    } while (byte & 0x80);
  }
  step += static_cast<int64_t>(zigzag >> 1) ^ -static_cast<int64_t>(zigzag & 1);
  ms += step;
  // Without branches on the length, which varies from sample to sample: the
  // buffer's padding makes 8 bytes readable after any header.
  static constexpr uint64_t kMask[9] = {0,
                                        0xff,
                                        0xffff,
                                        0xffffff,
                                        0xffffffff,
                                        0xffffffffff,
                                        0xffffffffffff,
                                        0xffffffffffffff,
                                        ~uint64_t{0}};
  const uint8_t header = *at++;
  const int length = header & 0x0f;
  uint64_t x;
  std::memcpy(&x, at, sizeof(x));
  if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
  bits ^= (x & kMask[length]) << (8 * (header >> 4));
  return at + length;
}

void SampleWindow::DropOldest() {
  Ends& e = ends();
  if (size_ > 1) {
    uint64_t bits = Bits(e.head_value);
    int64_t step = e.head_step_ms;
    const uint8_t* next = Decode(bytes_.get() + begin_, e.head_ms, bits, step);
    e.head_value = Value(bits);
    e.head_step_ms = static_cast<uint32_t>(step);
    begin_ = static_cast<uint32_t>(next - bytes_.get());
  }
  if (--size_ <= 1) begin_ = end_ = kEndsBytes;  // nothing encoded is left
}

void SampleWindow::Reserve(uint32_t stream) {
  const uint32_t need = stream + kMaxSampleBytes;
  const uint32_t held = capacity_ == 0 ? 0 : capacity_ - kEndsBytes;
  if (need > held || held > 2 * need + 32) {
    // A quarter again what is needed, so that a window varying by less than
    // that neither grows nor shrinks again.
    const uint32_t capacity = kEndsBytes + need + need / 4;
    std::unique_ptr<uint8_t, Free> bytes(
        static_cast<uint8_t*>(::operator new(capacity + kPaddingBytes)));
    if (capacity_ != 0) {
      std::memcpy(bytes.get(), bytes_.get(), kEndsBytes);
      std::memcpy(bytes.get() + kEndsBytes, bytes_.get() + begin_, stream);
    }
    bytes_ = std::move(bytes);
    capacity_ = capacity;
  } else if (begin_ > kEndsBytes) {
    std::memmove(bytes_.get() + kEndsBytes, bytes_.get() + begin_, stream);
  }
  begin_ = kEndsBytes;
  end_ = kEndsBytes + stream;
}

void SampleWindow::Append(Point point, int64_t oldest_kept_ms) {
  bool evicted = false;
  while (size_ > 0 && (ends().head_ms < oldest_kept_ms ||
                       point.timestamp_ms - ends().head_ms > kMaxSpanMs)) {
    DropOldest();
    evicted = true;
  }
  const uint32_t stream = end_ - begin_;
  if (capacity_ == 0 || end_ + kMaxSampleBytes > capacity_ ||
      (evicted && capacity_ - kEndsBytes > 2 * (stream + kMaxSampleBytes) + 32)) {
    Reserve(stream);
  }
  Ends& e = ends();
  if (size_ == 0) {
    e = {point.timestamp_ms, point.value, point.timestamp_ms, point.value, 0, 0};
    size_ = 1;
    return;
  }
  uint8_t* out = bytes_.get() + end_;
  const int64_t step = point.timestamp_ms - e.tail_ms;  // in (0, 2^32): newer, within the span
  const int64_t change = step - int64_t{e.tail_step_ms};
  uint64_t zigzag = (static_cast<uint64_t>(change) << 1) ^ static_cast<uint64_t>(change >> 63);
  while (zigzag >= 0x80) {
    *out++ = static_cast<uint8_t>(zigzag | 0x80);
    zigzag >>= 7;
  }
  *out++ = static_cast<uint8_t>(zigzag);
  const uint64_t x = Bits(point.value) ^ Bits(e.tail_value);
  if (x == 0) {
    *out++ = 0;
  } else {
    const int trailing_bytes = std::countr_zero(x) / 8;
    const int length = 8 - trailing_bytes - std::countl_zero(x) / 8;
    *out++ = static_cast<uint8_t>(trailing_bytes << 4 | length);
    uint64_t shifted = x >> (8 * trailing_bytes);
    if constexpr (std::endian::native == std::endian::big) shifted = __builtin_bswap64(shifted);
    std::memcpy(out, &shifted, sizeof(shifted));  // the bytes past `length` are zero
    out += length;
  }
  end_ = static_cast<uint32_t>(out - bytes_.get());
  e.tail_ms = point.timestamp_ms;
  e.tail_value = point.value;
  e.tail_step_ms = static_cast<uint32_t>(step);
  ++size_;
}

std::optional<SampleWindow::Point> SampleWindow::NewestAt(int64_t at_ms) const {
  if (size_ == 0) return std::nullopt;
  const Ends& e = ends();
  if (at_ms < e.head_ms) return std::nullopt;
  if (e.tail_ms <= at_ms) return newest();
  int64_t ms = e.head_ms;
  uint64_t bits = Bits(e.head_value);
  int64_t step = e.head_step_ms;
  Point found{ms, e.head_value};
  const uint8_t* at = bytes_.get() + begin_;
  // The newest is later than at_ms, so decoding stops before running out.
  while (true) {
    at = Decode(at, ms, bits, step);
    if (ms > at_ms) return found;
    found = {ms, Value(bits)};
  }
}

void SampleWindow::CopyRange(int64_t from_ms, int64_t to_ms, std::vector<Point>& out) const {
  if (size_ == 0) return;
  const Ends& e = ends();
  if (from_ms > e.tail_ms || to_ms < e.head_ms) return;
  int64_t ms = e.head_ms;
  uint64_t bits = Bits(e.head_value);
  int64_t step = e.head_step_ms;
  const uint8_t* at = bytes_.get() + begin_;
  for (uint32_t i = 1;; ++i) {
    if (ms > to_ms) return;
    if (ms >= from_ms) out.push_back({ms, Value(bits)});
    if (i == size_) return;
    at = Decode(at, ms, bits, step);
  }
}

}  // namespace klaxon
