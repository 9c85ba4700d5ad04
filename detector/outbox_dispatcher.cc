#include "detector/outbox_dispatcher.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "detector/log.h"

namespace klaxon {

namespace {
// Even with nothing owed, a worker looks again this often: rows written by
// another process sharing the database, or a missed wake, are still picked up.
constexpr absl::Duration kPollInterval = absl::Seconds(2);
// A ledger that cannot be read is retried after this long.
constexpr absl::Duration kLedgerRetry = absl::Seconds(1);
}  // namespace

struct OutboxDispatcher::Worker {
  std::string sink_name;
  std::unique_ptr<TicketSink> sink;
  absl::Duration dead_letter_after;
  std::thread thread;
};

OutboxDispatcher::OutboxDispatcher(Ledger& ledger, const Clock& clock, RetryOptions retry)
    : ledger_(ledger), clock_(clock), retry_(retry) {}

OutboxDispatcher::~OutboxDispatcher() { Stop(); }

void OutboxDispatcher::AddSink(std::string name, std::unique_ptr<TicketSink> sink,
                               absl::Duration dead_letter_after) {
  auto worker = std::make_unique<Worker>();
  worker->sink_name = std::move(name);
  worker->sink = std::move(sink);
  worker->dead_letter_after = dead_letter_after;
  workers_.push_back(std::move(worker));
}

void OutboxDispatcher::Start() {
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  for (auto& worker : workers_) {
    if (!worker->thread.joinable()) {
      worker->thread = std::thread([this, w = worker.get()] { Run(*w); });
    }
  }
}

void OutboxDispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

void OutboxDispatcher::Wake() {
  {
    std::lock_guard lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void OutboxDispatcher::Run(Worker& worker) {
  std::mt19937_64 random(std::hash<std::string>()(worker.sink_name) ^
                         static_cast<uint64_t>(absl::ToUnixNanos(clock_.WallNow())));
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  uint64_t seen_wakeups = 0;
  // Sleeps until `wait` has passed, a Wake() or Stop(); false when stopping.
  auto sleep = [&](absl::Duration wait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(std::max(wait, absl::ZeroDuration())),
                 [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                   return stopping_ || wakeups_ != seen_wakeups;
                 });
    seen_wakeups = wakeups_;
    return !stopping_;
  };
  {
    std::lock_guard lock(mu_);
    seen_wakeups = wakeups_;
  }
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    absl::StatusOr<std::optional<OutboxRow>> next = ledger_.NextDelivery(worker.sink_name);
    if (!next.ok()) {
      LogLine(absl::StrCat("sink ", worker.sink_name, ": cannot read the outbox: ",
                           next.status().message()));
      if (!sleep(kLedgerRetry)) return;
      continue;
    }
    if (!next->has_value()) {
      if (!sleep(kPollInterval)) return;
      continue;
    }
    const OutboxRow& row = **next;
    absl::Time now = clock_.WallNow();
    if (row.next_attempt_at > now) {
      if (!sleep(std::min(row.next_attempt_at - now, kPollInterval))) return;
      continue;
    }
    absl::StatusOr<DeliveryReceipt> receipt = worker.sink->Deliver(row);
    now = clock_.WallNow();
    if (receipt.ok()) {
      absl::StatusOr<DeliveryConfirmation> confirmed = ledger_.ConfirmDelivery(row.id, now, *receipt);
      if (!confirmed.ok()) {
        // Delivered but not recorded: the row will be sent again, and the
        // Idempotency-Key lets the receiver drop the copy.
        LogLine(absl::StrCat(row.incident.id(), " ", row.event, " delivered to ", worker.sink_name,
                             " but not recorded: ", confirmed.status().message()));
        if (!sleep(kLedgerRetry)) return;
        continue;
      }
      std::string line = absl::StrCat(row.incident.id(), " ticket ", row.event, " in sink \"",
                                      worker.sink_name, "\"");
      if (!receipt->ticket_ref.empty()) absl::StrAppend(&line, " as ", receipt->ticket_ref);
      if (confirmed->clock_met) {
        const SlaClock& clock = *confirmed->clock_met;
        absl::StrAppend(&line, "; SLA time_to_ticket met: ",
                        absl::FormatDuration(absl::Floor(now - clock.start, absl::Milliseconds(1))),
                        " after first evidence, budget ",
                        absl::FormatDuration(clock.deadline - clock.start));
      }
      LogLine(line);
      continue;
    }
    if (now - row.created_at >= worker.dead_letter_after) {
      LogLine(absl::StrCat(row.incident.id(), " ", row.event, " delivery to ", worker.sink_name,
                           " dead-lettered after ", row.attempts + 1, " attempts: ",
                           receipt.status().message()));
      absl::Status dead = ledger_.MarkDead(row.id, now, std::string(receipt.status().message()));
      if (!dead.ok()) {
        LogLine(absl::StrCat("sink ", worker.sink_name, ": ", dead.message()));
        if (!sleep(kLedgerRetry)) return;
      }
      continue;
    }
    double factor = std::pow(2.0, std::min(row.attempts, 30));
    absl::Duration backoff =
        std::min(retry_.initial_backoff * factor, retry_.max_backoff) * jitter(random);
    LogLine(absl::StrCat(row.incident.id(), " ", row.event, " delivery to ", worker.sink_name,
                         " failed (attempt ", row.attempts + 1, "): ", receipt.status().message(),
                         "; retrying in ", absl::FormatDuration(absl::Floor(backoff, absl::Milliseconds(1)))));
    absl::Status recorded = ledger_.RecordFailedAttempt(row.id, now, now + backoff,
                                                        std::string(receipt.status().message()));
    if (!recorded.ok()) {
      LogLine(absl::StrCat("sink ", worker.sink_name, ": ", recorded.message()));
      if (!sleep(kLedgerRetry)) return;
    }
  }
}

}  // namespace klaxon
