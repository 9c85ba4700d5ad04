// LogTailer follows the files of one `[[log]]` source as `tail -F` does (by
// name, across rename and copytruncate rotation) and hands their text on in
// chunks of whole lines. Owned by the log source's thread, which calls Poll();
// thread-compatible.
//
// Cost model: a Poll where nothing changed costs one stat(2) per followed name,
// one fstat(2) per open file and one glob(3) per pattern; no reads. New data is
// read with pread(2) in read_chunk_bytes pieces into one reused buffer and is
// handed on as large chunks cut at the last newline (memchr/memrchr, never per
// line). Memory: one buffer of read_chunk_bytes + max_line_bytes + 1, plus at
// most max_line_bytes of held-back partial line per open file.
//
// Limits:
// - Only regular files and stdin ("-") are followed; a FIFO or directory named
//   literally is an error.
// - Copytruncate: a shrink below the read offset, or a change of the file's
//   first bytes (up to 1 KiB, see FilePosition::head_hash), starts the file
//   again from 0. Not detected between two polls: a rewrite past the old
//   offset that keeps the very same first bytes, or one back to exactly the
//   old size within one tick of the file system's mtime. Lines written
//   between logrotate's copy and its truncate are lost (logrotate's own limit).
// - After a rename (or a delete), the old file is read through its descriptor
//   until one Poll finds nothing new in it (one poll interval of grace for a
//   writer that has not yet reopened its log); then its unterminated last line,
//   if any, is delivered with a '\n' appended, possibly after the first lines
//   of its successor, and it is closed. Lines written to it later are lost.
// - Restart: a file is found again by its identity (dev, inode, head), under
//   whatever followed name it has now. If a name's file changed while klaxon
//   was down, the new file is read from its beginning and, when path + ".1"
//   is the old file, that one's rest first. Other rotated names (dateext,
//   olddir) are not searched: their unread rest is lost.
// - A glob should not match the rotated names (app.log.1, app.log.2.gz): a
//   renamed file keeps its position under its new name, but a compressed copy
//   is a new file and would be read from its beginning.
#ifndef KLAXON_PROBES_LOG_TAILER_H_
#define KLAXON_PROBES_LOG_TAILER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace klaxon {

// Where the follower was in one file, persisted by the caller between runs.
// A file is recognised again when dev, inode and the hash of its first
// head_bytes bytes all match; inode reuse after a rotation changes the hash.
struct FilePosition {
  std::string path;  // the name it was opened by (after glob expansion)
  uint64_t device = 0;
  uint64_t inode = 0;
  // Bytes consumed. At a line boundary (just after a '\n'), so that a restart
  // neither loses nor re-reads a line; the one exception is the middle of an
  // over-long line being skipped, which a restart recognises (the byte before
  // the offset is not '\n') and goes on skipping.
  int64_t offset = 0;
  uint64_t head_hash = 0;   // FNV-1a of the file's first head_bytes bytes
  uint32_t head_bytes = 0;  // min(file size, 1024) when last checked

  friend bool operator==(const FilePosition&, const FilePosition&) = default;
};

struct LogTailerOptions {
  // File names or glob(3) patterns (a name with '*', '?' or '['); "-" means
  // stdin. A literal name is followed even while missing; a pattern follows
  // whatever it matches at each Poll.
  std::vector<std::string> paths;
  // For a file seen at the first Poll and never read before (no restored
  // position): true reads it from its beginning (`start = "beginning"`); false,
  // the default, only delivers lines written after that Poll (`start = "end"`;
  // a partial last line is delivered once completed). A file that appears
  // after the first Poll (a new match, a rotated-in file) is always read from
  // its beginning.
  bool start_at_beginning = false;
  size_t read_chunk_bytes = 1 << 20;  // Default: 1 MiB. One pread(2).
  // A longer line is delivered cut to this many bytes plus '\n'; the rest, up
  // to its newline, is skipped and the line counted in lines_truncated.
  size_t max_line_bytes = 64 * 1024;  // Default: 64 KiB, not counting the '\n'.
  // A larger backlog in one file is read over several Polls, so that Poll
  // returns (and positions can be saved) regularly and an endless stdin cannot
  // hold it.
  uint64_t max_bytes_per_poll = 256 << 20;  // Default: 256 MiB per file per Poll.
  // The descriptor "-" reads; not closed by the tailer. Tests pass a pipe.
  int stdin_fd = 0;  // Default: 0.
};

class LogTailer {
 public:
  struct Stats {
    uint64_t bytes_read = 0;       // from files and stdin, including skipped bytes
    uint64_t lines_truncated = 0;  // lines longer than max_line_bytes
    uint64_t rotations = 0;        // followed files renamed away from their name
    uint64_t truncations = 0;      // files that shrank or were rewritten in place
    uint64_t files_followed = 0;   // open now, including renamed files being finished
  };

  // `restored` are positions from an earlier run's Positions(); each is used at
  // most once, for the file it recognises (whatever its name now). Nothing is
  // opened before the first Poll.
  LogTailer(LogTailerOptions options, std::vector<FilePosition> restored);
  // Non-copyable: owns the file descriptors of the followed files.
  LogTailer(const LogTailer&) = delete;
  LogTailer& operator=(const LogTailer&) = delete;
  ~LogTailer();

  // Reads whatever is new in every followed file and calls on_lines with
  // chunks of complete lines, each line ending in '\n'; lines of one file come
  // in file order, and a renamed file's whole lines come before its
  // successor's. The chunk is valid only during the call. Never blocks on
  // stdin. Returns an error only for what needs
  // someone's attention: a name that cannot be read (kPermissionDenied), a
  // literal name that is not a regular file (kInvalidArgument), an I/O error;
  // each is reported once until it clears, and the other files are read all
  // the same. A missing file is not an error: it is followed when it appears.
  absl::Status Poll(absl::FunctionRef<void(absl::string_view lines)> on_lines);

  // One entry per followed name that has a file open (not stdin), as of the
  // last Poll, for the caller to persist.
  std::vector<FilePosition> Positions() const;

  Stats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace klaxon

#endif  // KLAXON_PROBES_LOG_TAILER_H_
