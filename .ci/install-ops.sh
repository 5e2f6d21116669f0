#!/usr/bin/env bash
# Installs what the operations checks (.ci/ops.sh) and the Prometheus integration test
# (tests/integration/ops/prometheus.rs) need: Debian's prometheus (the server and promtool),
# podman with runc (podman's default runtime, crun, cannot start containers in this sandbox),
# and ops/requirements.txt in a venv at target/ops-venv. Safe to run twice: what is installed
# is kept.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

REQUIREMENTS=$PWD/ops/requirements.txt
VENV=${LIVESURGERY_OPS_VENV:-$PWD/target/ops-venv}

log() { printf '== ops: %s\n' "$*"; }

missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt-get (a parallel job) holds the dpkg lock: wait for it rather than fail.
  for attempt in $(seq 1 30); do
    if apt-get -o DPkg::Lock::Timeout=60 update -qq \
       && apt-get -o DPkg::Lock::Timeout=60 install -y -qq "${missing[@]}" >/dev/null; then
      break
    fi
    [ "$attempt" -lt 30 ] || { echo "install-ops: apt-get failed" >&2; exit 1; }
    sleep 10
  done
fi
# The package's service is not wanted: the test starts its own Prometheus.
log "$(prometheus --version 2>&1 | head -n 1)"
log "$(podman --version), runc $(runc --version | head -n 1 | awk '{print $3}')"

stamp=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ -x "$VENV/bin/python3" ] && [ "$(cat "$VENV/.requirements" 2>/dev/null || true)" = "$stamp" ]; then
  log "venv up to date at $VENV"
else
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=60 install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$stamp" > "$VENV/.requirements"
  log "installed ops/requirements.txt into $VENV"
fi
