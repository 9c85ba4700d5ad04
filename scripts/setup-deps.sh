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
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "klaxon: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
