#!/usr/bin/env bash
# Installs the load generator and process timer of `make bench` from Debian's own packages:
# wrk (benchmarks/check_load.py) and hyperfine (benchmarks/startup.py). Idempotent: apt-get is
# not called when both are there. Without them the benchmarks say so in one line and go on.
set -uo pipefail
missing=()
for tool in wrk hyperfine; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup_bench: ${missing[*]} missing and not root: install them as root" >&2; exit 0; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } \
  || echo "setup_bench: could not install ${missing[*]} from Debian" >&2
exit 0
