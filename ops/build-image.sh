#!/usr/bin/env bash
# Builds the server's container image from `scratch` (no base image is pulled: none can be here,
# and none is needed): prepares a build context with the binary, the shared libraries it and
# ffmpeg/ffprobe load (found with ldd) and the dynamic loader, CA certificates, /etc/passwd and
# /etc/group with the non-root user `livesurgery` (uid/gid 10001) and an empty data folder,
# then runs `podman build -f ops/Containerfile` on it.
#
#   ops/build-image.sh [--binary PATH] [--tag NAME] [--context DIR] [--no-ffmpeg] [--no-build]
#
#   --binary PATH   the server binary (default target/release/livesurgery: `cargo build
#                   --release` embeds the web app; a debug build does with LIVESURGERY_EMBED_WEB=1)
#   --tag NAME      the image's name (default localhost/livesurgery:latest)
#   --context DIR   where the build context goes (default target/image-context; emptied first)
#   --no-ffmpeg     leave ffmpeg and ffprobe out (about 240 MB of libraries): recordings are
#                   then never made playable (the server runs them to finalise an archive)
#   --no-build      prepare the context only
#
# The binary is copied with its debug information stripped (a debug build is ~500 MB with it).
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

binary=target/release/livesurgery
tag=localhost/livesurgery:latest
context=target/image-context
ffmpeg=1
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --context) context=$2; shift 2 ;;
    --no-ffmpeg) ffmpeg=0; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '== image: %s\n' "$*"; }
fail() { echo "build-image: $*" >&2; exit 1; }

[ -x "$binary" ] || fail "no executable $binary (build it: cargo build --release)"
command -v ldd >/dev/null || fail "no ldd"
executables=("$binary")
if [ "$ffmpeg" = 1 ]; then
  for tool in ffmpeg ffprobe; do
    command -v "$tool" >/dev/null || fail "no $tool to copy (apt-get install ffmpeg, or --no-ffmpeg)"
    executables+=("$(command -v "$tool")")
  done
fi

rm -rf "$context"
root=$context/rootfs
mkdir -p "$root/usr/local/bin" "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp" "$context/data"
chmod 1777 "$root/tmp"

# The binary, without debug information (what runs is the same code).
if command -v strip >/dev/null; then
  strip --strip-debug -o "$root/usr/local/bin/livesurgery" "$binary"
else
  cp "$binary" "$root/usr/local/bin/livesurgery"
fi
chmod 0755 "$root/usr/local/bin/livesurgery"
for exe in "${executables[@]:1}"; do
  cp -L "$exe" "$root/usr/bin/$(basename "$exe")"
done

# Every shared library the executables load, and the loader, at the paths ldd resolved them to
# (the loader's path is compiled into each executable). Statically linked: nothing to copy.
libraries() {
  ldd "$1" 2>/dev/null | awk '
    $2 == "=>" && $3 ~ /^\// { print $3 }
    $1 ~ /^\// { print $1 }'
}
count=0
for exe in "${executables[@]}"; do
  while read -r lib; do
    [ -n "$lib" ] || continue
    dest=$root$lib
    [ -e "$dest" ] && continue
    mkdir -p "$(dirname "$dest")"
    cp -L "$lib" "$dest"
    count=$((count + 1))
  done < <(libraries "$exe")
done
# Debian's loader lives in /lib64 -> /usr/lib64 (or /lib -> /usr/lib): ldd names the
# /lib64 path, which the executables ask for, so it is where it was copied. Nothing else needed.
log "copied ${#executables[@]} executables and $count libraries"

# Name resolution (getaddrinfo reads it; glibc 2.34+ has files and dns built in).
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
# CA certificates, for HTTPS to S3 and an OTLP collector.
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || fail "no $ca (apt-get install ca-certificates)"
cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
# The server's user: no shell, no password, home in the data folder.
cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
livesurgery:x:10001:10001:LiveSurgery server:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat > "$root/etc/group" <<'EOF'
root:x:0:
livesurgery:x:10001:
nogroup:x:65534:
EOF
# The data folder, empty: the Containerfile copies it with owner 10001.

log "context at $context ($(du -sh "$context" | cut -f1))"
[ "$build" = 1 ] || exit 0

command -v podman >/dev/null || fail "no podman (apt-get install podman)"
podman build --quiet --format docker -f ops/Containerfile -t "$tag" "$context" >/dev/null
log "built $tag: $(podman image inspect --format '{{.Id}} {{.Size}}' "$tag" | awk '{printf "%.12s, %d MB", $1, $2 / 1000000}')"
