#include "tests/difftest/generator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace klaxon::difftest {

// ---- What the generator leaves out ------------------------------------------
// Kept in one list, printed by the test, so a reader knows what "no mismatch"
// does not say.
const std::vector<std::string>& NotCovered() {
  static const std::vector<std::string> kList = {
      "subqueries (expr[5m:1m]), the @ modifier, negative offsets",
      "native histograms; histogram_quantile only over classic `le` buckets",
      "functions outside klaxon's subset: holt_winters, sgn, exp, ln, log2, log10, sqrt, "
      "trigonometry, day_of_*/hour/minute/month/year/days_in_month, sort_by_label",
      "string literals as whole expressions; string escapes other than \\\\ in one regex; non-ASCII in "
      "strings and label values",
      "rule files with several groups, group_eval_order, external_labels; "
      "{{ query }}, $externalLabels, sortByLabel/first/label/value in templates",
      "expressions with newlines; very large or very small numbers (catastrophic cancellation)",
      "durations below 1s (ms), evaluation intervals other than 30s and 1m",
      // Left out because klaxon refuses them on purpose (its README says so):
      "klaxon does not support: template actions if/else, with, range (klaxon refuses the rule file; "
      "Prometheus runs them)",
  };
  return kList;
}

namespace {

// splitmix64: small, fast, identical on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  int Int(int lo, int hi) { return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1)); }
  bool Chance(double p) { return static_cast<double>(Next() >> 11) / 9007199254740992.0 < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Next() % v.size()];
  }
  // An index chosen by weight.
  int Weighted(const std::vector<int>& weights) {
    int total = 0;
    for (int w : weights) total += w;
    int x = Int(0, total - 1);
    for (size_t i = 0; i < weights.size(); ++i) {
      if (x < weights[i]) return static_cast<int>(i);
      x -= weights[i];
    }
    return 0;
  }

 private:
  uint64_t state_;
};

std::string Num(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// ---- Input series ------------------------------------------------------------

struct MetricUniverse {
  // Metric name -> the label names its series carry (besides __name__).
  std::vector<std::pair<std::string, std::vector<std::string>>> metrics;
  std::vector<std::string> counters;  // names whose series only grow (but reset)
  std::vector<std::string> gauges;
  bool histogram = false;
};

const std::vector<std::string> kJobs = {"api", "web", "db"};
const std::vector<std::string> kInstances = {"a", "b"};
const std::vector<std::string> kCodes = {"200", "500"};
const std::vector<std::string> kLe = {"0.1", "0.5", "1", "+Inf"};

std::string SeriesText(const std::string& name, const LabelPairs& labels) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels) parts.push_back(absl::StrCat(k, "=\"", v, "\""));
  return absl::StrCat(name, "{", absl::StrJoin(parts, ","), "}");
}

// A counter's values: increasing runs in expanding notation, resets, gaps, stale markers.
std::string CounterValues(Rng& r, int steps) {
  std::vector<std::string> tokens;
  double cur = r.Int(0, 20);
  int n = 0;
  while (n < steps) {
    int kind = r.Weighted({62, 10, 10, 3, 15});
    if (kind == 0) {
      static const std::vector<double> kInc = {0, 1, 2, 3, 5, 10, 0.5, 0.25};
      double inc = r.Pick(kInc);
      int count = r.Int(1, 8);
      tokens.push_back(absl::StrCat(Num(cur), "+", Num(inc), "x", count));
      cur += inc * count;
      n += count + 1;
      cur += r.Pick(kInc);  // the next value
    } else if (kind == 1) {
      cur = r.Int(0, 3);  // reset
      tokens.push_back(Num(cur));
      ++n;
      cur += r.Int(0, 4);
    } else if (kind == 2) {
      int gaps = r.Int(1, 3);
      tokens.push_back(gaps == 1 ? "_" : absl::StrCat("_x", gaps));
      n += gaps;
    } else if (kind == 3) {
      tokens.push_back("stale");
      ++n;
    } else {
      tokens.push_back(Num(cur));
      ++n;
      cur += r.Int(0, 6) * 0.5;
    }
  }
  return absl::StrJoin(tokens, " ");
}

std::string GaugeValues(Rng& r, int steps) {
  std::vector<std::string> tokens;
  double cur = r.Int(-20, 80) * 0.25;
  int n = 0;
  while (n < steps) {
    int kind = r.Weighted({45, 8, 8, 3, 36});
    if (kind == 0) {
      static const std::vector<double> kStep = {0, 0.25, 0.5, 1, 2, 3};
      double step = r.Pick(kStep);
      int count = r.Int(1, 8);
      bool down = r.Chance(0.4);
      if (step == 0 && r.Chance(0.5)) {
        tokens.push_back(absl::StrCat(Num(cur), "x", count));
      } else {
        tokens.push_back(absl::StrCat(Num(cur), down ? "-" : "+", Num(step), "x", count));
      }
      cur += (down ? -step : step) * count;
      n += count + 1;
    } else if (kind == 1 || kind == 2) {
      int gaps = r.Int(1, 3);
      tokens.push_back(gaps == 1 ? "_" : absl::StrCat("_x", gaps));
      n += gaps;
    } else if (kind == 3) {
      tokens.push_back("stale");
      ++n;
    } else {
      cur += r.Int(-8, 8) * 0.25;
      tokens.push_back(Num(cur));
      ++n;
    }
  }
  return absl::StrJoin(tokens, " ");
}

std::string UpValues(Rng& r, int steps) {
  std::vector<std::string> tokens;
  int n = 0;
  int v = r.Chance(0.8) ? 1 : 0;
  while (n < steps) {
    int count = r.Int(0, 10);
    if (r.Chance(0.08)) {
      tokens.push_back("_");
      ++n;
      continue;
    }
    tokens.push_back(count == 0 ? std::to_string(v) : absl::StrCat(v, "x", count));
    n += count + 1;
    v = 1 - v;
  }
  return absl::StrJoin(tokens, " ");
}

// Label sets: `count` distinct picks from the product of the value lists.
std::vector<LabelPairs> PickLabelSets(Rng& r, int count,
                                      const std::vector<std::pair<std::string, std::vector<std::string>>>& dims) {
  std::vector<LabelPairs> all = {{}};
  for (const auto& [name, values] : dims) {
    std::vector<LabelPairs> next;
    for (const LabelPairs& base : all) {
      for (const std::string& v : values) {
        LabelPairs l = base;
        l.emplace_back(name, v);
        next.push_back(std::move(l));
      }
    }
    all = std::move(next);
  }
  std::vector<LabelPairs> picked;
  while (static_cast<int>(picked.size()) < count && !all.empty()) {
    size_t i = r.Next() % all.size();
    picked.push_back(all[i]);
    all.erase(all.begin() + static_cast<long>(i));
  }
  return picked;
}

void GenerateSeries(Rng& r, int steps, std::vector<SeriesSpec>& out, MetricUniverse& u) {
  if (r.Chance(0.85)) {
    for (const LabelPairs& l : PickLabelSets(r, r.Int(1, 5), {{"job", kJobs}, {"instance", kInstances}, {"code", kCodes}})) {
      out.push_back({SeriesText("http_requests_total", l), CounterValues(r, steps)});
    }
    u.metrics.push_back({"http_requests_total", {"job", "instance", "code"}});
    u.counters.push_back("http_requests_total");
  }
  if (r.Chance(0.7)) {
    for (const LabelPairs& l : PickLabelSets(r, r.Int(1, 4), {{"job", kJobs}, {"instance", kInstances}})) {
      out.push_back({SeriesText("temperature_celsius", l), GaugeValues(r, steps)});
    }
    u.metrics.push_back({"temperature_celsius", {"job", "instance"}});
    u.gauges.push_back("temperature_celsius");
  }
  if (r.Chance(0.6)) {
    for (const LabelPairs& l : PickLabelSets(r, r.Int(1, 4), {{"job", kJobs}, {"instance", kInstances}})) {
      out.push_back({SeriesText("up", l), UpValues(r, steps)});
    }
    u.metrics.push_back({"up", {"job", "instance"}});
    u.gauges.push_back("up");
  }
  if (r.Chance(0.45)) {
    u.histogram = true;
    for (const LabelPairs& job : PickLabelSets(r, r.Int(1, 2), {{"job", kJobs}})) {
      // Cumulative bucket counters, consistent across `le`, with an occasional reset.
      std::vector<std::vector<std::string>> columns(kLe.size() + 1);
      std::vector<double> count(kLe.size(), 0);
      double sum = 0;
      for (int i = 0; i < steps; ++i) {
        if (i > 0 && r.Chance(0.04)) {
          std::fill(count.begin(), count.end(), 0);
          sum = 0;
        }
        double below = 0;
        for (size_t b = 0; b < kLe.size(); ++b) {
          below += r.Int(0, 3);
          count[b] += below;
        }
        sum += below * 0.25 + r.Int(0, 4) * 0.125;
        bool gap = r.Chance(0.03);
        for (size_t b = 0; b < kLe.size(); ++b) columns[b].push_back(gap ? "_" : Num(count[b]));
        columns[kLe.size()].push_back(gap ? "_" : Num(sum));
      }
      if (r.Chance(0.1)) {
        // A bucket out of order (as scrapes of a changing histogram give):
        // histogram_quantile must mend it as Prometheus does.
        size_t b = static_cast<size_t>(r.Int(0, static_cast<int>(kLe.size()) - 2));
        for (std::string& v : columns[b]) {
          if (v != "_") v = Num(std::stod(v) + r.Int(1, 5));
        }
      }
      for (size_t b = 0; b < kLe.size(); ++b) {
        LabelPairs l = job;
        l.emplace_back("le", kLe[b]);
        out.push_back({SeriesText("request_duration_seconds_bucket", l), absl::StrJoin(columns[b], " ")});
      }
      out.push_back({SeriesText("request_duration_seconds_count", job), absl::StrJoin(columns[kLe.size() - 1], " ")});
      out.push_back({SeriesText("request_duration_seconds_sum", job), absl::StrJoin(columns[kLe.size()], " ")});
    }
    u.metrics.push_back({"request_duration_seconds_bucket", {"job", "le"}});
    u.metrics.push_back({"request_duration_seconds_count", {"job"}});
    u.metrics.push_back({"request_duration_seconds_sum", {"job"}});
    u.counters.push_back("request_duration_seconds_bucket");
    u.counters.push_back("request_duration_seconds_count");
    u.counters.push_back("request_duration_seconds_sum");
  }
}

// ---- Expressions ---------------------------------------------------------------

// A generated expression: its text and whether it is a binary operation (so a
// parent may want parentheses around it).
struct Gen {
  std::string text;
  bool binary = false;
};

class ExprGen {
 public:
  ExprGen(Rng& r, const MetricUniverse& u) : r_(r), u_(u) {}

  std::string MetricName(bool counter_preferred) {
    if (r_.Chance(0.04)) return "missing_metric";
    const std::vector<std::string>& pool =
        counter_preferred && !u_.counters.empty() && r_.Chance(0.7) ? u_.counters
        : !u_.gauges.empty() && r_.Chance(0.5)                      ? u_.gauges
        : !u_.counters.empty()                                      ? u_.counters
                                                                    : u_.gauges;
    if (pool.empty()) return "missing_metric";
    return r_.Pick(pool);
  }

  std::string Matchers() {
    std::vector<std::string> m;
    int n = r_.Weighted({45, 40, 15});
    static const std::vector<std::string> kChoices = {
        "job=\"api\"",        "job!=\"db\"",        "job=~\"api|web\"", "job!~\"w.*\"",
        "instance=\"a\"",     "instance!=\"a\"",    "code=~\"5..\"",    "code=\"200\"",
        "job=~\".*\"",        "instance=~\"a|c\"",  "job=\"\"",         "zone!=\"x\"",
        "job=~\"API\"",       "le=~\"0.5|\\\\+Inf\""};
    for (int i = 0; i < n; ++i) m.push_back(r_.Pick(kChoices));
    if (m.empty()) return "";
    return absl::StrCat("{", absl::StrJoin(m, ", "), "}");
  }

  std::string Offset() {
    if (!r_.Chance(0.1)) return "";
    static const std::vector<std::string> kOffsets = {"30s", "1m", "2m", "5m"};
    return absl::StrCat(" offset ", r_.Pick(kOffsets));
  }

  std::string Selector(bool counter_preferred = false) {
    if (r_.Chance(0.03)) return absl::StrCat("{job=\"api\"}", Offset());
    if (r_.Chance(0.02)) return absl::StrCat("{__name__=~\"up|temperature_celsius\"}", Offset());
    return absl::StrCat(MetricName(counter_preferred), Matchers(), Offset());
  }

  std::string Range() {
    static const std::vector<std::string> kRanges = {"1m", "2m", "3m", "5m", "10m", "90s", "1m30s", "150s"};
    return r_.Pick(kRanges);
  }

  std::string RangeSelector(bool counter_preferred) {
    std::string sel = absl::StrCat(MetricName(counter_preferred), Matchers());
    return absl::StrCat(sel, "[", Range(), "]", Offset());
  }

  std::string Labels() {
    static const std::vector<std::string> kLists = {"job", "instance", "job, instance", "code", "",
                                                    "job, code", "zone", "le", "job, le", "__name__", "instance, job,"};
    return r_.Pick(kLists);
  }

  std::string ScalarLiteral() {
    static const std::vector<std::string> kNums = {"0", "1", "2", "3", "5", "10", "0.5", "2.5", "100", "-1", "1e2", "0.25"};
    // Rarer literal forms, for the lexer.
    static const std::vector<std::string> kOdd = {"0x10", "Inf", "-Inf", "NaN", ".5", "1e-1", "+2", "010"};
    return r_.Chance(0.06) ? r_.Pick(kOdd) : r_.Pick(kNums);
  }

  static std::string Paren(const Gen& g) { return g.binary ? absl::StrCat("(", g.text, ")") : g.text; }
  std::string MaybeParen(const Gen& g) {
    // Mostly parenthesised; sometimes left to the precedence rules.
    return g.binary && r_.Chance(0.8) ? absl::StrCat("(", g.text, ")") : g.text;
  }

  Gen RangeFunction() {
    static const std::vector<std::string> kCounterFns = {"rate", "irate", "increase", "resets"};
    static const std::vector<std::string> kAnyFns = {
        "delta",           "idelta",         "changes",          "deriv",
        "avg_over_time",   "min_over_time",  "max_over_time",    "sum_over_time",
        "count_over_time", "last_over_time", "stddev_over_time", "stdvar_over_time",
        "present_over_time", "absent_over_time"};
    int kind = r_.Weighted({40, 45, 8, 7});
    if (kind == 0) return {absl::StrCat(r_.Pick(kCounterFns), "(", RangeSelector(true), ")")};
    if (kind == 1) return {absl::StrCat(r_.Pick(kAnyFns), "(", RangeSelector(false), ")")};
    if (kind == 2) {
      static const std::vector<std::string> kQ = {"0", "0.5", "0.9", "1", "0.25", "-1", "2"};
      return {absl::StrCat("quantile_over_time(", r_.Pick(kQ), ", ", RangeSelector(false), ")")};
    }
    static const std::vector<std::string> kT = {"60", "300", "-60", "0"};
    return {absl::StrCat("predict_linear(", RangeSelector(false), ", ", r_.Pick(kT), ")")};
  }

  Gen HistogramQuantile() {
    static const std::vector<std::string> kQ = {"0.5", "0.9", "0.99", "0", "1", "0.25"};
    static const std::vector<std::string> kInner = {
        "sum by (le) (rate(request_duration_seconds_bucket[5m]))",
        "sum by (job, le) (rate(request_duration_seconds_bucket[5m]))",
        "rate(request_duration_seconds_bucket[5m])",
        "request_duration_seconds_bucket",
        "sum without (instance) (increase(request_duration_seconds_bucket[3m]))",
        "request_duration_seconds_bucket{le!=\"+Inf\"}"};
    return {absl::StrCat("histogram_quantile(", r_.Pick(kQ), ", ", r_.Pick(kInner), ")")};
  }

  Gen Vector(int depth) {
    if (depth <= 0) {
      int kind = r_.Weighted({55, 40, u_.histogram ? 5 : 0});
      if (kind == 0) return {Selector()};
      if (kind == 1) return RangeFunction();
      return HistogramQuantile();
    }
    int kind = r_.Weighted({8, 12, 6, 18, 5, 12, 14, 6, 3, 4, 3, 4, 5});
    switch (kind) {
      case 0:
        return RangeFunction();
      case 1: {  // elementwise functions
        static const std::vector<std::string> kFns = {"abs", "ceil", "floor", "round", "sort", "sort_desc",
                                                      "timestamp", "absent"};
        std::string fn = r_.Pick(kFns);
        Gen inner = fn == "absent" && r_.Chance(0.5) ? Gen{Selector()} : Vector(depth - 1);
        if (fn == "round" && r_.Chance(0.4)) {
          static const std::vector<std::string> kTo = {"0.5", "2", "10", "0.25"};
          return {absl::StrCat("round(", inner.text, ", ", r_.Pick(kTo), ")")};
        }
        return {absl::StrCat(fn, "(", inner.text, ")")};
      }
      case 2: {  // clamps
        static const std::vector<std::string> kBounds = {"0", "1", "5", "-1", "10", "2.5"};
        Gen inner = Vector(depth - 1);
        int which = r_.Int(0, 2);
        if (which == 0) return {absl::StrCat("clamp(", inner.text, ", ", r_.Pick(kBounds), ", ", r_.Pick(kBounds), ")")};
        return {absl::StrCat(which == 1 ? "clamp_min(" : "clamp_max(", inner.text, ", ", r_.Pick(kBounds), ")")};
      }
      case 3:
        return Aggregation(depth);
      case 4: {  // label_replace / label_join
        Gen inner = Vector(depth - 1);
        if (r_.Chance(0.7)) {
          static const std::vector<std::string> kDst = {"new", "job", "dst"};
          static const std::vector<std::string> kRepl = {"$1", "x-$1", "${1}y", "$2", "fixed", "", "$0", "$1$1"};
          static const std::vector<std::string> kSrc = {"job", "instance", "__name__", "code", "zone"};
          static const std::vector<std::string> kRe = {"(.*)", "(a|b)", "ap(.*)", "(.+)", "", "(w)(e)b", "x*"};
          return {absl::StrCat("label_replace(", inner.text, ", \"", r_.Pick(kDst), "\", \"", r_.Pick(kRepl),
                               "\", \"", r_.Pick(kSrc), "\", \"", r_.Pick(kRe), "\")")};
        }
        static const std::vector<std::string> kSrcs = {"\"job\", \"instance\"", "\"instance\"", "\"job\", \"zone\"",
                                                       "", "\"__name__\", \"job\""};
        std::string srcs = r_.Pick(kSrcs);
        return {absl::StrCat("label_join(", inner.text, ", \"joined\", \"-\"", srcs.empty() ? "" : ", ", srcs, ")")};
      }
      case 5: {  // vector op scalar, scalar op vector
        Gen v = Vector(depth - 1);
        std::string s = r_.Chance(0.8) ? ScalarLiteral() : Paren(Scalar(depth - 1));
        std::string op = BinaryOp(/*vector_vector=*/false);
        std::string lhs = MaybeParen(v);
        if (r_.Chance(0.3)) return {absl::StrCat(s, " ", op, " ", lhs), true};
        return {absl::StrCat(lhs, " ", op, " ", s), true};
      }
      case 6:
        return VectorVector(depth);
      case 7: {  // set operators
        Gen a = Vector(depth - 1);
        Gen b = Vector(depth - 1);
        static const std::vector<std::string> kOps = {"and", "or", "unless"};
        std::string mod;
        int m = r_.Weighted({60, 25, 15});
        if (m == 1) mod = absl::StrCat(" on(", Labels(), ")");
        if (m == 2) mod = absl::StrCat(" ignoring(", Labels(), ")");
        return {absl::StrCat(MaybeParen(a), " ", r_.Pick(kOps), mod, " ", MaybeParen(b)), true};
      }
      case 8:
        return {absl::StrCat("vector(", Scalar(depth - 1).text, ")")};
      case 9:
        if (u_.histogram) return HistogramQuantile();
        return RangeFunction();
      case 10: {  // unary minus
        Gen v = Vector(depth - 1);
        return {absl::StrCat("-", Paren(v))};
      }
      case 11: {  // parentheses
        Gen v = Vector(depth - 1);
        return {absl::StrCat("(", v.text, ")")};
      }
      default: {  // offset on a plain selector inside a function
        return {absl::StrCat("timestamp(", Selector(), ")")};
      }
    }
  }

  std::string BinaryOp(bool vector_vector) {
    static const std::vector<std::string> kArith = {"+", "-", "*", "/", "%", "^"};
    static const std::vector<std::string> kCmp = {"==", "!=", ">", "<", ">=", "<="};
    if (r_.Chance(0.5)) return r_.Pick(kArith);
    std::string op = r_.Pick(kCmp);
    if (r_.Chance(vector_vector ? 0.4 : 0.35)) op += " bool";
    return op;
  }

  Gen VectorVector(int depth) {
    Gen a = Vector(depth - 1);
    Gen b = Vector(depth - 1);
    std::string op = BinaryOp(true);
    int m = r_.Weighted({45, 25, 15, 15});
    std::string mod;
    if (m == 1 || m == 2) {
      mod = absl::StrCat(m == 1 ? " on(" : " ignoring(", Labels(), ")");
      if (r_.Chance(0.35)) {
        mod += r_.Chance(0.6) ? " group_left" : " group_right";
        if (r_.Chance(0.3)) mod += "(code)";
      }
    } else if (m == 3) {
      // A shape that usually matches: many per job against one per job.
      static const std::vector<std::string> kAgg = {"sum", "max", "count", "avg"};
      Gen one = {absl::StrCat(r_.Pick(kAgg), " by (job) (", Vector(depth - 1).text, ")")};
      return {absl::StrCat(MaybeParen(a), " ", op, " on(job) group_left ", MaybeParen(one)), true};
    }
    return {absl::StrCat(MaybeParen(a), " ", op, mod, " ", MaybeParen(b)), true};
  }

  Gen Aggregation(int depth) {
    static const std::vector<std::string> kOps = {"sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"};
    Gen inner = Vector(depth - 1);
    std::string grouping;
    int g = r_.Weighted({30, 45, 25});
    if (g == 1) grouping = absl::StrCat("by (", Labels(), ")");
    if (g == 2) grouping = absl::StrCat("without (", Labels(), ")");
    int kind = r_.Weighted({70, 12, 8, 10});
    std::string op, param;
    if (kind == 0) {
      op = r_.Pick(kOps);
    } else if (kind == 1) {
      op = r_.Chance(0.5) ? "topk" : "bottomk";
      static const std::vector<std::string> kK = {"1", "2", "3", "0", "1.5"};
      param = absl::StrCat(r_.Pick(kK), ", ");
    } else if (kind == 2) {
      op = "quantile";
      static const std::vector<std::string> kQ = {"0", "0.25", "0.5", "0.9", "1", "1.5", "-0.5"};
      param = absl::StrCat(r_.Pick(kQ), ", ");
    } else {
      op = "count_values";
      param = r_.Chance(0.8) ? "\"value\", " : "\"job\", ";
    }
    if (kind == 1) topk_inputs_.push_back(inner.text);
    if (!grouping.empty() && r_.Chance(0.25)) {
      return {absl::StrCat(op, "(", param, inner.text, ") ", grouping)};
    }
    return {absl::StrCat(op, grouping.empty() ? "" : " ", grouping, grouping.empty() ? "" : " ", "(", param,
                         inner.text, ")")};
  }

  Gen Scalar(int depth) {
    if (depth <= 0) {
      int kind = r_.Weighted({70, 15, 15});
      if (kind == 0) return {ScalarLiteral()};
      if (kind == 1) return {"time()"};
      return {absl::StrCat("scalar(", Selector(), ")")};
    }
    int kind = r_.Weighted({25, 10, 35, 20, 10});
    switch (kind) {
      case 0:
        return {ScalarLiteral()};
      case 1:
        return {"time()"};
      case 2:
        return {absl::StrCat("scalar(", Vector(depth - 1).text, ")")};
      case 3: {
        Gen a = Scalar(depth - 1);
        Gen b = Scalar(depth - 1);
        std::string op = BinaryOp(false);
        if (op.find_first_of("=<>!") != std::string::npos && op.find("bool") == std::string::npos) op += " bool";
        return {absl::StrCat(MaybeParen(a), " ", op, " ", MaybeParen(b)), true};
      }
      default:
        return {absl::StrCat("(", Scalar(depth - 1).text, ")")};
    }
  }

  // An expression made invalid on purpose (a parse or type error, or one that
  // fails at evaluation); both sides must refuse it.
  std::string Invalid() {
    std::string sel = absl::StrCat(MetricName(false), Matchers());
    switch (r_.Int(0, 11)) {
      case 0:
        return absl::StrCat("rate(", sel, ")");
      case 1:
        return absl::StrCat("sum(", sel, "[5m])");
      case 2:
        return "1 > 2";
      case 3:
        return absl::StrCat("no_such_function(", sel, ")");
      case 4:
        return absl::StrCat(sel, " +");
      case 5:
        return absl::StrCat("topk(\"x\", ", sel, ")");
      case 6:
        return absl::StrCat(sel, "[5m] + 1");
      case 7:
        return absl::StrCat("label_replace(", sel, ", \"dst\", \"$1\", \"job\", \"(\")");
      case 8:
        return absl::StrCat(sel, " and 1");
      case 9:
        return absl::StrCat("rate(", sel, "[5m] offset)");
      case 10:
        return absl::StrCat("count_values(\"1bad\", ", sel, ")");
      default:
        return absl::StrCat("sum by (job) (", sel, "{job=\"api\"})");
    }
  }

  std::vector<std::string>& topk_inputs() { return topk_inputs_; }

 private:
  Rng& r_;
  const MetricUniverse& u_;
  std::vector<std::string> topk_inputs_;
};

// Check times: mostly on evaluation steps, sometimes between them.
std::vector<int64_t> CheckTimes(Rng& r, int count, int64_t end_ms, int64_t step_ms) {
  std::vector<int64_t> times;
  for (int i = 0; i < count * 3 && static_cast<int>(times.size()) < count; ++i) {
    int64_t t;
    if (r.Chance(0.85)) {
      t = static_cast<int64_t>(r.Int(0, static_cast<int>(end_ms / step_ms))) * step_ms;
    } else {
      t = static_cast<int64_t>(r.Int(0, static_cast<int>(end_ms / 5000))) * 5000;
    }
    if (std::find(times.begin(), times.end(), t) == times.end()) times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  return times;
}

}  // namespace

std::string FormatDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  int64_t h = ms / 3600000;
  ms %= 3600000;
  int64_t m = ms / 60000;
  ms %= 60000;
  int64_t s = ms / 1000;
  ms %= 1000;
  if (h > 0) absl::StrAppend(&out, h, "h");
  if (m > 0) absl::StrAppend(&out, m, "m");
  if (s > 0) absl::StrAppend(&out, s, "s");
  if (ms > 0) absl::StrAppend(&out, ms, "ms");
  return out;
}

Case GenerateCase(uint64_t seed, const std::string& name) {
  Rng r(seed);
  Case c;
  c.seed = seed;
  static const std::vector<int64_t> kIntervals = {15000, 30000, 60000};
  static const std::vector<int64_t> kEvalIntervals = {30000, 60000};
  const int64_t interval = r.Pick(kIntervals);
  const int64_t eval_interval = r.Pick(kEvalIntervals);
  const int steps = r.Int(8, 40);
  MetricUniverse universe;
  std::vector<SeriesSpec> series;
  GenerateSeries(r, steps, series, universe);
  const int64_t data_end = steps * interval;
  const int64_t check_end = std::min<int64_t>(data_end + 7 * 60000, 45 * 60000);

  ExprGen gen(r, universe);
  const bool scalar_top = r.Chance(0.12);
  const int depth = r.Int(1, 3);
  if (r.Chance(0.04)) {
    c.expr = gen.Invalid();
    c.meant_invalid = true;
  } else {
    c.expr = scalar_top ? gen.Scalar(depth).text : gen.Vector(depth).text;
  }
  // Now and then a trailing comment, where nothing follows the expression.
  const std::string commented = r.Chance(0.03) ? c.expr + "  # a comment" : c.expr;

  // File 1: the expression alone, at several times.
  c.exprs.name = name + "_exprs";
  c.exprs.evaluation_interval_ms = eval_interval;
  c.exprs.interval_ms = interval;
  c.exprs.series = series;
  const std::vector<int64_t> expr_times = CheckTimes(r, r.Int(3, 6), check_end, eval_interval);
  for (int64_t t : expr_times) c.exprs.exprs.push_back({commented, t});
  if (!c.meant_invalid) {
    for (const std::string& input : gen.topk_inputs()) {
      if (std::find(c.topk_inputs.begin(), c.topk_inputs.end(), input) != c.topk_inputs.end() ||
          input == c.expr) {
        continue;
      }
      c.topk_inputs.push_back(input);
      for (int64_t t : expr_times) c.exprs.exprs.push_back({input, t});
    }
  }

  // File 2: a recording rule of the expression and alerting rules on it.
  TestFileSpec& rules = c.rules;
  rules.name = name + "_rules";
  rules.evaluation_interval_ms = eval_interval;
  rules.interval_ms = interval;
  rules.series = series;
  RecordSpec record{"case:rec", commented, {}};
  if (r.Chance(0.3)) record.labels.emplace_back("src", "rec");
  rules.records.push_back(record);

  AlertSpec alert;
  alert.name = "CaseAlert";
  static const std::vector<std::string> kThresholds = {"0", "1", "2", "5", "10", "0.5"};
  int shape = r.Weighted({35, 45, 20});
  if (shape == 0) {
    alert.expr = c.expr;
  } else if (shape == 1) {
    // A scalar compared with a scalar needs `bool` and stays a scalar: wrap it in vector().
    alert.expr = absl::StrCat(scalar_top ? "vector(" : "(", c.expr, ") ", r.Chance(0.6) ? ">" : "<", " ",
                              r.Pick(kThresholds));
  } else {
    alert.expr = absl::StrCat("case:rec ", r.Chance(0.6) ? ">" : "<=", " ", r.Pick(kThresholds));
  }
  static const std::vector<int64_t> kFor = {0, 0, 30000, 60000, 120000, 180000};
  alert.for_ms = r.Pick(kFor);
  if (r.Chance(0.2)) {
    static const std::vector<int64_t> kKeep = {30000, 60000, 120000};
    alert.keep_firing_for_ms = r.Pick(kKeep);
  }
  if (r.Chance(0.7)) alert.labels.emplace_back("severity", "page");
  if (r.Chance(0.25)) alert.labels.emplace_back("team", "{{ $labels.job }}");
  if (r.Chance(0.05)) alert.labels.emplace_back("value", "{{ $value }}");
  int annotation = r.Weighted({25, 15, 25, 10, 25});
  if (annotation == 1) alert.annotations.emplace_back("summary", "static text");
  if (annotation == 2) {
    alert.annotations.emplace_back("summary", "{{ $labels.instance }} at {{ $value }}");
  }
  if (annotation == 3) alert.annotations.emplace_back("description", "{{ $value | humanize }} on {{ $labels.job }}");
  if (annotation == 4) {
    static const std::vector<std::string> kTemplates = {
        "{{ $value | humanizeDuration }}",
        "{{ $value | humanizePercentage }}",
        "{{ humanize1024 $value }}",
        "{{ printf \"%.2f\" $value }}",
        "{{ $labels.job | toUpper }} {{ .Labels.instance }} {{ .Value }}",
        "{{ $value | humanizeTimestamp }}",
        "{{ title \"hello world\" }} {{ toLower \"ABC\" }}",
    };
    alert.annotations.emplace_back("detail", r.Pick(kTemplates));
  }
  rules.alerts.push_back(alert);
  if (r.Chance(0.3)) {
    AlertSpec second;
    second.name = "CaseSecond";
    ExprGen g2(r, universe);
    second.expr = absl::StrCat("(", g2.Vector(r.Int(0, 1)).text, ") > ", r.Pick(kThresholds));
    second.for_ms = r.Pick(kFor);
    rules.alerts.push_back(second);
  }

  const std::vector<int64_t> alert_times = CheckTimes(r, r.Int(4, 7), check_end, eval_interval);
  for (int64_t t : alert_times) rules.alert_checks.push_back({"CaseAlert", t});
  if (rules.alerts.size() > 1) {
    for (int64_t t : CheckTimes(r, 2, check_end, eval_interval)) rules.alert_checks.push_back({"CaseSecond", t});
  }
  for (int64_t t : CheckTimes(r, r.Int(2, 4), check_end, eval_interval)) rules.exprs.push_back({"case:rec", t});
  for (int64_t t : CheckTimes(r, 2, check_end, eval_interval)) rules.exprs.push_back({"ALERTS", t});
  if (r.Chance(0.4)) {
    for (int64_t t : CheckTimes(r, 1, check_end, eval_interval)) {
      rules.exprs.push_back({"count_over_time(case:rec[5m])", t});
    }
  }
  // Drawn last: the rest of the case is drawn as before.
  if (r.Chance(0.3)) {
    for (int64_t t : CheckTimes(r, 2, check_end, eval_interval)) rules.exprs.push_back({"ALERTS_FOR_STATE", t});
  }
  return c;
}


// ---- Rendering ---------------------------------------------------------------

namespace {

std::string YamlQuote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  return out + "'";
}

std::string TomlKey(const std::string& k) { return TomlString(k); }

std::string TomlInlineTable(const LabelPairs& pairs) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : pairs) parts.push_back(absl::StrCat(TomlKey(k), " = ", TomlString(v)));
  return absl::StrCat("{ ", absl::StrJoin(parts, ", "), parts.empty() ? "}" : " }");
}

}  // namespace

std::string TomlString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

std::string TomlFloat(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = Num(v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  // to_chars writes 1e+300; TOML wants digits around the point: "1e+300" is fine.
  return s;
}

std::string PromtoolRulesYaml(const TestFileSpec& spec) {
  std::string out = "groups:\n- name: " + YamlQuote(spec.name) + "\n  rules:\n";
  if (spec.records.empty() && spec.alerts.empty()) return "groups: []\n";
  for (const RecordSpec& r : spec.records) {
    absl::StrAppend(&out, "  - record: ", YamlQuote(r.record), "\n    expr: ", YamlQuote(r.expr), "\n");
    if (!r.labels.empty()) {
      out += "    labels:\n";
      for (const auto& [k, v] : r.labels) absl::StrAppend(&out, "      ", k, ": ", YamlQuote(v), "\n");
    }
  }
  for (const AlertSpec& a : spec.alerts) {
    absl::StrAppend(&out, "  - alert: ", YamlQuote(a.name), "\n    expr: ", YamlQuote(a.expr), "\n");
    if (a.for_ms > 0) absl::StrAppend(&out, "    for: ", FormatDuration(a.for_ms), "\n");
    if (a.keep_firing_for_ms > 0) {
      absl::StrAppend(&out, "    keep_firing_for: ", FormatDuration(a.keep_firing_for_ms), "\n");
    }
    if (!a.labels.empty()) {
      out += "    labels:\n";
      for (const auto& [k, v] : a.labels) absl::StrAppend(&out, "      ", k, ": ", YamlQuote(v), "\n");
    }
    if (!a.annotations.empty()) {
      out += "    annotations:\n";
      for (const auto& [k, v] : a.annotations) absl::StrAppend(&out, "      ", k, ": ", YamlQuote(v), "\n");
    }
  }
  return out;
}

std::string PromtoolTestYaml(const TestFileSpec& spec, const std::string& rule_file) {
  std::string out;
  absl::StrAppend(&out, "rule_files: [", YamlQuote(rule_file), "]\n");
  absl::StrAppend(&out, "evaluation_interval: ", FormatDuration(spec.evaluation_interval_ms), "\n");
  absl::StrAppend(&out, "tests:\n- name: ", YamlQuote(spec.name), "\n  interval: ",
                  FormatDuration(spec.interval_ms), "\n  input_series:", spec.series.empty() ? " []" : "", "\n");
  for (const SeriesSpec& s : spec.series) {
    absl::StrAppend(&out, "  - series: ", YamlQuote(s.series), "\n    values: ", YamlQuote(s.values), "\n");
  }
  if (!spec.alert_checks.empty()) {
    out += "  alert_rule_test:\n";
    for (const AlertCheck& a : spec.alert_checks) {
      absl::StrAppend(&out, "  - eval_time: ", FormatDuration(a.at_ms), "\n    alertname: ", YamlQuote(a.rule),
                      "\n    exp_alerts: []\n");
    }
  }
  if (!spec.exprs.empty()) {
    out += "  promql_expr_test:\n";
    for (const ExprCheck& e : spec.exprs) {
      absl::StrAppend(&out, "  - expr: ", YamlQuote(e.expr), "\n    eval_time: ", FormatDuration(e.at_ms),
                      "\n    exp_samples: []\n");
    }
  }
  return out;
}

std::string KlaxonRulesToml(const TestFileSpec& spec) {
  std::string out = absl::StrCat("# rules of ", spec.name, "\n");
  for (const RecordSpec& r : spec.records) {
    absl::StrAppend(&out, "\n[[record]]\nrecord = ", TomlString(r.record), "\nexpr = ", TomlString(r.expr), "\n");
    if (!r.labels.empty()) absl::StrAppend(&out, "labels = ", TomlInlineTable(r.labels), "\n");
  }
  for (const AlertSpec& a : spec.alerts) {
    absl::StrAppend(&out, "\n[[rule]]\nname = ", TomlString(a.name), "\nexpr = ", TomlString(a.expr), "\n");
    if (a.for_ms > 0) absl::StrAppend(&out, "for = ", TomlString(FormatDuration(a.for_ms)), "\n");
    if (a.keep_firing_for_ms > 0) {
      absl::StrAppend(&out, "keep_firing_for = ", TomlString(FormatDuration(a.keep_firing_for_ms)), "\n");
    }
    if (!a.labels.empty()) absl::StrAppend(&out, "labels = ", TomlInlineTable(a.labels), "\n");
    if (!a.annotations.empty()) absl::StrAppend(&out, "annotations = ", TomlInlineTable(a.annotations), "\n");
  }
  return out;
}

std::string KlaxonTestToml(const TestFileSpec& spec, const std::string& rule_file,
                           const Expectations& expected) {
  std::string out;
  absl::StrAppend(&out, "rule_files = [", TomlString(rule_file), "]\n");
  absl::StrAppend(&out, "evaluation_interval = ", TomlString(FormatDuration(spec.evaluation_interval_ms)), "\n");
  absl::StrAppend(&out, "\n[[test]]\nname = ", TomlString(spec.name), "\ninterval = ",
                  TomlString(FormatDuration(spec.interval_ms)), "\n");
  for (const SeriesSpec& s : spec.series) {
    absl::StrAppend(&out, "\n[[test.series]]\nseries = ", TomlString(s.series), "\nvalues = ", TomlString(s.values),
                    "\n");
  }
  for (size_t i = 0; i < spec.alert_checks.size(); ++i) {
    const AlertCheck& a = spec.alert_checks[i];
    absl::StrAppend(&out, "\n[[test.alert]]\nat = ", TomlString(FormatDuration(a.at_ms)), "\nrule = ",
                    TomlString(a.rule), "\n");
    if (i < expected.alerts.size()) {
      for (const ExpectedAlert& e : expected.alerts[i]) {
        absl::StrAppend(&out, "[[test.alert.firing]]\nlabels = ", TomlInlineTable(e.labels), "\nannotations = ",
                        TomlInlineTable(e.annotations), "\n");
      }
    }
  }
  for (size_t i = 0; i < spec.exprs.size(); ++i) {
    const ExprCheck& e = spec.exprs[i];
    absl::StrAppend(&out, "\n[[test.expr]]\nat = ", TomlString(FormatDuration(e.at_ms)), "\nexpr = ",
                    TomlString(e.expr), "\n");
    if (i < expected.exprs.size()) {
      for (const ExpectedSample& s : expected.exprs[i]) {
        absl::StrAppend(&out, "[[test.expr.sample]]\nlabels = ", TomlString(s.labels == "{}" ? "" : s.labels),
                        "\nvalue = ", TomlFloat(s.value), "\n");
      }
    }
  }
  return out;
}

}  // namespace klaxon::difftest
