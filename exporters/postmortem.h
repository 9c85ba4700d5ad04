// The post-mortem document of a resolved incident: Markdown that the ticketing
// sinks put in the post-mortem ticket, the webhook sends as
// "postmortem_markdown", and `klaxon postmortem` prints. What klaxon knows is
// written out (summary, timeline, SLA clocks); what only people know (impact,
// root cause, follow-ups) is left as prompts to fill in. Pure functions.
#ifndef KLAXON_EXPORTERS_POSTMORTEM_H_
#define KLAXON_EXPORTERS_POSTMORTEM_H_

#include <string>

#include "absl/strings/string_view.h"
#include "detector/incident.h"

namespace klaxon {

// "Post-mortem: INC-000042 checkout down": the document's and the ticket's title.
std::string PostmortemTitle(const Incident& incident);

// The whole document. Reads the incident's timeline (in time order), clocks and
// tickets; an incident without them (an outbox snapshot other than a
// "postmortem" row's) still gives a document, with those parts saying so. The
// same incident always gives the same bytes: no current time, no locale.
std::string RenderPostmortem(const Incident& incident);

// `text` safe inside a Markdown paragraph, list item or table cell: the
// characters that would start emphasis, code, links, HTML or a new cell are
// backslash-escaped (and braces, which Jira reads as macros), and line
// breaks become spaces.
std::string EscapeMarkdown(absl::string_view text);

}  // namespace klaxon

#endif  // KLAXON_EXPORTERS_POSTMORTEM_H_
