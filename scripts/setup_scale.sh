#!/usr/bin/env bash
# Installs what the scale-out tests (tests/scale/, docs/SCALE.md) need from Debian's own packages:
# PostgreSQL's server binaries (`postgresql`: initdb, pg_ctl) for Dagster's storage, and a Java 17
# runtime for Spark (`openjdk-17-jre-headless`). Spark itself (pyspark), SeaweedFS (`weed`) and
# the Python clients come from requirements.lock. The tests start their own servers on 127.0.0.1;
# nothing here starts or enables the system's PostgreSQL service.
# Idempotent: when both are there, apt-get is not even called.
# Exit status: 0 when both are usable afterwards; 1 with one line on stderr otherwise.
set -euo pipefail

have_initdb() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_java() { command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; }

missing=()
have_initdb || missing+=(postgresql)
have_java || missing+=(openjdk-17-jre-headless)

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup_scale: PostgreSQL server binaries and java already installed"
  exit 0
fi

. "$(dirname "$0")/apt_install.sh"
status=0
apt_install setup_scale "${missing[@]}" || status=$?
if [ "$status" -ne 0 ] || ! have_initdb || ! have_java; then
  echo "setup_scale: could not install ${missing[*]} (apt-get exit $status)" >&2
  exit 1
fi
echo "setup_scale: installed ${missing[*]}"
