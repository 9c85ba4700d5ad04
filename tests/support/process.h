// ChildProcess runs a program (the klaxon binary, prometheus) as a real child
// for tests, its stdout and stderr going to a log file the test can read. The
// destructor kills whatever is still running. Thread-compatible.
#ifndef KLAXON_TESTS_SUPPORT_PROCESS_H_
#define KLAXON_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace klaxon::testing {

class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  void Signal(int sig);
  // The exit status once the process ended within `timeout`.
  std::optional<int> Wait(absl::Duration timeout);
  std::string Log() const;
  // Waits until the log contains `text`; returns the log from there on.
  std::optional<std::string> WaitForLog(const std::string& text, absl::Duration timeout) const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  bool reaped_ = false;
};

// Path of a built binary ("klaxon") in the build folder.
std::string BinaryPath(const std::string& name);
// Path of a file in the source tree.
std::string SourcePath(const std::string& relative);
// Full path of a program on PATH or in /usr/bin, /usr/sbin; "" when absent.
std::string FindProgram(const std::string& name);

}  // namespace klaxon::testing

#endif  // KLAXON_TESTS_SUPPORT_PROCESS_H_
