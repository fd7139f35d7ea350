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

. "$(dirname "$0")/apt_install.sh"
status=0
apt_install setup_sshd openssh-server || status=$?
if [ "$status" -ne 0 ] || [ -z "$(find_sshd)" ]; then
  echo "setup_sshd: could not install openssh-server (apt-get exit $status)" >&2
  exit 1
fi
echo "setup_sshd: $(find_sshd) installed"
