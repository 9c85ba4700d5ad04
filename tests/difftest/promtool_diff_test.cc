// Differential test: klaxon's rule language against the real Prometheus.
//
// For each random case (generator.h) it writes a promtool test file whose
// expectations are all empty, runs `promtool test rules` (Debian's prometheus
// 2.42) and reads from promtool's failure report what Prometheus computed for
// every expression check and alert check. It then writes the same case as a
// `klaxon test` TOML file whose expectations are exactly those results and
// runs `klaxon test`: every check must pass (values within klaxon's 1e-9
// relative tolerance, NaN equal to NaN, label sets and alerts exact), and
// where promtool reported an error (a parse error, a failing rule) klaxon must
// report one too, for the same check or by refusing the file.
//
// Knobs (environment):
//   DIFF_CASES      number of cases (default 300)
//   DIFF_SEED       base seed (default fixed, so ctest runs are repeatable)
//   DIFF_CASE_SEED  run only the case with this seed (as printed on a mismatch)
//   DIFF_JOBS       parallel promtool/klaxon runs (default 2)
//   DIFF_KEEP_DIR   where mismatching cases are kept
//                   (default BUILD/tests/difftest-kept)
//   DIFF_VERBOSE=1  print every mismatch, not only the first 40
//   DIFF_LIST=1     print every case: its expression and whether both sides agree
//   DIFF_STRICT=1   fail on tolerated differences too (topk/bottomk ties, float
//                   noise in the digits of {{ $value }} in annotations, the
//                   message of a template error both sides reported)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/difftest/generator.h"
#include "tests/difftest/promtool_output.h"
#include "tests/support/process.h"
#include "tests/support/receiver.h"

namespace klaxon::difftest {
namespace {

using klaxon::testing::BinaryPath;
using klaxon::testing::ChildProcess;
using klaxon::testing::FindProgram;
using klaxon::testing::TempDir;

constexpr uint64_t kDefaultSeed = 0x6b6c61786f6e01ULL;
constexpr size_t kBatch = 40;  // test files per promtool / klaxon run

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  uint64_t out = 0;
  std::string s(v);
  if (absl::StartsWith(s, "0x") && absl::SimpleHexAtoi(s.substr(2), &out)) return out;
  if (absl::SimpleAtoi(s, &out)) return out;
  return fallback;
}

uint64_t CaseSeed(uint64_t base, uint64_t i) {
  uint64_t z = base + 0x9e3779b97f4a7c15ULL * (i + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv with stdout and stderr into one log (promtool writes its report
// to both, unbuffered, so the order is kept); returns the exit status (-1 on
// timeout) and the log.
std::pair<int, std::string> RunTool(const std::vector<std::string>& argv, const std::string& log,
                                    absl::Duration timeout) {
  std::remove(log.c_str());
  ChildProcess child(argv, log);
  std::optional<int> status = child.Wait(timeout);
  return {status.value_or(-1), child.Log()};
}

bool SameValue(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

bool IsParseError(const std::string& err) {
  return absl::StrContains(err, "parse error") || absl::StrContains(err, "could not parse");
}

// One test file of a case, both renderings, and what each tool said.
struct FileRun {
  size_t case_index = 0;
  const TestFileSpec* spec = nullptr;
  std::string promtool_test, promtool_rules, klaxon_test, klaxon_rules;
  FileReport promtool;
  FileReport klaxon;
  int klaxon_status = 0;
};

struct Mismatch {
  std::string category;
  int64_t at_ms = -1;  // the check's time, when it is one check
  size_t case_index = 0;
  std::string file;
  std::string detail;  // check, promtool's result, klaxon's result
};

struct Stats {
  int cases = 0;
  int cases_promtool_rejected = 0;    // promtool reported a parse error somewhere
  int cases_promtool_eval_error = 0;  // promtool reported an evaluation error somewhere
  int expr_checks = 0;
  int expr_checks_nonempty = 0;  // promtool's result had samples
  int alert_checks = 0;
  int alert_checks_firing = 0;
  int error_checks_agreed = 0;  // promtool and klaxon both reported an error
  int checks_not_run = 0;       // after a rule error, neither side runs them
  int klaxon_refused_at_load = 0;  // files promtool failed only when evaluating
  std::map<std::string, int> mismatches_by_category;
};

std::string SamplesText(const std::vector<ReportSample>& samples) {
  if (samples.empty()) return "(empty)";
  std::vector<std::string> parts;
  for (const ReportSample& s : samples) parts.push_back(absl::StrCat(s.labels_text, " ", s.value_text));
  return absl::StrJoin(parts, ", ");
}

std::string AlertsText(const std::vector<ReportAlert>& alerts) {
  if (alerts.empty()) return "(none firing)";
  std::vector<std::string> parts;
  for (const ReportAlert& a : alerts) {
    std::vector<std::string> l, an;
    for (const auto& [k, v] : a.labels) l.push_back(absl::StrCat(k, "=\"", v, "\""));
    for (const auto& [k, v] : a.annotations) an.push_back(absl::StrCat(k, "=\"", v, "\""));
    parts.push_back(absl::StrCat("{", absl::StrJoin(l, ", "), "} annotations {", absl::StrJoin(an, ", "), "}"));
  }
  return absl::StrJoin(parts, "; ");
}

// Differences that are not klaxon's to fix, reported but not failing the test
// (unless DIFF_STRICT=1).
constexpr char kTieCategory[] =
    "tolerated: topk/bottomk broke a tie differently (same values, other series; Prometheus's "
    "choice follows its heap and storage order)";
constexpr char kTieConsequence[] =
    "tolerated: a topk/bottomk in this case had tied values in its input (Prometheus's pick among ties "
    "follows its heap and storage order)";
constexpr char kNoiseCategory[] =
    "tolerated: float noise in a number written into a label or annotation ({{ $value }}, count_values): "
    "only its last digits differ (a humanizeDuration \"1d 2h 3m 4s\" read as seconds; where the noise "
    "crosses a unit boundary of humanize/humanizeDuration, its unit prefix: 1000ms and 1s, 4 digits alike)";
constexpr char kTemplateErrorCategory[] =
    "tolerated: a template failed on both sides; the values agree up to \"<error expanding template:\" and "
    "the message after it is each implementation's own";
// Every kind of tolerated difference, for the summary.
const std::vector<std::string>& ToleratedKinds() {
  static const std::vector<std::string> kList = {kTieCategory, kNoiseCategory, kTemplateErrorCategory};
  return kList;
}

// A template that fails when rendered gives "<error expanding template: ...>"
// on both sides, with an implementation-specific message: Prometheus's names
// Go's template engine's internals (and counts columns after the $labels/$value
// preamble it prepends). Two values that both start with this prefix agree.
constexpr absl::string_view kTemplateErrorPrefix = "<error expanding template:";

bool IsTemplateError(const std::string& v) { return absl::StartsWith(v, kTemplateErrorPrefix); }

// `pairs` with every template-error value cut to the prefix (the rest of each
// value is kept, so the comparison stays exact elsewhere).
Pairs WithoutTemplateErrorText(const Pairs& pairs, bool* changed) {
  Pairs out = pairs;
  for (auto& [name, value] : out) {
    if (IsTemplateError(value)) {
      *changed |= value != kTemplateErrorPrefix;
      value = std::string(kTemplateErrorPrefix);
    }
  }
  return out;
}

bool IsTolerated(const std::string& category) { return absl::StartsWith(category, "tolerated:"); }

// Same values (as a multiset), whatever the labels: what a tie in topk/bottomk gives.
bool SameValueMultiset(const std::vector<ReportSample>& a, const std::vector<ReportSample>& b) {
  if (a.size() != b.size() || a.empty()) return false;
  auto sorted = [](const std::vector<ReportSample>& v) {
    std::vector<double> out;
    for (const ReportSample& s : v) out.push_back(s.value);
    std::sort(out.begin(), out.end(), [](double x, double y) {
      if (std::isnan(x)) return false;
      if (std::isnan(y)) return true;
      return x < y;
    });
    return out;
  };
  std::vector<double> x = sorted(a), y = sorted(b);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!SameValue(x[i], y[i])) return false;
  }
  bool labels_differ = false;
  for (size_t i = 0; i < a.size(); ++i) labels_differ |= a[i].labels != b[i].labels;
  return labels_differ;
}

// The scale of an SI prefix as humanize, humanize1024 and humanizeDuration
// print it right after a number ("1.5k", "2Ki", "250ms"); 0 if there is none
// at s[k]. Sets *length to the prefix's length.
double UnitPrefixScale(const std::string& s, size_t k, size_t* length) {
  static constexpr absl::string_view kSmall = "munpfazy";
  static constexpr absl::string_view kLarge = "kMGTPEZY";
  *length = 0;
  if (k >= s.size()) return 0;
  if (size_t i = kSmall.find(s[k]); i != absl::string_view::npos) {
    *length = 1;
    return std::pow(1000.0, -static_cast<double>(i + 1));
  }
  static constexpr absl::string_view kBinary = "kMGTPEZY";  // followed by 'i' (humanize1024: ki, Mi, ...)
  if (size_t i = kBinary.find(s[k]); i != absl::string_view::npos && k + 1 < s.size() && s[k + 1] == 'i') {
    *length = 2;
    return std::pow(1024.0, static_cast<double>(i + 1));
  }
  if (size_t i = kLarge.find(s[k]); i != absl::string_view::npos) {
    *length = 1;
    return std::pow(1000.0, static_cast<double>(i + 1));
  }
  return 0;
}

// humanizeDuration's compound form at s[k], "1d 2h 3m 4s" down to "3m 4s"
// (each part may be negative, for values past int64): its seconds, and in
// *end where it stops; nullopt if there is none.
std::optional<double> CompoundDurationAt(const std::string& s, size_t k, size_t* end) {
  static constexpr absl::string_view kUnits = "dhms";
  static constexpr double kSeconds[] = {86400, 3600, 60, 1};
  double total = 0;
  int parts = 0;
  size_t next_unit = 0;
  size_t i = k;
  while (true) {
    size_t j = i;
    if (j < s.size() && s[j] == '-') ++j;
    const size_t digits = j;
    while (j < s.size() && absl::ascii_isdigit(s[j])) ++j;
    if (j == digits || j >= s.size()) return std::nullopt;
    const size_t unit = kUnits.find(s[j]);
    if (unit == absl::string_view::npos || unit < next_unit) return std::nullopt;
    total += std::strtod(s.substr(i, j - i).c_str(), nullptr) * kSeconds[unit];
    ++parts;
    next_unit = unit + 1;
    i = j + 1;
    if (unit == 3) break;  // seconds end it
    if (i >= s.size() || s[i] != ' ') return std::nullopt;
    ++i;
  }
  if (parts < 2) return std::nullopt;
  *end = i;
  return total;
}

// Text equal once every number in it is compared within 1e-9 relative (a
// humanizeDuration "1d 2h 3m 4s" counting as its number of seconds). Where
// the noise moved a value across a unit boundary of humanize or
// humanizeDuration (0.9999999999 renders as "1000ms", 1.0000000001 as "1s";
// Prometheus's own pick depends on the order it adds up series in, which
// follows Go's map order), numbers with different unit prefixes agree when
// their scaled values do to the 4 significant digits those functions print.
bool SameTextButFloatNoise(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto number_at = [](const std::string& s, size_t k) {
    return k < s.size() && (absl::ascii_isdigit(s[k]) || ((s[k] == '-' || s[k] == '.') && k + 1 < s.size() &&
                                                          absl::ascii_isdigit(s[k + 1])));
  };
  while (i < a.size() && j < b.size()) {
    if (number_at(a, i) && number_at(b, j)) {
      size_t duration_end_a = 0, duration_end_b = 0;
      const std::optional<double> duration_a = CompoundDurationAt(a, i, &duration_end_a);
      const std::optional<double> duration_b = CompoundDurationAt(b, j, &duration_end_b);
      if (duration_a && duration_b) {
        if (!SameValue(*duration_a, *duration_b)) return false;
        i = duration_end_a;
        j = duration_end_b;
        continue;
      }
      char* end_a = nullptr;
      char* end_b = nullptr;
      double x = std::strtod(a.c_str() + i, &end_a);
      double y = std::strtod(b.c_str() + j, &end_b);
      i = static_cast<size_t>(end_a - a.c_str());
      j = static_cast<size_t>(end_b - b.c_str());
      size_t prefix_a = 0, prefix_b = 0;
      const double scale_a = UnitPrefixScale(a, i, &prefix_a);
      const double scale_b = UnitPrefixScale(b, j, &prefix_b);
      if (a.compare(i, prefix_a, b, j, prefix_b) == 0) {
        if (!SameValue(x, y)) return false;
        continue;  // the prefixes, if any, are compared as text
      }
      x *= scale_a == 0 ? 1 : scale_a;
      y *= scale_b == 0 ? 1 : scale_b;
      if (!(std::fabs(x - y) <= 5e-4 * std::max(std::fabs(x), std::fabs(y)))) return false;
      i += prefix_a;
      j += prefix_b;
      continue;
    }
    if (a[i] != b[j]) return false;
    ++i;
    ++j;
  }
  return i == a.size() && j == b.size();
}

// The alerts with template-error values cut to the prefix, sorted again (a
// label holding one sorts by its text on each side).
std::vector<ReportAlert> AlertsWithoutTemplateErrorText(const std::vector<ReportAlert>& alerts, bool* changed) {
  std::vector<ReportAlert> out;
  for (const ReportAlert& a : alerts) {
    out.push_back({WithoutTemplateErrorText(a.labels, changed), WithoutTemplateErrorText(a.annotations, changed)});
  }
  std::sort(out.begin(), out.end(), [](const ReportAlert& x, const ReportAlert& y) {
    return std::tie(x.labels, x.annotations) < std::tie(y.labels, y.annotations);
  });
  return out;
}

// Same names, values equal but for float noise (SameTextButFloatNoise).
bool SamePairsButFloatNoise(const Pairs& a, const Pairs& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].first != b[k].first || !SameTextButFloatNoise(a[k].second, b[k].second)) return false;
  }
  return true;
}

// Labels and annotations equal but for float noise in the numbers written
// into them (a label or annotation template with {{ $value }}).
bool SameAlertsButFloatNoise(const std::vector<ReportAlert>& a, const std::vector<ReportAlert>& b) {
  if (a.size() != b.size() || a.empty()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SamePairsButFloatNoise(a[i].labels, b[i].labels) ||
        !SamePairsButFloatNoise(a[i].annotations, b[i].annotations)) {
      return false;
    }
  }
  return true;
}

// Samples equal (values within 1e-9) whose label values differ only in float
// noise of a number formatted into them: count_values's label, or an alert
// label from {{ $value }} on an ALERTS series. Prometheus's own digits there
// change from run to run: it adds series up in the order it created them,
// which follows Go's map order.
bool SameSamplesButFloatNoiseInLabels(const std::vector<ReportSample>& a, const std::vector<ReportSample>& b) {
  if (a.size() != b.size() || a.empty()) return false;
  bool labels_differ = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SamePairsButFloatNoise(a[i].labels, b[i].labels) || !SameValue(a[i].value, b[i].value)) return false;
    labels_differ |= a[i].labels != b[i].labels;
  }
  return labels_differ;
}

// Alerts equal once template errors are cut to their prefix (and, if
// `float_noise`, numbers in annotations compared within 1e-9): what two
// implementations whose templates both failed give.
bool SameAlertsButTemplateErrors(const std::vector<ReportAlert>& a, const std::vector<ReportAlert>& b,
                                 bool float_noise) {
  bool changed = false;
  std::vector<ReportAlert> x = AlertsWithoutTemplateErrorText(a, &changed);
  std::vector<ReportAlert> y = AlertsWithoutTemplateErrorText(b, &changed);
  if (!changed) return false;
  if (x.size() != y.size()) return false;
  bool same = true;
  for (size_t i = 0; i < x.size(); ++i) same &= x[i].labels == y[i].labels && x[i].annotations == y[i].annotations;
  return same || (float_noise && SameAlertsButFloatNoise(x, y));
}

// Samples equal once template errors in label values are cut to their prefix
// (an ALERTS series, or anything computed from one, carries an alert's labels).
bool SameSamplesButTemplateErrors(const std::vector<ReportSample>& a, const std::vector<ReportSample>& b) {
  if (a.size() != b.size()) return false;
  bool changed = false;
  auto normalized = [&](const std::vector<ReportSample>& v) {
    std::vector<std::pair<Pairs, double>> out;
    for (const ReportSample& s : v) out.emplace_back(WithoutTemplateErrorText(s.labels, &changed), s.value);
    std::stable_sort(out.begin(), out.end(), [](const auto& p, const auto& q) { return p.first < q.first; });
    return out;
  };
  std::vector<std::pair<Pairs, double>> x = normalized(a), y = normalized(b);
  if (!changed) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].first != y[i].first || !SameValue(x[i].second, y[i].second)) return false;
  }
  return true;
}

// What promtool computed for each check of one file.
struct PromtoolResults {
  bool load_error = false;  // the rule file or the test file did not load
  std::string load_error_text;
  std::optional<std::pair<std::string, int64_t>> rule_error;  // first failing rule, step
  std::string rule_error_text;
  std::vector<std::optional<std::string>> expr_errors;
  std::vector<std::vector<ReportSample>> expr_samples;
  std::vector<bool> expr_run;
  std::vector<std::vector<ReportAlert>> alerts;
  std::vector<bool> alert_run;
  bool unreadable = false;  // a block this harness could not attribute
  std::string unreadable_text;
};

PromtoolResults ReadPromtool(const TestFileSpec& spec, const FileReport& report) {
  PromtoolResults out;
  out.expr_errors.resize(spec.exprs.size());
  out.expr_samples.resize(spec.exprs.size());
  out.expr_run.assign(spec.exprs.size(), true);
  out.alerts.resize(spec.alert_checks.size());
  out.alert_run.assign(spec.alert_checks.size(), true);
  if (report.status == FileReport::kMissing) {
    out.unreadable = true;
    out.unreadable_text = "no report from promtool for this file";
    return out;
  }
  for (const ReportBlock& b : report.blocks) {
    if (b.kind == ReportBlock::kOther) {
      out.load_error = true;
      out.load_error_text += b.raw;
    } else if (b.kind == ReportBlock::kRule) {
      if (!out.rule_error) out.rule_error = std::make_pair(b.subject, b.at_ms);
      out.rule_error_text += b.raw;
    } else if (b.kind == ReportBlock::kExpr) {
      bool found = false;
      for (size_t i = 0; i < spec.exprs.size(); ++i) {
        if (spec.exprs[i].expr == b.subject && spec.exprs[i].at_ms == b.at_ms) {
          found = true;
          if (b.error) out.expr_errors[i] = *b.error;
          else out.expr_samples[i] = b.got_samples;
        }
      }
      if (!found) {
        out.unreadable = true;
        out.unreadable_text += b.raw;
      }
    } else if (b.kind == ReportBlock::kAlert) {
      bool found = false;
      for (size_t i = 0; i < spec.alert_checks.size(); ++i) {
        if (spec.alert_checks[i].rule == b.subject && spec.alert_checks[i].at_ms == b.at_ms) {
          found = true;
          out.alerts[i] = b.got_alerts;
        }
      }
      if (!found) {
        out.unreadable = true;
        out.unreadable_text += b.raw;
      }
    }
  }
  if (out.rule_error) {
    // promtool stops at the failing step: later alert checks and all
    // expression checks do not run (klaxon's runner does the same).
    const int64_t step = out.rule_error->second;
    for (size_t i = 0; i < spec.exprs.size(); ++i) out.expr_run[i] = false;
    for (size_t i = 0; i < spec.alert_checks.size(); ++i) {
      if (spec.alert_checks[i].at_ms >= step) out.alert_run[i] = false;
    }
  }
  return out;
}

Expectations ExpectationsFrom(const TestFileSpec& spec, const PromtoolResults& p) {
  Expectations e;
  e.exprs.resize(spec.exprs.size());
  e.alerts.resize(spec.alert_checks.size());
  for (size_t i = 0; i < spec.exprs.size(); ++i) {
    for (const ReportSample& s : p.expr_samples[i]) e.exprs[i].push_back({s.labels_text, s.value});
  }
  for (size_t i = 0; i < spec.alert_checks.size(); ++i) {
    for (const ReportAlert& a : p.alerts[i]) {
      ExpectedAlert ea;
      for (const auto& [k, v] : a.labels) {
        if (k != "alertname") ea.labels.emplace_back(k, v);
      }
      ea.annotations = a.annotations;
      e.alerts[i].push_back(std::move(ea));
    }
  }
  return e;
}

// Compares klaxon's report for one file with promtool's results.
void Compare(const FileRun& run, const PromtoolResults& p, Stats& stats,
             std::vector<Mismatch>& mismatches) {
  const TestFileSpec& spec = *run.spec;
  const FileReport& k = run.klaxon;
  auto add = [&](const std::string& category, const std::string& detail, int64_t at_ms = -1) {
    mismatches.push_back({category, at_ms, run.case_index, spec.name, detail});
  };
  if (p.unreadable) {
    add("harness: promtool output not understood", p.unreadable_text);
    return;
  }
  bool promtool_parse_error = p.load_error;
  for (const auto& err : p.expr_errors) {
    if (err && IsParseError(*err)) promtool_parse_error = true;
  }
  if (k.status == FileReport::kMissing) {
    add("klaxon: no report (crash or timeout)",
        absl::StrCat("klaxon test exit status ", run.klaxon_status, "\n", k.raw));
    return;
  }
  if (p.load_error) {
    if (k.status != FileReport::kError) {
      add("promtool refuses the rule file, klaxon loads it",
          absl::StrCat("promtool: ", p.load_error_text, "klaxon:\n", k.raw));
    } else {
      ++stats.error_checks_agreed;
    }
    return;
  }
  if (k.status == FileReport::kError) {
    // klaxon may refuse at load what Prometheus only refuses when evaluating
    // (an invalid regex in label_replace): fine when promtool failed every
    // check of the file, or its first rule evaluation.
    bool promtool_always_failed = !spec.exprs.empty() || p.rule_error.has_value();
    for (size_t i = 0; i < spec.exprs.size(); ++i) {
      if (p.expr_run[i] && !p.expr_errors[i]) promtool_always_failed = false;
    }
    if (p.rule_error && p.rule_error->second != 0) promtool_always_failed = false;
    if (promtool_parse_error) {
      ++stats.error_checks_agreed;
    } else if (promtool_always_failed) {
      ++stats.error_checks_agreed;
      ++stats.klaxon_refused_at_load;
    } else {
      add("klaxon refuses the file, promtool accepts it", k.raw);
    }
    return;
  }
  if (promtool_parse_error) {
    // klaxon loaded the file: each parse error must still be an error there.
    for (size_t i = 0; i < spec.exprs.size(); ++i) {
      if (!p.expr_errors[i] || !IsParseError(*p.expr_errors[i])) continue;
      bool klaxon_error = false;
      for (const ReportBlock& b : k.blocks) {
        if (b.kind == ReportBlock::kExpr && b.subject == spec.exprs[i].expr && b.at_ms == spec.exprs[i].at_ms &&
            b.error) {
          klaxon_error = true;
        }
      }
      if (!klaxon_error) {
        add("promtool: parse error, klaxon accepts",
            absl::StrCat("expr: ", spec.exprs[i].expr, "\npromtool: ", *p.expr_errors[i]));
      }
    }
  }

  bool uses_topk = false;
  auto topk = [](const std::string& e) { return absl::StrContains(e, "topk") || absl::StrContains(e, "bottomk"); };
  for (const ExprCheck& e : spec.exprs) uses_topk |= topk(e.expr);
  for (const RecordSpec& r : spec.records) uses_topk |= topk(r.expr);
  for (const AlertSpec& a : spec.alerts) uses_topk |= topk(a.expr);

  // Every klaxon block is a disagreement unless it is the error promtool had.
  std::vector<bool> expr_error_seen(spec.exprs.size(), false);
  bool rule_error_seen = false;
  int64_t klaxon_rule_error_ms = -1;
  for (const ReportBlock& b : k.blocks) {
    switch (b.kind) {
      case ReportBlock::kExpr: {
        size_t i = 0;
        while (i < spec.exprs.size() && !(spec.exprs[i].expr == b.subject && spec.exprs[i].at_ms == b.at_ms)) ++i;
        if (i == spec.exprs.size()) {
          add("harness: klaxon output not understood", b.raw);
          break;
        }
        if (!p.expr_run[i]) break;  // promtool stopped before it (a rule error, reported on its own)
        const std::string check = absl::StrCat("expr: ", b.subject, "\nat: ", FormatDuration(b.at_ms));
        if (b.error && p.expr_errors[i]) {
          expr_error_seen[i] = true;
          break;
        }
        if (b.error) {
          add("klaxon: error, promtool: result",
              absl::StrCat(check, "\npromtool: ", SamplesText(p.expr_samples[i]), "\nklaxon:   error: ", *b.error),
              b.at_ms);
        } else if (p.expr_errors[i]) {
          expr_error_seen[i] = true;
          if (!IsParseError(*p.expr_errors[i])) {
            add("promtool: evaluation error, klaxon: result",
                absl::StrCat(check, "\npromtool: error: ", *p.expr_errors[i], "\nklaxon:   ",
                             SamplesText(b.got_samples)),
                b.at_ms);
          }
        } else {
          add(SameSamplesButTemplateErrors(p.expr_samples[i], b.got_samples)         ? kTemplateErrorCategory
              : SameSamplesButFloatNoiseInLabels(p.expr_samples[i], b.got_samples) ? kNoiseCategory
              : uses_topk && SameValueMultiset(p.expr_samples[i], b.got_samples) ? kTieCategory
                                                                                  : "expression value",
              absl::StrCat(check, "\npromtool: ", SamplesText(p.expr_samples[i]), "\nklaxon:   ",
                           SamplesText(b.got_samples)),
              b.at_ms);
        }
        break;
      }
      case ReportBlock::kAlert: {
        size_t i = 0;
        while (i < spec.alert_checks.size() &&
               !(spec.alert_checks[i].rule == b.subject && spec.alert_checks[i].at_ms == b.at_ms)) {
          ++i;
        }
        std::string expr;
        for (const AlertSpec& a : spec.alerts) {
          if (a.name == b.subject) expr = a.expr;
        }
        if (i == spec.alert_checks.size()) {
          add("harness: klaxon output not understood", b.raw);
        } else if (!p.alert_run[i]) {
          // promtool stopped before it (a rule error, reported on its own)
        } else if (b.error) {
          add("klaxon: alert check error", absl::StrCat("alert ", b.subject, " at ", FormatDuration(b.at_ms),
                                                        ": ", *b.error));
        } else {
          add(SameAlertsButFloatNoise(p.alerts[i], b.got_alerts)            ? kNoiseCategory
              : SameAlertsButTemplateErrors(p.alerts[i], b.got_alerts, true) ? kTemplateErrorCategory
                                                                              : "alerts",
              absl::StrCat("alert ", b.subject, " (expr: ", expr, ") at ", FormatDuration(b.at_ms),
                           "\npromtool: ", AlertsText(p.alerts[i]), "\nklaxon:   ", AlertsText(b.got_alerts)),
              b.at_ms);
        }
        break;
      }
      case ReportBlock::kRule:
        if (klaxon_rule_error_ms < 0) klaxon_rule_error_ms = b.at_ms;
        if (p.rule_error && p.rule_error->second == b.at_ms && p.rule_error->first == b.subject) {
          rule_error_seen = true;
        } else {
          add("rule evaluation error only in klaxon (or at another step)",
              absl::StrCat("klaxon: ", b.raw, "promtool: ",
                           p.rule_error ? p.rule_error_text : std::string("no rule error\n")));
        }
        break;
      case ReportBlock::kOther:
        add("harness: klaxon output not understood", b.raw);
        break;
    }
  }
  for (size_t i = 0; i < spec.exprs.size(); ++i) {
    if (!p.expr_run[i]) continue;
    if (p.expr_errors[i] && !expr_error_seen[i] && !IsParseError(*p.expr_errors[i])) {
      add("promtool: evaluation error, klaxon: result",
          absl::StrCat("expr: ", spec.exprs[i].expr, "\nat: ", FormatDuration(spec.exprs[i].at_ms),
                       "\npromtool: error: ", *p.expr_errors[i], "\nklaxon:   (empty)"),
          spec.exprs[i].at_ms);
    }
    if (p.expr_errors[i] && expr_error_seen[i]) ++stats.error_checks_agreed;
  }
  if (p.rule_error) {
    if (rule_error_seen) {
      ++stats.error_checks_agreed;
    } else if (klaxon_rule_error_ms >= 0 && klaxon_rule_error_ms < p.rule_error->second) {
      // klaxon stopped earlier, on a rule error of its own (reported above).
    } else {
      add("rule evaluation error only in promtool", p.rule_error_text);
    }
  }
}

class PromtoolDiff : public ::testing::Test {
 protected:
  void SetUp() override {
    promtool_ = FindProgram("promtool");
    ASSERT_FALSE(promtool_.empty()) << "promtool not found: install Debian's prometheus package";
    klaxon_ = BinaryPath("klaxon");
    ASSERT_EQ(access(klaxon_.c_str(), X_OK), 0) << klaxon_ << " not built";
  }

  std::string promtool_;
  std::string klaxon_;
};

// Runs `tool test rules FILES` (promtool) or `tool test FILES` (klaxon) over
// `files` in batches on `jobs` threads; returns the merged reports.
std::map<std::string, FileReport> RunBatches(const std::vector<std::string>& prefix,
                                             const std::vector<std::string>& files, const std::string& dir,
                                             const std::string& tag, int jobs, std::map<std::string, int>* status) {
  std::map<std::string, FileReport> merged;
  std::mutex mu;
  std::vector<std::vector<std::string>> batches;
  for (size_t i = 0; i < files.size(); i += kBatch) {
    batches.emplace_back(files.begin() + static_cast<long>(i),
                         files.begin() + static_cast<long>(std::min(files.size(), i + kBatch)));
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    while (true) {
      size_t b = next++;
      if (b >= batches.size()) return;
      std::vector<std::string> argv = prefix;
      argv.insert(argv.end(), batches[b].begin(), batches[b].end());
      auto [code, log] = RunTool(argv, absl::StrCat(dir, "/", tag, "-", b, ".log"), absl::Seconds(120));
      std::map<std::string, FileReport> reports = ParseReports(log);
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [path, report] : reports) merged[path] = std::move(report);
      if (status != nullptr) {
        for (const std::string& f : batches[b]) (*status)[f] = code;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::max(1, jobs); ++j) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  return merged;
}

void Keep(const std::string& keep_root, const Case& c, size_t index, const std::vector<const FileRun*>& runs,
          const std::vector<Mismatch>& mismatches) {
  std::string dir = absl::StrCat(keep_root, "/case-", index, "-", Hex(c.seed));
  std::filesystem::create_directories(dir);
  std::string notes = absl::StrCat("seed ", Hex(c.seed), "\nexpression: ", c.expr, "\n\n",
                                   "replay: DIFF_CASE_SEED=", Hex(c.seed),
                                   " tests/promtool_diff_test --gtest_filter=PromtoolDiff.RandomCases\n",
                                   "promtool: promtool test rules <name>.prom.yml (expectations empty: the\n"
                                   "failure report is what Prometheus computed)\n"
                                   "klaxon:   klaxon test <name>.test.toml (expectations are promtool's results)\n\n");
  for (const Mismatch& m : mismatches) absl::StrAppend(&notes, "[", m.category, "] ", m.file, "\n", m.detail, "\n\n");
  for (const FileRun* r : runs) {
    for (const std::string& f : {r->promtool_test, r->promtool_rules, r->klaxon_test, r->klaxon_rules}) {
      std::error_code ec;
      std::filesystem::copy_file(f, std::filesystem::path(dir) / std::filesystem::path(f).filename(),
                                 std::filesystem::copy_options::overwrite_existing, ec);
    }
    absl::StrAppend(&notes, "---- promtool report for ", r->spec->name, "\n", r->promtool.raw, "\n---- klaxon report for ",
                    r->spec->name, "\n", r->klaxon.raw, "\n");
  }
  WriteFile(dir + "/README.txt", notes);
}

TEST_F(PromtoolDiff, RandomCases) {
  const uint64_t base_seed = EnvU64("DIFF_SEED", kDefaultSeed);
  const uint64_t only_seed = EnvU64("DIFF_CASE_SEED", 0);
  const int count = only_seed != 0 ? 1 : static_cast<int>(EnvU64("DIFF_CASES", 300));
  const int jobs = static_cast<int>(EnvU64("DIFF_JOBS", 2));
  const bool verbose = EnvU64("DIFF_VERBOSE", 0) != 0;
  const char* keep_env = std::getenv("DIFF_KEEP_DIR");
  const std::string keep_root =
      keep_env != nullptr && *keep_env != '\0' ? keep_env : BinaryPath("tests/difftest-kept");
  const absl::Time start = absl::Now();
  if (keep_env == nullptr || *keep_env == '\0') {
    std::error_code ec;
    std::filesystem::remove_all(keep_root, ec);  // our own folder in the build tree: only this run's cases
  }

  TempDir tmp;
  const std::string dir = tmp.path();
  std::vector<Case> cases;
  cases.reserve(count);
  for (int i = 0; i < count; ++i) {
    uint64_t seed = only_seed != 0 ? only_seed : CaseSeed(base_seed, static_cast<uint64_t>(i));
    char name[32];
    std::snprintf(name, sizeof name, "c%05d", i);
    cases.push_back(GenerateCase(seed, name));
  }

  // 1. promtool, every expectation empty.
  std::vector<FileRun> runs;
  for (size_t i = 0; i < cases.size(); ++i) {
    for (const TestFileSpec* spec : {&cases[i].exprs, &cases[i].rules}) {
      FileRun run;
      run.case_index = i;
      run.spec = spec;
      const std::string stem = absl::StrCat(dir, "/", spec->name);
      run.promtool_test = stem + ".prom.yml";
      run.promtool_rules = stem + ".rules.yml";
      run.klaxon_test = stem + ".test.toml";
      run.klaxon_rules = stem + ".rules.toml";
      WriteFile(run.promtool_rules, PromtoolRulesYaml(*spec));
      WriteFile(run.promtool_test,
                PromtoolTestYaml(*spec, std::filesystem::path(run.promtool_rules).filename().string()));
      runs.push_back(std::move(run));
    }
  }
  std::vector<std::string> promtool_files;
  for (const FileRun& r : runs) promtool_files.push_back(r.promtool_test);
  std::map<std::string, FileReport> promtool_reports =
      RunBatches({promtool_, "test", "rules"}, promtool_files, dir, "promtool", jobs, nullptr);
  const absl::Duration promtool_time = absl::Now() - start;

  // 2. klaxon, expecting what promtool computed.
  std::vector<PromtoolResults> results;
  std::vector<std::string> klaxon_files;
  for (FileRun& r : runs) {
    r.promtool = promtool_reports[r.promtool_test];
    results.push_back(ReadPromtool(*r.spec, r.promtool));
    WriteFile(r.klaxon_rules, KlaxonRulesToml(*r.spec));
    WriteFile(r.klaxon_test, KlaxonTestToml(*r.spec, std::filesystem::path(r.klaxon_rules).filename().string(),
                                            ExpectationsFrom(*r.spec, results.back())));
    klaxon_files.push_back(r.klaxon_test);
  }
  std::map<std::string, int> klaxon_status;
  std::map<std::string, FileReport> klaxon_reports =
      RunBatches({klaxon_, "test"}, klaxon_files, dir, "klaxon", jobs, &klaxon_status);
  // A file without a report (klaxon crashed in the batch): run it alone.
  for (FileRun& r : runs) {
    if (klaxon_reports[r.klaxon_test].status != FileReport::kMissing) continue;
    auto [code, log] = RunTool({klaxon_, "test", r.klaxon_test}, r.klaxon_test + ".log", absl::Seconds(60));
    klaxon_status[r.klaxon_test] = code;
    std::map<std::string, FileReport> one = ParseReports(log);
    klaxon_reports[r.klaxon_test] = one[r.klaxon_test];
    if (one[r.klaxon_test].status == FileReport::kMissing) klaxon_reports[r.klaxon_test].raw = log;
  }

  // 3. Compare.
  Stats stats;
  stats.cases = count;
  std::vector<std::vector<Mismatch>> per_case(cases.size());
  std::vector<bool> rejected(cases.size(), false), eval_error(cases.size(), false);
  for (size_t i = 0; i < runs.size(); ++i) {
    FileRun& r = runs[i];
    r.klaxon = klaxon_reports[r.klaxon_test];
    r.klaxon_status = klaxon_status[r.klaxon_test];
    const PromtoolResults& p = results[i];
    for (size_t j = 0; j < r.spec->exprs.size(); ++j) {
      if (!p.expr_run[j]) {
        ++stats.checks_not_run;
        continue;
      }
      ++stats.expr_checks;
      if (!p.expr_samples[j].empty()) ++stats.expr_checks_nonempty;
      if (p.expr_errors[j]) (IsParseError(*p.expr_errors[j]) ? rejected : eval_error)[r.case_index] = true;
    }
    for (size_t j = 0; j < r.spec->alert_checks.size(); ++j) {
      if (!p.alert_run[j]) {
        ++stats.checks_not_run;
        continue;
      }
      ++stats.alert_checks;
      if (!p.alerts[j].empty()) ++stats.alert_checks_firing;
    }
    if (p.load_error) rejected[r.case_index] = true;
    if (p.rule_error) eval_error[r.case_index] = true;
    Compare(r, p, stats, per_case[r.case_index]);
  }

  // A tie broken differently in topk/bottomk changes everything computed from
  // it in the same case (recorded series, alerts). A case counts as tied when
  // promtool saw equal values (or NaNs) in the input of one of its
  // topk/bottomk at some checked time.
  const bool strict = EnvU64("DIFF_STRICT", 0) != 0;
  std::vector<bool> tied(cases.size(), false);
  for (size_t j = 0; j < runs.size(); ++j) {
    const Case& c = cases[runs[j].case_index];
    if (runs[j].spec != &c.exprs) continue;
    for (size_t e = 0; e < c.exprs.exprs.size(); ++e) {
      if (std::find(c.topk_inputs.begin(), c.topk_inputs.end(), c.exprs.exprs[e].expr) == c.topk_inputs.end()) {
        continue;
      }
      std::vector<double> values;
      for (const ReportSample& s : results[j].expr_samples[e]) values.push_back(s.value);
      for (size_t a = 0; a < values.size(); ++a) {
        for (size_t b = a + 1; b < values.size(); ++b) {
          if (SameValue(values[a], values[b])) tied[runs[j].case_index] = true;
        }
      }
    }
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    bool tie = false;
    for (const Mismatch& m : per_case[i]) tie |= m.category == kTieCategory;
    if (!tie && !tied[i]) continue;
    for (Mismatch& m : per_case[i]) {
      if (!IsTolerated(m.category)) m.category = kTieConsequence;
    }
  }

  int shown = 0;
  int mismatching_cases = 0;
  int tolerated_cases = 0;
  std::ostringstream report;
  const bool list = EnvU64("DIFF_LIST", 0) != 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (list) {
      std::string first_error;
      for (size_t j = 0; j < runs.size(); ++j) {
        if (runs[j].case_index != i || !first_error.empty()) continue;
        const PromtoolResults& p = results[j];
        if (p.load_error) first_error = p.load_error_text;
        for (const auto& e : p.expr_errors) {
          if (e && first_error.empty()) first_error = *e;
        }
        if (p.rule_error && first_error.empty()) first_error = p.rule_error_text;
      }
      std::printf("case %zu %s %s%s | %s\n", i, Hex(cases[i].seed).c_str(),
                  per_case[i].empty() ? "agree" : "MISMATCH", rejected[i] ? " (promtool: parse error)" : eval_error[i] ? " (promtool: eval error)" : "",
                  cases[i].expr.c_str());
      if (!first_error.empty()) std::printf("    promtool: %s\n", std::string(absl::StripTrailingAsciiWhitespace(first_error)).c_str());
    }
    if (rejected[i]) ++stats.cases_promtool_rejected;
    else if (eval_error[i]) ++stats.cases_promtool_eval_error;
    if (per_case[i].empty()) continue;
    bool failing = false;
    for (const Mismatch& m : per_case[i]) failing |= strict || !IsTolerated(m.category);
    if (!failing) {
      ++tolerated_cases;
      for (const Mismatch& m : per_case[i]) ++stats.mismatches_by_category[m.category];
      if (verbose) {
        for (const Mismatch& m : per_case[i]) {
          report << "TOLERATED [" << m.category << "] case " << i << " seed " << Hex(cases[i].seed) << " ("
                 << m.file << ")\n  expression: " << cases[i].expr << "\n  "
                 << absl::StrJoin(absl::StrSplit(m.detail, '\n'), "\n  ") << "\n";
        }
      }
      continue;
    }
    ++mismatching_cases;
    std::vector<const FileRun*> case_runs;
    for (const FileRun& r : runs) {
      if (r.case_index == i) case_runs.push_back(&r);
    }
    Keep(keep_root, cases[i], i, case_runs, per_case[i]);
    for (const Mismatch& m : per_case[i]) {
      ++stats.mismatches_by_category[m.category];
      if (verbose || shown < 40) {
        ++shown;
        report << "MISMATCH [" << m.category << "] case " << i << " seed " << Hex(cases[i].seed) << " ("
               << m.file << ")\n  expression: " << cases[i].expr << "\n  "
               << absl::StrJoin(absl::StrSplit(m.detail, '\n'), "\n  ") << "\n";
      }
    }
  }
  // 4. The comparison is not vacuous: the same klaxon file with one expected
  // value or one expected alert changed must fail.
  bool value_probe = false, alert_probe = false;
  for (size_t i = 0; i < runs.size() && !(value_probe && alert_probe); ++i) {
    const FileRun& r = runs[i];
    if (r.klaxon.status != FileReport::kSuccess) continue;
    Expectations e = ExpectationsFrom(*r.spec, results[i]);
    bool changed = false;
    bool* probe = nullptr;
    for (auto& samples : e.exprs) {
      if (!value_probe && !changed && !samples.empty()) {
        double& v = samples[0].value;
        v = std::isnan(v) ? 0 : v * (1 + 1e-6) + 1e-6;
        changed = true;
        probe = &value_probe;
      }
    }
    for (auto& alerts : e.alerts) {
      if (!alert_probe && !changed && !alerts.empty()) {
        alerts.pop_back();
        changed = true;
        probe = &alert_probe;
      }
    }
    if (!changed) continue;
    const std::string path = r.klaxon_test + ".probe.toml";
    WriteFile(path, KlaxonTestToml(*r.spec, std::filesystem::path(r.klaxon_rules).filename().string(), e));
    auto [code, log] = RunTool({klaxon_, "test", path}, path + ".log", absl::Seconds(60));
    EXPECT_EQ(code, 1) << "klaxon test passed a file with a wrong expectation: the comparison is vacuous\n"
                       << ReadFile(path) << "\n" << log;
    *probe = true;
  }
  if (count >= 50) {
    EXPECT_TRUE(value_probe && alert_probe) << "no passing file with samples and alerts to probe";
  }

  const absl::Duration total_time = absl::Now() - start;
  std::ostringstream summary;
  summary << "promtool differential test: " << stats.cases << " cases (base seed " << Hex(base_seed) << ") in "
          << absl::FormatDuration(absl::Trunc(total_time, absl::Milliseconds(1))) << " (promtool "
          << absl::FormatDuration(absl::Trunc(promtool_time, absl::Milliseconds(1))) << ")\n"
          << "  valid for promtool: " << (stats.cases - stats.cases_promtool_rejected - stats.cases_promtool_eval_error)
          << "; refused by promtool (parse/load error, compared as rejections only): "
          << stats.cases_promtool_rejected << "; with an evaluation error somewhere: "
          << stats.cases_promtool_eval_error << "\n"
          << "  expression checks: " << stats.expr_checks << " (" << stats.expr_checks_nonempty
          << " non-empty), alert checks: " << stats.alert_checks << " (" << stats.alert_checks_firing
          << " with firing alerts), errors both sides reported: " << stats.error_checks_agreed
          << ", checks neither side ran (after a rule error): " << stats.checks_not_run
          << ", files klaxon refused at load that promtool failed at every evaluation: "
          << stats.klaxon_refused_at_load << "\n"
          << "  cases with a mismatch: " << mismatching_cases << (strict ? " (DIFF_STRICT)" : "")
          << "; cases with tolerated differences only: " << tolerated_cases << "\n"
          << "  differences by category (one per check):\n";
  for (const auto& [category, n] : stats.mismatches_by_category) {
    summary << "    " << n << " x " << category << "\n";
  }
  summary << "  tolerated differences (counted above when seen; failing with DIFF_STRICT=1):\n";
  for (const std::string& s : ToleratedKinds()) summary << "    - " << s.substr(s.find(' ') + 1) << "\n";
  summary << "  sanity: klaxon failed a changed expected value: " << (value_probe ? "yes" : "not probed")
          << ", a dropped expected alert: " << (alert_probe ? "yes" : "not probed") << "\n";
  if (mismatching_cases > 0) summary << "  kept in " << keep_root << "\n";
  summary << "  not covered by the generator:\n";
  for (const std::string& s : NotCovered()) summary << "    - " << s << "\n";
  std::printf("%s%s", report.str().c_str(), summary.str().c_str());
  std::fflush(stdout);
  EXPECT_EQ(mismatching_cases, 0) << "klaxon and promtool disagree; see the MISMATCH lines above";
}

// ---- The harness's own parts ----------------------------------------------------

TEST(PromtoolOutput, ParsesPromtoolReport) {
  const std::string out =
      "Unit Testing:  /tmp/x/a.prom.yml\n"
      "  FAILED:\n"
      "    name: a,\n"
      "    alertname: A, time: 6m, \n"
      "        exp:[], \n"
      "        got:[\n"
      "            0:\n"
      "              Labels:{alertname=\"A\", i=\"1\", sev=\"x\"}\n"
      "              Annotations:{summary=\"v=0.16666666666666669\"},\n"
      "            1:\n"
      "              Labels:{alertname=\"A\", i=\"2\"}\n"
      "              Annotations:{}\n"
      "            ]\n"
      "\n"
      "    name: a,\n"
      "    expr: \"c{job=\\\"a, b\\\"}\", time: 5m30s,\n"
      "        exp: nil\n"
      "        got: {__name__=\"c\", i=\"1\", job=\"a, b\"} 5E+01, {i=\"2\"} NaN, {} -Inf\n"
      "\n"
      "    expr: \"foo(\", time: 1h5m, err: 1:5: parse error: unclosed left parenthesis\n"
      "\n"
      "    rule: r, time: 3m, err: vector contains metrics with the same labelset\n"
      "\n"
      "\n"
      "Unit Testing:  /tmp/x/b.prom.yml\n"
      "  SUCCESS\n"
      "\n";
  std::map<std::string, FileReport> r = ParseReports(out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r["/tmp/x/b.prom.yml"].status, FileReport::kSuccess);
  const FileReport& a = r["/tmp/x/a.prom.yml"];
  EXPECT_EQ(a.status, FileReport::kFailed);
  ASSERT_EQ(a.blocks.size(), 4u);
  EXPECT_EQ(a.blocks[0].kind, ReportBlock::kAlert);
  EXPECT_EQ(a.blocks[0].subject, "A");
  EXPECT_EQ(a.blocks[0].test_name, "a");
  EXPECT_EQ(a.blocks[0].at_ms, 360000);
  ASSERT_EQ(a.blocks[0].got_alerts.size(), 2u);
  EXPECT_TRUE(a.blocks[0].exp_alerts.empty());
  EXPECT_EQ(a.blocks[0].got_alerts[0].annotations, (Pairs{{"summary", "v=0.16666666666666669"}}));
  EXPECT_EQ(a.blocks[0].got_alerts[1].labels, (Pairs{{"alertname", "A"}, {"i", "2"}}));
  EXPECT_EQ(a.blocks[1].kind, ReportBlock::kExpr);
  EXPECT_EQ(a.blocks[1].subject, "c{job=\"a, b\"}");
  EXPECT_EQ(a.blocks[1].at_ms, 330000);
  ASSERT_EQ(a.blocks[1].got_samples.size(), 3u);
  EXPECT_EQ(a.blocks[1].got_samples[0].labels_text, "{__name__=\"c\", i=\"1\", job=\"a, b\"}");
  EXPECT_EQ(a.blocks[1].got_samples[0].value, 50);
  EXPECT_TRUE(std::isnan(a.blocks[1].got_samples[1].value));
  EXPECT_EQ(a.blocks[1].got_samples[2].value, -HUGE_VAL);
  EXPECT_EQ(a.blocks[2].kind, ReportBlock::kExpr);
  EXPECT_EQ(a.blocks[2].at_ms, 3900000);
  ASSERT_TRUE(a.blocks[2].error.has_value());
  EXPECT_TRUE(absl::StrContains(*a.blocks[2].error, "parse error"));
  EXPECT_EQ(a.blocks[3].kind, ReportBlock::kRule);
  EXPECT_EQ(a.blocks[3].subject, "r");
}

TEST(PromtoolOutput, ParsesKlaxonErrorReport) {
  const std::string out =
      "Unit Testing: /tmp/x/a.test.toml\n"
      "  ERROR:\n"
      "/tmp/x/a.test.toml:12:8: test[0].expr[0].expr: 1:5: unclosed parenthesis\n"
      "\n\n"
      "Unit Testing: /tmp/x/b.test.toml\n"
      "  SUCCESS\n"
      "\n"
      "1 of 1 tests passed (3 of 3 checks) in 2 files; 1 file with errors\n";
  std::map<std::string, FileReport> r = ParseReports(out);
  EXPECT_EQ(r["/tmp/x/a.test.toml"].status, FileReport::kError);
  EXPECT_EQ(r["/tmp/x/b.test.toml"].status, FileReport::kSuccess);
  // klaxon prints the metric name outside the braces.
  std::optional<std::vector<ReportSample>> samples = ParseSamples("ALERTS{a=\"b\"} 1, up 2.5, {} NaN");
  ASSERT_TRUE(samples.has_value());
  ASSERT_EQ(samples->size(), 3u);
  EXPECT_EQ((*samples)[0].labels, (Pairs{{"__name__", "ALERTS"}, {"a", "b"}}));
  EXPECT_EQ((*samples)[1].labels, (Pairs{{"__name__", "up"}}));
  EXPECT_EQ((*samples)[1].value, 2.5);
  EXPECT_TRUE((*samples)[2].labels.empty());
}

TEST(Tolerances, FloatNoiseAndUnitBoundaries) {
  EXPECT_TRUE(SameTextButFloatNoise("v=0.30000000000000004", "v=0.3"));
  EXPECT_FALSE(SameTextButFloatNoise("v=0.3001", "v=0.3"));
  // humanizeDuration of 0.9999999999 and of 1.0000000001; humanize of 999.99999 and 1000.
  EXPECT_TRUE(SameTextButFloatNoise("took 1000ms", "took 1s"));
  EXPECT_TRUE(SameTextButFloatNoise("1000", "1k"));
  EXPECT_TRUE(SameTextButFloatNoise("1024", "1ki"));
  EXPECT_FALSE(SameTextButFloatNoise("took 999ms", "took 1s"));
  EXPECT_FALSE(SameTextButFloatNoise("5m 0s", "5s"));
  EXPECT_FALSE(SameTextButFloatNoise("1000ms", "1ks"));
  // humanizeDuration of 2.49e15 seconds, 1 ulp (0.5s) apart.
  EXPECT_TRUE(SameTextButFloatNoise("took 28835480403d 4h 0m 5s!", "took 28835480403d 4h 0m 4s!"));
  EXPECT_TRUE(SameTextButFloatNoise("-106751991167300d -15h -30m -8s", "-106751991167300d -15h -30m -8s"));
  EXPECT_FALSE(SameTextButFloatNoise("2m 0s", "1m 59s"));
  EXPECT_FALSE(SameTextButFloatNoise("1d 0h 0m 5s", "1d 0h 0m 4s"));
  EXPECT_FALSE(SameTextButFloatNoise("-106751991167300d -15h -30m -8s", "106751991167300d 15h 30m 7s"));

  // count_values of a sum whose digits depend on the order of the series.
  ReportSample a{"", {{"__name__", "r"}, {"job", "19.055555555555557"}}, 1, "1"};
  ReportSample b{"", {{"__name__", "r"}, {"job", "19.055555555555554"}}, 1, "1"};
  EXPECT_TRUE(SameSamplesButFloatNoiseInLabels({a}, {b}));
  b.labels[1].second = "19.0556";
  EXPECT_FALSE(SameSamplesButFloatNoiseInLabels({a}, {b}));
  std::vector<ReportAlert> p = {{{{"alertname", "A"}, {"value", "32.375"}}, {}}};
  std::vector<ReportAlert> k = {{{{"alertname", "A"}, {"value", "32.37500000000001"}}, {}}};
  EXPECT_TRUE(SameAlertsButFloatNoise(p, k));
  k[0].labels[0].second = "B";
  EXPECT_FALSE(SameAlertsButFloatNoise(p, k));
}

TEST(Tolerances, TemplateErrorsAgreeUpToThePrefix) {
  const std::string ours = "<error expanding template: column 4: error calling humanize: x>";
  const std::string theirs =
      "<error expanding template: error executing template __alert_A: template: __alert_A:1:91: "
      "executing \"__alert_A\" at <humanize>: error calling humanize: x>";
  std::vector<ReportAlert> p = {{{{"alertname", "A"}}, {{"summary", theirs}, {"x", "1"}}}};
  std::vector<ReportAlert> k = {{{{"alertname", "A"}}, {{"summary", ours}, {"x", "1"}}}};
  EXPECT_TRUE(SameAlertsButTemplateErrors(p, k, true));
  k[0].annotations[1].second = "2";  // otherwise equal, or no agreement
  EXPECT_FALSE(SameAlertsButTemplateErrors(p, k, true));
  k[0].annotations[1].second = "1";
  k[0].annotations[0].second = "error expanding template";
  EXPECT_FALSE(SameAlertsButTemplateErrors(p, k, true));

  ReportSample a{"", {{"__name__", "ALERTS"}, {"team", theirs}}, 1, "1"};
  ReportSample b{"", {{"__name__", "ALERTS"}, {"team", ours}}, 1, "1"};
  EXPECT_TRUE(SameSamplesButTemplateErrors({a}, {b}));
  b.value = 2;
  EXPECT_FALSE(SameSamplesButTemplateErrors({a}, {b}));
}

TEST(Generator, IsDeterministicAndRendersBothForms) {
  Case a = GenerateCase(42, "c1");
  Case b = GenerateCase(42, "c1");
  EXPECT_EQ(a.expr, b.expr);
  EXPECT_EQ(PromtoolTestYaml(a.rules, "r.yml"), PromtoolTestYaml(b.rules, "r.yml"));
  EXPECT_FALSE(a.exprs.series.empty() && a.exprs.exprs.empty());
  EXPECT_EQ(TomlFloat(57.5), "57.5");
  EXPECT_EQ(TomlFloat(5), "5.0");
  EXPECT_EQ(TomlFloat(std::nan("")), "nan");
  EXPECT_EQ(TomlFloat(-HUGE_VAL), "-inf");
  EXPECT_EQ(FormatDuration(3930000), "1h5m30s");
  EXPECT_EQ(ParseDurationMs("1h5m30s"), 3930000);
}

}  // namespace
}  // namespace klaxon::difftest
