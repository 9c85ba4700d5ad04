#include "exporters/sink.h"

#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "exporters/webhook_sink.h"

namespace klaxon {

namespace {

using Factory = std::function<absl::StatusOr<std::unique_ptr<TicketSink>>(const SinkOptions&)>;

// One line per sink kind.
const std::map<std::string, Factory>& Factories() {
  static const auto* factories = new std::map<std::string, Factory>{
      {"webhook",
       [](const SinkOptions& o) -> absl::StatusOr<std::unique_ptr<TicketSink>> {
         return std::make_unique<WebhookSink>(o);
       }},
  };
  return *factories;
}

}  // namespace

std::vector<std::string> TicketSinkTypes() {
  std::vector<std::string> types;
  for (const auto& [type, factory] : Factories()) types.push_back(type);
  return types;
}

absl::StatusOr<std::unique_ptr<TicketSink>> MakeTicketSink(const SinkOptions& options) {
  auto it = Factories().find(options.type);
  if (it == Factories().end()) {
    return absl::InvalidArgumentError(absl::StrCat("sink \"", options.name, "\": unknown type \"",
                                                   options.type, "\" (known: ",
                                                   absl::StrJoin(TicketSinkTypes(), ", "), ")"));
  }
  return it->second(options);
}

}  // namespace klaxon
