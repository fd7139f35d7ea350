#!/usr/bin/env bash
# Installs OpenSSH's server from Debian's own package for pull mode (docs/PULL.md): the tests
# (tests/support/sshd.py) and `make demo` start their own unprivileged `sshd` on 127.0.0.1
# with a generated host key; nothing here starts or enables the system's ssh service.
# Idempotent: when `sshd` is already there, apt-get is not even called.
# Exit status: 0 when sshd is usable afterwards; 1 with one line on stderr otherwise
# (`make demo` goes on without pull sources then; `make test` stops).
set -euo pipefail

find_sshd() {
  command -v sshd 2>/dev/null || { [ -x /usr/sbin/sshd ] && echo /usr/sbin/sshd; } || true
}

if [ -n "$(find_sshd)" ]; then
  echo "setup_sshd: sshd already installed ($(find_sshd))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup_sshd: sshd missing and not root (no sudo): install Debian's openssh-server as root" >&2
    exit 1
  fi
fi

echo "setup_sshd: installing openssh-server"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the package must not start the system's sshd on port 22 (containers, CI)
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && created_policy=1
fi
status=0
{ $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends openssh-server; } || status=$?
if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi
if [ "$status" -ne 0 ] || [ -z "$(find_sshd)" ]; then
  echo "setup_sshd: could not install openssh-server (apt-get exit $status)" >&2
  exit 1
fi
echo "setup_sshd: $(find_sshd) installed"
