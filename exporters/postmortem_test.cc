#include "exporters/postmortem.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// 2026-09-21 14:13:20.123 UTC.
const absl::Time kFirstEvidence = absl::FromUnixMillis(1'790'000'000'123);

absl::Time At(absl::Duration after_first_evidence) { return kFirstEvidence + after_first_evidence; }

// The checkout outage of a Monday afternoon: a deploy eight minutes before, a
// ticket within seconds, nobody answering for 15 minutes (the acknowledgement
// clock breached and the incident escalated), a rollback, resolution.
Incident CheckoutOutage() {
  Incident incident;
  incident.number = 42;
  incident.rule = "CheckoutDown";
  incident.service = "checkout";
  incident.severity = "critical";
  incident.summary = "checkout health probe failing: home";
  incident.labels = Labels{{"alertname", "CheckoutDown"}, {"probe", "home"}};
  incident.state = IncidentState::kResolved;
  incident.first_evidence = kFirstEvidence;
  incident.opened_at = At(absl::Seconds(30));
  incident.resolved_at = At(absl::Minutes(41) + absl::Seconds(10));
  incident.value = 0;
  incident.reason = "HTTP 503 | upstream timed out";
  // Not in time order: the ledger adds a change at its own (earlier) time
  // after the incident's first entries.
  incident.timeline = {
      {kFirstEvidence, "first_evidence",
       "condition first seen: {alertname=\"CheckoutDown\", probe=\"home\"} = 0 (HTTP 503 | "
       "upstream timed out)"},
      {At(absl::Seconds(30)), "opened",
       "incident opened: checkout health probe failing: home; evidence "
       "{alertname=\"CheckoutDown\", probe=\"home\"} = 0"},
      {At(absl::Minutes(-8)), "change",
       "change before this incident: deploy checkout v2.3.1 (by ci-bot) "
       "https://ci.example.com/runs/981"},
      {At(absl::Seconds(32)), "ticket", "ticket opened in sink \"jira\" as OPS-7"},
      {At(absl::Seconds(32)), "sla_met",
       "time_to_ticket met: ticket 32.877s after first evidence (budget 5m)"},
      {At(absl::Minutes(15)), "sla_breached", "time_to_acknowledge breached (budget 15m)"},
      {At(absl::Minutes(15)), "escalated",
       "nobody acknowledged within 15m: escalated to step 2 (secondary on-call)"},
      {At(absl::Minutes(18) + absl::Seconds(20)), "acknowledged",
       "acknowledged by alice: rolling back v2.3.1"},
      {At(absl::Minutes(41) + absl::Seconds(10)), "resolved", "resolved: condition cleared"},
  };
  incident.clocks = {
      {"time_to_ticket", kFirstEvidence, At(absl::Minutes(5)), ClockState::kMet,
       At(absl::Seconds(32))},
      {"time_to_acknowledge", kFirstEvidence, At(absl::Minutes(15)), ClockState::kBreached,
       At(absl::Minutes(15))},
      {"time_to_resolve", kFirstEvidence, At(absl::Hours(4)), ClockState::kMet,
       At(absl::Minutes(41) + absl::Seconds(10))},
  };
  incident.tickets = {{"jira", "OPS-7"}, {"github", "12"}};
  incident.escalations = 1;
  return incident;
}

TEST(PostmortemTest, ARealisticIncidentRendersTheWholeDocument) {
  EXPECT_EQ(RenderPostmortem(CheckoutOutage()),
            R"md(# Post-mortem: INC-000042 checkout health probe failing: home

- **Service:** checkout
- **Severity:** critical
- **Rule:** CheckoutDown
- **Evidence:** value 0, HTTP 503 \| upstream timed out
- **Labels:** alertname="CheckoutDown", probe="home"
- **First evidence:** 2026-09-21 14:13:20 UTC
- **Detected:** 2026-09-21 14:13:50 UTC, 30s after first evidence
- **Acknowledged:** 2026-09-21 14:31:40 UTC, 17m50s after detection (acknowledged by alice: rolling back v2.3.1)
- **Escalated:** 1 step
- **Resolved:** 2026-09-21 14:54:30 UTC
- **Duration:** 41m10s, from first evidence to resolution
- **Tickets:** jira: OPS-7, github: 12

## Timeline

| Time (UTC) | Event | Details |
| --- | --- | --- |
| 2026-09-21 14:05:20 | Change | change before this incident: deploy checkout v2.3.1 (by ci-bot) https://ci.example.com/runs/981 |
| 2026-09-21 14:13:20 | First evidence | condition first seen: \{alertname="CheckoutDown", probe="home"\} = 0 (HTTP 503 \| upstream timed out) |
| 2026-09-21 14:13:50 | Detected | incident opened: checkout health probe failing: home; evidence \{alertname="CheckoutDown", probe="home"\} = 0 |
| 2026-09-21 14:13:52 | Ticket | ticket opened in sink "jira" as OPS-7 |
| 2026-09-21 14:13:52 | SLA met | time\_to\_ticket met: ticket 32.877s after first evidence (budget 5m) |
| 2026-09-21 14:28:20 | SLA breached | time\_to\_acknowledge breached (budget 15m) |
| 2026-09-21 14:28:20 | Escalated | nobody acknowledged within 15m: escalated to step 2 (secondary on-call) |
| 2026-09-21 14:31:40 | Acknowledged | acknowledged by alice: rolling back v2.3.1 |
| 2026-09-21 14:54:30 | Resolved | resolved: condition cleared |

## SLA

| Clock | Started (UTC) | Deadline (UTC) | Outcome | Took |
| --- | --- | --- | --- | --- |
| Time to ticket | 2026-09-21 14:13:20 | 2026-09-21 14:18:20 | met at 2026-09-21 14:13:52 | 32s of 5m |
| Time to acknowledge | 2026-09-21 14:13:20 | 2026-09-21 14:28:20 | **breached** at 2026-09-21 14:28:20 | 18m20s of 15m (3m20s over) |
| Time to resolve | 2026-09-21 14:13:20 | 2026-09-21 18:13:20 | met at 2026-09-21 14:54:30 | 41m10s of 4h |

## Impact

checkout was failing for 41m10s, from 2026-09-21 14:13:20 UTC (first evidence) to 2026-09-21 14:54:30 UTC (resolution).

_Who and what was affected (users, requests, data, money), and how it was noticed: to be written._

## Root cause

Rule CheckoutDown fired on value 0: HTTP 503 \| upstream timed out.

Changes shortly before the incident:

- 2026-09-21 14:05:20 UTC: change before this incident: deploy checkout v2.3.1 (by ci-bot) https://ci.example.com/runs/981

_What caused it, and why it was not caught or stopped sooner: to be written._

## Follow-up actions

- [ ] 
- [ ] 
- [ ] 
)md");
}

TEST(PostmortemTest, AnIncidentWithoutClocksTicketsOrAcknowledgementSaysSo) {
  Incident incident;
  incident.number = 7;
  incident.rule = "DiskFull";
  incident.summary = "disk *full* on db_1 <primary>";
  incident.first_evidence = kFirstEvidence;
  incident.opened_at = At(absl::Minutes(1));
  incident.resolved_at = At(absl::Hours(2) + absl::Minutes(1));
  incident.value = 0.97;
  incident.timeline = {
      {kFirstEvidence, "first_evidence", "condition first seen: disk_used_ratio = 0.97"},
      {At(absl::Minutes(1)), "opened", "incident opened: disk *full* on db_1 <primary>"},
      {At(absl::Hours(2) + absl::Minutes(1)), "resolved", "resolved: condition cleared"},
  };
  EXPECT_EQ(RenderPostmortem(incident),
            R"md(# Post-mortem: INC-000007 disk \*full\* on db\_1 \<primary\>

- **Service:** -
- **Severity:** -
- **Rule:** DiskFull
- **Evidence:** value 0.97
- **First evidence:** 2026-09-21 14:13:20 UTC
- **Detected:** 2026-09-21 14:14:20 UTC, 1m after first evidence
- **Acknowledged:** not acknowledged
- **Resolved:** 2026-09-21 16:14:20 UTC
- **Duration:** 2h1m, from first evidence to resolution
- **Tickets:** none

## Timeline

| Time (UTC) | Event | Details |
| --- | --- | --- |
| 2026-09-21 14:13:20 | First evidence | condition first seen: disk\_used\_ratio = 0.97 |
| 2026-09-21 14:14:20 | Detected | incident opened: disk \*full\* on db\_1 \<primary\> |
| 2026-09-21 16:14:20 | Resolved | resolved: condition cleared |

## SLA

No SLA clocks ran for this incident.

## Impact

The condition of rule DiskFull was failing for 2h1m, from 2026-09-21 14:13:20 UTC (first evidence) to 2026-09-21 16:14:20 UTC (resolution).

_Who and what was affected (users, requests, data, money), and how it was noticed: to be written._

## Root cause

Rule DiskFull fired on value 0.97.

No change was recorded shortly before the incident.

_What caused it, and why it was not caught or stopped sooner: to be written._

## Follow-up actions

- [ ] 
- [ ] 
- [ ] 
)md");
}

TEST(PostmortemTest, EveryTableRowHasAsManyCellsAsItsHeader) {
  Incident incident = CheckoutOutage();
  incident.timeline.push_back({At(absl::Minutes(20)), "note", "a | b || c\nd \\| e"});
  std::string document = RenderPostmortem(incident);
  size_t header_cells = 0;
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(document, '\n')) {
    if (line.empty() || line[0] != '|') {
      header_cells = 0;
      continue;
    }
    // Cells are split at pipes that no backslash escapes.
    size_t cells = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\') {
        ++i;
      } else if (line[i] == '|') {
        ++cells;
      }
    }
    if (header_cells == 0) header_cells = cells;
    EXPECT_EQ(cells, header_cells) << line;
    ++rows;
  }
  EXPECT_GT(rows, 10);
  EXPECT_THAT(document, HasSubstr("| a \\| b \\|\\| c d \\\\\\| e |"));
}

TEST(PostmortemTest, AnUnresolvedIncidentIsOngoing) {
  Incident incident = CheckoutOutage();
  incident.resolved_at.reset();
  incident.reopens = 2;
  std::string document = RenderPostmortem(incident);
  EXPECT_THAT(document, HasSubstr("- **Reopened:** 2 times after resolving\n"));
  EXPECT_THAT(document, HasSubstr("- **Resolved:** not resolved yet\n"));
  EXPECT_THAT(document, HasSubstr("checkout has been failing since 2026-09-21 14:13:20 UTC"));
  EXPECT_THAT(document, Not(HasSubstr("**Duration:**")));
}

TEST(PostmortemTest, TheTitleNamesTheIncident) {
  EXPECT_EQ(PostmortemTitle(CheckoutOutage()),
            "Post-mortem: INC-000042 checkout health probe failing: home");
  Incident unnamed;
  unnamed.number = 3;
  unnamed.rule = "ApiDown";
  EXPECT_EQ(PostmortemTitle(unnamed), "Post-mortem: INC-000003 ApiDown");
}

}  // namespace
}  // namespace klaxon
