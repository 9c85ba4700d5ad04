// Clock is where all logic reads time. Two readings, as in Envoy's TimeSource:
// wall time for records people read (ledger timestamps, sample times) and a
// monotonic reading for intervals and timers; and a third for what work
// costs: the calling thread's CPU time, which waiting (an fsync, a lock) does
// not advance. Implementations are thread-safe.
#ifndef KLAXON_DETECTOR_CLOCK_H_
#define KLAXON_DETECTOR_CLOCK_H_

#include <time.h>

#include <chrono>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace klaxon {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time WallNow() const = 0;
  // Only differences between two readings mean anything.
  virtual absl::Duration MonotonicNow() const = 0;
  // The calling thread's CPU time; only differences mean anything.
  virtual absl::Duration ThreadCpuNow() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time WallNow() const override { return absl::Now(); }
  absl::Duration MonotonicNow() const override {
    return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
  absl::Duration ThreadCpuNow() const override {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return absl::DurationFromTimespec(t);
  }
};

// A clock that moves only when told; wall and monotonic move together.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'790'000'000)) : now_(start) {}
  absl::Time WallNow() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  absl::Duration MonotonicNow() const override {
    std::lock_guard lock(mu_);
    return now_ - absl::UnixEpoch();
  }
  void Advance(absl::Duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  // CPU time moves only when told, apart from the other two: work done in a
  // test takes no time unless the test says so.
  absl::Duration ThreadCpuNow() const override {
    std::lock_guard lock(mu_);
    return cpu_;
  }
  void AdvanceCpu(absl::Duration d) {
    std::lock_guard lock(mu_);
    cpu_ += d;
  }

 private:
  mutable std::mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Duration cpu_ ABSL_GUARDED_BY(mu_);
};


}  // namespace klaxon

#endif  // KLAXON_DETECTOR_CLOCK_H_
