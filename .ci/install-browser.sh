#!/usr/bin/env bash
# Installs what the headless-browser test (tests/integration/sfu/browser.rs, driving
# tests/browser/sfu.mjs) needs on a bare Debian machine: Debian's Chromium and, from
# tests/browser/package-lock.json, playwright-core. Safe to run twice; prints the versions.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium"
  apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "installing Debian's nodejs and npm"
  apt_install nodejs npm
fi

# `npm ci` again when node_modules is missing or older than the lock file (npm writes
# node_modules/.package-lock.json on every install).
browser_dir=tests/browser
installed="$browser_dir/node_modules/.package-lock.json"
if [ ! -d "$browser_dir/node_modules/playwright-core" ] || [ ! -f "$installed" ] \
  || [ "$browser_dir/package-lock.json" -nt "$installed" ] || [ "$browser_dir/package.json" -nt "$installed" ]; then
  echo "npm ci in $browser_dir"
  # playwright-core downloads no browser; the flag says so for any version that might.
  (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# Debian's launcher prints a harmless shell warning on some /dev/shm sizes: keep only the version.
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null)"
echo "node: $(node --version)"
echo "npm: $(npm --version)"
echo "playwright-core: $(node -p "require('./$browser_dir/node_modules/playwright-core/package.json').version")"
