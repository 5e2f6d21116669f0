#!/usr/bin/env bash
# Installs what the browser tests need on a bare Debian machine: Debian's Chromium, Node.js, and
# the npm packages of tests/browser (playwright-core, for tests/integration/sfu/browser.rs) and
# of frontend/ (the web app, its Vitest suite and its E2E run, for tests/integration/web/app.rs).
# Safe to run twice; prints the versions.
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
# node_modules/.package-lock.json on every install). tests/browser holds the SFU test's
# playwright-core; frontend/ is the web app (Vite, Vitest, playwright-core and axe-core for its E2E).
npm_ci() {
  local dir=$1 marker=$2
  local installed="$dir/node_modules/.package-lock.json"
  if [ ! -e "$dir/node_modules/$marker" ] || [ ! -f "$installed" ] \
    || [ "$dir/package-lock.json" -nt "$installed" ] || [ "$dir/package.json" -nt "$installed" ]; then
    echo "npm ci in $dir"
    # playwright-core downloads no browser; the flag says so for any version that might.
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}
browser_dir=tests/browser
npm_ci "$browser_dir" playwright-core
npm_ci frontend .bin/vite

# Debian's launcher prints a harmless shell warning on some /dev/shm sizes: keep only the version.
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null)"
echo "node: $(node --version)"
echo "npm: $(npm --version)"
echo "playwright-core: $(node -p "require('./$browser_dir/node_modules/playwright-core/package.json').version")"
echo "web app: vite $(node -p "require('./frontend/node_modules/vite/package.json').version"), vitest $(node -p "require('./frontend/node_modules/vitest/package.json').version"), playwright-core $(node -p "require('./frontend/node_modules/playwright-core/package.json').version")"
