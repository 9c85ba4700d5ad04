// Fuzzes LogMatcher with a fixed set of patterns (literals, regexes with and
// without named groups): whatever the bytes, it must not crash, and its counts
// must equal those of a plain line-by-line reference that asks RE2 (bytes,
// Latin-1) about each line. Also fuzzes RestoreState, with inputs passed as
// they come and with a valid header and checksum wrapped around them so that
// the fuzzer reaches the parser behind the checksum.
//
// The first input byte chooses what to do: Consume (in two calls split where
// the second byte says), RestoreState of raw bytes, or of wrapped bytes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "probes/log_matcher.h"
#include "re2/re2.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

constexpr size_t kMaxLineBytes = 64;
constexpr size_t kMaxLabelSets = 3;

struct Pattern {
  const char* name;
  std::string contains;
  std::string regex;
};

const std::vector<Pattern>& Patterns() {
  static const auto* patterns = new std::vector<Pattern>{
      {"error", "error", ""},
      {"nul", std::string("a\0b", 3), ""},
      {"high", "\xff\xfe", ""},
      {"http_5xx", "", R"(" (?P<code>5\d\d) )"},
      {"user", "", R"((?P<user>[a-z]+)@(?P<host>[^ ]*))"},
      {"digits", "", R"(^\d+$)"},
      {"ungreedy", "", R"((?U)x.*y)"},
      {"spaces", "", R"(\s\S\v)"},
      {"any_ff", "", R"((?s:.)\xff)"},
      {"quoted", "", R"([^"]*")"},
      {"bytes", "", R"((?P<tail>\C{3})$)"},
      {"octal", "", R"(\101[\s\d]+)"},
  };
  return *patterns;
}

struct Reference {
  std::vector<std::unique_ptr<RE2>> regexes;  // Null for literals.
};

const Reference& Ref() {
  static const Reference* ref = [] {
    auto* r = new Reference;
    RE2::Options options;
    options.set_encoding(RE2::Options::EncodingLatin1);
    for (const Pattern& p : Patterns()) {
      r->regexes.push_back(p.regex.empty() ? nullptr : std::make_unique<RE2>(p.regex, options));
    }
    return r;
  }();
  return *ref;
}

// The state of the matcher before any input, to start over from.
const std::string* zero_state = nullptr;

klaxon::LogMatcher& Matcher() {
  static klaxon::LogMatcher* matcher = [] {
    klaxon::LogMatcherOptions options;
    options.log = "fuzz";
    options.max_line_bytes = kMaxLineBytes;
    options.recent_lines = 2;
    options.max_recent_line_bytes = 32;
    options.max_label_value_bytes = 16;
    for (const Pattern& p : Patterns()) {
      klaxon::LogMatchOptions m;
      m.name = p.name;
      m.contains = p.contains;
      m.regex = p.regex;
      m.max_label_sets = kMaxLabelSets;
      options.matches.push_back(m);
    }
    auto created = klaxon::LogMatcher::Create(options);
    Check(created.ok());
    zero_state = new std::string((*created)->SaveState());
    return created->release();
  }();
  return *matcher;
}

bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80                ? 1
                 : c >= 0xC2 && c < 0xE0 ? 2
                 : c >= 0xE0 && c < 0xF0 ? 3
                 : c >= 0xF0 && c < 0xF5 ? 4
                                         : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// What the counters read now: series name and match -> summed value, where a
// match's label sets and its dropped counter add up to its matching lines.
absl::flat_hash_map<std::string, double> Totals() {
  absl::flat_hash_map<std::string, double> totals;
  for (const auto& s : Matcher().Snapshot()) {
    Check(s.labels.Get("log") == "fuzz");
    for (const auto& l : s.labels.items()) Check(ValidUtf8(l.value));
    absl::string_view name = s.labels.MetricName();
    std::string key = std::string(s.labels.Get("match"));
    if (key.empty()) key = std::string(name);
    for (const auto& l : s.labels.items()) {
      bool captured = l.name != "__name__" && l.name != "log" && l.name != "match";
      Check(!captured || l.value.size() <= 16);
    }
    if (name == klaxon::kLogMatchesTotal) {
      // Lines Hyperscan matched have the values RE2 finds on them.
      if (key == "http_5xx") {
        absl::string_view code = s.labels.Get("code");
        Check(code.size() == 3 && code[0] == '5');
      }
      if (key == "user") Check(!s.labels.Get("user").empty());
    }
    totals[key] += s.value;
  }
  return totals;
}

// Adds what Consume(text) should count to `expected`.
void CountReference(absl::string_view text, absl::flat_hash_map<std::string, double>& expected) {
  const auto& patterns = Patterns();
  while (!text.empty()) {
    size_t nl = text.find('\n');
    absl::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == absl::string_view::npos ? text.size() : nl + 1);
    expected[std::string(klaxon::kLogLinesTotal)] += 1;
    if (line.size() > kMaxLineBytes) expected[std::string(klaxon::kLogLinesTruncatedTotal)] += 1;
    if (line.find('\0') != absl::string_view::npos) {
      expected[std::string(klaxon::kLogLinesWithNulTotal)] += 1;
    }
    if (!ValidUtf8(line)) expected[std::string(klaxon::kLogLinesInvalidUtf8Total)] += 1;
    absl::string_view prefix = line.substr(0, kMaxLineBytes);
    for (size_t i = 0; i < patterns.size(); ++i) {
      const RE2* re = Ref().regexes[i].get();
      bool match = re == nullptr
                       ? prefix.find(patterns[i].contains) != absl::string_view::npos
                       : RE2::PartialMatch(re2::StringPiece(prefix.data(), prefix.size()), *re);
      if (match) expected[patterns[i].name] += 1;
    }
  }
}

void CheckRecentLines() {
  for (const Pattern& p : Patterns()) {
    std::vector<std::string> recent = Matcher().RecentLines(p.name);
    Check(recent.size() <= 2);
    for (const std::string& line : recent) {
      Check(ValidUtf8(line));
      Check(line.size() <= 32);
    }
  }
}

uint64_t Fnv1a64(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

void CheckRestore(absl::string_view state) {
  const std::string before = Matcher().SaveState();
  absl::Status status = Matcher().RestoreState(state);
  if (!status.ok()) {
    Check(status.code() == absl::StatusCode::kInvalidArgument);
    Check(Matcher().SaveState() == before);  // unchanged
    return;
  }
  // What was restored saves and restores to itself.
  auto restored = Totals();
  std::string again = Matcher().SaveState();
  Check(Matcher().RestoreState(again).ok());
  Check(Totals() == restored);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 4;
  // A copy of exactly the bytes used, so that ASan catches any read past them.
  std::vector<char> copy(data + 1, data + size);
  absl::string_view input(copy.data(), copy.size());
  switch (mode) {
    case 0:
    case 1: {
      size_t split = input.empty() ? 0 : static_cast<unsigned char>(input[0]) % (input.size() + 1);
      if (!input.empty()) input.remove_prefix(1), split = std::min(split, input.size());
      // Counters restored from fuzzed states may be near 2^64, where adding
      // to a double loses the lines; start those over from zero.
      auto expected = Totals();
      for (const auto& [key, value] : expected) {
        if (value > 1e12) {
          Check(Matcher().RestoreState(*zero_state).ok());
          expected = Totals();
          break;
        }
      }
      CountReference(input.substr(0, split), expected);
      CountReference(input.substr(split), expected);
      Matcher().Consume(input.substr(0, split));
      Matcher().Consume(input.substr(split));
      auto got = Totals();
      for (const auto& [key, value] : expected) Check(got[key] == value);
      CheckRecentLines();
      break;
    }
    case 2:
      CheckRestore(input);
      break;
    case 3: {
      std::string state = "klaxon-log-matcher-state/1\n";
      state.push_back(4);
      state += "fuzz";
      state.append(input.data(), input.size());
      uint64_t checksum = Fnv1a64(state);
      for (int b = 0; b < 8; ++b) state += static_cast<char>((checksum >> (8 * b)) & 0xFF);
      CheckRestore(state);
      break;
    }
  }
  return 0;
}
