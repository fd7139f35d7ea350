#!/usr/bin/env bash
# Installs what the browser tests (tests/browser/) need from Debian's own packages:
# chromium + chromium-driver (Playwright drives /usr/bin/chromium; its own browser download
# does not work offline) and fonts-noto-cjk (without it Chinese source names render as boxes).
# Idempotent: packages already present are left alone and apt-get is not even called.
set -euo pipefail

packages=(chromium chromium-driver fonts-noto-cjk)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup_browser: chromium, chromium-driver and fonts-noto-cjk already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup_browser: missing ${missing[*]} and not root (no sudo): install them as root" >&2
    exit 1
  fi
fi

echo "setup_browser: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
/usr/bin/chromium --version
