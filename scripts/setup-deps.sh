#!/usr/bin/env bash
# Installs the Debian 12 packages klaxon builds and tests with, only those missing.
# Called by `make run`, `make test` and `make bench`; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libcurl4-openssl-dev libtomlplusplus-dev libabsl-dev
  libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev libre2-dev
  prometheus-cpp-dev nlohmann-json3-dev libhyperscan-dev libssl-dev
  clang libclang-rt-14-dev
  prometheus
  python3-aiosmtpd  # the real SMTP server of exporters/email_sink_test
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "klaxon: installing missing packages: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# A real Redmine for tests/redmine_test.cc only: klaxon builds and runs without it.
if ! "$(dirname "$0")/redmine-peer.sh" install; then
  echo "klaxon: WARNING: Redmine (Debian's redmine, redmine-sqlite) could not be installed;" \
    "continuing without it, and tests/redmine_test will be skipped" >&2
fi
