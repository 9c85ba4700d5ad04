#!/usr/bin/env bash
# Installs the peers bench/sources/run.sh measures klaxon against, and what it
# measures them with, from Debian 12; only those missing. Safe to run again.
set -euo pipefail

packages=(mtail prometheus-blackbox-exporter nginx-light time util-linux wrk curl)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "klaxon bench: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
