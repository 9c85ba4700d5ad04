#include "probes/internal/literal_scanner.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon::probes_internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Isa = LiteralScanner::Isa;
using namespace std::string_literals;

// (start offset, literal) of every occurrence, found with std::string::find.
std::vector<std::pair<size_t, uint32_t>> Expected(const std::vector<std::string>& literals,
                                                  const std::string& text) {
  std::vector<std::pair<size_t, uint32_t>> out;
  for (uint32_t id = 0; id < literals.size(); ++id) {
    for (size_t at = text.find(literals[id]); at != std::string::npos;
         at = text.find(literals[id], at + 1)) {
      out.emplace_back(at, id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The scanner's hits as (start offset, literal), after checking that they
// come in order of `at`, that their lines are right and that, per literal,
// each `at` lies at the same offset (its window's) from the start of the
// occurrence it stands for.
std::vector<std::pair<size_t, uint32_t>> Found(const LiteralScanner& scanner,
                                               const std::vector<std::string>& literals,
                                               const std::string& text) {
  std::vector<LiteralScanner::Hit> hits;
  scanner.Scan(text.data(), text.size(), hits);
  std::vector<std::vector<uint32_t>> at_by_literal(literals.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) {
      EXPECT_GE(hits[i].at, hits[i - 1].at);
    }
    EXPECT_LT(hits[i].at, text.size());
    EXPECT_EQ(
        hits[i].line,
        std::count(text.begin(), text.begin() + std::min<size_t>(hits[i].at, text.size()), '\n'));
    at_by_literal.at(hits[i].id).push_back(hits[i].at);
  }
  std::vector<std::pair<size_t, uint32_t>> out;
  for (uint32_t id = 0; id < literals.size(); ++id) {
    std::vector<size_t> starts;
    for (size_t at = text.find(literals[id]); at != std::string::npos;
         at = text.find(literals[id], at + 1)) {
      starts.push_back(at);
    }
    const std::vector<uint32_t>& ats = at_by_literal[id];
    if (ats.size() != starts.size() || ats.empty()) {
      // Report what was found as if `at` were the start: the comparison fails.
      for (uint32_t at : ats) out.emplace_back(at, id);
      continue;
    }
    const size_t window = ats[0] - starts[0];
    EXPECT_LT(window, literals[id].size());
    for (size_t k = 0; k < ats.size(); ++k) {
      EXPECT_EQ(ats[k] - starts[k], window) << "literal " << id;
      out.emplace_back(ats[k] - window, id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Isa> AvailableIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512bw}) {
    if (LiteralScanner::CreateForIsa(isa, {"x"}) != nullptr) isas.push_back(isa);
  }
  return isas;
}

class LogLiteralScannerTest : public ::testing::TestWithParam<Isa> {
 protected:
  std::unique_ptr<LiteralScanner> Make(std::vector<std::string> literals) {
    auto scanner = LiteralScanner::CreateForIsa(GetParam(), std::move(literals));
    EXPECT_NE(scanner, nullptr);
    return scanner;
  }
};

TEST(LogLiteralScannerCreateTest, RefusesWhatHyperscanMustDo) {
  EXPECT_EQ(LiteralScanner::Create({}), nullptr);
  EXPECT_EQ(LiteralScanner::Create({"a", ""}), nullptr);
  std::vector<std::string> many;
  for (size_t i = 0; i <= LiteralScanner::kMaxLiterals; ++i)
    many.push_back("x" + std::to_string(i));
  EXPECT_EQ(LiteralScanner::Create(many), nullptr);
}

TEST_P(LogLiteralScannerTest, FindsEveryOccurrenceOfEveryLiteral) {
  const std::vector<std::string> literals = {"\"POST ", "curl/", "HTTP/2.0\"", "a", "ab", "aaa"};
  auto scanner = Make(literals);
  const std::string text =
      "10.0.0.1 - - \"POST /x HTTP/2.0\" 200 curl/8\n"
      "aaaa ab curl/ \"POST \"POST HTTP/2.0\"HTTP/2.0\"\n";
  EXPECT_EQ(Found(*scanner, literals, text), Expected(literals, text));
}

TEST_P(LogLiteralScannerTest, FindsLiteralsAtBothEndsOfTheBuffer) {
  const std::vector<std::string> literals = {"start", "end", "z", "yz"};
  auto scanner = Make(literals);
  // Every length around the vector widths, so that the last bytes fall in
  // the main loop and in the copied tail alike.
  for (size_t middle = 0; middle < 200; ++middle) {
    const std::string text = "start" + std::string(middle, '.') + "endyz";
    EXPECT_EQ(Found(*scanner, literals, text), Expected(literals, text)) << middle;
  }
}

TEST_P(LogLiteralScannerTest, EmptyAndShortBuffersHaveNoHitsPastTheirEnd) {
  auto scanner = Make({"abc", "d"});
  std::vector<LiteralScanner::Hit> hits;
  scanner->Scan("", 0, hits);
  EXPECT_THAT(hits, IsEmpty());
  // The bytes after the buffer would complete "abc" and add a "d".
  const char text[] = "xxabcd";
  scanner->Scan(text, 3, hits);
  EXPECT_THAT(hits, IsEmpty());
  scanner->Scan(text, 5, hits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 0u);
}

TEST_P(LogLiteralScannerTest, LiteralsAreBytes) {
  const std::vector<std::string> literals = {"a\0b"s, "\xff\xfe", "\n\n", "Caps"};
  auto scanner = Make(literals);
  const std::string text = "a\0b caps CAPS Caps \xff\xfe\xff \n\n\n a\0"s;
  EXPECT_EQ(Found(*scanner, literals, text), Expected(literals, text));
  EXPECT_THAT(Expected(literals, text),
              ElementsAre(std::pair<size_t, uint32_t>{0, 0}, std::pair<size_t, uint32_t>{14, 3},
                          std::pair<size_t, uint32_t>{19, 1}, std::pair<size_t, uint32_t>{23, 2},
                          std::pair<size_t, uint32_t>{24, 2}));
}

// Random literals over a small alphabet (so that windows and prefixes
// collide often), in random texts, before and after the windows are chosen.
TEST_P(LogLiteralScannerTest, AgreesWithFindOnRandomText) {
  std::mt19937 rng(20240310);
  const std::string alphabet = "ab c\n\0\xff/"s;
  auto random_string = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> literals(1 + rng() % LiteralScanner::kMaxLiterals);
    for (std::string& literal : literals) literal = random_string(1 + rng() % 20);
    auto scanner = Make(literals);
    for (int text_round = 0; text_round < 3; ++text_round) {
      const std::string text = random_string(rng() % 3000);
      ASSERT_EQ(Found(*scanner, literals, text), Expected(literals, text))
          << "round " << round << " text " << text_round;
      scanner->Observe(text.data(), text.size());
    }
    // Past kTuneBytes: the windows are chosen by what was seen.
    const std::string sample = random_string(LiteralScanner::kTuneBytes);
    scanner->Observe(sample.data(), sample.size());
    EXPECT_FALSE(scanner->tuning());
    const std::string text = random_string(5000);
    ASSERT_EQ(Found(*scanner, literals, text), Expected(literals, text)) << "round " << round;
  }
}

TEST_P(LogLiteralScannerTest, WindowsMoveAwayFromWhatEveryLineHolds) {
  // Every line holds "HTTP/1.1\"" and only some "HTTP/2.0\"": whichever
  // window is chosen, the hits stay those of the literal.
  const std::vector<std::string> literals = {"HTTP/2.0\""};
  auto scanner = Make(literals);
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += i % 7 == 0 ? "\"GET / HTTP/2.0\" 200\n" : "\"GET / HTTP/1.1\" 200 HTTP/2.1\n";
  }
  const auto before = Found(*scanner, literals, text);
  while (scanner->tuning()) scanner->Observe(text.data(), text.size());
  EXPECT_EQ(Found(*scanner, literals, text), before);
  EXPECT_EQ(before, Expected(literals, text));
  EXPECT_EQ(before.size(), 286u);
}

INSTANTIATE_TEST_SUITE_P(EachIsaOfThisCpu, LogLiteralScannerTest,
                         ::testing::ValuesIn(AvailableIsas()),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return info.param == Isa::kAvx2 ? "Avx2" : "Avx512bw";
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LogLiteralScannerTest);

}  // namespace
}  // namespace klaxon::probes_internal
