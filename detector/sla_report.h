// A service's monthly availability from the ledger: the incidents at or above
// its availability_severity are its downtime, its maintenance windows are
// taken out, and the result is the report `GET /api/v1/sla`, `klaxon sla
// report` and the klaxon_sla_* metrics all show. Stateless functions over the
// config and the ledger.
#ifndef KLAXON_DETECTOR_SLA_REPORT_H_
#define KLAXON_DETECTOR_SLA_REPORT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "detector/availability.h"
#include "detector/config.h"
#include "detector/ledger.h"

namespace klaxon {

// One report per service that has an availability objective, or only `only`
// when it is not empty (kNotFound for an unknown service, kFailedPrecondition
// for one without an objective). `month` is a calendar month in each
// service's time zone.
absl::StatusOr<std::vector<AvailabilityReport>> ReportAvailability(const Config& config,
                                                                   Ledger& ledger,
                                                                   absl::string_view only,
                                                                   absl::CivilMonth month,
                                                                   absl::Time now);

// The current month in `service`'s time zone at `now`.
absl::CivilMonth CurrentMonth(const ServiceConfig& service, absl::Time now);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_SLA_REPORT_H_
