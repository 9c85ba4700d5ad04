// Daemon wires one klaxon instance together from a Config: the ledger in
// data_dir, the sources, the engine, the outbox dispatcher and the HTTP API.
// `klaxon run`, `klaxon demo` and the in-process tests all start it the same
// way. Start/Stop from one thread.
#ifndef KLAXON_DETECTOR_DAEMON_H_
#define KLAXON_DETECTOR_DAEMON_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "detector/clock.h"
#include "detector/config.h"
#include "detector/ledger.h"

namespace klaxon {

class Daemon {
 public:
  // kInvalidArgument for a config the parts refuse, kUnavailable when data_dir
  // or the listen address cannot be had.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(Config config, const Clock& clock);
  // Non-copyable: owns threads, sockets and the database.
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();  // Stops.

  // Stops taking samples, finishes deliveries in flight, closes the database.
  void Stop();
  // Loads the config file again (SIGHUP, POST /-/reload). A valid new config
  // replaces the rules, sources and sinks while the ledger, the API socket and
  // every open incident and clock carry on; an invalid one is refused with
  // its errors and the running config stays. Thread-safe.
  absl::Status Reload();
  // The bound API address, "127.0.0.1:PORT".
  std::string address() const;
  Ledger& ledger();

 private:
  struct Parts;
  explicit Daemon(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_DAEMON_H_
