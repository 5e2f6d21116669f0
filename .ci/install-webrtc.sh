#!/usr/bin/env bash
# Installs what the WebRTC tests (tests/integration/sfu/aiortc.rs) need: aiortc and its wheels,
# pinned in tests/webrtc/requirements.txt, in a venv at target/webrtc-venv, which the tests use
# when it exists (LIVESURGERY_WEBRTC_PYTHON overrides). Needs Python 3.10+ with pip or venv; on
# a Debian whose python3 has no venv module it installs python3-venv. Safe to run twice: a venv
# that already holds the pinned set is kept.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

REQUIREMENTS=$PWD/tests/webrtc/requirements.txt
VENV=${LIVESURGERY_WEBRTC_VENV:-$PWD/target/webrtc-venv}
PYTHON=${PYTHON:-python3}

log() { printf '== webrtc: %s\n' "$*"; }

command -v "$PYTHON" >/dev/null || { echo "install-webrtc: no $PYTHON" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "install-webrtc: aiortc needs Python 3.10+, $PYTHON is $("$PYTHON" -V)" >&2; exit 1; }

# The requirements' hash, kept in the venv: a venv built from other pins is rebuilt.
stamp=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ -x "$VENV/bin/python3" ] && [ "$(cat "$VENV/.requirements" 2>/dev/null || true)" = "$stamp" ] \
   && "$VENV/bin/python3" -c 'import aiortc, av, numpy' 2>/dev/null; then
  log "venv up to date at $VENV"
else
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  # Debian's python3 makes venvs (with pip) only once python3-venv is installed.
  if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    log "installing python3-venv"
    rm -rf "$VENV"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
    "$PYTHON" -m venv "$VENV"
  fi
  # Wheels only: a source build would need FFmpeg, libsrtp and a compiler.
  "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    -r "$REQUIREMENTS"
  echo "$stamp" > "$VENV/.requirements"
  log "installed into $VENV"
fi

"$VENV/bin/python3" - <<'PY'
import sys, aiortc, aioice, av, numpy
print(f"== webrtc: python {sys.version.split()[0]}, aiortc {aiortc.__version__}, aioice {aioice.__version__}, "
      f"av {av.__version__} (FFmpeg {av.library_versions['libavcodec']}), numpy {numpy.__version__}")
import av.codec
for name in ("libvpx", "vp8"):
    try:
        av.codec.Codec(name, "w")
        print(f"== webrtc: VP8 encoder {name} present")
        break
    except Exception:
        pass
else:
    sys.exit("install-webrtc: this av has no VP8 encoder")
PY
"$VENV/bin/python3" "$PWD/tests/webrtc/peer.py" --help >/dev/null
log "peer.py runs"
