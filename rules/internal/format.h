// Text forms shared by the rule language's printers: numbers as Prometheus
// prints them and PromQL string literals. Not API; pure functions, thread-safe.
#ifndef KLAXON_RULES_INTERNAL_FORMAT_H_
#define KLAXON_RULES_INTERNAL_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace klaxon::rules_internal {

// A float64 as Go's fmt "%v" prints it (strconv 'g' with the shortest digits
// that round-trip, exponent form below 1e-4 and from 1e+06): "0", "0.5",
// "123456", "1e+06", "1.5e-05", "NaN", "+Inf", "-Inf". Alert templates render
// $value this way in Prometheus, and PromQL parses every one of these back.
// Defined in template.cc.
std::string FormatFloat(double value);

// A double-quoted PromQL string literal that parses back to exactly `value`'s
// bytes (invalid UTF-8 included, as \x escapes). Defined in expr.cc.
std::string QuoteString(absl::string_view value);

// Appends the UTF-8 encoding of one code point (escapes such as \u00e9 in
// string literals). Defined in expr.cc.
void AppendUtf8(std::string& out, uint32_t code_point);

}  // namespace klaxon::rules_internal

#endif  // KLAXON_RULES_INTERNAL_FORMAT_H_
