#!/usr/bin/env bash
# The operations checks (ops/README.md, "Checks"). Needs .ci/install-ops.sh first.
#
#   .ci/ops.sh checks   the Prometheus rules (promtool check, promtool unit tests), the generated
#                       files, the dashboard, compose and Kubernetes files (ops/check.py,
#                       podman-compose config, kubernetes-validate --strict); about 10 s
#   .ci/ops.sh image    builds the server image from a binary already built
#                       (LIVESURGERY_IMAGE_BINARY, default target/debug/livesurgery: CI's debug
#                       build, to stay within time; release is the image's default) and tests it:
#                       its configuration, its files, the binary run in its root filesystem, and
#                       the container run with podman; about a minute
#   .ci/ops.sh          both
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

VENV=${LIVESURGERY_OPS_VENV:-$PWD/target/ops-venv}
PY=$VENV/bin/python3

log() { printf '== ops: %s\n' "$*"; }
fail() { echo "ops: FAILED: $*" >&2; exit 1; }

checks() {
  local started=$SECONDS tmp
  [ -x "$PY" ] || fail "no venv at $VENV: run .ci/install-ops.sh"
  log "promtool check rules"
  promtool check rules ops/prometheus/livesurgery.rules.yml
  log "promtool test rules"
  promtool test rules ops/prometheus/tests/*.yml
  tmp=$(mktemp -d)
  # The config names the rules at their path in the Prometheus container.
  cp ops/prometheus/livesurgery.rules.yml "$tmp/"
  sed "s#/etc/prometheus/#$tmp/#" ops/prometheus/prometheus.yml > "$tmp/prometheus.yml"
  log "promtool check config"
  promtool check config "$tmp/prometheus.yml"
  rm -rf "$tmp"
  log "ops/check.py (generated files, rules, dashboard, compose, Kubernetes)"
  "$PY" ops/check.py
  log "podman-compose config (with compose.env.example)"
  "$VENV/bin/podman-compose" -f ops/compose.yaml --env-file ops/compose.env.example config >/dev/null
  log "kubernetes-validate --strict"
  local manifests=()
  for f in ops/k8s/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
  done
  "$VENV/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
  log "checks passed in $((SECONDS - started)) s"
}

# The image's configuration, as `podman image inspect` gives it.
inspect() { podman image inspect --format "$1" "$TAG"; }

expect() {
  local what=$1 got=$2 want=$3
  [ "$got" = "$want" ] || fail "image: $what is '$got', expected '$want'"
  echo "  $what: $got"
}

image() {
  local started=$SECONDS binary=${LIVESURGERY_IMAGE_BINARY:-target/debug/livesurgery}
  TAG=localhost/livesurgery:ci
  [ -x "$binary" ] || fail "no $binary: build it first (cargo build)"
  log "building $TAG from $binary"
  # The previous run's image would stay behind, untagged, at every run.
  podman rmi -f "$TAG" >/dev/null 2>&1 || true
  ops/build-image.sh --binary "$binary" --tag "$TAG"

  log "image configuration"
  expect user "$(inspect '{{.Config.User}}')" "10001:10001"
  expect entrypoint "$(inspect '{{json .Config.Entrypoint}}')" '["/usr/local/bin/livesurgery"]'
  expect command "$(inspect '{{json .Config.Cmd}}')" '["serve"]'
  expect "exposed ports" "$(inspect '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}')" "3480/udp 8080/tcp "
  expect volumes "$(inspect '{{range $v, $_ := .Config.Volumes}}{{$v}} {{end}}')" "/data "
  # Not in the template's fields in podman 4.3: read from the JSON.
  expect healthcheck "$(podman image inspect "$TAG" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)[0]["Healthcheck"]["Test"], separators=(",", ":")))')" \
    '["CMD","/usr/local/bin/livesurgery","healthcheck","--url","http://127.0.0.1:8080/healthz"]'
  local env
  env=$(inspect '{{range .Config.Env}}{{println .}}{{end}}')
  for setting in LIVESURGERY_HTTP_ADDR=0.0.0.0:8080 LIVESURGERY_DATA_DIR=/data LIVESURGERY_SFU_UDP_BIND=0.0.0.0:3480; do
    grep -qx "$setting" <<<"$env" || fail "image: no ENV $setting"
  done
  echo "  environment: $(grep -c '^LIVESURGERY_' <<<"$env") LIVESURGERY_ settings"

  log "image files"
  local root
  root=$(podman image mount "$TAG")
  mounted=$TAG
  [ -x "$root/usr/local/bin/livesurgery" ] || fail "image: no executable /usr/local/bin/livesurgery"
  grep -qx 'livesurgery:x:10001:10001:LiveSurgery server:/data:/sbin/nologin' "$root/etc/passwd" \
    || fail "image: /etc/passwd has no user livesurgery (10001)"
  grep -qx 'livesurgery:x:10001:' "$root/etc/group" || fail "image: /etc/group has no group livesurgery"
  expect "/data owner and mode" "$(stat -c '%u:%g %a' "$root/data")" "10001:10001 755"
  expect "/tmp mode" "$(stat -c '%a' "$root/tmp")" "1777"
  [ -s "$root/etc/ssl/certs/ca-certificates.crt" ] || fail "image: no CA certificates"
  [ ! -e "$root/bin/sh" ] && [ ! -e "$root/usr/bin/sh" ] || fail "image: a shell slipped in"
  echo "  $(find "$root" -type f | wc -l) files, $(du -sh "$root" | cut -f1)"
  # The binary and ffmpeg run from the image's own libraries and loader, as the user 10001.
  local version
  version=$(chroot --userspec=10001:10001 "$root" /usr/local/bin/livesurgery --version)
  expect "livesurgery --version in the image's root (chroot, uid 10001)" "$version" "$("$binary" --version)"
  version=$("$root/lib64/ld-linux-x86-64.so.2" --inhibit-cache \
    --library-path "$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu" \
    "$root/usr/local/bin/livesurgery" --version)
  expect "livesurgery --version with the image's loader and libraries" "$version" "$("$binary" --version)"
  chroot --userspec=10001:10001 "$root" /usr/bin/ffmpeg -hide_banner -version >/dev/null \
    || fail "image: ffmpeg does not run in the image's root"
  chroot --userspec=10001:10001 "$root" /usr/bin/ffprobe -hide_banner -version >/dev/null \
    || fail "image: ffprobe does not run in the image's root"
  echo "  ffmpeg and ffprobe run in the image's root"
  local has_healthcheck=0
  chroot "$root" /usr/local/bin/livesurgery healthcheck --help >/dev/null 2>&1 && has_healthcheck=1
  podman image unmount "$TAG" >/dev/null
  mounted=

  run_container "$has_healthcheck"
  log "image checks passed in $((SECONDS - started)) s"
}

# Runs the image: with runc (crun cannot set rlimits in this sandbox) and limits no higher than
# the sandbox's own (raising them is refused), the port published on loopback.
run_container() {
  local has_healthcheck=$1 name=livesurgery-ci-$$ port status pid body
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log "podman run (runc) on 127.0.0.1:$port"
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman --runtime runc run -d --name "$name" \
    --ulimit "nofile=$(ulimit -n):$(ulimit -n)" --ulimit nproc=4096:4096 \
    -p "127.0.0.1:$port:8080" "$TAG" >/dev/null 2>"$tmp_err" || { cat "$tmp_err" >&2; fail "podman run"; }
  container=$name
  for _ in $(seq 1 60); do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)
    [ "$status" = 200 ] && break
    sleep 0.5
  done
  [ "$status" = 200 ] || { podman logs "$name" 2>&1 | tail -20 >&2; fail "the container's /healthz answered '$status'"; }
  echo "  /healthz: 200"
  expect "/readyz" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" 200
  # Read whole before grep (grep -q closing the pipe early would fail curl under pipefail).
  body=$(curl -s "http://127.0.0.1:$port/")
  grep -qi '<!doctype html>' <<<"$body" || fail "the container does not serve the web app at /"
  echo "  /: the web app"
  body=$(curl -s "http://127.0.0.1:$port/metrics")
  grep -q '^livesurgery_ws_connected_clients ' <<<"$body" \
    || fail "the container's /metrics has no livesurgery_ws_connected_clients"
  echo "  /metrics: Prometheus text"
  pid=$(podman inspect --format '{{.State.Pid}}' "$name")
  expect "the server's uid in the container" "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" 10001
  # The image's HEALTHCHECK runs `livesurgery healthcheck`: a binary without it makes every
  # container of the image unhealthy, so its absence fails here.
  [ "$has_healthcheck" = 1 ] || fail "the binary has no 'healthcheck' subcommand, which the image's HEALTHCHECK runs"
  podman healthcheck run "$name" || fail "the image's HEALTHCHECK reports the running server unhealthy"
  echo "  HEALTHCHECK: healthy"
  podman stop --time 20 "$name" >/dev/null
  expect "exit status after SIGTERM (drained)" "$(podman inspect --format '{{.State.ExitCode}}' "$name")" 0
  podman rm "$name" >/dev/null
  container=
}

# What a failure (`exit`) leaves behind is removed on the way out.
tmp_err=$(mktemp)
container=
mounted=
cleanup() {
  rm -f "$tmp_err"
  [ -z "$container" ] || podman rm -f "$container" >/dev/null 2>&1 || true
  [ -z "$mounted" ] || podman image unmount "$mounted" >/dev/null 2>&1 || true
}
trap cleanup EXIT
case "${1:-all}" in
  checks) checks ;;
  image) image ;;
  all) checks; image ;;
  *) echo "usage: .ci/ops.sh [checks|image]" >&2; exit 2 ;;
esac
