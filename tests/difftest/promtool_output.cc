#include "tests/difftest/promtool_output.h"

#include "rules/internal/format.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace klaxon::difftest {
namespace {


bool ParseValue(const std::string& text, double* out) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "nan") {
    *out = std::nan("");
    return true;
  }
  if (t == "+inf" || t == "inf") {
    *out = HUGE_VAL;
    return true;
  }
  if (t == "-inf") {
    *out = -HUGE_VAL;
    return true;
  }
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return end != text.c_str() && *end == '\0';
}

// "NAME, time: T," or "NAME, time: T, err: ..." after the keyword.
bool ParseSubjectTime(const std::string& rest, ReportBlock& block) {
  size_t at = rest.find(", time: ");
  if (at == std::string::npos) return false;
  block.subject = rest.substr(0, at);
  std::string tail = rest.substr(at + 8);
  size_t comma = tail.find(',');
  std::string duration = tail.substr(0, comma);
  block.at_ms = ParseDurationMs(std::string(absl::StripAsciiWhitespace(duration)));
  if (comma != std::string::npos) {
    std::string after = tail.substr(comma + 1);
    absl::string_view a = absl::StripLeadingAsciiWhitespace(after);
    if (absl::ConsumePrefix(&a, "err:")) block.error = std::string(absl::StripLeadingAsciiWhitespace(a));
  }
  return block.at_ms >= 0;
}

}  // namespace

int64_t ParseDurationMs(const std::string& text) {
  if (text.empty()) return -1;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && absl::ascii_isdigit(text[i])) ++i;
    if (i == start) return -1;
    int64_t n = std::strtoll(text.substr(start, i - start).c_str(), nullptr, 10);
    size_t unit_start = i;
    while (i < text.size() && absl::ascii_isalpha(text[i])) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    int64_t ms;
    if (unit == "ms") ms = 1;
    else if (unit == "s") ms = 1000;
    else if (unit == "m") ms = 60000;
    else if (unit == "h") ms = 3600000;
    else if (unit == "d") ms = 86400000;
    else if (unit == "w") ms = 7 * 86400000LL;
    else if (unit == "y") ms = 365 * 86400000LL;
    else return -1;
    total += n * ms;
  }
  return total;
}

std::optional<std::string> ReadGoQuoted(const std::string& s, size_t* pos) {
  size_t i = *pos;
  if (i >= s.size() || s[i] != '"') return std::nullopt;
  ++i;
  std::string out;
  while (i < s.size() && s[i] != '"') {
    if (s[i] != '\\') {
      out += s[i++];
      continue;
    }
    if (++i >= s.size()) return std::nullopt;
    char e = s[i++];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case '\'': out += '\''; break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + digits > s.size()) return std::nullopt;
        uint32_t v = static_cast<uint32_t>(std::strtoul(s.substr(i, digits).c_str(), nullptr, 16));
        i += digits;
        if (e == 'x') out += static_cast<char>(v);
        else rules_internal::AppendUtf8(out, v);
        break;
      }
      default:
        if (e >= '0' && e <= '7' && i + 2 <= s.size()) {  // \NNN octal
          out += static_cast<char>(std::strtoul(s.substr(i - 1, 3).c_str(), nullptr, 8));
          i += 2;
        } else {
          return std::nullopt;
        }
    }
  }
  if (i >= s.size()) return std::nullopt;
  *pos = i + 1;
  return out;
}

std::optional<Pairs> ReadBraces(const std::string& s, size_t* pos) {
  size_t i = *pos;
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  ++i;
  Pairs out;
  while (true) {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i < s.size() && s[i] == '}') {
      ++i;
      break;
    }
    size_t name_start = i;
    while (i < s.size() && s[i] != '=' && s[i] != '}' && s[i] != ',') ++i;
    if (i >= s.size() || s[i] != '=') return std::nullopt;
    std::string name = s.substr(name_start, i - name_start);
    ++i;
    std::optional<std::string> value = ReadGoQuoted(s, &i);
    if (!value) return std::nullopt;
    out.emplace_back(std::move(name), std::move(*value));
    while (i < s.size() && s[i] == ' ') ++i;
    if (i < s.size() && s[i] == ',') ++i;
  }
  *pos = i;
  return out;
}

std::optional<std::vector<ReportSample>> ParseSamples(const std::string& text) {
  std::vector<ReportSample> out;
  std::string t(absl::StripAsciiWhitespace(text));
  if (t == "nil" || t.empty()) return out;
  size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && t[i] == ' ') ++i;
    ReportSample sample;
    size_t start = i;
    // promtool prints `{__name__="x", a="b"}`; klaxon may print `x{a="b"}`.
    size_t name_end = i;
    while (name_end < t.size() && (absl::ascii_isalnum(t[name_end]) || t[name_end] == '_' || t[name_end] == ':')) {
      ++name_end;
    }
    std::string name = t.substr(i, name_end - i);
    i = name_end;
    std::optional<Pairs> labels = i < t.size() && t[i] == '{' ? ReadBraces(t, &i) : std::optional<Pairs>(Pairs{});
    if (!labels || (name.empty() && t[start] != '{')) return std::nullopt;
    if (!name.empty()) labels->insert(labels->begin(), {"__name__", name});
    sample.labels_text = t.substr(start, i - start);
    sample.labels = *std::move(labels);
    while (i < t.size() && t[i] == ' ') ++i;
    size_t value_start = i;
    while (i < t.size() && t[i] != ',' && t[i] != ' ') ++i;
    sample.value_text = t.substr(value_start, i - value_start);
    if (!ParseValue(sample.value_text, &sample.value)) return std::nullopt;
    out.push_back(std::move(sample));
    while (i < t.size() && (t[i] == ',' || t[i] == ' ')) ++i;
  }
  return out;
}

std::map<std::string, FileReport> ParseReports(const std::string& output) {
  std::map<std::string, FileReport> reports;
  FileReport* file = nullptr;
  ReportBlock* block = nullptr;
  std::string pending_name;
  bool in_got = false;  // for alert lists: after "got:"
  std::vector<std::string> lines = absl::StrSplit(output, '\n');
  for (const std::string& line : lines) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(line, "Unit Testing:")) {
      std::string path(absl::StripAsciiWhitespace(absl::string_view(line).substr(13)));
      file = &reports[path];
      file->status = FileReport::kFailed;  // until SUCCESS says otherwise
      file->raw += line + "\n";
      block = nullptr;
      pending_name.clear();
      continue;
    }
    if (file == nullptr) continue;
    // klaxon's closing summary ends the last file.
    if (!absl::StartsWith(line, " ") && absl::StrContains(line, " tests passed (")) {
      file = nullptr;
      block = nullptr;
      continue;
    }
    if (trimmed.empty()) continue;
    file->raw += line + "\n";
    if (line == "  SUCCESS") {
      file->status = FileReport::kSuccess;
      continue;
    }
    if (line == "  FAILED:") {
      file->status = FileReport::kFailed;
      continue;
    }
    if (line == "  ERROR:") {
      file->status = FileReport::kError;
      continue;
    }
    if (absl::StartsWith(line, "  WARNING:")) continue;
    const bool header = absl::StartsWith(line, "    ") && !absl::StartsWith(line, "     ");
    absl::string_view rest = header ? absl::string_view(line).substr(4) : absl::string_view();
    if (header && absl::ConsumePrefix(&rest, "name: ")) {
      pending_name = std::string(absl::StripSuffix(absl::StripAsciiWhitespace(rest), ","));
      continue;
    }
    ReportBlock next;
    next.test_name = pending_name;
    bool started = false;
    if (header && absl::ConsumePrefix(&rest, "expr: ")) {
      next.kind = ReportBlock::kExpr;
      std::string r(rest);
      size_t pos = 0;
      std::optional<std::string> expr = ReadGoQuoted(r, &pos);
      if (expr) {
        ReportBlock tmp;
        if (ParseSubjectTime(r.substr(pos), tmp)) {
          next.subject = *expr;
          next.at_ms = tmp.at_ms;
          next.error = tmp.error;
          started = true;
        }
      }
    } else if (header && absl::ConsumePrefix(&rest, "alertname: ")) {
      next.kind = ReportBlock::kAlert;
      started = ParseSubjectTime(std::string(rest), next);
    } else if (header && absl::ConsumePrefix(&rest, "rule: ")) {
      next.kind = ReportBlock::kRule;
      started = ParseSubjectTime(std::string(rest), next);
    }
    if (started) {
      next.raw = line + "\n";
      file->blocks.push_back(std::move(next));
      block = &file->blocks.back();
      pending_name.clear();
      in_got = false;
      continue;
    }
    // A line inside the current block.
    if (block != nullptr && absl::StartsWith(line, "     ")) {
      block->raw += line + "\n";
      absl::string_view t = trimmed;
      if (block->kind == ReportBlock::kExpr && !block->error) {
        if (absl::ConsumePrefix(&t, "exp:") || absl::ConsumePrefix(&t, "got:")) {
          const bool got = absl::StartsWith(trimmed, "got:");
          std::optional<std::vector<ReportSample>> samples = ParseSamples(std::string(t));
          if (!samples) {
            block->kind = ReportBlock::kOther;
          } else {
            (got ? block->got_samples : block->exp_samples) = *std::move(samples);
          }
        }
        continue;
      }
      if (block->kind == ReportBlock::kAlert && !block->error) {
        if (absl::StartsWith(t, "exp:")) in_got = false;
        if (absl::StartsWith(t, "got:")) in_got = true;
        std::vector<ReportAlert>& list = in_got ? block->got_alerts : block->exp_alerts;
        std::string s(absl::StripSuffix(t, ","));
        size_t pos = 0;
        if (absl::StartsWith(s, "Labels:")) {
          pos = 7;
          std::optional<Pairs> labels = ReadBraces(s, &pos);
          if (!labels) block->kind = ReportBlock::kOther;
          else list.push_back({*std::move(labels), {}});
        } else if (absl::StartsWith(s, "Annotations:")) {
          pos = 12;
          std::optional<Pairs> annotations = ReadBraces(s, &pos);
          if (!annotations || list.empty()) block->kind = ReportBlock::kOther;
          else list.back().annotations = *std::move(annotations);
        }
        continue;
      }
      if (block->error) *block->error += "\n" + std::string(trimmed);
      continue;
    }
    // Anything else: a problem promtool could not attribute to a check (a rule
    // file that does not load, a YAML error), or klaxon's ERROR lines.
    ReportBlock other;
    other.kind = ReportBlock::kOther;
    other.test_name = pending_name;
    other.raw = line + "\n";
    other.error = std::string(trimmed);
    file->blocks.push_back(std::move(other));
    block = &file->blocks.back();
  }
  return reports;
}

}  // namespace klaxon::difftest
