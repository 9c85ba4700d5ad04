#include "probes/log_tailer.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A fresh directory under the test temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "/log_tailer_test.XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << strerror(errno);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  std::string File(absl::string_view name) const { return absl::StrCat(path_, "/", name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void Write(const std::string& path, absl::string_view text, bool append) {
  std::ofstream out(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  ASSERT_TRUE(out.good()) << path;
}
void Append(const std::string& path, absl::string_view text) { Write(path, text, true); }
// Rewrites in place: same inode, as copytruncate's truncate and a later write.
void Rewrite(const std::string& path, absl::string_view text) { Write(path, text, false); }

void Rename(const std::string& from, const std::string& to) {
  ASSERT_EQ(rename(from.c_str(), to.c_str()), 0) << strerror(errno);
}

struct Polled {
  absl::Status status;
  std::string text;
  size_t largest_chunk = 0;
};

// One Poll; every chunk must be whole lines.
Polled PollOnce(LogTailer& tailer) {
  Polled polled;
  polled.status = tailer.Poll([&](absl::string_view chunk) {
    EXPECT_FALSE(chunk.empty());
    if (!chunk.empty()) {
      EXPECT_EQ(chunk.back(), '\n');
    }
    polled.largest_chunk = std::max(polled.largest_chunk, chunk.size());
    polled.text.append(chunk.data(), chunk.size());
  });
  return polled;
}

// The text of one Poll that must succeed.
std::string PollText(LogTailer& tailer) {
  Polled polled = PollOnce(tailer);
  EXPECT_TRUE(polled.status.ok()) << polled.status;
  return polled.text;
}

LogTailerOptions Follow(std::vector<std::string> paths, bool start_at_beginning = false) {
  LogTailerOptions options;
  options.paths = std::move(paths);
  options.start_at_beginning = start_at_beginning;
  return options;
}

TEST(LogTailerTest, StartAtEndDeliversOnlyLinesWrittenAfterwards) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "old 1\nold 2\n", false);
  LogTailer tailer(Follow({log}), {});
  EXPECT_EQ(PollText(tailer), "");
  Append(log, "new 1\nnew 2\n");
  EXPECT_EQ(PollText(tailer), "new 1\nnew 2\n");
  EXPECT_EQ(PollText(tailer), "");
  EXPECT_EQ(tailer.stats().files_followed, 1u);
}

TEST(LogTailerTest, StartAtEndDeliversAPartialLastLineWholeOnceFinished) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "old\nbeing writ", false);
  LogTailer tailer(Follow({log}), {});
  EXPECT_EQ(PollText(tailer), "");
  ASSERT_THAT(tailer.Positions(), SizeIs(1));
  EXPECT_EQ(tailer.Positions()[0].offset, 4);  // a line start, not the end
  Append(log, "ten\n");
  EXPECT_EQ(PollText(tailer), "being written\n");
}

TEST(LogTailerTest, StartAtBeginningReadsExistingLines) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "old 1\nold 2\n", false);
  LogTailer tailer(Follow({log}, /*start_at_beginning=*/true), {});
  EXPECT_EQ(PollText(tailer), "old 1\nold 2\n");
  Append(log, "new\n");
  EXPECT_EQ(PollText(tailer), "new\n");
}

TEST(LogTailerTest, HoldsBackAPartialLineUntilItsNewline) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "", false);
  LogTailer tailer(Follow({log}), {});
  EXPECT_EQ(PollText(tailer), "");
  Append(log, "a\nb");
  EXPECT_EQ(PollText(tailer), "a\n");
  Append(log, "c");
  EXPECT_EQ(PollText(tailer), "");
  ASSERT_THAT(tailer.Positions(), SizeIs(1));
  EXPECT_EQ(tailer.Positions()[0].offset, 2);  // the held-back line is not consumed
  Append(log, "\nd\n");
  EXPECT_EQ(PollText(tailer), "bc\nd\n");
  EXPECT_EQ(tailer.Positions()[0].offset, 7);
}

TEST(LogTailerTest, NulBytesPassThrough) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  const std::string text("a\0b\n\0\n\0\0x\n", 10);
  Write(log, text, false);
  LogTailer tailer(Follow({log}, true), {});
  EXPECT_EQ(PollText(tailer), text);
}

TEST(LogTailerTest, RenameRotationFinishesTheOldFileThenReadsTheNewOne) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "", false);
  LogTailer tailer(Follow({log}), {});
  EXPECT_EQ(PollText(tailer), "");
  Append(log, "1\n");
  EXPECT_EQ(PollText(tailer), "1\n");
  // Written before the rename and never polled; the last line unfinished.
  Append(log, "2\n3\nunfinished");
  Rename(log, log + ".1");
  Write(log, "new 1\n", false);

  std::string text = PollText(tailer);
  EXPECT_EQ(text, "2\n3\nnew 1\n");
  EXPECT_EQ(tailer.stats().rotations, 1u);
  EXPECT_EQ(tailer.stats().files_followed, 2u);  // the old one gets one poll of grace
  // The writer still writes to the old file until it reopens its log.
  Append(log + ".1", " at last\nlate\n");
  Append(log, "new 2\n");
  EXPECT_EQ(PollText(tailer), "unfinished at last\nlate\nnew 2\n");
  // A poll in which the old file did not grow: it is done.
  Append(log + ".1", "partial");
  EXPECT_EQ(PollText(tailer), "");
  EXPECT_EQ(PollText(tailer), "partial\n");
  EXPECT_EQ(tailer.stats().files_followed, 1u);
  Append(log + ".1", "after it was closed\n");
  Append(log, "new 3\n");
  EXPECT_EQ(PollText(tailer), "new 3\n");
  ASSERT_THAT(tailer.Positions(), SizeIs(1));
  EXPECT_EQ(tailer.Positions()[0].path, log);
  EXPECT_EQ(tailer.Positions()[0].offset, 18);
}

TEST(LogTailerTest, RotationSeenWhileTheNameIsMissingReadsTheNewFileFromItsBeginning) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "", false);
  LogTailer tailer(Follow({log}), {});
  EXPECT_EQ(PollText(tailer), "");
  Append(log, "1\n");
  Rename(log, log + ".1");
  EXPECT_EQ(PollText(tailer), "1\n");  // logrotate has not yet created the new file
  Write(log, "2\n", false);
  EXPECT_EQ(PollText(tailer), "2\n");
  EXPECT_EQ(tailer.stats().rotations, 1u);
}

TEST(LogTailerTest, CopytruncateStartsAgainFromTheBeginning) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "first line of the old file\nsecond\n", false);
  LogTailer tailer(Follow({log}, true), {});
  EXPECT_EQ(PollText(tailer), "first line of the old file\nsecond\n");
  Rewrite(log, "");
  EXPECT_EQ(PollText(tailer), "");
  Append(log, "after\n");
  EXPECT_EQ(PollText(tailer), "after\n");
  EXPECT_EQ(tailer.stats().truncations, 1u);
  EXPECT_EQ(tailer.stats().rotations, 0u);
}

TEST(LogTailerTest, TruncateAndGrowPastTheOffsetBetweenTwoPollsIsSeenByTheHead) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "old 1\nold 2\n", false);
  LogTailer tailer(Follow({log}, true), {});
  EXPECT_EQ(PollText(tailer), "old 1\nold 2\n");
  Rewrite(log, "new 1 is longer\nnew 2 also\n");
  EXPECT_EQ(PollText(tailer), "new 1 is longer\nnew 2 also\n");
  EXPECT_EQ(tailer.stats().truncations, 1u);
}

TEST(LogTailerTest, TruncationDeliversTheOldPartialLine) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "a\nunfinished", false);
  LogTailer tailer(Follow({log}, true), {});
  EXPECT_EQ(PollText(tailer), "a\n");
  Rewrite(log, "b\n");
  EXPECT_EQ(PollText(tailer), "unfinished\nb\n");
}

TEST(LogTailerTest, AFileThatAppearsLaterIsReadFromItsBeginning) {
  TempDir dir;
  const std::string log = dir.File("later.log");
  LogTailer tailer(Follow({log}), {});  // start at the end
  Polled polled = PollOnce(tailer);
  EXPECT_TRUE(polled.status.ok()) << polled.status;  // missing is not an error
  EXPECT_EQ(polled.text, "");
  EXPECT_EQ(tailer.stats().files_followed, 0u);
  Write(log, "written before klaxon saw it\n", false);
  EXPECT_EQ(PollText(tailer), "written before klaxon saw it\n");
}

TEST(LogTailerTest, GlobFollowsEachMatchWithItsOwnPositionAndPicksUpNewMatches) {
  TempDir dir;
  Write(dir.File("a.log"), "a old\n", false);
  Write(dir.File("b.log"), "b old\n", false);
  Write(dir.File("ignored.txt"), "x\n", false);
  std::filesystem::create_directory(dir.File("dir.log"));  // matched, not a file: skipped
  LogTailer tailer(Follow({dir.File("*.log")}), {});
  Polled first = PollOnce(tailer);
  EXPECT_TRUE(first.status.ok()) << first.status;
  EXPECT_EQ(first.text, "");
  Append(dir.File("a.log"), "a 1\n");
  Append(dir.File("b.log"), "b 1\nb 2\n");
  Append(dir.File("ignored.txt"), "y\n");
  EXPECT_EQ(PollText(tailer), "a 1\nb 1\nb 2\n");
  EXPECT_THAT(tailer.Positions(),
              ElementsAre(Field(&FilePosition::offset, 10), Field(&FilePosition::offset, 14)));
  Write(dir.File("c.log"), "c from its beginning\n", false);
  EXPECT_EQ(PollText(tailer), "c from its beginning\n");
  EXPECT_EQ(tailer.stats().files_followed, 3u);
}

TEST(LogTailerTest, GlobThatMatchesTheRotatedNameDoesNotReadTheOldFileTwice) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "1\n", false);
  LogTailer tailer(Follow({dir.File("app.log*")}, true), {});
  EXPECT_EQ(PollText(tailer), "1\n");
  Append(log, "2\n");
  Rename(log, log + ".1");
  Write(log, "3\n", false);
  EXPECT_EQ(PollText(tailer), "2\n3\n");
  Append(log + ".1", "4\n");
  EXPECT_EQ(PollText(tailer), "4\n");
  EXPECT_THAT(tailer.Positions(),
              ElementsAre(Field(&FilePosition::path, log), Field(&FilePosition::path, log + ".1")));
}

TEST(LogTailerTest, TwoNamesOfOneFileAreReadOnce) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "1\n", false);
  ASSERT_EQ(link(log.c_str(), dir.File("link.log").c_str()), 0);
  LogTailer tailer(Follow({log, dir.File("link.log")}, true), {});
  EXPECT_EQ(PollText(tailer), "1\n");
  Append(log, "2\n");
  EXPECT_EQ(PollText(tailer), "2\n");
}

TEST(LogTailerTest, RestartContinuesExactlyWhereItStopped) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "before\n", false);
  std::vector<FilePosition> saved;
  {
    LogTailer tailer(Follow({log}), {});
    EXPECT_EQ(PollText(tailer), "");
    Append(log, "a\nb\nunfini");
    EXPECT_EQ(PollText(tailer), "a\nb\n");
    saved = tailer.Positions();
  }
  ASSERT_THAT(saved, SizeIs(1));
  EXPECT_EQ(saved[0].path, log);
  EXPECT_EQ(saved[0].offset, 11);
  Append(log, "shed\nwhile down\n");
  LogTailer tailer(Follow({log}), saved);  // start at the end does not apply: known file
  EXPECT_EQ(PollText(tailer), "unfinished\nwhile down\n");
  EXPECT_EQ(PollText(tailer), "");
}

TEST(LogTailerTest, RestartAfterRotationWhileDownReadsTheRestOfPathDot1ThenTheNewFile) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "", false);
  std::vector<FilePosition> saved;
  {
    LogTailer tailer(Follow({log}), {});
    EXPECT_EQ(PollText(tailer), "");
    Append(log, "seen\n");
    EXPECT_EQ(PollText(tailer), "seen\n");
    saved = tailer.Positions();
  }
  Append(log, "old rest\nold unfinished");
  Rename(log, log + ".1");
  Write(log, "new\n", false);
  LogTailer tailer(Follow({log}), saved);
  EXPECT_EQ(PollText(tailer), "old rest\nnew\n");
  EXPECT_EQ(PollText(tailer), "old unfinished\n");
  EXPECT_EQ(tailer.stats().files_followed, 1u);
}

TEST(LogTailerTest, RestartAfterRotationWhileDownUnderAGlobKeepsTheRenamedFilesPosition) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "seen\n", false);
  std::vector<FilePosition> saved;
  {
    LogTailer tailer(Follow({dir.File("app.log*")}, true), {});
    EXPECT_EQ(PollText(tailer), "seen\n");
    saved = tailer.Positions();
  }
  Append(log, "old rest\n");
  Rename(log, log + ".1");
  Write(log, "new\n", false);
  LogTailer tailer(Follow({dir.File("app.log*")}, true), saved);
  EXPECT_EQ(PollText(tailer), "old rest\nnew\n");
  Append(log + ".1", "late\n");
  EXPECT_EQ(PollText(tailer), "late\n");
  EXPECT_THAT(tailer.Positions(),
              ElementsAre(Field(&FilePosition::offset, 4), Field(&FilePosition::offset, 19)));
}

TEST(LogTailerTest, RestartAfterRotationWhileDownWithoutPathDot1ReadsTheNewFile) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "old\n", false);
  std::vector<FilePosition> saved;
  {
    LogTailer tailer(Follow({log}, true), {});
    EXPECT_EQ(PollText(tailer), "old\n");
    saved = tailer.Positions();
  }
  Rename(log, log + ".gone");
  Write(log, "new 1\n", false);
  LogTailer tailer(Follow({log}), saved);
  EXPECT_EQ(PollText(tailer), "new 1\n");
}

TEST(LogTailerTest, RestartOnAFileRewrittenInPlaceReadsItFromTheBeginning) {
  // Same device and inode as saved (as after inode reuse), other first bytes.
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "old 1\nold 2\n", false);
  std::vector<FilePosition> saved;
  {
    LogTailer tailer(Follow({log}, true), {});
    EXPECT_EQ(PollText(tailer), "old 1\nold 2\n");
    saved = tailer.Positions();
  }
  Rewrite(log, "other 1\nother 2\nother 3\n");
  LogTailer tailer(Follow({log}), saved);
  EXPECT_EQ(PollText(tailer), "other 1\nother 2\nother 3\n");
}

TEST(LogTailerTest, RestartOnAFileTruncatedWhileDownReadsItFromTheBeginning) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "", false);
  std::vector<FilePosition> saved;
  {
    LogTailer tailer(Follow({log}), {});
    EXPECT_EQ(PollText(tailer), "");
    Append(log, "a long first line\n");
    EXPECT_EQ(PollText(tailer), "a long first line\n");
    saved = tailer.Positions();
  }
  Rewrite(log, "");
  Append(log, "short\n");
  LogTailer tailer(Follow({log}), saved);
  EXPECT_EQ(PollText(tailer), "short\n");
}

TEST(LogTailerTest, AFiveMegabyteLineIsCutAndCounted) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  LogTailerOptions options = Follow({log}, true);
  const std::string huge(5 << 20, 'x');
  Write(log, absl::StrCat("before\n", huge, "\nafter\n"), false);
  LogTailer tailer(options, {});
  Polled polled = PollOnce(tailer);
  EXPECT_TRUE(polled.status.ok());
  EXPECT_EQ(polled.text,
            absl::StrCat("before\n", huge.substr(0, options.max_line_bytes), "\nafter\n"));
  EXPECT_LE(polled.largest_chunk, options.read_chunk_bytes + options.max_line_bytes + 1);
  EXPECT_EQ(tailer.stats().lines_truncated, 1u);
  EXPECT_EQ(tailer.stats().bytes_read, 7 + huge.size() + 7);
}

TEST(LogTailerTest, ALongLineIsCutBeforeItsNewlineArrivesAndTheRestSkippedAcrossARestart) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  LogTailerOptions options = Follow({log}, true);
  options.max_line_bytes = 10;
  options.read_chunk_bytes = 4;
  Write(log, "ok\n0123456789abc", false);
  std::vector<FilePosition> saved;
  {
    LogTailer tailer(options, {});
    // Memory stays bounded: the line is handed on cut without waiting for its end.
    EXPECT_EQ(PollText(tailer), "ok\n0123456789\n");
    Append(log, "def");
    EXPECT_EQ(PollText(tailer), "");
    saved = tailer.Positions();
  }
  Append(log, "ghi\nnext\n");
  LogTailer tailer(options, saved);
  EXPECT_EQ(PollText(tailer), "next\n");
  EXPECT_EQ(tailer.stats().lines_truncated, 0u);
}

TEST(LogTailerTest, ALineOfExactlyMaxLineBytesIsWhole) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  LogTailerOptions options = Follow({log}, true);
  options.max_line_bytes = 5;
  Write(log, "12345\n123456\n1234", false);
  LogTailer tailer(options, {});
  EXPECT_EQ(PollText(tailer), "12345\n12345\n");
  Append(log, "5");
  EXPECT_EQ(PollText(tailer), "");
  Append(log, "6");
  EXPECT_EQ(PollText(tailer), "12345\n");
  EXPECT_EQ(tailer.stats().lines_truncated, 2u);
}

// Random lines (some over-long, some with NULs) written in random pieces with a
// Poll between pieces and small reads: the output is the lines, each cut to
// max_line_bytes, exactly once and in order.
TEST(LogTailerTest, RandomWritesAndReadSizesDeliverEveryLineOnce) {
  std::mt19937 random(20240611);
  for (int round = 0; round < 40; ++round) {
    TempDir dir;
    const std::string log = dir.File("app.log");
    LogTailerOptions options = Follow({log}, true);
    options.max_line_bytes = 1 + random() % 40;
    options.read_chunk_bytes = 1 + random() % 64;
    std::string content, expected;
    const int lines = 1 + random() % 60;
    for (int i = 0; i < lines; ++i) {
      std::string line(random() % 90, 'a');
      for (char& c : line) c = static_cast<char>(random() % 4 == 0 ? '\0' : 'a' + random() % 26);
      content += line + "\n";
      expected += line.substr(0, options.max_line_bytes) + "\n";
    }
    Write(log, "", false);
    LogTailer tailer(options, {});
    std::string delivered;
    size_t written = 0;
    while (written < content.size()) {
      size_t piece = std::min<size_t>(content.size() - written, 1 + random() % 100);
      Append(log, absl::string_view(content).substr(written, piece));
      written += piece;
      delivered += PollText(tailer);
    }
    delivered += PollText(tailer);
    ASSERT_EQ(delivered, expected)
        << "round " << round << " max_line_bytes " << options.max_line_bytes << " read_chunk_bytes "
        << options.read_chunk_bytes;
  }
}

TEST(LogTailerTest, EveryByteOfALargeFileIsDeliveredOnce) {
  TempDir dir;
  const std::string log = dir.File("big.log");
  std::string content;
  content.reserve(20 << 20);
  std::mt19937 random(7);
  while (content.size() < (20 << 20)) {
    content += absl::StrCat("2024-06-11T10:00:00Z level=info request_id=", random(),
                            " path=/api/v1/items status=200 bytes=", random() % 100000, "\n");
  }
  Write(log, content, false);
  LogTailer tailer(Follow({log}, true), {});
  std::string delivered;
  delivered.reserve(content.size());
  const auto start = std::chrono::steady_clock::now();
  absl::Status status =
      tailer.Poll([&](absl::string_view chunk) { delivered.append(chunk.data(), chunk.size()); });
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(delivered.size(), content.size());
  EXPECT_TRUE(delivered == content);
  EXPECT_EQ(tailer.stats().bytes_read, content.size());
  EXPECT_EQ(tailer.Positions()[0].offset, static_cast<int64_t>(content.size()));
  std::printf("read %zu MB in %.3f s: %.0f MB/s\n", content.size() >> 20, took.count(),
              content.size() / 1e6 / took.count());
}

TEST(LogTailerTest, ABacklogLargerThanMaxBytesPerPollIsReadOverSeveralPolls) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "line 1\nline 2\nline 3\nline 4\n", false);
  LogTailerOptions options = Follow({log}, true);
  options.max_bytes_per_poll = 10;
  options.read_chunk_bytes = 4;
  LogTailer tailer(options, {});
  EXPECT_EQ(PollText(tailer), "line 1\n");
  EXPECT_EQ(tailer.stats().bytes_read, 10u);
  EXPECT_EQ(PollText(tailer), "line 2\n");
  EXPECT_EQ(PollText(tailer), "line 3\nline 4\n");
  EXPECT_EQ(tailer.stats().bytes_read, 28u);
  EXPECT_EQ(PollText(tailer), "");
}

TEST(LogTailerTest, DeletedFileIsReadToItsEndThenDropped) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "", false);
  LogTailer tailer(Follow({log}), {});
  EXPECT_EQ(PollText(tailer), "");
  Append(log, "a\nb\nunfinished");
  ASSERT_EQ(unlink(log.c_str()), 0);
  EXPECT_EQ(PollText(tailer), "a\nb\n");
  EXPECT_EQ(PollText(tailer), "unfinished\n");
  EXPECT_EQ(tailer.stats().files_followed, 0u);
  EXPECT_EQ(tailer.stats().rotations, 0u);
  EXPECT_THAT(tailer.Positions(), IsEmpty());
  Write(log, "again\n", false);
  EXPECT_EQ(PollText(tailer), "again\n");
}

// Runs one Poll on another thread and fails, rather than hangs, if it blocks.
Polled PollWithin(LogTailer& tailer, int unblock_fd) {
  auto polled = std::async(std::launch::async, [&] { return PollOnce(tailer); });
  if (polled.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "Poll blocked";
    close(unblock_fd);
  }
  return polled.get();
}

TEST(LogTailerTest, StdinIsReadWithoutBlocking) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  LogTailerOptions options = Follow({"-"});
  options.stdin_fd = fds[0];
  LogTailer tailer(options, {});
  Polled polled = PollWithin(tailer, fds[1]);
  EXPECT_TRUE(polled.status.ok());
  EXPECT_EQ(polled.text, "");
  ASSERT_EQ(write(fds[1], "a\nb", 3), 3);
  EXPECT_EQ(PollWithin(tailer, fds[1]).text, "a\n");
  EXPECT_EQ(PollWithin(tailer, fds[1]).text, "");
  ASSERT_EQ(write(fds[1], "c\n", 2), 2);
  EXPECT_EQ(PollWithin(tailer, fds[1]).text, "bc\n");
  ASSERT_EQ(write(fds[1], "last", 4), 4);
  close(fds[1]);
  EXPECT_EQ(PollWithin(tailer, -1).text, "last\n");  // end of input: the line is done
  EXPECT_THAT(tailer.Positions(), IsEmpty());
  EXPECT_EQ(tailer.stats().files_followed, 0u);
  EXPECT_EQ(tailer.stats().bytes_read, 9u);
  close(fds[0]);
}

TEST(LogTailerTest, ALiteralPathThatIsNotAFileIsReportedOnceAndTheOthersAreRead) {
  TempDir dir;
  const std::string log = dir.File("app.log");
  Write(log, "", false);
  std::filesystem::create_directory(dir.File("dir"));
  LogTailer tailer(Follow({dir.File("dir"), log}), {});
  Polled first = PollOnce(tailer);
  EXPECT_EQ(first.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(first.status.message(), HasSubstr("dir is not a regular file"));
  Append(log, "still read\n");
  Polled second = PollOnce(tailer);
  EXPECT_TRUE(second.status.ok()) << second.status;  // once
  EXPECT_EQ(second.text, "still read\n");
}

// The scenario of the permission test, returning what went wrong ("" when
// nothing did), so that it can also run in a child process without root.
std::string PermissionDeniedScenario(const std::string& folder) {
  const std::string log = folder + "/secret.log";
  Write(log, "hidden\n", false);
  if (chmod(log.c_str(), 0) != 0) return "chmod failed";
  LogTailer tailer(Follow({log}, true), {});
  Polled first = PollOnce(tailer);
  if (first.status.code() != absl::StatusCode::kPermissionDenied) {
    return absl::StrCat("first poll: ", first.status.ToString());
  }
  if (!absl::StrContains(first.status.message(), log)) return "message lacks the path";
  if (!PollOnce(tailer).status.ok()) return "reported twice";
  if (chmod(log.c_str(), 0600) != 0) return "chmod back failed";
  std::string text = PollText(tailer);  // appeared later: from its beginning
  if (text != "hidden\n") return absl::StrCat("read \"", text, "\" after the fix");
  return "";
}

TEST(LogTailerTest, APermissionDeniedPathIsReportedOnceUntilItClears) {
  TempDir dir;
  if (geteuid() != 0) {
    EXPECT_EQ(PermissionDeniedScenario(dir.path()), "");
    return;
  }
  // Root reads any file: the scenario runs in a child that gave root up.
  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    std::string why = (setgid(65534) == 0 && setuid(65534) == 0)
                          ? PermissionDeniedScenario(dir.path())
                          : std::string("could not drop root");
    if (write(pipe_fds[1], why.data(), why.size()) < 0) _exit(3);
    _exit(why.empty() ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string why;
  char buffer[512];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0;) why.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << why;
  EXPECT_EQ(why, "");
}

}  // namespace
}  // namespace klaxon
