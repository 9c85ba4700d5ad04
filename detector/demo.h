// The demo behind `make run`: klaxon on examples/demo.toml against a local
// service that goes down and comes back on a schedule, with a local webhook
// receiver standing in for the ticketing system. Runs until `stop` says so.
#ifndef KLAXON_DETECTOR_DEMO_H_
#define KLAXON_DETECTOR_DEMO_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace klaxon {

struct DemoOptions {
  std::string config_path = "examples/demo.toml";
  absl::Duration up_for = absl::Seconds(8);     // healthy phase of each cycle
  absl::Duration down_for = absl::Seconds(16);  // outage phase of each cycle
};

// `wait_for_stop(d)` sleeps up to `d` and returns true once the demo should end.
absl::Status RunDemo(const DemoOptions& options,
                     const std::function<bool(absl::Duration)>& wait_for_stop);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_DEMO_H_
