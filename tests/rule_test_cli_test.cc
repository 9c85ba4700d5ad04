// `klaxon test` as a user runs it: the built binary on the example test files
// in examples/rule_tests/, checking the exit status and the report.
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/receiver.h"

namespace klaxon {
namespace {

using testing::BinaryPath;
using testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::SourcePath;
using testing::TempDir;

constexpr absl::Duration kBound = absl::Seconds(30);

struct Outcome {
  std::optional<int> status;
  std::string output;
};

Outcome KlaxonTest(const TempDir& dir, const std::vector<std::string>& files) {
  std::vector<std::string> argv = {BinaryPath("klaxon"), "test"};
  argv.insert(argv.end(), files.begin(), files.end());
  ChildProcess process(argv, dir.File("test.log"));
  Outcome run;
  run.status = process.Wait(kBound);
  run.output = process.Log();
  return run;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

TEST(RuleTestCliTest, PassingFileExitsZero) {
  TempDir dir;
  const std::string file = SourcePath("examples/rule_tests/passing.toml");
  Outcome run = KlaxonTest(dir, {file});
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output, absl::StrCat("Unit Testing: ", file, "\n  SUCCESS\n\n",
                                     "2 of 2 tests passed (8 of 8 checks) in 1 file\n"));
}

TEST(RuleTestCliTest, FailingFileExitsOneWithTheDiff) {
  TempDir dir;
  const std::string file = SourcePath("examples/rule_tests/failing.toml");
  Outcome run = KlaxonTest(dir, {file});
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_EQ(run.output, absl::StrCat("Unit Testing: ", file, "\n", R"(  FAILED:
    name: expects too early and the wrong ratio,
    alertname: HighErrorRatio, time: 4m,
        exp:[
            0:
              Labels:{alertname="HighErrorRatio", job="api", source="recorded", team="API"}
              Annotations:{runbook="https://runbooks.example.com/api", summary="api errors at 10%"}
            ],
        got:[]

    name: expects too early and the wrong ratio,
    expr: "job:errors:ratio", time: 3m,
        exp: job:errors:ratio{job="api"} 0.2
        got: job:errors:ratio{job="api", source="recorded"} 0.1

1 of 2 tests passed (1 of 3 checks) in 1 file
)"));
}

TEST(RuleTestCliTest, SeveralFilesFailIfAnyFails) {
  TempDir dir;
  Outcome run = KlaxonTest(dir, {SourcePath("examples/rule_tests/passing.toml"),
                                 SourcePath("examples/rule_tests/failing.toml")});
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_THAT(run.output, HasSubstr("  SUCCESS\n"));
  EXPECT_THAT(run.output, HasSubstr("  FAILED:\n"));
  EXPECT_THAT(run.output, HasSubstr("3 of 4 tests passed (9 of 11 checks) in 2 files\n"));
}

TEST(RuleTestCliTest, MalformedTestFileExitsTwoNamingTheLine) {
  TempDir dir;
  WriteFile(dir.File("bad.toml"), R"(rule_files = ["rules.toml"]
[[test]]
[[test.series]]
series = "up"
values = "1 2 three"
)");
  Outcome run = KlaxonTest(dir, {dir.File("bad.toml")});
  EXPECT_EQ(run.status, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat(
                              dir.File("bad.toml"),
                              ":5:15: test[0].series[0].values: column 5: expected a number, "
                              "\"stale\" or \"_\", got \"three\"")));
  EXPECT_THAT(run.output, Not(HasSubstr("SUCCESS")));
}

TEST(RuleTestCliTest, BrokenRuleFileExitsTwo) {
  TempDir dir;
  WriteFile(dir.File("rules.toml"), "[[rule]]\nname = \"Down\"\nexpr = \"up ==\"\n");
  WriteFile(dir.File("test.toml"), "rule_files = [\"rules.toml\", \"missing.toml\"]\n[[test]]\n");
  Outcome run = KlaxonTest(dir, {dir.File("test.toml")});
  EXPECT_EQ(run.status, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat(dir.File("test.toml"),
                                                 ":1:15: rule_files: cannot load \"rules.toml\": ",
                                                 dir.File("rules.toml"), ":3:")));
  EXPECT_THAT(run.output,
              HasSubstr(absl::StrCat(dir.File("test.toml"),
                                     ":1:29: rule_files: cannot load \"missing.toml\": ")));
}

TEST(RuleTestCliTest, NoFilesIsAUsageError) {
  TempDir dir;
  Outcome run = KlaxonTest(dir, {});
  EXPECT_EQ(run.status, 2);
  EXPECT_THAT(run.output, HasSubstr("test needs at least one test file"));
}

}  // namespace
}  // namespace klaxon
