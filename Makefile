# The two commands: `make run` (set up, build, start the demo) and `make test`
# (set up, build, run every test). Both install missing Debian packages first.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
  BUILD_DIR := build-asan
  BUILD_TYPE := Debug
endif

.PHONY: all deps configure build run test bench difftest fuzz clean

all: build

deps:
	@scripts/setup-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DKLAXON_SANITIZE=$(SANITIZE)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/klaxon demo --config examples/demo.toml

# Every ctest test, then each fuzz target briefly (FUZZ_SMOKE_SECONDS each).
FUZZ_SMOKE_SECONDS ?= 20
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 300
	scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

# The fuzz targets for FUZZ_SECONDS each (default 300).
FUZZ_SECONDS ?= 300
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	bench/run.sh $(BUILD_DIR)

# The rule language against promtool on many random cases (a few hundred run in
# `make test`). DIFF_SEED=N picks other cases; DIFF_CASE_SEED replays one.
DIFF_CASES ?= 5000
difftest: build
	DIFF_CASES=$(DIFF_CASES) $(BUILD_DIR)/tests/promtool_diff_test --gtest_filter=PromtoolDiff.RandomCases

clean:
	rm -rf build build-asan build-fuzz
