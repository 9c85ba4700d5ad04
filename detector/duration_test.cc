#include "detector/duration.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

using ::testing::HasSubstr;

TEST(ParseDurationTest, ParsesEachUnit) {
  EXPECT_EQ(*ParseDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseDuration("5m"), absl::Minutes(5));
  EXPECT_EQ(*ParseDuration("2h"), absl::Hours(2));
  EXPECT_EQ(*ParseDuration("30d"), absl::Hours(24 * 30));
  EXPECT_EQ(*ParseDuration("1w"), absl::Hours(24 * 7));
  EXPECT_EQ(*ParseDuration("1y"), absl::Hours(24 * 365));
}

TEST(ParseDurationTest, ParsesCompoundsAndZero) {
  EXPECT_EQ(*ParseDuration("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDuration("1d2h3m4s5ms"),
            absl::Hours(26) + absl::Minutes(3) + absl::Seconds(4) + absl::Milliseconds(5));
  EXPECT_EQ(*ParseDuration("0"), absl::ZeroDuration());
  EXPECT_EQ(*ParseDuration("0s"), absl::ZeroDuration());
}

TEST(ParseDurationTest, RejectsMalformedText) {
  for (const char* text : {"", "5", "5x", "1m1h", "1s1s", "-5s", "1.5s", "s", " 5s", "5s "}) {
    absl::StatusOr<absl::Duration> d = ParseDuration(text);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << "\"" << text << "\"";
  }
}

TEST(ParseDurationTest, ErrorsSayWhatIsWrong) {
  EXPECT_THAT(ParseDuration("5x").status().message(), HasSubstr("unknown unit \"x\""));
  EXPECT_THAT(ParseDuration("5").status().message(), HasSubstr("missing unit"));
  EXPECT_THAT(ParseDuration("1m1h").status().message(), HasSubstr("largest to smallest"));
  EXPECT_THAT(ParseDuration("").status().message(), HasSubstr("empty"));
  // Every message shows the text and examples of what would be accepted.
  EXPECT_THAT(ParseDuration("-5s").status().message(), HasSubstr("\"-5s\""));
  EXPECT_THAT(ParseDuration("-5s").status().message(), HasSubstr("examples"));
}

TEST(DurationToStringTest, UsesTheShortestForm) {
  EXPECT_EQ(DurationToString(absl::ZeroDuration()), "0s");
  EXPECT_EQ(DurationToString(absl::Milliseconds(500)), "500ms");
  EXPECT_EQ(DurationToString(absl::Minutes(90)), "1h30m");
  EXPECT_EQ(DurationToString(absl::Hours(24 * 7)), "1w");
  EXPECT_EQ(DurationToString(absl::Hours(24 * 30)), "4w2d");
  EXPECT_EQ(DurationToString(-absl::Seconds(5)), "-5s");
}

TEST(DurationToStringTest, RoundTripsThroughParse) {
  for (const char* text : {"500ms", "30s", "1h30m", "30d", "1w", "1y", "2d3h", "1m1s1ms"}) {
    absl::StatusOr<absl::Duration> d = ParseDuration(text);
    ASSERT_TRUE(d.ok()) << text << ": " << d.status();
    absl::StatusOr<absl::Duration> again = ParseDuration(DurationToString(*d));
    ASSERT_TRUE(again.ok()) << DurationToString(*d);
    EXPECT_EQ(*again, *d) << text;
  }
  // "30d" has a shorter spelling with weeks; the round trip keeps the length.
  EXPECT_EQ(DurationToString(*ParseDuration("30d")), "4w2d");
  EXPECT_EQ(DurationToString(*ParseDuration("1h30m")), "1h30m");
  EXPECT_EQ(DurationToString(*ParseDuration("0")), "0s");
}

TEST(ParsePercentTest, ParsesToAFraction) {
  EXPECT_DOUBLE_EQ(*ParsePercent("99.9%"), 0.999);
  EXPECT_DOUBLE_EQ(*ParsePercent("100%"), 1.0);
  EXPECT_DOUBLE_EQ(*ParsePercent("0%"), 0.0);
  EXPECT_DOUBLE_EQ(*ParsePercent("50%"), 0.5);
}

TEST(ParsePercentTest, RejectsOutOfRangeAndMalformed) {
  for (const char* text : {"101%", "-1%", "abc", "99.9", "", "%", "nan%", "inf%"}) {
    EXPECT_EQ(ParsePercent(text).status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << text << "\"";
  }
  EXPECT_THAT(ParsePercent("abc").status().message(), HasSubstr("\"abc\""));
  EXPECT_THAT(ParsePercent("101%").status().message(), HasSubstr("0 to 100"));
}

}  // namespace
}  // namespace klaxon
