#include "probes/log_tailer.h"

#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace klaxon {
namespace {

// Enough to tell two log files apart by their first lines (timestamps, a
// header) without reading much: an inode reused after a rotation holds other
// text.
constexpr size_t kHeadBytes = 1024;

uint64_t Fnv1a(const char* data, size_t size) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

bool IsPattern(const std::string& path) { return path.find_first_of("*?[") != std::string::npos; }

bool IsMissing(int err) { return err == ENOENT || err == ENOTDIR; }

absl::Status ErrnoError(int err, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

// pread that retries on EINTR and on short reads; returns bytes read (fewer
// only at end of file) or -1 with errno set.
ssize_t PreadFull(int fd, char* out, size_t size, int64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, out + done, size - done, offset + static_cast<int64_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// glob(3) calls this without a context pointer; Poll is single-threaded per
// tailer, and a thread_local keeps two tailers on two threads apart.
thread_local std::vector<std::pair<std::string, int>>* glob_errors = nullptr;

int RecordGlobError(const char* path, int err) {
  if (glob_errors != nullptr && !IsMissing(err)) glob_errors->emplace_back(path, err);
  return 0;  // go on with the rest of the pattern
}

}  // namespace

struct LogTailer::State {
  struct Watch;

  // One open file (or stdin). Bytes [consumed, read_pos) are the held-back
  // partial line in `carry`, except while skipping, when consumed == read_pos.
  struct File {
    int fd = -1;
    bool is_stdin = false;
    uint64_t device = 0;
    uint64_t inode = 0;
    std::string name;  // the name it is (or was last) followed by
    int64_t consumed = 0;
    int64_t read_pos = 0;
    std::string carry;
    bool skipping = false;  // inside an over-long line, discarding up to its '\n'
    uint64_t head_hash = 0;
    uint32_t head_bytes = 0;
    // fstat as of the last complete read; unchanged means nothing to do.
    int64_t seen_size = -1;
    timespec seen_mtime = {};
    Watch* watch = nullptr;  // null: renamed away or deleted, being finished
    uint64_t detached_at_poll = 0;
    uint64_t read_this_poll = 0;
    bool done = false;  // stdin only: end of input or unusable

    ~File() {
      if (fd >= 0 && !is_stdin) close(fd);
    }
  };

  // One name being followed: a literal path or a current glob match.
  struct Watch {
    std::string name;
    bool literal = false;
    File* file = nullptr;
    // This Poll's stat(2) of the name.
    bool exists = false;
    struct stat st = {};
  };

  explicit State(LogTailerOptions opts, std::vector<FilePosition> restored_positions)
      : options(std::move(opts)), restored(std::move(restored_positions)) {
    options.read_chunk_bytes = std::max<size_t>(options.read_chunk_bytes, 1);
    options.max_line_bytes = std::max<size_t>(options.max_line_bytes, 1);
    options.max_bytes_per_poll = std::max<uint64_t>(options.max_bytes_per_poll, 1);
    restored_used.assign(restored.size(), false);
    buffer_size = options.read_chunk_bytes + options.max_line_bytes + 1;
    buffer = std::make_unique<char[]>(buffer_size);
    for (const std::string& path : options.paths) {
      if (path == "-" && stdin_file == nullptr) {
        stdin_file = std::make_unique<File>();
        stdin_file->is_stdin = true;
        stdin_file->fd = options.stdin_fd;
        stdin_file->name = "-";
      }
    }
  }

  absl::Status Poll(absl::FunctionRef<void(absl::string_view)> on_lines);
  void UpdateWatches();
  void ResolveWatches(bool initial);
  void Open(Watch& watch, bool initial);
  const FilePosition* TakeRestoredByIdentity(int fd, const struct stat& st);
  const FilePosition* TakeRestoredByName(const std::string& name);
  void OpenRotatedWhileDown(const FilePosition& old);
  int64_t EndOffset(File& file, int64_t size);
  void StartAt(File& file, int64_t offset, int64_t size);
  void Detach(File& file);
  bool CheckHead(File& file, int64_t size);
  void ReadFile(File& file, absl::FunctionRef<void(absl::string_view)> on_lines);
  void ReadStdin(absl::FunctionRef<void(absl::string_view)> on_lines);
  void Consume(File& file, size_t len, absl::FunctionRef<void(absl::string_view)> on_lines);
  void FlushCarry(File& file, absl::FunctionRef<void(absl::string_view)> on_lines);
  File* FindFile(uint64_t device, uint64_t inode);
  void Report(const std::string& key, absl::Status status);
  void Clear(const std::string& key) { reported.erase(key); }

  LogTailerOptions options;
  std::vector<FilePosition> restored;
  std::vector<bool> restored_used;
  std::unique_ptr<char[]> buffer;  // reused by every read
  size_t buffer_size = 0;
  // std::map: watches keep their address while others come and go, and names
  // are visited in a stable order.
  std::map<std::string, Watch> watches;
  std::vector<std::unique_ptr<File>> files;  // regular files, followed or being finished
  std::unique_ptr<File> stdin_file;
  uint64_t polls = 0;
  Stats stats;
  std::set<std::string> reported;    // errors reported and not yet cleared
  std::vector<absl::Status> errors;  // this Poll's new errors
};

void LogTailer::State::Report(const std::string& key, absl::Status status) {
  if (reported.insert(key).second) errors.push_back(std::move(status));
}

LogTailer::State::File* LogTailer::State::FindFile(uint64_t device, uint64_t inode) {
  for (const auto& file : files) {
    if (file->device == device && file->inode == inode) return file.get();
  }
  return nullptr;
}

absl::Status LogTailer::State::Poll(absl::FunctionRef<void(absl::string_view)> on_lines) {
  ++polls;
  errors.clear();
  UpdateWatches();
  ResolveWatches(/*initial=*/polls == 1);
  // Files in the order they were opened: a renamed file's rest goes out
  // before its successor's lines. A renamed or deleted file is done once a
  // whole poll interval has passed without its writer adding to it (a writer
  // reopens its log some time after the rename).
  for (auto it = files.begin(); it != files.end();) {
    File& file = **it;
    file.read_this_poll = 0;
    ReadFile(file, on_lines);
    if (file.watch == nullptr && file.detached_at_poll < polls && file.read_this_poll == 0) {
      FlushCarry(file, on_lines);
      it = files.erase(it);
      continue;
    }
    ++it;
  }
  ReadStdin(on_lines);
  stats.files_followed = files.size() + (stdin_file != nullptr && !stdin_file->done ? 1 : 0);

  if (errors.empty()) return absl::OkStatus();
  if (errors.size() == 1) return errors.front();
  std::vector<std::string> messages;
  for (const absl::Status& error : errors) messages.emplace_back(error.message());
  return absl::Status(errors.front().code(), absl::StrJoin(messages, "; "));
}

void LogTailer::State::UpdateWatches() {
  std::map<std::string, bool> names;  // name -> literal
  for (const std::string& path : options.paths) {
    if (path == "-") continue;
    if (!IsPattern(path)) {
      names[path] = true;
      continue;
    }
    std::vector<std::pair<std::string, int>> failures;
    glob_errors = &failures;
    glob_t matches = {};
    int rc = glob(path.c_str(), 0, RecordGlobError, &matches);
    glob_errors = nullptr;
    if (rc == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) names.emplace(matches.gl_pathv[i], false);
    }
    globfree(&matches);
    const std::string key = absl::StrCat("glob:", path);
    if (rc == GLOB_NOSPACE) {
      Report(key, absl::ResourceExhaustedError(absl::StrCat("glob ", path, ": out of memory")));
    } else if (!failures.empty()) {
      Report(key, ErrnoError(failures.front().second, absl::StrCat("glob ", path, ": cannot read"),
                             failures.front().first));
    } else {
      Clear(key);
    }
  }
  for (auto it = watches.begin(); it != watches.end();) {
    if (names.count(it->first) == 0) {
      if (it->second.file != nullptr) Detach(*it->second.file);
      it = watches.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, literal] : names) {
    Watch& watch = watches[name];
    watch.name = name;
    watch.literal = literal;
  }
}

void LogTailer::State::ResolveWatches(bool initial) {
  // First let go of every file that is no longer at its name, so that a file
  // renamed to another followed name (app.log -> app.log.1 under a glob) is
  // free to be picked up there with its position.
  for (auto& [name, watch] : watches) {
    const std::string key = absl::StrCat("stat:", name);
    if (stat(name.c_str(), &watch.st) != 0) {
      int err = errno;
      watch.exists = false;
      if (IsMissing(err)) {
        Clear(key);
        if (watch.file != nullptr) Detach(*watch.file);
      } else {
        // The open descriptor (if any) still reads; only the name is unusable.
        Report(key, ErrnoError(err, "stat", name));
      }
      continue;
    }
    watch.exists = true;
    Clear(key);
    if (watch.file != nullptr && (watch.file->device != static_cast<uint64_t>(watch.st.st_dev) ||
                                  watch.file->inode != static_cast<uint64_t>(watch.st.st_ino))) {
      Detach(*watch.file);
    }
  }
  for (auto& [name, watch] : watches) {
    if (!watch.exists || watch.file != nullptr) continue;
    if (!S_ISREG(watch.st.st_mode)) {
      // A pattern may match directories and sockets; only a literal name
      // promised a file.
      if (watch.literal) {
        Report(absl::StrCat("name:", name),
               absl::InvalidArgumentError(absl::StrCat("log ", name, " is not a regular file")));
      }
      continue;
    }
    if (File* file = FindFile(watch.st.st_dev, watch.st.st_ino); file != nullptr) {
      // Another name of a file already followed: a hard link, or the
      // rotated-away file under its new name.
      if (file->watch == nullptr) {
        file->watch = &watch;
        file->name = name;
        watch.file = file;
      }
      continue;
    }
    Open(watch, initial);
  }
}

void LogTailer::State::Detach(File& file) {
  if (file.watch != nullptr) file.watch->file = nullptr;
  file.watch = nullptr;
  file.detached_at_poll = polls;
  struct stat st;
  if (fstat(file.fd, &st) == 0 && st.st_nlink > 0) ++stats.rotations;
}

void LogTailer::State::Open(Watch& watch, bool initial) {
  const std::string key = absl::StrCat("name:", watch.name);
  int fd = open(watch.name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (IsMissing(err)) return;  // gone between stat and open: next Poll
    Report(key, ErrnoError(err, "open", watch.name));
    return;
  }
  auto file = std::make_unique<File>();
  file->fd = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    Report(key, ErrnoError(errno, "fstat", watch.name));
    return;
  }
  if (!S_ISREG(st.st_mode)) return;  // replaced since stat(2); next Poll says
  Clear(key);
  file->device = st.st_dev;
  file->inode = st.st_ino;
  file->name = watch.name;
  file->watch = &watch;

  if (const FilePosition* old = TakeRestoredByIdentity(fd, st); old != nullptr) {
    StartAt(*file, old->offset, st.st_size);
  } else if (const FilePosition* old = TakeRestoredByName(watch.name); old != nullptr) {
    // Rotated (or rewritten in place) while klaxon was down: all of this file
    // is new, and the old one may still be there under logrotate's first name.
    OpenRotatedWhileDown(*old);
    StartAt(*file, 0, st.st_size);
  } else if (initial && !options.start_at_beginning) {
    StartAt(*file, EndOffset(*file, st.st_size), st.st_size);
  } else {
    StartAt(*file, 0, st.st_size);
  }
  watch.file = file.get();
  files.push_back(std::move(file));
}

const FilePosition* LogTailer::State::TakeRestoredByIdentity(int fd, const struct stat& st) {
  for (size_t i = 0; i < restored.size(); ++i) {
    const FilePosition& old = restored[i];
    if (restored_used[i] || old.device != static_cast<uint64_t>(st.st_dev) ||
        old.inode != static_cast<uint64_t>(st.st_ino)) {
      continue;
    }
    if (old.head_bytes > kHeadBytes || st.st_size < static_cast<int64_t>(old.head_bytes)) continue;
    char head[kHeadBytes];
    if (PreadFull(fd, head, old.head_bytes, 0) != static_cast<ssize_t>(old.head_bytes)) continue;
    // A different head: the inode was reused, or the file rewritten in place.
    if (Fnv1a(head, old.head_bytes) != old.head_hash) continue;
    restored_used[i] = true;
    return &old;
  }
  return nullptr;
}

const FilePosition* LogTailer::State::TakeRestoredByName(const std::string& name) {
  for (size_t i = 0; i < restored.size(); ++i) {
    if (!restored_used[i] && restored[i].path == name) {
      restored_used[i] = true;
      return &restored[i];
    }
  }
  return nullptr;
}

void LogTailer::State::OpenRotatedWhileDown(const FilePosition& old) {
  const std::string rotated = old.path + ".1";
  int fd = open(rotated.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  auto file = std::make_unique<File>();
  file->fd = fd;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || FindFile(st.st_dev, st.st_ino) != nullptr) {
    return;
  }
  // Check the head as TakeRestoredByIdentity does, but for this one position.
  if (old.device != static_cast<uint64_t>(st.st_dev) ||
      old.inode != static_cast<uint64_t>(st.st_ino) || old.head_bytes > kHeadBytes ||
      st.st_size < static_cast<int64_t>(old.head_bytes)) {
    return;
  }
  char head[kHeadBytes];
  if (PreadFull(fd, head, old.head_bytes, 0) != static_cast<ssize_t>(old.head_bytes) ||
      Fnv1a(head, old.head_bytes) != old.head_hash) {
    return;
  }
  file->device = st.st_dev;
  file->inode = st.st_ino;
  file->name = rotated;
  file->detached_at_poll = polls;
  StartAt(*file, old.offset, st.st_size);
  files.push_back(std::move(file));
}

int64_t LogTailer::State::EndOffset(File& file, int64_t size) {
  // The end, moved back to the start of a partial last line so that the line
  // is delivered whole once its writer finishes it.
  const int64_t window = std::min<int64_t>(size, options.max_line_bytes + 1);
  if (window == 0) return 0;
  ssize_t got = PreadFull(file.fd, buffer.get(), window, size - window);
  if (got != window) return size;
  const char* newline = static_cast<const char*>(memrchr(buffer.get(), '\n', window));
  if (newline != nullptr) return size - window + (newline - buffer.get()) + 1;
  // No line start in reach: the whole file is one partial line, or the last
  // line is already too long (StartAt then skips its rest).
  return window == size ? 0 : size;
}

void LogTailer::State::StartAt(File& file, int64_t offset, int64_t size) {
  if (offset > size) {
    ++stats.truncations;  // shrank while klaxon was down
    offset = 0;
  }
  if (offset < 0) offset = 0;
  file.consumed = file.read_pos = offset;
  file.carry.clear();
  file.skipping = false;
  if (offset > 0) {
    // Positions are at line starts, except in the middle of an over-long
    // line being skipped; the file itself says which.
    char before = '\n';
    if (PreadFull(file.fd, &before, 1, offset - 1) == 1 && before != '\n') file.skipping = true;
  }
  file.seen_size = -1;
}

bool LogTailer::State::CheckHead(File& file, int64_t size) {
  char head[kHeadBytes];
  const size_t want = static_cast<size_t>(std::min<int64_t>(size, kHeadBytes));
  ssize_t got = PreadFull(file.fd, head, want, 0);
  if (got < 0) return true;  // the read that follows reports the error
  if (file.head_bytes > 0 && (static_cast<size_t>(got) < file.head_bytes ||
                              Fnv1a(head, file.head_bytes) != file.head_hash)) {
    return false;
  }
  file.head_bytes = static_cast<uint32_t>(got);
  file.head_hash = Fnv1a(head, static_cast<size_t>(got));
  return true;
}

void LogTailer::State::ReadFile(File& file, absl::FunctionRef<void(absl::string_view)> on_lines) {
  const std::string key = absl::StrCat("read:", file.name);
  struct stat st;
  if (fstat(file.fd, &st) != 0) {
    Report(key, ErrnoError(errno, "fstat", file.name));
    return;
  }
  if (st.st_size == file.seen_size && st.st_mtim.tv_sec == file.seen_mtime.tv_sec &&
      st.st_mtim.tv_nsec == file.seen_mtime.tv_nsec) {
    return;
  }
  // Only a file still at its name is truncated by copytruncate; a renamed one
  // is only ever finished.
  if (file.watch != nullptr) {
    bool truncated = st.st_size < file.read_pos;
    if (!truncated) truncated = !CheckHead(file, st.st_size);
    if (truncated) {
      ++stats.truncations;
      FlushCarry(file, on_lines);
      file.consumed = file.read_pos = 0;
      file.skipping = false;
      file.head_bytes = 0;
      file.head_hash = 0;
      CheckHead(file, st.st_size);
    }
  }
  char* buf = buffer.get();
  uint64_t total = 0;
  bool failed = false;
  while (total < options.max_bytes_per_poll) {
    const size_t carry = file.carry.size();
    memcpy(buf, file.carry.data(), carry);
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(options.read_chunk_bytes, options.max_bytes_per_poll - total));
    ssize_t n = pread(file.fd, buf + carry, want, file.read_pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      Report(key, ErrnoError(errno, "read", file.name));
      failed = true;
      break;
    }
    if (n == 0) break;
    total += n;
    file.read_pos += n;
    stats.bytes_read += n;
    Consume(file, carry + n, on_lines);
    if (static_cast<size_t>(n) < want) break;
  }
  if (!failed) Clear(key);
  file.read_this_poll += total;
  if (file.read_pos >= st.st_size && !failed) {
    file.seen_size = st.st_size;
    file.seen_mtime = st.st_mtim;
  } else {
    file.seen_size = -1;  // more to read next Poll
  }
}

void LogTailer::State::ReadStdin(absl::FunctionRef<void(absl::string_view)> on_lines) {
  if (stdin_file == nullptr || stdin_file->done) return;
  File& file = *stdin_file;
  char* buf = buffer.get();
  uint64_t total = 0;
  while (total < options.max_bytes_per_poll) {
    // poll(2) with a zero timeout rather than O_NONBLOCK: the flag would
    // belong to the open file description, shared with whoever else holds it.
    pollfd ready = {file.fd, POLLIN, 0};
    int rc = poll(&ready, 1, 0);
    if (rc < 0) {
      if (errno == EINTR) continue;
      Report("read:-", ErrnoError(errno, "poll", "stdin"));
      return;
    }
    if (rc == 0) return;
    if (ready.revents & POLLNVAL) {
      Report("read:-", absl::FailedPreconditionError("stdin is not open"));
      file.done = true;
      return;
    }
    const size_t carry = file.carry.size();
    memcpy(buf, file.carry.data(), carry);
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(options.read_chunk_bytes, options.max_bytes_per_poll - total));
    ssize_t n = read(file.fd, buf + carry, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Report("read:-", ErrnoError(errno, "read", "stdin"));
      file.done = true;
      return;
    }
    if (n == 0) {
      FlushCarry(file, on_lines);
      file.done = true;
      return;
    }
    total += n;
    file.read_pos += n;
    stats.bytes_read += n;
    Consume(file, carry + n, on_lines);
  }
}

// The buffer holds the file's bytes from `consumed` on: the held-back partial
// line, then what was just read. Hands on everything up to the last newline
// as one chunk, except around an over-long line, which is cut in place.
void LogTailer::State::Consume(File& file, size_t len,
                               absl::FunctionRef<void(absl::string_view)> on_lines) {
  char* buf = buffer.get();
  const size_t max = options.max_line_bytes;
  size_t pos = 0;        // start of the first byte not yet known to be in whole lines
  size_t emit_from = 0;  // start of the lines not yet handed on
  while (pos < len) {
    if (file.skipping) {
      const void* newline = memchr(buf + pos, '\n', len - pos);
      if (newline == nullptr) {
        pos = emit_from = len;
        break;
      }
      pos = emit_from = static_cast<const char*>(newline) - buf + 1;
      file.skipping = false;
      continue;
    }
    // Every line ending inside the next max + 1 bytes is short enough; the
    // last newline there is found from the end, so this costs little per
    // window whatever the line lengths.
    const size_t window = std::min(len - pos, max + 1);
    const void* newline = memrchr(buf + pos, '\n', window);
    if (newline != nullptr) {
      pos = static_cast<const char*>(newline) - buf + 1;
      continue;
    }
    if (window <= max) break;  // a partial line, held back
    // The line at `pos` is longer than max: its byte at pos + max is skipped
    // anyway, so it can become the cut line's newline.
    buf[pos + max] = '\n';
    on_lines(absl::string_view(buf + emit_from, pos + max + 1 - emit_from));
    ++stats.lines_truncated;
    file.skipping = true;
    pos = emit_from = pos + max + 1;
  }
  if (pos > emit_from) on_lines(absl::string_view(buf + emit_from, pos - emit_from));
  file.consumed += static_cast<int64_t>(pos);
  file.carry.assign(buf + pos, len - pos);
}

void LogTailer::State::FlushCarry(File& file, absl::FunctionRef<void(absl::string_view)> on_lines) {
  // The final unterminated line of a file that will not grow any more: tail
  // prints it, and a matcher should see it.
  if (!file.skipping && !file.carry.empty()) {
    char* buf = buffer.get();
    memcpy(buf, file.carry.data(), file.carry.size());
    buf[file.carry.size()] = '\n';
    on_lines(absl::string_view(buf, file.carry.size() + 1));
  }
  file.carry.clear();
  file.skipping = false;
  file.consumed = file.read_pos;
}

LogTailer::LogTailer(LogTailerOptions options, std::vector<FilePosition> restored)
    : state_(std::make_unique<State>(std::move(options), std::move(restored))) {}

LogTailer::~LogTailer() = default;

absl::Status LogTailer::Poll(absl::FunctionRef<void(absl::string_view lines)> on_lines) {
  return state_->Poll(on_lines);
}

std::vector<FilePosition> LogTailer::Positions() const {
  std::vector<FilePosition> positions;
  for (const auto& [name, watch] : state_->watches) {
    const State::File* file = watch.file;
    if (file == nullptr) continue;
    FilePosition position;
    position.path = name;
    position.device = file->device;
    position.inode = file->inode;
    position.offset = file->consumed;
    position.head_hash = file->head_hash;
    position.head_bytes = file->head_bytes;
    positions.push_back(std::move(position));
  }
  return positions;
}

LogTailer::Stats LogTailer::stats() const { return state_->stats; }

}  // namespace klaxon
