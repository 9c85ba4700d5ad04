#include "detector/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

// Exceptions stay on (toml++'s default) so that every translation unit that
// includes toml++ agrees on its ABI; parse_error is caught right here.
#include <toml++/toml.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "detector/duration.h"
#include "exporters/sink.h"
#include "re2/re2.h"
#include "rules/alerting_rule.h"
#include "rules/expr.h"
#include "rules/promtool_values.h"
#include "rules/recording_rule.h"
#include "rules/rule_test_runner.h"
#include "rules/slo.h"

namespace klaxon {

namespace {

// A 1-based place in the config file; columns count code points, as toml++ does.
struct Pos {
  int line = 1;
  int column = 1;
};

Pos PosOf(const toml::source_region& region) {
  return {static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

// Debian's abseil has its own string_view, which toml++ does not take.
std::string_view Std(absl::string_view s) { return std::string_view(s.data(), s.size()); }
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

bool IsBareKey(absl::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_' || c == '-'; });
}

// "path.key", quoting a key that a TOML file would have to quote, so that the
// path reads as the person typed it.
std::string Join(absl::string_view path, absl::string_view key) {
  std::string shown = IsBareKey(key) ? std::string(key) : absl::StrCat("\"", key, "\"");
  return path.empty() ? shown : absl::StrCat(path, ".", shown);
}

std::string Index(absl::string_view path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

bool IsServiceName(absl::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

// RFC 9110 token characters, the only ones a header name may hold.
bool IsHeaderName(absl::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) ||
           absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
  });
}

std::optional<std::string> CheckUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return absl::StrCat("invalid URL \"", url, "\": expected http:// or https://");
  }
  if (rest.empty() || rest[0] == '/' || rest[0] == '?' || rest[0] == '#') {
    return absl::StrCat("invalid URL \"", url, "\": no host");
  }
  if (std::any_of(url.begin(), url.end(), [](char c) { return absl::ascii_isspace(c); })) {
    return absl::StrCat("invalid URL \"", url, "\": contains whitespace");
  }
  return std::nullopt;
}

std::optional<std::string> CheckListen(absl::string_view listen) {
  auto bad = [&] {
    return absl::StrCat("invalid listen address \"", listen,
                        "\": expected \"host:port\", such as \"127.0.0.1:9477\" or \"[::1]:9477\"");
  };
  size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos) return bad();
  absl::string_view host = listen.substr(0, colon);
  absl::string_view port = listen.substr(colon + 1);
  if (host.empty()) return bad();
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
  } else if (absl::StrContains(host, ':')) {
    return bad();  // an IPv6 address must be bracketed to tell it from the port
  }
  if (std::any_of(host.begin(), host.end(), [](char c) { return absl::ascii_isspace(c); })) {
    return bad();
  }
  uint32_t number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(port, &number) || number > 65535) {
    return absl::StrCat("invalid listen address \"", listen,
                        "\": port must be a number from 0 to 65535");
  }
  return std::nullopt;
}

// Where each byte of a TOML string value came from in the file, plus one entry
// for the closing delimiter, so that a position inside the value (a parse error
// in a rule expression) can be shown in the file even across escapes and
// multi-line strings. Empty when the raw text does not decode to `value`;
// callers then fall back to a simple offset.
std::vector<Pos> MapStringBytes(absl::string_view doc, Pos start, absl::string_view value) {
  size_t i = 0;
  Pos p{1, 1};
  // Moves past doc[i], keeping `p` on the code point that holds doc[i].
  auto step = [&] {
    char c = doc[i++];
    if (c == '\n') {
      ++p.line;
      p.column = 1;
    } else if (i < doc.size() && (static_cast<unsigned char>(doc[i]) & 0xC0) != 0x80) {
      ++p.column;
    }
  };
  while (i < doc.size() && (p.line < start.line || p.column < start.column)) {
    if (p.line == start.line && doc[i] == '\n') return {};
    step();
  }
  if (p.line != start.line || p.column != start.column) return {};

  absl::string_view rest = doc.substr(i);
  char quote = rest.empty() ? 0 : rest[0];
  if (quote != '"' && quote != '\'') return {};
  bool multi_line = absl::StartsWith(rest, std::string(3, quote));
  bool basic = quote == '"';
  for (int k = multi_line ? 3 : 1; k > 0; --k) step();
  if (multi_line) {
    // TOML drops a newline right after the opening delimiter.
    if (doc.substr(i, 2) == "\r\n") {
      step();
      step();
    } else if (doc.substr(i, 1) == "\n") {
      step();
    }
  }

  std::string decoded;
  std::vector<Pos> where;
  auto emit = [&](absl::string_view bytes, Pos at) {
    decoded.append(bytes.data(), bytes.size());
    where.insert(where.end(), bytes.size(), at);
  };
  while (i < doc.size()) {
    char c = doc[i];
    if (c == quote) {
      if (!multi_line) break;
      size_t run = 0;
      while (i + run < doc.size() && doc[i + run] == quote) ++run;
      if (run >= 3) {
        // Up to two quotes just before the closing delimiter belong to the value.
        for (size_t extra = 0; extra < std::min<size_t>(run - 3, 2); ++extra) {
          emit(absl::string_view(&quote, 1), p);
          step();
        }
        break;
      }
    }
    if (!multi_line && c == '\n') return {};
    if (basic && c == '\\') {
      Pos at = p;
      step();
      if (i >= doc.size()) return {};
      char e = doc[i];
      if (multi_line && (e == ' ' || e == '\t' || e == '\r' || e == '\n')) {
        // A line-ending backslash swallows the newline and following whitespace.
        size_t j = i;
        while (j < doc.size() && (doc[j] == ' ' || doc[j] == '\t')) ++j;
        if (j >= doc.size() || (doc[j] != '\n' && doc[j] != '\r')) return {};
        while (i < doc.size() && absl::ascii_isspace(doc[i])) step();
        continue;
      }
      int hex_digits = e == 'u' ? 4 : e == 'U' ? 8 : e == 'x' ? 2 : 0;
      if (hex_digits > 0) {
        step();
        uint32_t cp = 0;
        if (i + hex_digits > doc.size() || !absl::SimpleHexAtoi(doc.substr(i, hex_digits), &cp)) {
          return {};
        }
        for (int k = 0; k < hex_digits; ++k) step();
        char utf8[4];
        size_t n = 0;
        if (cp < 0x80) {
          utf8[n++] = static_cast<char>(cp);
        } else if (cp < 0x800) {
          utf8[n++] = static_cast<char>(0xC0 | (cp >> 6));
          utf8[n++] = static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
          utf8[n++] = static_cast<char>(0xE0 | (cp >> 12));
          utf8[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          utf8[n++] = static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          utf8[n++] = static_cast<char>(0xF0 | (cp >> 18));
          utf8[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
          utf8[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          utf8[n++] = static_cast<char>(0x80 | (cp & 0x3F));
        }
        emit(absl::string_view(utf8, n), at);
        continue;
      }
      char out = 0;
      switch (e) {
        case 'b':
          out = '\b';
          break;
        case 't':
          out = '\t';
          break;
        case 'n':
          out = '\n';
          break;
        case 'f':
          out = '\f';
          break;
        case 'r':
          out = '\r';
          break;
        case 'e':
          out = '\x1b';
          break;
        case '"':
          out = '"';
          break;
        case '\\':
          out = '\\';
          break;
        default:
          return {};
      }
      step();
      emit(absl::string_view(&out, 1), at);
      continue;
    }
    if (multi_line && c == '\r' && doc.substr(i, 2) == "\r\n") {
      Pos at = p;
      step();
      step();
      emit("\n", at);
      continue;
    }
    emit(absl::string_view(&c, 1), p);
    step();
  }
  if (i >= doc.size() || decoded != value) return {};
  where.push_back(p);  // "unexpected end of input" points at the closing quote
  return where;
}

// Maps a 1-based (line, byte column) inside a string value onto the file.
Pos MapIntoString(absl::string_view doc, Pos string_start, absl::string_view value,
                  ExprPosition inner) {
  std::vector<Pos> where = MapStringBytes(doc, string_start, value);
  if (where.empty()) {
    if (inner.line <= 1) return {string_start.line, string_start.column + inner.column};
    return {string_start.line + inner.line - 1, inner.column};
  }
  size_t offset = 0;
  for (int line = 1; line < inner.line && offset < value.size(); ++offset) {
    if (value[offset] == '\n') ++line;
  }
  offset += static_cast<size_t>(std::max(inner.column, 1) - 1);
  return where[std::min(offset, where.size() - 1)];
}

// CheckTemplate names the place of its error as "column C: ..." or "line L,
// column C: ..." (columns in characters); reading it back lets the file
// position point at the bad part of the template itself. The result is a
// line and byte column inside `value`, as MapIntoString takes.
std::optional<ExprPosition> TemplateErrorPosition(const absl::Status& status,
                                                  absl::string_view value) {
  absl::string_view message = status.message();
  int line = 1;
  if (absl::ConsumePrefix(&message, "line ")) {
    const size_t comma = message.find(',');
    if (comma == absl::string_view::npos || !absl::SimpleAtoi(message.substr(0, comma), &line) ||
        line < 1) {
      return std::nullopt;
    }
    message.remove_prefix(comma + 1);
    absl::ConsumePrefix(&message, " ");
  }
  if (!absl::ConsumePrefix(&message, "column ")) return std::nullopt;
  int column = 0;
  if (!absl::SimpleAtoi(message.substr(0, message.find(':')), &column) || column < 1) {
    return std::nullopt;
  }
  // Characters to bytes, along the template's own line.
  size_t offset = 0;
  for (int l = 1; l < line && offset < value.size(); ++offset) {
    if (value[offset] == '\n') ++l;
  }
  int bytes = 0;
  for (int chars = 1; offset < value.size() && chars < column; ++bytes) {
    ++offset;
    if (offset >= value.size() || (static_cast<unsigned char>(value[offset]) & 0xC0) != 0x80) {
      ++chars;
    }
  }
  return ExprPosition{line, bytes + 1};
}

constexpr absl::string_view kSeverities[] = {"critical", "major", "minor", "warning", "info"};

// One reference by name to another section, checked once every section is read.
struct Ref {
  Pos pos;
  std::string key;
  std::string name;
};

// The parts of reading a TOML document that every klaxon file shares: typed
// fields, unknown keys, and problems collected with their file positions
// instead of stopping at the first, since each round trip through "edit, run,
// read one error" costs the person a deploy.
class TomlWalker {
 public:
  TomlWalker(absl::string_view doc, const std::string& path) : doc_(doc), path_(path) {}

 protected:
  struct Problem {
    Pos pos;
    std::string text;
  };

  // The parsed document, or nullopt with the syntax error recorded.
  std::optional<toml::table> ParseRoot() {
    try {
      return toml::parse(Std(doc_), Std(path_));
    } catch (const toml::parse_error& e) {
      Fail(PosOf(e.source()), "", Absl(e.description()));
      return std::nullopt;
    }
  }

  // Every problem, one per line, in file order; OK when there were none.
  absl::Status Problems() {
    if (problems_.empty()) return absl::OkStatus();
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
    });
    std::vector<std::string> lines;
    lines.reserve(problems_.size());
    for (const Problem& p : problems_) {
      lines.push_back(absl::StrCat(path_, ":", p.pos.line, ":", p.pos.column, ": ", p.text));
    }
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }

  void Fail(Pos pos, absl::string_view key, absl::string_view what) {
    problems_.push_back({pos, key.empty() ? std::string(what) : absl::StrCat(key, ": ", what)});
  }
  void Fail(const toml::node& node, absl::string_view key, absl::string_view what) {
    Fail(PosOf(node.source()), key, what);
  }

  void CheckKeys(const toml::table& table, absl::string_view path,
                 std::initializer_list<absl::string_view> allowed) {
    for (auto&& [key, node] : table) {
      absl::string_view name = Absl(key.str());
      if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
      std::string what = "unknown key";
      // A typo is the usual cause; naming the intended key saves a trip to the docs.
      absl::string_view closest;
      size_t best = 3;
      for (absl::string_view candidate : allowed) {
        size_t d = EditDistance(name, candidate);
        if (d < best) {
          best = d;
          closest = candidate;
        }
      }
      if (!closest.empty()) absl::StrAppend(&what, " (did you mean \"", closest, "\"?)");
      Fail(PosOf(key.source()), Join(path, name), what);
    }
  }

  const toml::table* Table(const toml::node* node, absl::string_view key) {
    if (node == nullptr) return nullptr;
    if (const toml::table* t = node->as_table()) return t;
    Fail(*node, key, absl::StrCat("expected a table, got ", TypeName(node->type())));
    return nullptr;
  }

  // The entries of `[[key]]` inside `table`; none when absent or malformed.
  std::vector<const toml::table*> TableArray(const toml::table& table, absl::string_view key,
                                             absl::string_view path) {
    std::vector<const toml::table*> out;
    const toml::node* node = table.get(Std(key));
    if (node == nullptr) return out;
    std::string full = Join(path, key);
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, full,
           absl::StrCat("expected an array of tables such as [[", full, "]], got ",
                        TypeName(node->type())));
      return out;
    }
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      if (const toml::table* t = element.as_table()) {
        out.push_back(t);
      } else {
        Fail(element, Index(full, i),
             absl::StrCat("expected a table, got ", TypeName(element.type())));
      }
    }
    return out;
  }

  // The value at `key`, or nullptr; a missing required key is reported at the
  // table that lacks it, the closest place a person can look.
  const toml::node* Field(const toml::table& table, absl::string_view key, absl::string_view path,
                          bool required) {
    const toml::node* node = table.get(Std(key));
    if (node == nullptr && required) Fail(table, Join(path, key), "missing required key");
    return node;
  }

  std::optional<std::string> String(const toml::table& table, absl::string_view key,
                                    absl::string_view path, bool required = false) {
    const toml::node* node = Field(table, key, path, required);
    if (node == nullptr) return std::nullopt;
    if (const toml::value<std::string>* s = node->as_string()) return s->get();
    Fail(*node, Join(path, key), absl::StrCat("expected a string, got ", TypeName(node->type())));
    return std::nullopt;
  }

  std::optional<bool> Bool(const toml::table& table, absl::string_view key, absl::string_view path) {
    const toml::node* node = Field(table, key, path, /*required=*/false);
    if (node == nullptr) return std::nullopt;
    if (const toml::value<bool>* b = node->as_boolean()) return b->get();
    Fail(*node, Join(path, key),
         absl::StrCat("expected true or false, got ", TypeName(node->type())));
    return std::nullopt;
  }

  std::optional<int64_t> Integer(const toml::table& table, absl::string_view key,
                                 absl::string_view path, int64_t min, int64_t max) {
    const toml::node* node = Field(table, key, path, /*required=*/false);
    if (node == nullptr) return std::nullopt;
    const toml::value<int64_t>* n = node->as_integer();
    if (n == nullptr) {
      Fail(*node, Join(path, key),
           absl::StrCat("expected an integer, got ", TypeName(node->type())));
      return std::nullopt;
    }
    if (n->get() < min || n->get() > max) {
      Fail(*node, Join(path, key), absl::StrCat(n->get(), " is outside ", min, "..", max));
      return std::nullopt;
    }
    return n->get();
  }

  // A string or an array of strings, as a list.
  std::optional<std::vector<std::string>> Strings(const toml::table& table, absl::string_view key,
                                                  absl::string_view path) {
    const toml::node* node = Field(table, key, path, /*required=*/false);
    if (node == nullptr) return std::nullopt;
    if (const toml::value<std::string>* s = node->as_string()) {
      return std::vector<std::string>{s->get()};
    }
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, Join(path, key),
           absl::StrCat("expected a string or an array of strings, got ", TypeName(node->type())));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      if (const toml::value<std::string>* s = element.as_string()) {
        out.push_back(s->get());
      } else {
        Fail(element, Index(Join(path, key), i),
             absl::StrCat("expected a string, got ", TypeName(element.type())));
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // An RE2 pattern, checked here so that a typo is a load error, not a probe
  // that can never succeed.
  std::optional<std::string> Regex(const toml::table& table, absl::string_view key,
                                   absl::string_view path) {
    std::optional<std::string> pattern = String(table, key, path);
    if (!pattern.has_value()) return std::nullopt;
    RE2 re(*pattern, RE2::Quiet);
    if (!re.ok()) {
      Fail(*table.get(Std(key)), Join(path, key),
           absl::StrCat("invalid regular expression \"", *pattern, "\": ", re.error()));
      return std::nullopt;
    }
    return pattern;
  }

  // A table of HTTP header names to values, in file order.
  std::vector<Label> HeaderTable(const toml::table& table, absl::string_view key,
                                 absl::string_view path) {
    std::vector<Label> out;
    const std::string full = Join(path, key);
    const toml::table* headers = Table(table.get(Std(key)), full);
    if (headers == nullptr) return out;
    for (auto&& [name_key, node] : *headers) {
      absl::string_view name = Absl(name_key.str());
      const std::string item = Join(full, name);
      if (!IsHeaderName(name)) {
        Fail(PosOf(name_key.source()), item, "invalid HTTP header name");
        continue;
      }
      const toml::value<std::string>* value = node.as_string();
      if (value == nullptr) {
        Fail(node, item, absl::StrCat("expected a string, got ", TypeName(node.type())));
        continue;
      }
      // A newline would let a value smuggle in a header or a request of its own.
      if (absl::StrContains(value->get(), '\n') || absl::StrContains(value->get(), '\r')) {
        Fail(node, item, "header value must not contain a line break");
        continue;
      }
      out.push_back({std::string(name), value->get()});
    }
    return out;
  }

  // A secret: "env:VAR" or "file:PATH" (relative to the config file's folder,
  // one trailing newline dropped). Written that way so that no secret sits in
  // the config file itself; messages name the variable or file, never the value.
  std::optional<std::string> Secret(const toml::table& table, absl::string_view key,
                                    absl::string_view path, bool required = false) {
    std::optional<std::string> ref = String(table, key, path, required);
    if (!ref.has_value()) return std::nullopt;
    const toml::node& node = *table.get(Std(key));
    const std::string full = Join(path, key);
    return ResolveSecret(*ref, node, full);
  }

  std::optional<std::string> ResolveSecret(absl::string_view ref, const toml::node& node,
                                           absl::string_view full) {
    absl::string_view rest = ref;
    if (absl::ConsumePrefix(&rest, "env:")) {
      const char* value = rest.empty() ? nullptr : std::getenv(std::string(rest).c_str());
      if (value == nullptr) {
        Fail(node, full, absl::StrCat("environment variable ", rest, " is not set"));
        return std::nullopt;
      }
      return std::string(value);
    }
    if (absl::ConsumePrefix(&rest, "file:")) {
      std::filesystem::path file{std::string(rest)};
      if (file.is_relative()) file = std::filesystem::path(path_).parent_path() / file;
      std::ifstream in(file, std::ios::binary);
      std::stringstream content;
      content << in.rdbuf();
      if (!in || rest.empty()) {
        Fail(node, full, absl::StrCat("cannot read secret file ", file.string()));
        return std::nullopt;
      }
      std::string value = content.str();
      if (absl::EndsWith(value, "\n")) value.pop_back();
      if (absl::EndsWith(value, "\r")) value.pop_back();
      return value;
    }
    Fail(node, full,
         "write the secret as \"env:VARIABLE\" or \"file:PATH\", so that it stays out of the "
         "config file");
    return std::nullopt;
  }

  enum class Sign { kPositive, kNonNegative };

  std::optional<absl::Duration> Duration(const toml::table& table, absl::string_view key,
                                         absl::string_view path, Sign sign) {
    const toml::node* node = Field(table, key, path, /*required=*/false);
    if (node == nullptr) return std::nullopt;
    std::string full = Join(path, key);
    const toml::value<std::string>* text = node->as_string();
    if (text == nullptr) {
      Fail(
          *node, full,
          absl::StrCat("expected a duration string such as \"30s\", got ", TypeName(node->type())));
      return std::nullopt;
    }
    absl::StatusOr<absl::Duration> d = ParseDuration(text->get());
    if (!d.ok()) {
      Fail(*node, full, d.status().message());
      return std::nullopt;
    }
    if (sign == Sign::kPositive && *d <= absl::ZeroDuration()) {
      Fail(*node, full, "must be greater than 0");
      return std::nullopt;
    }
    return *d;
  }

  // A PromQL expression, parsed; a syntax error is shown at its place in the file.
  std::optional<ExprPtr> Expression(const toml::table& table, absl::string_view key,
                                    absl::string_view path, std::string& text) {
    std::optional<std::string> expr = String(table, key, path, /*required=*/true);
    if (!expr.has_value()) return std::nullopt;
    text = *expr;
    absl::StatusOr<ExprPtr> parsed = ParseExpr(*expr);
    if (parsed.ok()) return *parsed;
    Pos at = PosOf(table.get(Std(key))->source());
    if (std::optional<ExprPosition> inner = ErrorPosition(parsed.status())) {
      at = MapIntoString(doc_, at, *expr, *inner);
    }
    Fail(at, Join(path, key), parsed.status().message());
    return std::nullopt;
  }

  // Checks one template string held by `node`; errors point into the string.
  void CheckTemplateAt(const toml::node& node, absl::string_view key, const std::string& tmpl) {
    absl::Status status = CheckTemplate(tmpl);
    if (status.ok()) return;
    Pos at = PosOf(node.source());
    if (std::optional<ExprPosition> inner = TemplateErrorPosition(status, tmpl)) {
      at = MapIntoString(doc_, at, tmpl, *inner);
    }
    Fail(at, key, status.message());
  }

  // A table of label (or annotation) names to strings, in file order. Names
  // must be valid label names; `__name__` is refused, as Prometheus refuses it
  // in rule labels. With `templates`, each value must be a valid template.
  std::vector<Label> LabelTable(const toml::table& table, absl::string_view key,
                                absl::string_view path, absl::string_view kind, bool templates) {
    std::vector<Label> out;
    const std::string full = Join(path, key);
    const toml::table* labels = Table(table.get(Std(key)), full);
    if (labels == nullptr) return out;
    for (auto&& [name_key, node] : *labels) {
      absl::string_view name = Absl(name_key.str());
      const std::string item = Join(full, name);
      if (!IsLabelName(name) || name == kMetricNameLabel) {
        Fail(PosOf(name_key.source()), item,
             absl::StrCat("invalid ", kind, " name \"", name,
                          "\": must match [a-zA-Z_][a-zA-Z0-9_]* and not be __name__"));
        continue;
      }
      const toml::value<std::string>* value = node.as_string();
      if (value == nullptr) {
        Fail(node, item, absl::StrCat("expected a string, got ", TypeName(node.type())));
        continue;
      }
      if (templates) CheckTemplateAt(node, item, value->get());
      out.push_back({std::string(name), value->get()});
    }
    return out;
  }

  absl::string_view doc_;
  const std::string& path_;
  std::vector<Problem> problems_;
};

// Walks the parsed document once, filling a Config and collecting every
// problem (see TomlWalker).
class Loader : public TomlWalker {
 public:
  Loader(absl::string_view doc, const std::string& path) : TomlWalker(doc, path) {}

  absl::StatusOr<Config> Load() {
    std::optional<toml::table> parsed = ParseRoot();
    if (!parsed.has_value()) return Result();
    const toml::table& root = *parsed;
    config_.path = path_;
    CheckKeys(root, "", {"server", "rules", "service", "probe", "connectivity", "scrape", "log",
                         "rule", "record", "sink", "maintenance"});
    if (const toml::table* server = Table(root.get("server"), "server")) LoadServer(*server);
    if (const toml::table* rules = Table(root.get("rules"), "rules")) LoadRulesSettings(*rules);
    std::vector<const toml::table*> sinks = TableArray(root, "sink", "");
    for (size_t i = 0; i < sinks.size(); ++i) LoadSink(*sinks[i], Index("sink", i));
    std::vector<const toml::table*> services = TableArray(root, "service", "");
    for (size_t i = 0; i < services.size(); ++i) LoadService(*services[i], Index("service", i));
    if (const toml::table* probe = Table(root.get("probe"), "probe")) {
      CheckKeys(*probe, "probe", {"http", "tcp"});
      std::vector<const toml::table*> http = TableArray(*probe, "http", "probe");
      for (size_t i = 0; i < http.size(); ++i) LoadHttpProbe(*http[i], Index("probe.http", i));
      std::vector<const toml::table*> tcp = TableArray(*probe, "tcp", "probe");
      for (size_t i = 0; i < tcp.size(); ++i) LoadTcpProbe(*tcp[i], Index("probe.tcp", i));
    }
    if (const toml::table* connectivity = Table(root.get("connectivity"), "connectivity")) {
      LoadConnectivity(*connectivity);
    }
    std::vector<const toml::table*> scrapes = TableArray(root, "scrape", "");
    for (size_t i = 0; i < scrapes.size(); ++i) LoadScrape(*scrapes[i], Index("scrape", i));
    std::vector<const toml::table*> logs = TableArray(root, "log", "");
    for (size_t i = 0; i < logs.size(); ++i) LoadLog(*logs[i], Index("log", i));
    std::vector<const toml::table*> rules = TableArray(root, "rule", "");
    for (size_t i = 0; i < rules.size(); ++i) LoadRule(*rules[i], Index("rule", i));
    // After every [[rule]], so that a generated name clashing with one is
    // reported at the SLO, and before the references, so that depends_on may
    // name a generated rule.
    GenerateSloRules();
    GenerateCutOffRule();
    std::vector<const toml::table*> records = TableArray(root, "record", "");
    for (size_t i = 0; i < records.size(); ++i) LoadRecord(*records[i], Index("record", i));
    std::vector<const toml::table*> windows = TableArray(root, "maintenance", "");
    for (size_t i = 0; i < windows.size(); ++i) {
      LoadMaintenance(*windows[i], Index("maintenance", i));
    }
    ResolveRefs();
    return Result();
  }

 private:
  absl::StatusOr<Config> Result() {
    if (absl::Status status = Problems(); !status.ok()) return status;
    return std::move(config_);
  }

  // A required name, non-empty and unique among `seen`.
  std::optional<std::string> Name(const toml::table& table, absl::string_view path,
                                  absl::string_view kind,
                                  absl::flat_hash_map<std::string, int>& seen) {
    std::optional<std::string> name = String(table, "name", path, /*required=*/true);
    if (!name.has_value()) return std::nullopt;
    const toml::node& node = *table.get("name");
    std::string key = Join(path, "name");
    if (name->empty()) {
      Fail(node, key, "must not be empty");
      return std::nullopt;
    }
    auto [it, inserted] = seen.try_emplace(*name, PosOf(node.source()).line);
    if (!inserted) {
      Fail(node, key,
           absl::StrCat("duplicate ", kind, " name \"", *name, "\" (first defined on line ",
                        it->second, ")"));
    }
    return name;
  }

  std::optional<std::string> Url(const toml::table& table, absl::string_view path) {
    std::optional<std::string> url = String(table, "url", path, /*required=*/true);
    if (!url.has_value()) return std::nullopt;
    if (std::optional<std::string> why = CheckUrl(*url)) {
      Fail(*table.get("url"), Join(path, "url"), *why);
      return std::nullopt;
    }
    return url;
  }

  void LoadServer(const toml::table& table) {
    CheckKeys(table, "server",
              {"listen", "data_dir", "push_tokens", "api_tokens", "max_body_bytes"});
    if (std::optional<std::string> listen = String(table, "listen", "server")) {
      if (std::optional<std::string> why = CheckListen(*listen)) {
        Fail(*table.get("listen"), "server.listen", *why);
      } else {
        config_.server.listen = *listen;
      }
    }
    if (std::optional<std::string> dir = String(table, "data_dir", "server")) {
      if (dir->empty()) {
        Fail(*table.get("data_dir"), "server.data_dir", "must not be empty");
      } else {
        config_.server.data_dir = *dir;
      }
    }
    if (auto tokens = Strings(table, "push_tokens", "server")) {
      const toml::node& node = *table.get("push_tokens");
      for (size_t i = 0; i < tokens->size(); ++i) {
        const toml::node& element = node.is_array() ? *node.as_array()->get(i) : node;
        std::string key = node.is_array() ? Index("server.push_tokens", i) : "server.push_tokens";
        if (auto token = ResolveSecret((*tokens)[i], element, key)) {
          if (token->empty()) {
            Fail(element, key, "the token is empty");
          } else {
            config_.server.push_tokens.push_back(std::move(*token));
          }
        }
      }
    }
    if (const toml::table* tokens = Table(table.get("api_tokens"), "server.api_tokens")) {
      for (auto&& [name_key, node] : *tokens) {
        const std::string name(Absl(name_key.str()));
        const std::string key = Join("server.api_tokens", name);
        const toml::value<std::string>* ref = node.as_string();
        if (ref == nullptr) {
          Fail(node, key, absl::StrCat("expected a secret such as \"env:VAR\", got ",
                                       TypeName(node.type())));
          continue;
        }
        if (auto token = ResolveSecret(ref->get(), node, key)) {
          if (token->empty()) {
            Fail(node, key, "the token is empty");
          } else {
            config_.server.api_tokens.emplace_back(name, std::move(*token));
          }
        }
      }
    }
    if (auto bytes = Integer(table, "max_body_bytes", "server", 1024, int64_t{1} << 30)) {
      config_.server.max_body_bytes = static_cast<size_t>(*bytes);
    }
  }

  void LoadRulesSettings(const toml::table& table) {
    CheckKeys(table, "rules", {"tick", "lookback"});
    if (auto tick = Duration(table, "tick", "rules", Sign::kPositive)) {
      config_.rules_settings.tick = *tick;
    }
    if (auto lookback = Duration(table, "lookback", "rules", Sign::kPositive)) {
      config_.rules_settings.lookback = *lookback;
    }
  }

  // The keys each sink type reads beyond name, type, url, timeout and headers,
  // and those it cannot do without.
  struct SinkKeys {
    std::vector<absl::string_view> allowed;
    std::vector<absl::string_view> required;
    bool url_required = true;
  };
  static SinkKeys KeysOfSinkType(absl::string_view type) {
    if (type == "webhook") return {{"secret"}, {}, true};
    if (type == "alertmanager") return {{}, {}, true};
    if (type == "pagerduty") return {{"routing_key"}, {"routing_key"}, false};
    if (type == "jira") {
      return {{"api_key", "user", "project", "issue_type", "resolve_transition"},
              {"api_key", "project"},
              true};
    }
    if (type == "github") return {{"api_key", "repository"}, {"api_key", "repository"}, false};
    if (type == "redmine") {
      return {{"api_key", "project", "resolved_status_id", "incident_field_id"},
              {"api_key", "project"},
              true};
    }
    if (type == "chat") return {{"to"}, {}, true};
    if (type == "email") return {{"from", "to", "user", "secret"}, {"from"}, true};
    return {{}, {}, true};
  }

  // A chat webhook's URL is its key, so it may also be a secret reference
  // ("env:VAR", "file:PATH"), and an error about it never quotes it.
  std::optional<std::string> ChatUrl(const toml::table& table, absl::string_view path) {
    std::optional<std::string> url = String(table, "url", path, /*required=*/true);
    if (!url.has_value()) return std::nullopt;
    if (!absl::StartsWith(*url, "env:") && !absl::StartsWith(*url, "file:")) return Url(table, path);
    std::optional<std::string> resolved = ResolveSecret(*url, *table.get("url"), Join(path, "url"));
    if (!resolved.has_value()) return std::nullopt;
    std::string value(absl::StripAsciiWhitespace(*resolved));
    if (CheckUrl(value).has_value()) {
      Fail(*table.get("url"), Join(path, "url"),
           absl::StrCat("the URL in ", *url, " is not an http:// or https:// URL"));
      return std::nullopt;
    }
    return value;
  }

  // An email sink's SMTP server: smtp:// (STARTTLS when offered) or smtps://.
  std::optional<std::string> MailUrl(const toml::table& table, absl::string_view path) {
    std::optional<std::string> url = String(table, "url", path, /*required=*/true);
    if (!url.has_value()) return std::nullopt;
    absl::string_view rest = *url;
    std::string why;
    if (!absl::ConsumePrefix(&rest, "smtp://") && !absl::ConsumePrefix(&rest, "smtps://")) {
      why = "expected smtp://host:port or smtps://host:port";
    } else if (rest.empty() || rest[0] == '/' || rest[0] == ':') {
      why = "no host";
    } else if (std::any_of(rest.begin(), rest.end(), [](char c) { return absl::ascii_isspace(c); })) {
      why = "contains whitespace";
    }
    if (!why.empty()) {
      Fail(*table.get("url"), Join(path, "url"), absl::StrCat("invalid URL \"", *url, "\": ", why));
      return std::nullopt;
    }
    return url;
  }

  void LoadSink(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"name", "type", "url", "timeout", "dead_letter_after", "headers", "secret",
               "api_key", "routing_key",
               "user", "project", "repository", "issue_type", "resolve_transition",
               "resolved_status_id", "incident_field_id", "from", "to"});
    SinkOptions sink;
    if (std::optional<std::string> name = Name(table, path, "sink", sink_names_)) sink.name = *name;
    SinkKeys keys;
    if (std::optional<std::string> type = String(table, "type", path, /*required=*/true)) {
      std::vector<std::string> known = TicketSinkTypes();
      if (std::find(known.begin(), known.end(), *type) == known.end()) {
        Fail(*table.get("type"), Join(path, "type"),
             absl::StrCat("unknown sink type \"", *type, "\" (known: ", absl::StrJoin(known, ", "),
                          ")"));
        config_.sinks.push_back(std::move(sink));
        return;
      }
      sink.type = *type;
      keys = KeysOfSinkType(sink.type);
      for (absl::string_view key : {"secret", "api_key", "routing_key", "user", "project",
                                    "repository", "issue_type", "resolve_transition",
                                    "resolved_status_id", "incident_field_id", "from", "to"}) {
        const toml::node* node = table.get(Std(key));
        bool allowed = std::find(keys.allowed.begin(), keys.allowed.end(), key) != keys.allowed.end();
        if (node != nullptr && !allowed) {
          Fail(*node, Join(path, key), absl::StrCat("not used by ", sink.type, " sinks"));
        }
        bool required =
            std::find(keys.required.begin(), keys.required.end(), key) != keys.required.end();
        if (node == nullptr && required) {
          Fail(table, Join(path, key),
               absl::StrCat("missing required key for ",
                            absl::StrContains("aeiou", sink.type[0]) ? "an " : "a ", sink.type,
                            " sink"));
        }
      }
    }
    if (sink.type == "email") {
      if (std::optional<std::string> url = MailUrl(table, path)) sink.url = *url;
    } else if (sink.type == "chat") {
      if (std::optional<std::string> url = ChatUrl(table, path)) sink.url = *url;
    } else if (keys.url_required || table.get("url") != nullptr) {
      if (std::optional<std::string> url = Url(table, path)) sink.url = *url;
    }
    if (auto timeout = Duration(table, "timeout", path, Sign::kPositive)) sink.timeout = *timeout;
    if (auto dead = Duration(table, "dead_letter_after", path, Sign::kPositive)) {
      sink.dead_letter_after = *dead;
    }
    for (Label& header : HeaderTable(table, "headers", path)) {
      sink.headers.emplace_back(std::move(header.name), std::move(header.value));
    }
    auto allowed = [&](absl::string_view key) {
      return std::find(keys.allowed.begin(), keys.allowed.end(), key) != keys.allowed.end();
    };
    if (allowed("secret")) {
      if (auto secret = Secret(table, "secret", path)) sink.secret = *secret;
    }
    if (allowed("api_key")) {
      if (auto key = Secret(table, "api_key", path)) sink.api_key = *key;
    }
    if (allowed("routing_key")) {
      if (auto key = Secret(table, "routing_key", path)) sink.routing_key = *key;
    }
    if (allowed("user")) {
      if (auto user = String(table, "user", path)) sink.user = *user;
    }
    if (allowed("project")) {
      if (auto project = String(table, "project", path)) sink.project = *project;
    }
    if (allowed("repository")) {
      if (auto repository = String(table, "repository", path)) {
        size_t slash = repository->find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == repository->size() ||
            repository->find('/', slash + 1) != std::string::npos) {
          Fail(*table.get("repository"), Join(path, "repository"),
               absl::StrCat("expected \"owner/name\", got \"", *repository, "\""));
        }
        sink.repository = *repository;
      }
    }
    if (allowed("issue_type")) {
      if (auto issue_type = String(table, "issue_type", path)) sink.issue_type = *issue_type;
    }
    if (allowed("resolve_transition")) {
      if (auto transition = String(table, "resolve_transition", path)) {
        sink.resolve_transition = *transition;
      }
    }
    if (allowed("resolved_status_id")) {
      if (auto id = Integer(table, "resolved_status_id", path, 1, 1 << 30)) {
        sink.resolved_status_id = static_cast<int>(*id);
      }
    }
    if (allowed("incident_field_id")) {
      if (auto id = Integer(table, "incident_field_id", path, 1, 1 << 30)) {
        sink.incident_field_id = static_cast<int>(*id);
      }
    }
    auto not_an_address = [](const std::string& text) {
      return absl::StrCat("expected an e-mail address such as \"ops@example.com\" or "
                          "\"Ops <ops@example.com>\", got \"",
                          text, "\"");
    };
    if (allowed("from")) {
      if (auto from = String(table, "from", path)) {
        if (!IsMailAddress(*from)) Fail(*table.get("from"), Join(path, "from"), not_an_address(*from));
        sink.from = *from;
      }
    }
    if (allowed("to")) {
      if (auto to = Strings(table, "to", path)) {
        const toml::node& node = *table.get("to");
        for (size_t i = 0; sink.type == "email" && i < to->size(); ++i) {
          if (IsMailAddress((*to)[i])) continue;
          if (const toml::array* array = node.as_array()) {
            Fail(*array->get(i), Index(Join(path, "to"), i), not_an_address((*to)[i]));
          } else {
            Fail(node, Join(path, "to"), not_an_address((*to)[i]));
          }
        }
        sink.to = *to;
      }
    }
    // SMTP AUTH takes both or neither.
    if (sink.type == "email" && (table.get("user") == nullptr) != (table.get("secret") == nullptr)) {
      const char* missing = table.get("user") == nullptr ? "user" : "secret";
      Fail(table, Join(path, missing),
           absl::StrCat("missing required key when ", missing[0] == 'u' ? "secret" : "user",
                        " is set (SMTP AUTH needs both)"));
    }
    config_.sinks.push_back(std::move(sink));
  }

  void LoadService(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"name", "tickets", "sla", "slo", "change_lookback", "time_zone", "notify",
               "escalation", "ack_timeout", "max_notifications", "postmortem_severity"});
    ServiceConfig service;
    if (std::optional<std::string> zone = String(table, "time_zone", path)) {
      if (!LoadZone(*zone).ok()) {
        // One zone rule for services and maintenance windows alike; "localtime"
        // would mean something else on every machine reading the file.
        Fail(*table.get("time_zone"), Join(path, "time_zone"),
             absl::StrCat("unknown time zone \"", *zone,
                          "\" (an IANA name such as \"Europe/Berlin\")"));
      } else {
        service.time_zone = *zone;
      }
    }
    if (auto notify = Strings(table, "notify", path)) service.notify = *notify;
    if (auto timeout = Duration(table, "ack_timeout", path, Sign::kNonNegative)) {
      service.ack_timeout = *timeout;
    }
    if (auto budget = Integer(table, "max_notifications", path, 0, 1000000)) {
      service.max_notifications = static_cast<int>(*budget);
    }
    Severity(table, "postmortem_severity", path, service.postmortem_severity);
    std::vector<const toml::table*> steps = TableArray(table, "escalation", path);
    for (size_t i = 0; i < steps.size(); ++i) {
      std::string step_path = Index(Join(path, "escalation"), i);
      CheckKeys(*steps[i], step_path, {"after", "notify"});
      EscalationStep step;
      if (steps[i]->get("after") == nullptr) {
        Fail(*steps[i], Join(step_path, "after"), "missing: how long after opening, e.g. \"15m\"");
      }
      if (auto after = Duration(*steps[i], "after", step_path, Sign::kPositive)) {
        step.after = *after;
        if (!service.escalation.empty() && step.after <= service.escalation.back().after) {
          Fail(*steps[i]->get("after"), Join(step_path, "after"),
               absl::StrCat("steps must come in order: ", DurationToString(step.after),
                            " is not after the previous step's ",
                            DurationToString(service.escalation.back().after)));
        }
      }
      if (auto notify = Strings(*steps[i], "notify", step_path)) step.notify = *notify;
      if (step.notify.empty()) {
        Fail(steps[i]->get("notify") != nullptr ? *steps[i]->get("notify") : *steps[i],
             Join(step_path, "notify"), "an escalation step must notify someone");
      }
      service.escalation.push_back(std::move(step));
    }
    if (auto lookback = Duration(table, "change_lookback", path, Sign::kNonNegative)) {
      service.change_lookback = *lookback;
    }
    bool named = false;
    if (std::optional<std::string> name = Name(table, path, "service", service_names_)) {
      if (!IsServiceName(*name)) {
        Fail(*table.get("name"), Join(path, "name"),
             absl::StrCat("invalid service name \"", *name,
                          "\": use letters, digits, '_', '.' and '-' only"));
      } else {
        named = true;
      }
      service.name = *name;
    }
    service.tickets = NameList(table, "tickets", path, "sink", "[\"tickets\"]", sink_refs_);
    std::string sla_path = Join(path, "sla");
    if (const toml::table* sla = Table(table.get("sla"), sla_path)) {
      CheckKeys(*sla, sla_path,
                {"time_to_ticket", "time_to_acknowledge", "time_to_resolve", "clock_start",
                 "availability", "availability_severity"});
      if (std::optional<std::string> start = String(*sla, "clock_start", sla_path)) {
        if (*start == "first_evidence") {
          service.sla.clock_start = ClockStart::kFirstEvidence;
        } else if (*start == "detection") {
          service.sla.clock_start = ClockStart::kDetection;
        } else {
          Fail(*sla->get("clock_start"), Join(sla_path, "clock_start"),
               absl::StrCat("expected \"first_evidence\" or \"detection\", got \"", *start,
                            "\""));
        }
      }
      if (std::optional<std::string> availability = String(*sla, "availability", sla_path)) {
        absl::StatusOr<double> objective = ParsePercent(*availability);
        if (!objective.ok()) {
          Fail(*sla->get("availability"), Join(sla_path, "availability"),
               objective.status().message());
        } else if (*objective <= 0 || *objective >= 1) {
          Fail(*sla->get("availability"), Join(sla_path, "availability"),
               absl::StrCat("availability \"", *availability,
                            "\" must be above 0% and below 100%"));
        } else {
          service.sla.availability = std::round(*objective * 1e12) / 1e12;
        }
      }
      Severity(*sla, "availability_severity", sla_path, service.sla.availability_severity);
      service.sla.time_to_ticket = Duration(*sla, "time_to_ticket", sla_path, Sign::kPositive);
      service.sla.time_to_acknowledge =
          Duration(*sla, "time_to_acknowledge", sla_path, Sign::kPositive);
      service.sla.time_to_resolve = Duration(*sla, "time_to_resolve", sla_path, Sign::kPositive);
    }
    std::vector<const toml::table*> slos = TableArray(table, "slo", path);
    absl::flat_hash_map<std::string, int> slo_names;
    for (size_t i = 0; i < slos.size(); ++i) {
      std::string slo_path = Index(Join(path, "slo"), i);
      std::optional<SloConfig> slo = LoadSlo(*slos[i], slo_path, slo_names);
      if (!slo.has_value()) continue;
      // Rules are generated only for an SLO that loaded whole, so that one
      // mistake is one error.
      if (named) {
        pending_slos_.push_back({config_.services.size(), service.slos.size(),
                                 PosOf(slos[i]->get("name")->source()), Join(slo_path, "name")});
      }
      service.slos.push_back(*std::move(slo));
    }
    config_.services.push_back(std::move(service));
  }

  // One [[service.slo]]; nullopt when anything in it is wrong (and reported).
  std::optional<SloConfig> LoadSlo(const toml::table& table, const std::string& path,
                                   absl::flat_hash_map<std::string, int>& names) {
    CheckKeys(
        table, path,
        {"name", "objective", "window", "errors", "total", "page_severity", "ticket_severity"});
    SloConfig slo;
    bool ok = true;
    const size_t known = names.size();
    if (std::optional<std::string> name = Name(table, path, "SLO", names)) {
      // A duplicate's rules would clash too: one mistake, one error.
      if (names.size() == known) ok = false;
      // The `slo` label of its series and part of its rules' names.
      if (!IsServiceName(*name)) {
        Fail(*table.get("name"), Join(path, "name"),
             absl::StrCat("invalid SLO name \"", *name,
                          "\": use letters, digits, '_', '.' and '-' only"));
        ok = false;
      }
      slo.name = *name;
    } else {
      ok = false;
    }
    if (const toml::node* node = Field(table, "objective", path, /*required=*/true)) {
      const std::string key = Join(path, "objective");
      if (const toml::value<std::string>* text = node->as_string()) {
        absl::StatusOr<double> objective = ParsePercent(text->get());
        if (!objective.ok()) {
          Fail(*node, key, objective.status().message());
          ok = false;
        } else if (*objective <= 0 || *objective >= 1) {
          // 100% leaves no budget to burn; 0% promises nothing.
          Fail(*node, key,
               absl::StrCat("objective \"", text->get(), "\" must be above 0% and below 100%"));
          ok = false;
        } else {
          // "99.9%" / 100 is 0.9990000000000001 in binary; rounding to 12
          // places gives the double nearest 0.999, as /metrics should show it.
          slo.objective = std::round(*objective * 1e12) / 1e12;
        }
      } else {
        Fail(*node, key,
             absl::StrCat("expected a percentage string such as \"99.9%\", got ",
                          TypeName(node->type())));
        ok = false;
      }
    } else {
      ok = false;
    }
    if (table.get("window") != nullptr) {
      std::optional<absl::Duration> window = Duration(table, "window", path, Sign::kPositive);
      if (window.has_value() && *window > absl::Hours(24 * 365)) {
        Fail(*table.get("window"), Join(path, "window"),
             absl::StrCat("window ", DurationToString(*window),
                          " is longer than 1y (the budget keeps 16 bytes for every hour of it)"));
        window.reset();
      }
      if (window.has_value()) {
        slo.window = *window;
      } else {
        ok = false;
      }
    }
    for (auto [key, text, parsed] : {std::tuple("errors", &slo.errors, &slo.parsed_errors),
                                     std::tuple("total", &slo.total, &slo.parsed_total)}) {
      std::optional<ExprPtr> expr = Expression(table, key, path, *text);
      if (!expr.has_value()) {
        ok = false;
        continue;
      }
      ValueType type = TypeOf(**expr);
      if (type != ValueType::kInstantVector && type != ValueType::kScalar) {
        Fail(*table.get(key), Join(path, key),
             absl::StrCat("expected a counter's current total (an instant vector or a scalar, "
                          "such as sum(http_requests_total)), got ",
                          ValueTypeName(type)));
        ok = false;
        continue;
      }
      *parsed = *expr;
    }
    ok &= Severity(table, "page_severity", path, slo.page_severity);
    ok &= Severity(table, "ticket_severity", path, slo.ticket_severity);
    if (!ok) return std::nullopt;
    return slo;
  }

  // An optional severity into `out`; false when it is given and wrong.
  bool Severity(const toml::table& table, absl::string_view key, absl::string_view path,
                std::string& out) {
    if (table.get(Std(key)) == nullptr) return true;
    std::optional<std::string> severity = String(table, key, path);
    if (!severity.has_value()) return false;
    if (std::find(std::begin(kSeverities), std::end(kSeverities), *severity) ==
        std::end(kSeverities)) {
      Fail(*table.get(Std(key)), Join(path, key),
           absl::StrCat("unknown severity \"", *severity, "\" (one of ",
                        absl::StrJoin(kSeverities, ", "), ")"));
      return false;
    }
    out = *severity;
    return true;
  }

  // With connectivity canaries, one incident says klaxon is cut off while
  // every canary fails, and every other rule depends on it: their alerts are
  // attached to that incident instead of each opening its own.
  void GenerateCutOffRule() {
    if (config_.connectivity_canaries.empty()) return;
    constexpr absl::string_view kName = "KlaxonCutOff";
    if (auto it = rule_names_.find(kName); it != rule_names_.end()) {
      Fail(connectivity_pos_, "connectivity",
           absl::StrCat("the rule on line ", it->second, " is named ", kName,
                        ", the rule [connectivity] generates; rename it"));
      return;
    }
    RuleConfig rule;
    rule.name = std::string(kName);
    rule.severity = "critical";
    rule.expr = "max(klaxon_connectivity_up) == 0";
    absl::StatusOr<ExprPtr> parsed = ParseExpr(rule.expr);
    if (!parsed.ok()) return;  // a constant that parses
    rule.parsed_expr = *parsed;
    rule.summary =
        "klaxon is cut off: every connectivity canary fails, so probe failures say nothing "
        "about the services; they are attached here";
    for (RuleConfig& other : config_.rules) other.depends_on.push_back(rule.name);
    rule_names_[rule.name] = connectivity_pos_.line;
    config_.rules.push_back(std::move(rule));
  }

  // The workbook's page and ticket rules of every SLO that loaded, appended to
  // the rules like any [[rule]].
  void GenerateSloRules() {
    // Generated name -> what generated it, for a clash between two SLOs.
    absl::flat_hash_map<std::string, std::string> generated;
    for (const PendingSlo& pending : pending_slos_) {
      const ServiceConfig& service = config_.services[pending.service];
      const SloConfig& slo = service.slos[pending.slo];
      SloAlertSeverities severities;
      severities.page = slo.page_severity;
      severities.ticket = slo.ticket_severity;
      absl::StatusOr<std::vector<SloAlertRule>> rules =
          SloAlertingRules(SloOptionsFor(service, slo), severities);
      if (!rules.ok()) {
        Fail(pending.name_pos, pending.name_key, rules.status().message());
        continue;
      }
      std::string what = absl::StrCat("SLO \"", slo.name, "\" of service \"", service.name,
                                      "\" on line ", pending.name_pos.line);
      for (SloAlertRule& rule : *rules) {
        const std::string& name = rule.options.name;
        if (auto it = generated.find(name); it != generated.end()) {
          Fail(pending.name_pos, pending.name_key,
               absl::StrCat("generated rule \"", name, "\" is also generated for the ", it->second,
                            "; rename one of the two"));
          continue;
        }
        if (auto it = rule_names_.find(name); it != rule_names_.end()) {
          Fail(pending.name_pos, pending.name_key,
               absl::StrCat("generated rule \"", name, "\" has the name of the [[rule]] on line ",
                            it->second, "; rename the SLO or the rule"));
          continue;
        }
        generated[name] = what;
        rule_names_[name] = pending.name_pos.line;
        RuleConfig config;
        config.name = name;
        config.service = service.name;
        config.severity = rule.options.severity;
        config.expr = std::move(rule.expr);
        config.parsed_expr = rule.options.expr;
        config.summary = rule.options.summary_template;
        config.slo = slo.name;
        config_.rules.push_back(std::move(config));
      }
    }
  }

  // interval and timeout of a probe or scrape; the timeout defaults to
  // `default_timeout` cut to the interval, and may not be longer than it, or
  // runs would overlap.
  void IntervalAndTimeout(const toml::table& table, absl::string_view path,
                          absl::Duration& interval, absl::Duration& timeout) {
    std::optional<absl::Duration> parsed_interval =
        Duration(table, "interval", path, Sign::kPositive);
    if (parsed_interval.has_value()) interval = *parsed_interval;
    std::optional<absl::Duration> parsed_timeout = Duration(table, "timeout", path, Sign::kPositive);
    if (parsed_timeout.has_value()) {
      // Only compared with an interval that parsed, so one mistake is one error.
      if (*parsed_timeout > interval &&
          (parsed_interval.has_value() || table.get("interval") == nullptr)) {
        Fail(*table.get("timeout"), Join(path, "timeout"),
             absl::StrCat("timeout ", DurationToString(*parsed_timeout),
                          " is longer than the interval ", DurationToString(interval)));
      }
      timeout = *parsed_timeout;
    } else if (table.get("timeout") == nullptr) {
      timeout = std::min(timeout, interval);
    }
  }

  std::optional<IpFamily> IpFamilyField(const toml::table& table, absl::string_view path) {
    std::optional<std::string> family = String(table, "ip_family", path);
    if (!family.has_value()) return std::nullopt;
    if (*family == "any") return IpFamily::kAny;
    if (*family == "ip4") return IpFamily::kIPv4;
    if (*family == "ip6") return IpFamily::kIPv6;
    Fail(*table.get("ip_family"), Join(path, "ip_family"),
         absl::StrCat("unknown IP family \"", *family, "\": expected \"any\", \"ip4\" or \"ip6\""));
    return std::nullopt;
  }

  // expect_status: codes (200), ranges ("200-299") and classes ("2xx").
  std::vector<StatusRange> StatusRanges(const toml::table& table, absl::string_view path) {
    std::vector<StatusRange> out;
    const toml::node* statuses = Field(table, "expect_status", path, /*required=*/false);
    if (statuses == nullptr) return out;
    std::string key = Join(path, "expect_status");
    const toml::array* array = statuses->as_array();
    if (array == nullptr) {
      Fail(*statuses, key,
           absl::StrCat("expected an array of status codes such as [200, \"3xx\", \"400-404\"], got ",
                        TypeName(statuses->type())));
      return out;
    }
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      std::string item = Index(key, i);
      StatusRange range;
      if (const toml::value<int64_t>* code = element.as_integer()) {
        range = {static_cast<int>(std::clamp<int64_t>(code->get(), -1, 1000)),
                 static_cast<int>(std::clamp<int64_t>(code->get(), -1, 1000))};
      } else if (const toml::value<std::string>* text = element.as_string()) {
        absl::string_view t = text->get();
        int low = 0, high = 0;
        size_t dash = t.find('-');
        if (absl::SimpleAtoi(t, &low)) {
          high = low;
        } else if (t.size() == 3 && absl::ascii_isdigit(t[0]) &&
                   absl::AsciiStrToLower(t.substr(1)) == "xx") {
          low = (t[0] - '0') * 100;
          high = low + 99;
        } else if (dash == absl::string_view::npos || !absl::SimpleAtoi(t.substr(0, dash), &low) ||
                   !absl::SimpleAtoi(t.substr(dash + 1), &high) || low > high) {
          Fail(element, item,
               absl::StrCat("invalid status \"", t,
                            "\": expected a code, a class such as \"2xx\" or a range such as \"200-299\""));
          continue;
        }
        range = {low, high};
      } else {
        Fail(element, item,
             absl::StrCat("expected an HTTP status code such as 200, got ",
                          TypeName(element.type())));
        continue;
      }
      if (range.low < 100 || range.high > 599) {
        Fail(element, item,
             range.low == range.high
                 ? absl::StrCat("HTTP status ", range.low, " is outside 100..599")
                 : absl::StrCat("HTTP status range ", range.low, "-", range.high,
                                " is outside 100..599"));
        continue;
      }
      out.push_back(range);
    }
    return out;
  }

  void LoadHttpProbe(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"name", "service", "url", "method", "headers", "body", "basic_auth", "bearer_token",
               "interval", "timeout", "expect_status", "expect_body", "expect_body_not",
               "expect_header", "max_latency", "follow_redirects", "ip_family", "tls_verify",
               "tls_ca_file", "tls_min_days", "reuse_connection"});
    HttpProbeOptions probe;
    if (std::optional<std::string> name = Name(table, path, "probe", probe_names_)) {
      probe.name = *name;
    }
    ServiceRef(table, path, probe.service);
    if (std::optional<std::string> url = Url(table, path)) probe.url = *url;
    if (std::optional<std::string> method = String(table, "method", path)) {
      if (!IsHeaderName(*method)) {
        Fail(*table.get("method"), Join(path, "method"),
             absl::StrCat("invalid HTTP method \"", *method, "\""));
      } else {
        probe.method = absl::AsciiStrToUpper(*method);
      }
    }
    probe.headers = HeaderTable(table, "headers", path);
    if (std::optional<std::string> body = String(table, "body", path)) probe.body = *body;
    const std::string auth_path = Join(path, "basic_auth");
    if (const toml::table* auth = Table(table.get("basic_auth"), auth_path)) {
      CheckKeys(*auth, auth_path, {"username", "password"});
      probe.basic_auth_user = String(*auth, "username", auth_path, /*required=*/true);
      if (auto password = Secret(*auth, "password", auth_path, /*required=*/true)) {
        probe.basic_auth_password = *password;
      }
    }
    if (auto token = Secret(table, "bearer_token", path)) probe.bearer_token = *token;
    if (probe.basic_auth_user.has_value() && table.get("bearer_token") != nullptr) {
      Fail(*table.get("bearer_token"), Join(path, "bearer_token"),
           "set either basic_auth or bearer_token, not both");
    }
    IntervalAndTimeout(table, path, probe.interval, probe.timeout);
    probe.expect_status = StatusRanges(table, path);
    probe.expect_body = Regex(table, "expect_body", path);
    probe.expect_body_not = Regex(table, "expect_body_not", path);
    const std::string header_path = Join(path, "expect_header");
    for (Label& expectation : HeaderTable(table, "expect_header", path)) {
      RE2 re(expectation.value, RE2::Quiet);
      if (!re.ok()) {
        Fail(*table.get("expect_header")->as_table()->get(expectation.name),
             Join(header_path, expectation.name),
             absl::StrCat("invalid regular expression \"", expectation.value, "\": ", re.error()));
        continue;
      }
      probe.expect_header.push_back({std::move(expectation.name), std::move(expectation.value)});
    }
    if (auto latency = Duration(table, "max_latency", path, Sign::kPositive)) {
      probe.max_latency = *latency;
    }
    if (auto follow = Bool(table, "follow_redirects", path)) probe.follow_redirects = *follow;
    if (auto family = IpFamilyField(table, path)) probe.ip_family = *family;
    if (auto verify = Bool(table, "tls_verify", path)) probe.tls_verify = *verify;
    if (auto ca = String(table, "tls_ca_file", path)) {
      std::filesystem::path file(*ca);
      if (file.is_relative()) file = std::filesystem::path(path_).parent_path() / file;
      std::error_code error;
      if (!std::filesystem::is_regular_file(file, error)) {
        Fail(*table.get("tls_ca_file"), Join(path, "tls_ca_file"),
             absl::StrCat("no such file: ", file.string()));
      }
      probe.tls_ca_file = file.string();
    }
    if (auto days = Integer(table, "tls_min_days", path, 0, 3650)) {
      probe.tls_min_days = static_cast<int>(*days);
    }
    if (auto reuse = Bool(table, "reuse_connection", path)) probe.reuse_connection = *reuse;
    config_.http_probes.push_back(std::move(probe));
  }

  // "host:port", with [v6]:port for a literal IPv6 address.
  std::optional<std::string> Address(const toml::table& table, absl::string_view key,
                                     absl::string_view path) {
    std::optional<std::string> address = String(table, key, path, /*required=*/true);
    if (!address.has_value()) return std::nullopt;
    if (std::optional<std::string> why = CheckListen(*address)) {
      Fail(*table.get(Std(key)), Join(path, key),
           absl::StrCat("invalid address \"", *address,
                        "\": expected \"host:port\", such as \"db.example.com:5432\" or \"[::1]:22\""));
      return std::nullopt;
    }
    return address;
  }

  void LoadTcpProbe(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"name", "service", "address", "interval", "timeout", "send", "expect", "ip_family"});
    TcpProbeOptions probe;
    if (std::optional<std::string> name = Name(table, path, "probe", probe_names_)) {
      probe.name = *name;
    }
    ServiceRef(table, path, probe.service);
    if (auto address = Address(table, "address", path)) probe.address = *address;
    IntervalAndTimeout(table, path, probe.interval, probe.timeout);
    if (auto send = String(table, "send", path)) probe.send = *send;
    probe.expect = Regex(table, "expect", path);
    if (auto family = IpFamilyField(table, path)) probe.ip_family = *family;
    config_.tcp_probes.push_back(std::move(probe));
  }

  // [connectivity]: each canary becomes a probe of its own, named by its target.
  void LoadConnectivity(const toml::table& table) {
    const std::string path = "connectivity";
    connectivity_pos_ = PosOf(table.source());
    CheckKeys(table, path, {"canaries", "interval", "timeout"});
    absl::Duration interval = absl::Seconds(10);
    absl::Duration timeout = absl::Seconds(3);
    IntervalAndTimeout(table, path, interval, timeout);
    std::optional<std::vector<std::string>> canaries = Strings(table, "canaries", path);
    if (!canaries.has_value()) {
      if (table.get("canaries") == nullptr) Fail(table, Join(path, "canaries"), "missing required key");
      return;
    }
    const toml::node& node = *table.get("canaries");
    if (canaries->empty()) Fail(node, Join(path, "canaries"), "name at least one canary target");
    for (size_t i = 0; i < canaries->size(); ++i) {
      const std::string& target = (*canaries)[i];
      const toml::node& element = node.is_array() ? *node.as_array()->get(i) : node;
      const std::string key = node.is_array() ? Index(Join(path, "canaries"), i) : Join(path, "canaries");
      absl::string_view rest = target;
      if (absl::ConsumePrefix(&rest, "tcp://")) {
        if (CheckListen(rest).has_value()) {
          Fail(element, key,
               absl::StrCat("invalid canary \"", target, "\": expected tcp://host:port"));
          continue;
        }
        TcpProbeOptions probe;
        probe.name = target;
        probe.address = std::string(rest);
        probe.interval = interval;
        probe.timeout = timeout;
        probe.canary = true;
        config_.tcp_probes.push_back(std::move(probe));
      } else if (std::optional<std::string> why = CheckUrl(target)) {
        Fail(element, key,
             absl::StrCat(*why, " (a canary is an http:// or https:// URL or tcp://host:port)"));
        continue;
      } else {
        HttpProbeOptions probe;
        probe.name = target;
        probe.url = target;
        probe.interval = interval;
        probe.timeout = timeout;
        // Any answer at all proves the network works.
        probe.expect_status = {{100, 599}};
        probe.canary = true;
        config_.http_probes.push_back(std::move(probe));
      }
      auto [it, inserted] = probe_names_.try_emplace(target, PosOf(element.source()).line);
      if (!inserted) {
        Fail(element, key,
             absl::StrCat("canary \"", target, "\" has the name of the probe on line ", it->second));
      }
      config_.connectivity_canaries.push_back(target);
    }
  }

  void LoadScrape(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"job", "targets", "interval", "timeout", "labels", "honor_labels", "sample_limit"});
    ScrapeOptions scrape;
    if (std::optional<std::string> job = String(table, "job", path, /*required=*/true)) {
      const toml::node& node = *table.get("job");
      if (job->empty()) {
        Fail(node, Join(path, "job"), "must not be empty");
      } else if (auto [it, inserted] = scrape_jobs_.try_emplace(*job, PosOf(node.source()).line);
                 !inserted) {
        Fail(node, Join(path, "job"),
             absl::StrCat("duplicate job \"", *job, "\" (first defined on line ", it->second, ")"));
      }
      scrape.job = *job;
    }
    if (auto targets = Strings(table, "targets", path)) {
      const toml::node& node = *table.get("targets");
      for (size_t i = 0; i < targets->size(); ++i) {
        const toml::node& element = node.is_array() ? *node.as_array()->get(i) : node;
        const std::string key = node.is_array() ? Index(Join(path, "targets"), i) : Join(path, "targets");
        if (std::optional<std::string> why = CheckUrl((*targets)[i])) {
          Fail(element, key, *why);
          continue;
        }
        scrape.targets.push_back((*targets)[i]);
      }
      if (targets->empty()) Fail(node, Join(path, "targets"), "name at least one target URL");
    } else if (table.get("targets") == nullptr) {
      Fail(table, Join(path, "targets"), "missing required key");
    }
    IntervalAndTimeout(table, path, scrape.interval, scrape.timeout);
    scrape.labels = LabelTable(table, "labels", path, "label", /*templates=*/false);
    for (const Label& label : scrape.labels) {
      if (label.name == "job" || label.name == "instance") {
        Fail(*table.get("labels")->as_table()->get(label.name), Join(Join(path, "labels"), label.name),
             "job and instance are set by the scrape itself");
      }
    }
    if (auto honor = Bool(table, "honor_labels", path)) scrape.honor_labels = *honor;
    if (auto limit = Integer(table, "sample_limit", path, 0, int64_t{1} << 40)) {
      scrape.sample_limit = static_cast<size_t>(*limit);
    }
    config_.scrapes.push_back(std::move(scrape));
  }

  void LoadLog(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"name", "path", "stdin", "syslog", "start", "max_line_bytes", "match"});
    LogSourceOptions log;
    if (std::optional<std::string> name = Name(table, path, "log", log_names_)) {
      log.matcher.log = *name;
    }
    int inputs = 0;
    if (auto paths = Strings(table, "path", path)) {
      ++inputs;
      for (const std::string& file : *paths) {
        if (file.empty()) {
          Fail(*table.get("path"), Join(path, "path"), "must not be empty");
          continue;
        }
        std::filesystem::path resolved(file);
        if (resolved.is_relative()) resolved = std::filesystem::path(path_).parent_path() / resolved;
        log.paths.push_back(resolved.lexically_normal().string());
      }
    }
    if (auto from_stdin = Bool(table, "stdin", path); from_stdin.value_or(false)) {
      ++inputs;
      if (stdin_log_.has_value()) {
        Fail(*table.get("stdin"), Join(path, "stdin"),
             absl::StrCat("only one [[log]] can read stdin; the log on line ", *stdin_log_,
                          " already does"));
      }
      stdin_log_ = PosOf(table.get("stdin")->source()).line;
      log.paths.push_back("-");
    }
    if (auto syslog = String(table, "syslog", path)) {
      ++inputs;
      absl::string_view address = *syslog;
      std::string* into = absl::ConsumePrefix(&address, "udp://")   ? &log.syslog_udp
                          : absl::ConsumePrefix(&address, "tcp://") ? &log.syslog_tcp
                                                                    : nullptr;
      if (into == nullptr || CheckListen(address).has_value()) {
        Fail(*table.get("syslog"), Join(path, "syslog"),
             absl::StrCat("invalid syslog listener \"", *syslog,
                          "\": expected udp://host:port or tcp://host:port"));
      } else {
        *into = std::string(address);
      }
    }
    if (inputs != 1) {
      Fail(table, path,
           inputs == 0 ? "set one of path, stdin = true or syslog"
                       : "set only one of path, stdin = true and syslog");
    }
    if (std::optional<std::string> start = String(table, "start", path)) {
      if (*start == "beginning") {
        log.start_at_beginning = true;
      } else if (*start != "end") {
        Fail(*table.get("start"), Join(path, "start"),
             absl::StrCat("unknown start \"", *start, "\": expected \"end\" or \"beginning\""));
      }
    }
    if (auto bytes = Integer(table, "max_line_bytes", path, 256, 64 << 20)) {
      log.matcher.max_line_bytes = static_cast<size_t>(*bytes);
    }
    std::vector<const toml::table*> matches = TableArray(table, "match", path);
    absl::flat_hash_map<std::string, int> match_names;
    std::vector<const toml::table*> loaded;
    for (size_t i = 0; i < matches.size(); ++i) {
      const toml::table& match_table = *matches[i];
      const std::string match_path = Index(Join(path, "match"), i);
      CheckKeys(match_table, match_path, {"name", "contains", "regex", "max_label_sets"});
      LogMatchOptions match;
      if (auto name = Name(match_table, match_path, "match", match_names)) match.name = *name;
      const bool has_contains = match_table.get("contains") != nullptr;
      const bool has_regex = match_table.get("regex") != nullptr;
      if (has_contains == has_regex) {
        Fail(match_table, match_path, "set exactly one of contains and regex");
      }
      if (auto contains = String(match_table, "contains", match_path)) match.contains = *contains;
      if (auto regex = String(match_table, "regex", match_path)) match.regex = *regex;
      if (auto limit = Integer(match_table, "max_label_sets", match_path, 1, 1000000)) {
        match.max_label_sets = static_cast<size_t>(*limit);
      }
      log.matcher.matches.push_back(std::move(match));
      loaded.push_back(has_contains != has_regex ? &match_table : nullptr);
    }
    if (matches.empty() && table.get("match") == nullptr) {
      Fail(table, Join(path, "match"), "name at least one [[log.match]]");
    }
    // The matcher is the judge of its patterns; each of its complaints is
    // shown at the match it names.
    for (size_t i = 0; i < log.matcher.matches.size(); ++i) {
      if (loaded[i] == nullptr) continue;  // already reported
      LogMatcherOptions one = log.matcher;
      one.matches = {log.matcher.matches[i]};
      absl::StatusOr<std::unique_ptr<LogMatcher>> matcher = LogMatcher::Create(std::move(one));
      if (!matcher.ok()) {
        const toml::table& match_table = *loaded[i];
        const toml::node* at = match_table.get("regex");
        if (at == nullptr) at = match_table.get("contains");
        if (at == nullptr) at = &match_table;
        Fail(*at, Index(Join(path, "match"), i), matcher.status().message());
      }
    }
    config_.logs.push_back(std::move(log));
  }

  void LoadRule(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"name", "service", "severity", "expr", "for", "keep_firing_for", "summary", "labels",
               "annotations", "depends_on", "auto_resolve", "reopen_window", "flap_threshold",
               "group_by"});
    RuleConfig rule;
    if (auto window = Duration(table, "reopen_window", path, Sign::kNonNegative)) {
      rule.reopen_window = *window;
    }
    if (auto threshold = Integer(table, "flap_threshold", path, 1, 1000)) {
      rule.flap_threshold = static_cast<int>(*threshold);
    }
    if (auto group_by = Strings(table, "group_by", path)) {
      for (size_t i = 0; i < group_by->size(); ++i) {
        if (!IsLabelName((*group_by)[i])) {
          const toml::node* node = table.get("group_by");
          if (const toml::array* array = node->as_array()) node = array->get(i);
          Fail(*node, Index(Join(path, "group_by"), i),
               absl::StrCat("invalid label name \"", (*group_by)[i], "\""));
        }
      }
      rule.group_by = *group_by;
    }
    if (std::optional<std::string> name = Name(table, path, "rule", rule_names_)) {
      if (!IsMetricName(*name)) {
        Fail(*table.get("name"), Join(path, "name"),
             absl::StrCat("invalid rule name \"", *name,
                          "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*, as a Prometheus metric name"));
      }
      rule.name = *name;
    }
    ServiceRef(table, path, rule.service);
    if (std::optional<std::string> severity = String(table, "severity", path)) {
      if (std::find(std::begin(kSeverities), std::end(kSeverities), *severity) ==
          std::end(kSeverities)) {
        Fail(*table.get("severity"), Join(path, "severity"),
             absl::StrCat("unknown severity \"", *severity, "\" (one of ",
                          absl::StrJoin(kSeverities, ", "), ")"));
      } else {
        rule.severity = *severity;
      }
    }
    if (std::optional<ExprPtr> parsed = Expression(table, "expr", path, rule.expr)) {
      rule.parsed_expr = *parsed;
    }
    if (auto for_duration = Duration(table, "for", path, Sign::kNonNegative)) {
      rule.for_duration = *for_duration;
    }
    if (auto keep = Duration(table, "keep_firing_for", path, Sign::kNonNegative)) {
      rule.keep_firing_for = *keep;
    }
    if (std::optional<std::string> summary = String(table, "summary", path)) {
      CheckTemplateAt(*table.get("summary"), Join(path, "summary"), *summary);
      rule.summary = *summary;
    }
    rule.labels = LabelTable(table, "labels", path, "label", /*templates=*/true);
    rule.depends_on = NameList(table, "depends_on", path, "rule", "[\"UplinkDown\"]", rule_refs_);
    if (auto auto_resolve = Bool(table, "auto_resolve", path)) rule.auto_resolve = *auto_resolve;
    if (!rule.depends_on.empty()) {
      depends_on_keys_.push_back(
          {PosOf(table.get("depends_on")->source()), Join(path, "depends_on"), rule.name});
    }
    for (Label& annotation :
         LabelTable(table, "annotations", path, "annotation", /*templates=*/true)) {
      if (annotation.name != "summary") {
        rule.annotations.push_back(std::move(annotation));
        continue;
      }
      // `summary` is the "summary" annotation under its own key; one of the two.
      if (table.get("summary") != nullptr) {
        const toml::node& node = *table.get("annotations")->as_table()->get("summary");
        Fail(node, Join(Join(path, "annotations"), "summary"),
             absl::StrCat("the summary is given twice: here and as ", Join(path, "summary"),
                          " on line ", PosOf(table.get("summary")->source()).line, "; keep one"));
      } else {
        rule.summary = std::move(annotation.value);
      }
    }
    config_.rules.push_back(std::move(rule));
  }

  void LoadMaintenance(const toml::table& table, const std::string& path) {
    CheckKeys(table, path,
              {"name", "services", "start", "duration", "repeat", "time_zone", "comment"});
    MaintenanceWindow window;
    if (std::optional<std::string> name = Name(table, path, "maintenance window", window_names_)) {
      window.name = *name;
    }
    for (std::string& service :
         NameList(table, "services", path, "service", "[\"checkout\"]", service_refs_)) {
      window.services.push_back(std::move(service));
    }
    if (std::optional<std::string> zone = String(table, "time_zone", path)) {
      absl::StatusOr<absl::TimeZone> tz = LoadZone(*zone);
      if (!tz.ok()) {
        Fail(*table.get("time_zone"), Join(path, "time_zone"), tz.status().message());
      } else {
        window.time_zone_name = *zone;
        window.time_zone = *tz;
      }
    } else {
      window.time_zone = absl::UTCTimeZone();
    }
    if (std::optional<std::string> start = String(table, "start", path, /*required=*/true)) {
      absl::StatusOr<absl::CivilSecond> at = ParseLocalTime(*start);
      if (!at.ok()) {
        Fail(*table.get("start"), Join(path, "start"), at.status().message());
      } else {
        window.start = *at;
      }
    }
    if (table.get("duration") == nullptr) {
      Fail(table, Join(path, "duration"), "missing: how long each window lasts, e.g. \"2h\"");
    }
    if (auto duration = Duration(table, "duration", path, Sign::kPositive)) {
      window.duration = *duration;
    }
    if (std::optional<std::string> repeat = String(table, "repeat", path)) {
      absl::StatusOr<MaintenanceWindow::Repeat> parsed = ParseRepeat(*repeat);
      if (!parsed.ok()) {
        Fail(*table.get("repeat"), Join(path, "repeat"), parsed.status().message());
      } else {
        window.repeat = *parsed;
      }
    }
    if (std::optional<std::string> comment = String(table, "comment", path)) {
      window.comment = *comment;
    }
    config_.maintenance.push_back(std::move(window));
  }

  void LoadRecord(const toml::table& table, const std::string& path) {
    CheckKeys(table, path, {"record", "expr", "labels"});
    RecordConfig record;
    if (std::optional<std::string> name = String(table, "record", path, /*required=*/true)) {
      if (!IsMetricName(*name)) {
        Fail(*table.get("record"), Join(path, "record"),
             absl::StrCat("invalid metric name \"", *name,
                          "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
      }
      record.record = *name;
    }
    if (std::optional<ExprPtr> parsed = Expression(table, "expr", path, record.expr)) {
      record.parsed_expr = *parsed;
    }
    record.labels = LabelTable(table, "labels", path, "label", /*templates=*/false);
    config_.records.push_back(std::move(record));
  }

  // An array of names of other entries (`what`: "sink", "rule"), each recorded
  // in `refs` to be checked once the whole file is read.
  std::vector<std::string> NameList(const toml::table& table, absl::string_view field,
                                    absl::string_view path, absl::string_view what,
                                    absl::string_view example, std::vector<Ref>& refs) {
    std::vector<std::string> names;
    const toml::node* node = Field(table, field, path, /*required=*/false);
    if (node == nullptr) return names;
    std::string key = Join(path, field);
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, key,
           absl::StrCat("expected an array of ", what, " names such as ", example, ", got ",
                        TypeName(node->type())));
      return names;
    }
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      if (const toml::value<std::string>* name = element.as_string()) {
        names.push_back(name->get());
        refs.push_back({PosOf(element.source()), Index(key, i), name->get()});
      } else {
        Fail(element, Index(key, i),
             absl::StrCat("expected a ", what, " name (a string), got ", TypeName(element.type())));
      }
    }
    return names;
  }

  void ServiceRef(const toml::table& table, absl::string_view path, std::string& out) {
    if (std::optional<std::string> service = String(table, "service", path)) {
      out = *service;
      service_refs_.push_back(
          {PosOf(table.get("service")->source()), Join(path, "service"), *service});
    }
  }

  void ResolveRefs() {
    for (const Ref& ref : service_refs_) {
      if (!service_names_.contains(ref.name)) {
        Fail(ref.pos, ref.key,
             absl::StrCat("unknown service \"", ref.name, "\" (no [[service]] has that name)"));
      }
    }
    for (const Ref& ref : sink_refs_) {
      if (!sink_names_.contains(ref.name)) {
        Fail(ref.pos, ref.key,
             absl::StrCat("unknown sink \"", ref.name, "\" (no [[sink]] has that name)"));
      }
    }
    for (const Ref& ref : rule_refs_) {
      if (!rule_names_.contains(ref.name)) {
        Fail(ref.pos, ref.key,
             absl::StrCat("unknown rule \"", ref.name, "\" (no [[rule]] has that name)"));
      }
    }
    CheckDependencyCycles();
  }

  Config config_;
  // An SLO that loaded whole, waiting for every [[rule]] before its rules are
  // generated: indexes into config_.services and that service's slos.
  struct PendingSlo {
    size_t service;
    size_t slo;
    Pos name_pos;
    std::string name_key;
  };
  std::vector<PendingSlo> pending_slos_;
  // name -> line of its first definition
  absl::flat_hash_map<std::string, int> service_names_;
  absl::flat_hash_map<std::string, int> probe_names_;
  absl::flat_hash_map<std::string, int> scrape_jobs_;
  absl::flat_hash_map<std::string, int> log_names_;
  std::optional<int> stdin_log_;  // line of the [[log]] reading stdin
  absl::flat_hash_map<std::string, int> rule_names_;
  absl::flat_hash_map<std::string, int> sink_names_;
  absl::flat_hash_map<std::string, int> window_names_;
  Pos connectivity_pos_{1, 1};  // the [connectivity] table, for the generated rule
  std::vector<Ref> service_refs_;
  std::vector<Ref> sink_refs_;
  std::vector<Ref> rule_refs_;
  std::vector<Ref> depends_on_keys_;  // one per rule with depends_on, at its key

  // A rule may not depend on itself through any chain: the cut uplink would
  // wait for itself.
  void CheckDependencyCycles() {
    absl::flat_hash_map<std::string, const RuleConfig*> by_name;
    for (const RuleConfig& rule : config_.rules) by_name[rule.name] = &rule;
    for (const Ref& at : depends_on_keys_) {
      std::vector<std::string> stack = {at.name};
      absl::flat_hash_map<std::string, bool> seen;
      while (!stack.empty()) {
        std::string name = stack.back();
        stack.pop_back();
        auto it = by_name.find(name);
        if (it == by_name.end()) continue;
        for (const std::string& parent : it->second->depends_on) {
          if (parent == at.name) {
            Fail(at.pos, at.key,
                 absl::StrCat("rule \"", at.name, "\" depends on itself through \"", name,
                              "\""));
            stack.clear();
            break;
          }
          if (!seen[parent]) {
            seen[parent] = true;
            stack.push_back(parent);
          }
        }
      }
    }
  }
};

// Reads a `klaxon test` file into a RuleTestFile, with the config's error
// form. Mirrors promtool's test file: top-level rule_files and
// evaluation_interval, [[test]] with [[test.series]], [[test.alert]] (and
// [[test.alert.firing]]) and [[test.expr]] (and [[test.expr.sample]]).
class TestFileLoader : public TomlWalker {
 public:
  TestFileLoader(absl::string_view doc, const std::string& path) : TomlWalker(doc, path) {}

  absl::StatusOr<RuleTestFile> Load() {
    std::optional<toml::table> parsed = ParseRoot();
    if (!parsed.has_value()) return Result();
    const toml::table& root = *parsed;
    file_.path = path_;
    CheckKeys(root, "", {"rule_files", "evaluation_interval", "test"});
    LoadRuleFiles(root);
    if (auto interval = Duration(root, "evaluation_interval", "", Sign::kPositive)) {
      file_.evaluation_interval = *interval;
    }
    std::vector<const toml::table*> tests = TableArray(root, "test", "");
    // Unless a misspelt [[test]] was already reported as an unknown key.
    const bool only_known_keys = std::all_of(root.begin(), root.end(), [](auto&& entry) {
      const std::string_view key = entry.first.str();
      return key == "rule_files" || key == "evaluation_interval" || key == "test";
    });
    if (root.get("test") == nullptr && only_known_keys) {
      Fail(Pos{1, 1}, "test", "no [[test]] in the file; nothing would be checked");
    }
    for (size_t i = 0; i < tests.size(); ++i) LoadTest(*tests[i], Index("test", i));
    return Result();
  }

 private:
  absl::StatusOr<RuleTestFile> Result() {
    if (absl::Status status = Problems(); !status.ok()) return status;
    return std::move(file_);
  }

  void LoadRuleFiles(const toml::table& root) {
    const toml::node* node = Field(root, "rule_files", "", /*required=*/true);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      Fail(*node, "rule_files",
           absl::StrCat("expected an array of file names such as [\"rules.toml\"], got ",
                        TypeName(node->type())));
      return;
    }
    const std::filesystem::path folder = std::filesystem::path(path_).parent_path();
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const toml::value<std::string>* name = element.as_string();
      if (name == nullptr || name->get().empty()) {
        Fail(element, Index("rule_files", i),
             name == nullptr
                 ? absl::StrCat("expected a file name (a string), got ", TypeName(element.type()))
                 : std::string("must not be empty"));
        continue;
      }
      RuleTestFile::RuleFile file;
      file.path = name->get();
      std::filesystem::path p(file.path);
      file.resolved = p.is_absolute() ? p.string() : (folder / p).lexically_normal().string();
      const Pos pos = PosOf(element.source());
      file.line = pos.line;
      file.column = pos.column;
      file_.rule_files.push_back(std::move(file));
    }
  }

  // A required duration from the start of the test, such as "6m5s".
  std::optional<absl::Duration> At(const toml::table& table, absl::string_view path) {
    if (Field(table, "at", path, /*required=*/true) == nullptr) return std::nullopt;
    return Duration(table, "at", path, Sign::kNonNegative);
  }

  void LoadTest(const toml::table& table, const std::string& path) {
    CheckKeys(table, path, {"name", "interval", "series", "alert", "expr"});
    RuleTestFile::Test test;
    if (std::optional<std::string> name = String(table, "name", path)) test.name = *name;
    test.interval = Duration(table, "interval", path, Sign::kPositive);
    absl::flat_hash_map<Labels, int> seen;  // series -> line of first definition
    std::vector<const toml::table*> series = TableArray(table, "series", path);
    for (size_t i = 0; i < series.size(); ++i) {
      LoadSeries(*series[i], Index(Join(path, "series"), i), seen, test);
    }
    std::vector<const toml::table*> alerts = TableArray(table, "alert", path);
    for (size_t i = 0; i < alerts.size(); ++i) {
      LoadAlertCheck(*alerts[i], Index(Join(path, "alert"), i), test);
    }
    std::vector<const toml::table*> exprs = TableArray(table, "expr", path);
    for (size_t i = 0; i < exprs.size(); ++i) {
      LoadExprCheck(*exprs[i], Index(Join(path, "expr"), i), test);
    }
    file_.tests.push_back(std::move(test));
  }

  void LoadSeries(const toml::table& table, const std::string& path,
                  absl::flat_hash_map<Labels, int>& seen, RuleTestFile::Test& test) {
    CheckKeys(table, path, {"series", "values"});
    RuleTestFile::Series series;
    bool ok = true;
    if (std::optional<std::string> text = String(table, "series", path, /*required=*/true)) {
      const toml::node& node = *table.get("series");
      absl::StatusOr<Labels> labels = ParseSeries(*text);
      if (!labels.ok()) {
        Fail(node, Join(path, "series"), labels.status().message());
        ok = false;
      } else if (labels->empty()) {
        Fail(node, Join(path, "series"), "empty series; expected a name such as up{job=\"api\"}");
        ok = false;
      } else {
        auto [it, inserted] = seen.try_emplace(*labels, PosOf(node.source()).line);
        if (!inserted) {
          Fail(node, Join(path, "series"),
               absl::StrCat("series ", labels->ToString(),
                            " is given twice in this test (first on line ", it->second, ")"));
          ok = false;
        }
        series.labels = *std::move(labels);
      }
    } else {
      ok = false;
    }
    if (std::optional<std::string> text = String(table, "values", path, /*required=*/true)) {
      absl::StatusOr<std::vector<std::optional<double>>> values = ParsePromtoolValues(*text);
      if (!values.ok()) {
        const toml::node& node = *table.get("values");
        Pos at = PosOf(node.source());
        // "column N: ..." names the byte inside the string.
        absl::string_view message = values.status().message();
        int column = 0;
        if (absl::ConsumePrefix(&message, "column ") &&
            absl::SimpleAtoi(message.substr(0, message.find(':')), &column) && column > 0) {
          at = MapIntoString(doc_, at, *text, ExprPosition{1, column});
        }
        Fail(at, Join(path, "values"), values.status().message());
        ok = false;
      } else {
        series.values = *std::move(values);
      }
    } else {
      ok = false;
    }
    if (ok) test.series.push_back(std::move(series));
  }

  void LoadAlertCheck(const toml::table& table, const std::string& path, RuleTestFile::Test& test) {
    CheckKeys(table, path, {"at", "rule", "firing"});
    RuleTestFile::AlertCheck check;
    std::optional<absl::Duration> at = At(table, path);
    std::optional<std::string> rule = String(table, "rule", path, /*required=*/true);
    if (rule.has_value() && rule->empty()) {
      Fail(*table.get("rule"), Join(path, "rule"), "must not be empty");
      rule.reset();
    }
    std::vector<const toml::table*> firing = TableArray(table, "firing", path);
    for (size_t i = 0; i < firing.size(); ++i) {
      const std::string item = Index(Join(path, "firing"), i);
      CheckKeys(*firing[i], item, {"labels", "annotations"});
      RuleTestFile::ExpectedAlert alert;
      std::vector<Label> labels =
          LabelTable(*firing[i], "labels", item, "label", /*templates=*/false);
      if (rule.has_value()) {
        for (const Label& label : labels) {
          if (label.name == "alertname" && label.value != *rule) {
            const toml::node& node = *firing[i]->get("labels")->as_table()->get("alertname");
            Fail(node, Join(Join(item, "labels"), "alertname"),
                 absl::StrCat("alertname is the checked rule's name (\"", *rule,
                              "\") and is added for you; leave it out"));
          }
        }
      }
      alert.labels = Labels(std::move(labels));
      alert.annotations =
          LabelTable(*firing[i], "annotations", item, "annotation", /*templates=*/false);
      std::sort(alert.annotations.begin(), alert.annotations.end());
      check.firing.push_back(std::move(alert));
    }
    if (!at.has_value() || !rule.has_value()) return;
    check.at = *at;
    check.rule = *rule;
    test.alerts.push_back(std::move(check));
  }

  void LoadExprCheck(const toml::table& table, const std::string& path, RuleTestFile::Test& test) {
    CheckKeys(table, path, {"at", "expr", "sample"});
    RuleTestFile::ExprCheck check;
    std::optional<absl::Duration> at = At(table, path);
    std::optional<ExprPtr> expr = Expression(table, "expr", path, check.expr);
    bool ok = at.has_value() && expr.has_value();
    std::vector<const toml::table*> samples = TableArray(table, "sample", path);
    for (size_t i = 0; i < samples.size(); ++i) {
      const std::string item = Index(Join(path, "sample"), i);
      CheckKeys(*samples[i], item, {"labels", "value"});
      RuleTestFile::ExpectedSample sample;
      std::optional<std::string> text = String(*samples[i], "labels", item);
      // '' (or no labels at all) is a scalar or a label-less sample.
      if (text.has_value() && !absl::StripAsciiWhitespace(*text).empty()) {
        absl::StatusOr<Labels> labels = ParseSeries(*text);
        if (!labels.ok()) {
          Fail(*samples[i]->get("labels"), Join(item, "labels"), labels.status().message());
          ok = false;
        } else {
          sample.labels = *std::move(labels);
        }
      }
      if (const toml::node* value = Field(*samples[i], "value", item, /*required=*/true)) {
        if (const toml::value<double>* f = value->as_floating_point()) {
          sample.value = f->get();
        } else if (const toml::value<int64_t>* n = value->as_integer()) {
          sample.value = static_cast<double>(n->get());
        } else {
          Fail(*value, Join(item, "value"),
               absl::StrCat("expected a number (nan and inf included), got ",
                            TypeName(value->type())));
          ok = false;
        }
      } else {
        ok = false;
      }
      check.samples.push_back(std::move(sample));
    }
    if (!ok) return;
    check.at = *at;
    check.parsed_expr = *expr;
    test.exprs.push_back(std::move(check));
  }

  RuleTestFile file_;
};

}  // namespace

const ServiceConfig* Config::FindService(absl::string_view name) const {
  for (const ServiceConfig& service : services) {
    if (service.name == name) return &service;
  }
  return nullptr;
}

std::string Config::DataDir() const {
  std::filesystem::path dir(server.data_dir);
  if (dir.is_absolute()) return dir.string();
  return (std::filesystem::path(path).parent_path() / dir).lexically_normal().string();
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return absl::NotFoundError(absl::StrCat("config file \"", path, "\" not found"));
    }
    return absl::PermissionDeniedError(absl::StrCat("cannot read config file \"", path, "\""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat("error while reading config file \"", path, "\""));
  }
  return LoadConfigString(text.str(), path);
}

absl::StatusOr<Config> LoadConfigString(absl::string_view toml, const std::string& path) {
  return Loader(toml, path).Load();
}

absl::StatusOr<RuleTestFile> LoadRuleTestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return absl::NotFoundError(absl::StrCat("test file \"", path, "\" not found"));
    }
    return absl::PermissionDeniedError(absl::StrCat("cannot read test file \"", path, "\""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat("error while reading test file \"", path, "\""));
  }
  return LoadRuleTestString(text.str(), path);
}

absl::StatusOr<RuleTestFile> LoadRuleTestString(absl::string_view toml, const std::string& path) {
  return TestFileLoader(toml, path).Load();
}

int SeverityRank(absl::string_view severity) {
  auto it = std::find(std::begin(kSeverities), std::end(kSeverities), severity);
  return static_cast<int>(it - std::begin(kSeverities));
}

AlertingRuleOptions AlertingOptionsFor(const RuleConfig& rule) {
  AlertingRuleOptions options;
  options.name = rule.name;
  options.service = rule.service;
  options.severity = rule.severity;
  options.expr = rule.parsed_expr;
  options.for_duration = rule.for_duration;
  options.keep_firing_for = rule.keep_firing_for;
  options.summary_template = rule.summary;
  options.labels = rule.labels;
  options.annotations = rule.annotations;
  return options;
}

SloOptions SloOptionsFor(const ServiceConfig& service, const SloConfig& slo) {
  SloOptions options;
  options.service = service.name;
  options.name = slo.name;
  options.objective = slo.objective;
  options.window = slo.window;
  options.errors = slo.parsed_errors;
  options.total = slo.parsed_total;
  return options;
}

RecordingRuleOptions RecordingOptionsFor(const RecordConfig& record) {
  RecordingRuleOptions options;
  options.record = record.record;
  options.expr = record.parsed_expr;
  options.labels = record.labels;
  return options;
}

}  // namespace klaxon
