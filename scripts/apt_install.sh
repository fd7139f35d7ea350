# Sourced by the setup_*.sh scripts: `apt_install TAG PKG...` installs Debian packages as root
# (or through sudo), without letting a package start a system service (policy-rc.d 101: the
# tests and the demo start their own servers on 127.0.0.1). Returns apt-get's status; says in
# one line on stderr why nothing could be installed.
apt_install() {
  local tag=$1
  shift
  local sudo="" policy=/usr/sbin/policy-rc.d created_policy=0 status=0
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "$tag: missing $* and not root (no sudo): install them as root" >&2
      return 1
    fi
  fi
  echo "$tag: installing $*"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && created_policy=1
  fi
  { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "$@"; } || status=$?
  if [ "$created_policy" = 1 ]; then $sudo rm -f "$policy"; fi
  return "$status"
}
