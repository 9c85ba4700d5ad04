// Fuzzes ExpositionParser with both formats: it must never crash, hang or leak,
// and what it delivers must keep the promises of probes/prom_text.h.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "probes/prom_text.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void ParseOnce(klaxon::ExpositionParser& parser, absl::string_view body,
               klaxon::ExpositionFormat format) {
  const absl::Status status = parser.Parse(
      body, format,
      [&](const klaxon::ExpositionSample& s) {
        Check(!s.name.empty());
        Check(absl::StartsWith(s.series_text, s.name));
        for (const auto& [name, value] : s.labels) {
          Check(!name.empty());
          Check(name != "__name__");
          // Touch every byte so that the sanitizers see a stale view.
          volatile char sink = 0;
          for (char c : value) sink = sink ^ c;
          (void)sink;
        }
      },
      [&](const klaxon::ExpositionMetadata& m) { Check(!m.family.empty()); });
  if (!status.ok()) {
    Check(status.code() == absl::StatusCode::kInvalidArgument);
    Check(absl::StartsWith(status.message(), "line "));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static klaxon::ExpositionParser* parser = new klaxon::ExpositionParser();
  // A copy of exactly `size` bytes, so that ASan catches any read past the end.
  char* copy = static_cast<char*>(std::malloc(size == 0 ? 1 : size));
  if (size != 0) std::memcpy(copy, data, size);
  const absl::string_view body(copy, size);
  ParseOnce(*parser, body, klaxon::ExpositionFormat::kPrometheusText);
  ParseOnce(*parser, body, klaxon::ExpositionFormat::kOpenMetrics);
  std::free(copy);
  return 0;
}
