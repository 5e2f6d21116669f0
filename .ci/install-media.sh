#!/usr/bin/env bash
# Installs what the recorder needs besides Rust: Debian's ffmpeg (with ffprobe), which makes an
# archive's playable form after recording and reads media files back in the tests
# (tests/integration/recording). Safe to run twice; prints the version.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  echo "installing Debian's ffmpeg"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq ffmpeg >/dev/null
fi
echo "ffmpeg: $(ffmpeg -version | head -n 1)"
