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

. "$(dirname "$0")/apt_install.sh"
apt_install setup_browser "${missing[@]}"
/usr/bin/chromium --version
