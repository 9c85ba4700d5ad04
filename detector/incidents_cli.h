// `klaxon incidents list|show|ack|resolve`: the on-call person's command line,
// a client of a running klaxon's HTTP API (it reads and writes nothing
// locally). Owned by main(); one call per process.
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
};

// `words` are what follows "incidents": {"list"}, {"show", "INC-000001"},
// {"ack", "INC-000001"}, {"resolve", "INC-000001"}. Prints to `out` what the
// person asked for and to `err` what went wrong. Exit status: 0 done, 1 the
// server refused or could not be reached, 2 a usage error.
int RunIncidentsCommand(const std::vector<std::string>& words, const IncidentsCliOptions& options,
                        std::FILE* out, std::FILE* err);

}  // namespace klaxon

#endif  // KLAXON_DETECTOR_INCIDENTS_CLI_H_
