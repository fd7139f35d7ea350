#!/usr/bin/env bash
# Installs the load generator and process timer of `make bench` from Debian's own packages:
# wrk (benchmarks/check_load.py) and hyperfine (benchmarks/startup.py). Idempotent: apt-get is
# not called when both are there. Never fails `make bench`: without them the benchmarks say so
# in one line and go on.
set -uo pipefail
missing=()
for tool in wrk hyperfine; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] && exit 0
. "$(dirname "$0")/apt_install.sh"
apt_install setup_bench "${missing[@]}" >/dev/null || echo "setup_bench: could not install ${missing[*]} from Debian" >&2
exit 0
