// Parses the report of `promtool test rules` (2.42, cmd/promtool/unittest.go)
// and of `klaxon test`, which prints the same form: per file a
// "Unit Testing: FILE" line, then "SUCCESS", or "FAILED:" followed by one block
// per failed check:
//
//     expr: "rate(x[5m])", time: 5m,
//         exp: nil
//         got: {job="a"} 1.25E-02, {job="b"} NaN
//     expr: "foo(", time: 5m, err: 1:5: parse error: ...
//     alertname: A, time: 6m,
//         exp:[],
//         got:[
//             0:
//               Labels:{alertname="A", job="a"}
//               Annotations:{summary="v=1"}
//             ]
//     rule: r, time: 3m, err: ...
//
// or (klaxon only) "ERROR:" and the problems of a file that could not be
// loaded. Anything else under FAILED is kept as an "other" block.
#ifndef KLAXON_TESTS_DIFFTEST_PROMTOOL_OUTPUT_H_
#define KLAXON_TESTS_DIFFTEST_PROMTOOL_OUTPUT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace klaxon::difftest {

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct ReportSample {
  std::string labels_text;  // as printed, `{__name__="x", a="b"}`
  Pairs labels;             // unquoted, in printed order
  double value = 0;
  std::string value_text;
};

struct ReportAlert {
  Pairs labels;
  Pairs annotations;
};

struct ReportBlock {
  enum Kind { kExpr, kAlert, kRule, kOther };
  Kind kind = kOther;
  std::string test_name;  // from a preceding "name: X," line, if any
  std::string subject;    // the expression (unquoted), the alert name, the rule name
  int64_t at_ms = -1;
  std::optional<std::string> error;  // "err: ..." text
  std::vector<ReportSample> exp_samples, got_samples;
  std::vector<ReportAlert> exp_alerts, got_alerts;
  std::string raw;  // the block's lines as printed
};

struct FileReport {
  enum Status { kSuccess, kFailed, kError, kMissing };
  Status status = kMissing;
  std::vector<ReportBlock> blocks;
  std::string raw;
};

// Reports by file path as printed after "Unit Testing:".
std::map<std::string, FileReport> ParseReports(const std::string& output);

// Milliseconds of a Prometheus duration ("1h5m30s", "0s", "250ms"); -1 if not one.
int64_t ParseDurationMs(const std::string& text);

// Reads a Go-quoted string ("..." with Go escapes) at `*pos`, moving past it.
std::optional<std::string> ReadGoQuoted(const std::string& s, size_t* pos);

// Parses `{a="x", b="y"}` at `*pos`.
std::optional<Pairs> ReadBraces(const std::string& s, size_t* pos);

// The samples of an "exp:"/"got:" line ("nil" gives none); nullopt if unreadable.
std::optional<std::vector<ReportSample>> ParseSamples(const std::string& text);

}  // namespace klaxon::difftest

#endif  // KLAXON_TESTS_DIFFTEST_PROMTOOL_OUTPUT_H_
