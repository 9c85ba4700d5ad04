#include "absl/strings/string_view.h"
#include "detector/labels.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace klaxon {

Labels::Labels(std::vector<Label> labels) : labels_(std::move(labels)) {
  std::stable_sort(labels_.begin(), labels_.end(),
                   [](const Label& a, const Label& b) { return a.name < b.name; });
  // Keep the last of equal names; drop empty values (absent == empty).
  std::vector<Label> unique;
  unique.reserve(labels_.size());
  for (auto& l : labels_) {
    if (!unique.empty() && unique.back().name == l.name) {
      unique.back() = std::move(l);
    } else {
      unique.push_back(std::move(l));
    }
  }
  std::erase_if(unique, [](const Label& l) { return l.value.empty(); });
  labels_ = std::move(unique);
}

absl::string_view Labels::Get(absl::string_view name) const {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, absl::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) return it->value;
  return {};
}

bool Labels::Has(absl::string_view name) const { return !Get(name).empty(); }

void Labels::Set(absl::string_view name, absl::string_view value) {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, absl::string_view n) { return l.name < n; });
  bool found = it != labels_.end() && it->name == name;
  if (value.empty()) {
    if (found) labels_.erase(it);
    return;
  }
  if (found) {
    it->value = std::string(value);
  } else {
    labels_.insert(it, Label{std::string(name), std::string(value)});
  }
}

Labels Labels::WithoutMetricName() const {
  Labels out = *this;
  out.Set(kMetricNameLabel, "");
  return out;
}

namespace {
void AppendEscaped(std::string& out, absl::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}
}  // namespace

std::string Labels::ToString() const {
  std::string out(MetricName());
  bool first = true;
  for (const auto& l : labels_) {
    if (l.name == kMetricNameLabel) continue;
    out += first ? "{" : ", ";
    first = false;
    absl::StrAppend(&out, l.name, "=\"");
    AppendEscaped(out, l.value);
    out += '"';
  }
  if (!first) out += '}';
  if (out.empty()) out = "{}";
  return out;
}

uint64_t Labels::Fingerprint() const {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](absl::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // separator that cannot occur in UTF-8 text
    h *= 1099511628211ull;
  };
  for (const auto& l : labels_) {
    mix(l.name);
    mix(l.value);
  }
  return h;
}

namespace {
bool IsNameStart(char c) { return absl::ascii_isalpha(c) || c == '_' || c == ':'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == ':'; }
}  // namespace

absl::StatusOr<Labels> ParseSeries(absl::string_view text) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && absl::ascii_isspace(text[i])) ++i;
  };
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("series \"", text, "\" at column ", i + 1, ": ", what));
  };
  std::vector<Label> labels;
  skip_space();
  size_t start = i;
  while (i < text.size() && (i == start ? IsNameStart(text[i]) : IsNameChar(text[i]))) ++i;
  if (i > start) labels.push_back({std::string(kMetricNameLabel), std::string(text.substr(start, i - start))});
  skip_space();
  if (i < text.size() && text[i] == '{') {
    ++i;
    while (true) {
      skip_space();
      if (i < text.size() && text[i] == '}') {
        ++i;
        break;
      }
      size_t name_start = i;
      while (i < text.size() && (i == name_start ? IsNameStart(text[i]) : IsNameChar(text[i]))) ++i;
      if (i == name_start) return error("expected a label name");
      std::string name(text.substr(name_start, i - name_start));
      skip_space();
      if (i >= text.size() || text[i] != '=') return error("expected '=' after label name");
      ++i;
      skip_space();
      if (i >= text.size() || text[i] != '"') return error("expected a quoted label value");
      ++i;
      std::string value;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < text.size()) {
          ++i;
          value += text[i] == 'n' ? '\n' : text[i];
        } else {
          value += text[i];
        }
        ++i;
      }
      if (i >= text.size()) return error("unterminated label value");
      ++i;
      labels.push_back({std::move(name), std::move(value)});
      skip_space();
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '}') {
        ++i;
        break;
      }
      return error("expected ',' or '}'");
    }
  }
  skip_space();
  if (i != text.size()) return error("unexpected text after series");
  if (labels.empty()) return error("empty series");
  return Labels(std::move(labels));
}

bool IsLabelName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

bool IsMetricName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != ':') return false;
  }
  return true;
}

}  // namespace klaxon
