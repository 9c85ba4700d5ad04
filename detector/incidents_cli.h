// `klaxon incidents list|show|ack|resolve`: the on-call person's command line,
// a client of a running klaxon's HTTP API (it reads and writes nothing
// locally); and `klaxon postmortem ID`, which prints an incident's post-mortem
// document from the API or straight from a data_dir's ledger. Owned by main();
// one call per process.
#ifndef KLAXON_DETECTOR_INCIDENTS_CLI_H_
#define KLAXON_DETECTOR_INCIDENTS_CLI_H_

#include <cstdio>
#include <string>
#include <vector>

namespace klaxon {

struct IncidentsCliOptions {
  std::string server = "127.0.0.1:9477";  // Default: 127.0.0.1:9477. host:port of klaxon's API.
  std::string token;                      // bearer token for ack/resolve ($KLAXON_TOKEN)
  std::string state;                      // list: open, acknowledged or resolved
  std::string comment;                    // ack/resolve
  // postmortem: read the ledger in this data_dir (or this database file)
  // instead of asking a server; safe while the daemon runs (SQLite WAL).
  std::string data_dir;
  std::string service;  // sla report: one service; "" every service with an objective
  std::string month;    // sla report: "2026-11"; "" this month
  std::string format;   // sla report: table (default), json or csv
};

// `words` are what follows "incidents": {"list"}, {"show", "INC-000001"},
// {"ack", "INC-000001"}, {"resolve", "INC-000001"}. Prints to `out` what the
// person asked for and to `err` what went wrong. Exit status: 0 done, 1 the
// server refused or could not be reached, 2 a usage error.
int RunIncidentsCommand(const std::vector<std::string>& words, const IncidentsCliOptions& options,
                        std::FILE* out, std::FILE* err);

// `words` are what follows "postmortem": {"INC-000123"}. Prints the incident's
// post-mortem document (Markdown, with its full timeline) to `out`. `server`
// may be "host:port" or "http://host:port"; with `data_dir` set the ledger is
// read instead. Exit status: 0 printed, 1 no such incident or no answer, 2 a
// usage error.
int RunPostmortemCommand(const std::vector<std::string>& words, const IncidentsCliOptions& options,
                         std::FILE* out, std::FILE* err);

// `words` are what follows "sla": {"report"}. Prints the availability report
// of `service` (or of every service with an objective) for `month` as a table,
// JSON or CSV, from a running klaxon's GET /api/v1/sla. Exit status: 0
// printed, 1 refused or no answer, 2 a usage error.
int RunSlaCommand(const std::vector<std::string>& words, const IncidentsCliOptions& options,
                  std::FILE* out, std::FILE* err);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_INCIDENTS_CLI_H_
