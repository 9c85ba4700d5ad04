// RedmineSink keeps one Redmine issue per incident through the REST API: it
// creates the issue on "opened", adds a note and sets resolved_status_id on
// "resolved", and adds a note on every other event. A retry first looks for an
// issue already holding the incident id (in the custom field incident_field_id
// when set, else in the subject), so that a timeout never makes a second issue.
// Thread-compatible: one delivery thread uses it.
#ifndef KLAXON_EXPORTERS_REDMINE_SINK_H_
#define KLAXON_EXPORTERS_REDMINE_SINK_H_

#include <string>

#include "exporters/sink.h"

namespace klaxon {

// Requests, under options.url, with "X-Redmine-API-Key: api_key"; P is
// options.project (identifier or id), N options.incident_field_id:
//   opened    with attempts > 0 first GET /issues.json?project_id=P&status_id=*
//             &cf_N=INC-000042 (or, without N, &subject=~INC-000042, keeping only
//             subjects that hold "[INC-000042]"), and the issue found, if any, is
//             the answer; else POST /issues.json {issue: {project_id: P, subject:
//             "[INC-000042] ...", description, custom_fields: [{id: N, value:
//             "INC-000042"}] (only with N)}}; ticket_ref is the issue id ("42").
//   resolved  with attempts > 0 first GET /issues/ID.json: an issue already in
//             resolved_status_id needs nothing more; PUT /issues/ID.json {issue:
//             {notes, status_id: resolved_status_id}}.
//   others    PUT /issues/ID.json {issue: {notes}}.
// ID is the ref recorded on "opened", else the search above finds it.
class RedmineSink final : public TicketSink {
 public:
  explicit RedmineSink(SinkOptions options) : options_(std::move(options)) {}
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_REDMINE_SINK_H_
