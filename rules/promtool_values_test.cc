#include "rules/promtool_values.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "detector/sample.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::SizeIs;

constexpr std::nullopt_t _ = std::nullopt;

std::vector<std::optional<double>> Values(absl::string_view text) {
  absl::StatusOr<std::vector<std::optional<double>>> v = ParsePromtoolValues(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? *v : std::vector<std::optional<double>>{};
}

std::string Error(absl::string_view text) {
  absl::StatusOr<std::vector<std::optional<double>>> v = ParsePromtoolValues(text);
  EXPECT_FALSE(v.ok()) << text;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(v.status().message());
}

TEST(PromtoolValuesTest, PlainNumbers) {
  EXPECT_THAT(Values("1 2 3"), ElementsAre(1, 2, 3));
  EXPECT_THAT(Values("  -1.5\t+2   3e2 .5 7. "), ElementsAre(-1.5, 2, 300, 0.5, 7));
  EXPECT_THAT(Values("1e-3 2E+1"), ElementsAre(0.001, 20));
  EXPECT_THAT(Values(""), IsEmpty());
  EXPECT_THAT(Values("   "), IsEmpty());
}

TEST(PromtoolValuesTest, InfAndNaNInAnyCase) {
  std::vector<std::optional<double>> v = Values("Inf -Inf +inf NaN nan -INF");
  ASSERT_THAT(v, SizeIs(6));
  EXPECT_EQ(*v[0], std::numeric_limits<double>::infinity());
  EXPECT_EQ(*v[1], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(*v[2], std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*v[3]) && !IsStaleNaN(*v[3]));
  EXPECT_TRUE(std::isnan(*v[4]));
  EXPECT_EQ(*v[5], -std::numeric_limits<double>::infinity());
}

TEST(PromtoolValuesTest, BlanksAndStaleMarkers) {
  std::vector<std::optional<double>> v = Values("1 _ stale 3");
  ASSERT_THAT(v, SizeIs(4));
  EXPECT_THAT(v[0], Optional(1.0));
  EXPECT_EQ(v[1], std::nullopt);
  ASSERT_TRUE(v[2].has_value());
  EXPECT_TRUE(IsStaleNaN(*v[2]));
  EXPECT_THAT(v[3], Optional(3.0));
}

TEST(PromtoolValuesTest, RepetitionGivesCountPlusOneValues) {
  EXPECT_THAT(Values("1x5"), ElementsAre(1, 1, 1, 1, 1, 1));
  EXPECT_THAT(Values("7x0"), ElementsAre(7));
  EXPECT_THAT(Values("-2x2 3"), ElementsAre(-2, -2, -2, 3));
  std::vector<std::optional<double>> stale = Values("stalex2");
  ASSERT_THAT(stale, SizeIs(3));
  EXPECT_TRUE(IsStaleNaN(*stale[2]));
  std::vector<std::optional<double>> inf = Values("Infx1");
  EXPECT_THAT(inf, ElementsAre(std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::infinity()));
}

TEST(PromtoolValuesTest, BlankRepetitionGivesCountSteps) {
  // As promtool: "_x3" is three missing steps, not four.
  EXPECT_THAT(Values("_x3"), ElementsAre(_, _, _));
  EXPECT_THAT(Values("1 _x2 4"), ElementsAre(1, _, _, 4));
  EXPECT_THAT(Values("_x0 5"), ElementsAre(5));
}

TEST(PromtoolValuesTest, RampsAddTheStepCountTimes) {
  EXPECT_THAT(Values("0+10x3"), ElementsAre(0, 10, 20, 30));
  EXPECT_THAT(Values("0-1x3"), ElementsAre(0, -1, -2, -3));
  EXPECT_THAT(Values("-5+2.5x2"), ElementsAre(-5, -2.5, 0));
  EXPECT_THAT(Values("1e2+1e1x1"), ElementsAre(100, 110));
  EXPECT_THAT(Values("0+10x30"), SizeIs(31));
  EXPECT_EQ(*Values("0+10x30").back(), 300);
  // Repeated addition, as promtool: 0.1 + 0.1 + 0.1 is not 0.3.
  std::vector<std::optional<double>> v = Values("0+0.1x3");
  EXPECT_EQ(*v[3], 0.1 + 0.1 + 0.1);
}

TEST(PromtoolValuesTest, NoHexadecimalSoZeroXIsARepetition) {
  // As promtool, which refuses hex in series values because of this reading.
  EXPECT_THAT(Values("0x10"), SizeIs(11));
}

TEST(PromtoolValuesTest, MixedSequence) {
  EXPECT_THAT(Values("1+1x2 _ 10x1 _x2 0-5x1"), ElementsAre(1, 2, 3, _, 10, 10, _, _, 0, -5));
}

TEST(PromtoolValuesTest, ErrorsNameTheColumn) {
  EXPECT_EQ(Error("1 2 foo"), "column 5: expected a number, \"stale\" or \"_\", got \"foo\"");
  EXPECT_EQ(Error("1 #"), "column 3: unexpected character '#' in series values");
  EXPECT_EQ(Error("1x"), "column 3: expected a repetition count after \"x\", got \"\"");
  EXPECT_EQ(Error("1xa"), "column 3: expected a repetition count after \"x\", got \"\"");
  EXPECT_EQ(Error("1x3y"), "column 4: unexpected \"y\" after the repetition count");
  EXPECT_EQ(Error("0+10"),
            "column 2: expected \"x\" and a count after the increment \"+10\", as in \"0+10x5\"");
  EXPECT_EQ(Error("stale+1x3"), "column 6: a stale marker cannot be incremented");
  EXPECT_EQ(Error("1+stalex3"),
            "column 2: expected a number, \"stale\" or \"_\", got \"+stalex3\"");
  EXPECT_EQ(Error("_5"), "column 2: unexpected \"5\" after \"_\"");
  EXPECT_EQ(Error("1e"), "column 1: malformed number \"1e\"");
  EXPECT_EQ(Error("1e999"), "column 1: number \"1e999\" is out of range");
  EXPECT_EQ(Error("1.2.3"),
            "column 4: unexpected \".3\" after a value; expected \"x\", \"+\", "
            "\"-\" or a space");
  EXPECT_EQ(Error("-"), "column 1: expected a number, \"stale\" or \"_\", got \"-\"");
  EXPECT_EQ(Error("-stale"), "column 1: expected a number, \"stale\" or \"_\", got \"-stale\"");
}

TEST(PromtoolValuesTest, RefusesAbsurdLengths) {
  EXPECT_EQ(Error("1 1x100000000"), "column 5: expands to more than 5000000 values");
  EXPECT_EQ(Error("1x4000000 2x1000000"), "column 11: expands to more than 5000000 values");
  EXPECT_EQ(Error("_x99999999999999999999"),
            "column 3: expected a repetition count after \"x\", got \"99999999999999999999\"");
}

}  // namespace
}  // namespace klaxon
