#!/usr/bin/env bash
# Installs what the S3 tests (tests/integration/storage/) and the bench's upload suite need: a
# real S3-compatible server that checks request signatures, `s3s-fs` (crates.io, built from
# source: about 2 min on 2 cores; newer versions need a newer rustc than ours). The tests find
# it on PATH or in ~/.cargo/bin (LIVESURGERY_S3S_FS overrides). Safe to run twice: an installed
# s3s-fs is kept.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true

VERSION=0.14.1
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin

log() { printf '== s3: %s\n' "$*"; }

installed() {
  command -v s3s-fs >/dev/null 2>&1 || [ -x "$CARGO_BIN/s3s-fs" ]
}

if installed; then
  log "s3s-fs already installed: $(command -v s3s-fs || echo "$CARGO_BIN/s3s-fs")"
else
  command -v cargo >/dev/null || { echo "install-s3: no cargo" >&2; exit 1; }
  # Its own temporary target folder (not the project's), removed by cargo once installed.
  log "building s3s-fs $VERSION"
  if ! env -u CARGO_TARGET_DIR cargo install --quiet "s3s-fs@$VERSION" --features binary --locked; then
    log "the locked build failed; trying with the newest compatible dependencies"
    env -u CARGO_TARGET_DIR cargo install --quiet "s3s-fs@$VERSION" --features binary
  fi
fi

bin=$(command -v s3s-fs || echo "$CARGO_BIN/s3s-fs")
log "$("$bin" --version 2>&1 | head -n 1) at $bin"
