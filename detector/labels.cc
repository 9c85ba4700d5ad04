#include "absl/strings/string_view.h"
#include "detector/labels.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace klaxon {

Labels::Labels(std::vector<Label> labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const Label& a, const Label& b) { return a.name < b.name; });
  // Keep the last of equal names; drop empty values (absent == empty).
  size_t bytes = 0;
  for (const Label& l : labels) bytes += l.name.size() + l.value.size() + 2;
  data_.reserve(bytes);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i + 1 < labels.size() && labels[i + 1].name == labels[i].name) continue;
    if (labels[i].value.empty()) continue;
    Append({labels[i].name, labels[i].value});
  }
}

void Labels::AppendLength(std::string& out, size_t n) {
  if (n < 255) {
    out += static_cast<char>(n);
    return;
  }
  out += static_cast<char>(255);
  const uint32_t n32 = static_cast<uint32_t>(n);
  char bytes[4];
  std::memcpy(bytes, &n32, sizeof(bytes));
  out.append(bytes, sizeof(bytes));
}

std::pair<LabelRef, const char*> Labels::Decode(const char* at) {
  auto length = [&at] {
    size_t n = static_cast<unsigned char>(*at++);
    if (n == 255) {
      uint32_t n32;
      std::memcpy(&n32, at, sizeof(n32));
      at += sizeof(n32);
      n = n32;
    }
    return n;
  };
  const size_t name_size = length();
  const size_t value_size = length();
  LabelRef label{absl::string_view(at, name_size), absl::string_view(at + name_size, value_size)};
  return {label, at + name_size + value_size};
}

void Labels::Append(LabelRef label) {
  AppendLength(data_, label.name.size());
  AppendLength(data_, label.value.size());
  data_.append(label.name.data(), label.name.size());
  data_.append(label.value.data(), label.value.size());
}

size_t Labels::size() const { return static_cast<size_t>(std::distance(begin(), end())); }

std::vector<Label> Labels::ToVector() const {
  std::vector<Label> out;
  for (LabelRef l : *this) out.push_back({std::string(l.name), std::string(l.value)});
  return out;
}

std::strong_ordering operator<=>(const Labels& a, const Labels& b) {
  Labels::Iterator i = a.begin(), j = b.begin();
  for (; i != a.end() && j != b.end(); ++i, ++j) {
    const LabelRef x = *i, y = *j;
    if (const int c = x.name.compare(y.name); c != 0) return c <=> 0;
    if (const int c = x.value.compare(y.value); c != 0) return c <=> 0;
  }
  if (i != a.end()) return std::strong_ordering::greater;
  if (j != b.end()) return std::strong_ordering::less;
  return std::strong_ordering::equal;
}

absl::string_view Labels::Get(absl::string_view name) const {
  for (LabelRef l : *this) {
    if (l.name == name) return l.value;
  }
  return {};
}

bool Labels::Has(absl::string_view name) const { return !Get(name).empty(); }

void Labels::Set(absl::string_view name, absl::string_view value) {
  Labels out;
  out.data_.reserve(data_.size() + name.size() + value.size() + 2);
  bool placed = value.empty();  // an empty value removes the label
  for (LabelRef l : *this) {
    if (!placed && name <= l.name) {
      out.Append({name, value});
      placed = true;
    }
    if (l.name != name) out.Append(l);
  }
  if (!placed) out.Append({name, value});
  *this = std::move(out);
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
  for (LabelRef l : *this) {
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
  for (LabelRef l : *this) {
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
