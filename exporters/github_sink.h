// GitHubSink keeps one GitHub issue per incident through the REST API: it
// opens the issue on "opened", comments and closes it on "resolved", comments
// and reopens it on "reopened", and comments on every other event. Each issue
// carries the label "klaxon-INC-000042", by which a retry finds an issue whose
// creation it did not hear about, so that a timeout never makes a second issue.
// Thread-compatible: one delivery thread uses it.
#ifndef KLAXON_EXPORTERS_GITHUB_SINK_H_
#define KLAXON_EXPORTERS_GITHUB_SINK_H_

#include <string>

#include "exporters/sink.h"

namespace klaxon {

inline constexpr char kGitHubApiUrl[] = "https://api.github.com";

// Requests, under options.url (default https://api.github.com), with
// "Authorization: Bearer api_key", "Accept: application/vnd.github+json" and
// "X-GitHub-Api-Version: 2022-11-28"; R is options.repository ("owner/name"):
//   opened    with attempts > 0 first GET /repos/R/issues?labels=klaxon-INC-000042
//             &state=all (pull requests skipped), and the issue found, if any, is
//             the answer; else POST /repos/R/issues {title: "[INC-000042] ...",
//             body, labels: ["klaxon", "klaxon-INC-000042"]}; ticket_ref is the
//             issue number ("17").
//   resolved  with attempts > 0 first GET /repos/R/issues/N: a closed issue needs
//             nothing more; POST /repos/R/issues/N/comments {body}, then
//             PATCH /repos/R/issues/N {state: "closed", state_reason: "completed"}.
//   reopened  the same, to state "open".
//   others    POST /repos/R/issues/N/comments {body}.
// N is the ref recorded on "opened", else the label search finds it.
class GitHubSink final : public TicketSink {
 public:
  explicit GitHubSink(SinkOptions options);
  absl::StatusOr<DeliveryReceipt> Deliver(const OutboxRow& row) override;

 private:
  SinkOptions options_;
};

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_GITHUB_SINK_H_
