// OutboxDispatcher drains the ledger's outbox: one thread per sink takes that
// sink's oldest undelivered row, delivers it, and records the outcome, retrying
// failures with exponential backoff and jitter. Deliveries to one sink go in
// order; a sink that is down delays only its own rows. Because rows live in the
// ledger until confirmed, a crash between delivery and confirmation re-sends
// the same row, with the same Idempotency-Key. Thread-safe.
#ifndef KLAXON_DETECTOR_OUTBOX_DISPATCHER_H_
#define KLAXON_DETECTOR_OUTBOX_DISPATCHER_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "detector/clock.h"
#include "detector/ledger.h"
#include "exporters/sink.h"

namespace klaxon {

struct RetryOptions {
  absl::Duration initial_backoff = absl::Seconds(1);  // Default: 1s, doubled per failure.
  absl::Duration max_backoff = absl::Minutes(5);      // Default: 5m.
};

class OutboxDispatcher {
 public:
  OutboxDispatcher(Ledger& ledger, const Clock& clock, RetryOptions retry = {});
  // Non-copyable: owns the delivery threads.
  OutboxDispatcher(const OutboxDispatcher&) = delete;
  OutboxDispatcher& operator=(const OutboxDispatcher&) = delete;
  ~OutboxDispatcher();  // Stops.

  // Before Start(). A row still failing `dead_letter_after` after it was
  // written is dead-lettered: kept, skipped, and retried only on request.
  void AddSink(std::string name, std::unique_ptr<TicketSink> sink,
               absl::Duration dead_letter_after = absl::Hours(24));
  void Start();
  // Waits for deliveries in flight (each bounded by its sink's timeout).
  void Stop();
  // New rows may be owed: look now rather than at the next poll.
  void Wake();

 private:
  struct Worker;
  void Run(Worker& worker);

  Ledger& ledger_;
  const Clock& clock_;
  RetryOptions retry_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_OUTBOX_DISPATCHER_H_
