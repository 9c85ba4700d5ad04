// JiraSink keeps one Jira issue per incident through the REST API v2: it
// creates the issue on "opened", comments and takes the resolve transition on
// "resolved", and comments on every other event. Each issue carries the label
// "klaxon-INC-000042", by which a retry finds an issue whose creation it did not
// hear about, so that a timeout never makes a second issue.
// Thread-compatible: one delivery thread uses it.
#ifndef KLAXON_EXPORTERS_JIRA_SINK_H_
#define KLAXON_EXPORTERS_JIRA_SINK_H_

#include <string>

#include "exporters/sink.h"

namespace klaxon {

// Requests, all under options.url, authenticated with Basic user:api_key (or,
// with no user, "Bearer api_key": a Jira Data Center personal access token):
//   opened    with attempts > 0 first a search (GET /rest/api/2/search/jql,
//             then /rest/api/2/search where that is 404: Data Center):
//               jql = project = "OPS" AND labels = "klaxon-INC-000042"
//             and the key found, if any, is the answer;
//             else POST /rest/api/2/issue {fields: {project: {key}, issuetype:
//             {name}, summary: "[INC-000042] ...", description, labels: ["klaxon",
//             "klaxon-INC-000042"]}}; ticket_ref is the issue key ("OPS-7").
//   resolved  with attempts > 0 first GET /rest/api/2/issue/KEY?fields=status:
//             an issue already in a done status needs nothing more;
//             POST /rest/api/2/issue/KEY/comment {body}, then
//             GET /rest/api/2/issue/KEY/transitions and POST the one named
//             resolve_transition (case-insensitive). When there is none, an
//             issue already done is fine; otherwise kFailedPrecondition naming
//             the transitions there are.
//   others    POST /rest/api/2/issue/KEY/comment {body}.
// KEY is the ref recorded on "opened", else the label search finds it.
class JiraSink final : public TicketSink {
 public:
  explicit JiraSink(SinkOptions options) : options_(std::move(options)) {}
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_JIRA_SINK_H_
