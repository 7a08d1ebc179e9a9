#!/usr/bin/env bash
# Fresh-machine proof: the README's two commands (`npm ci && npm run demo`, `npm ci && npm test`) in a
# clean Debian 12 container, on this checkout's committed HEAD, with their wall times.
#   bash tests/fresh-machine/run.sh            # both commands; SDR_FRESH_COMMANDS=test for only the tests
# The image is Debian's own packages, made offline: debian:bookworm-slim when tests/peers/images.sh has
# made it (debootstrap), otherwise a debootstrap (minbase) of our own imported as sdr-fresh/debian:bookworm.
# The container gets its own network namespace (its peers never meet this machine's) and this machine's
# CA bundle, for registries reached through a TLS-inspecting proxy. Where no Docker engine can start,
# it says why in one line and exits 0. Results: $OUT/result.txt and the full log in $OUT/run.log.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${SDR_FRESH_OUT:-/tmp/sdr-fresh-machine}"
CA="${SDR_FRESH_CA:-/etc/ssl/certs/ca-certificates.crt}"
COMMANDS="${SDR_FRESH_COMMANDS:-demo test}"
MIRROR="${SDR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$OUT/peers"
say() { echo "fresh-machine: $*" >&2; }
skip() { echo "fresh-machine: not run: $*"; exit 0; }

# A Docker engine: the one that answers, else start dockerd (installing docker.io from Debian if needed).
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    [ "$(id -u)" = 0 ] || skip "no Docker engine and not root to install docker.io"
    say "installing docker.io from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker.io >"$OUT/apt.log" 2>&1 \
      || skip "apt-get install docker.io failed (see $OUT/apt.log)"
  fi
  if ! docker info >/dev/null 2>&1; then
    say "starting dockerd (log: $OUT/dockerd.log)"
    nohup dockerd >"$OUT/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || skip "the Docker engine could not start: $(tail -1 "$OUT/dockerd.log")"
  fi
fi

IMAGE=""
if docker image inspect debian:bookworm-slim --format '{{.Comment}}' 2>/dev/null | grep -q '^Imported'; then
  IMAGE=debian:bookworm-slim # tests/peers/images.sh's debootstrap of Debian 12
elif docker image inspect sdr-fresh/debian:bookworm >/dev/null 2>&1; then
  IMAGE=sdr-fresh/debian:bookworm
else
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >"$OUT/apt.log" 2>&1 \
    || skip "debootstrap is missing and could not be installed (see $OUT/apt.log)"
  say "debootstrap Debian 12 (minbase) from $MIRROR"
  rm -rf "$OUT/rootfs"
  debootstrap --variant=minbase bookworm "$OUT/rootfs" "$MIRROR" >"$OUT/debootstrap.log" 2>&1 \
    || skip "debootstrap failed (see $OUT/debootstrap.log)"
  tar -C "$OUT/rootfs" -c . | docker import - sdr-fresh/debian:bookworm >/dev/null || skip "docker import failed"
  rm -rf "$OUT/rootfs"
  IMAGE=sdr-fresh/debian:bookworm
fi

# The committed tree, as a fresh clone would have it (no node_modules, no local changes).
git -C "$ROOT" archive --format=tar HEAD >"$OUT/source.tar" || skip "git archive of $ROOT failed"
rev=$(git -C "$ROOT" rev-parse --short HEAD)

cat >"$OUT/inside.sh" <<'INSIDE'
set -uo pipefail
t() { date +%s; }
started=$(t)
export DEBIAN_FRONTEND=noninteractive
# This machine's CAs, for a TLS-inspecting proxy between us and the registries (one file per cert so
# update-ca-certificates, and the Java keystore it feeds, take every one).
apt-get update -qq >/dev/null && apt-get install -y -qq ca-certificates nodejs npm >/tmp/apt.log 2>&1 \
  || { echo "inside: apt-get install nodejs npm failed"; tail -5 /tmp/apt.log; exit 1; }
awk '/BEGIN CERTIFICATE/ { n++ } n { print > ("/usr/local/share/ca-certificates/host-" n ".crt") }' /host-ca.crt
update-ca-certificates >/dev/null 2>&1
export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
  REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
echo "inside: Debian $(cat /etc/debian_version), node $(node --version) from Debian; prerequisites in $(( $(t) - started )) s"
mkdir -p /work/sdr && tar -C /work/sdr -xf /source.tar && cd /work/sdr
. scripts/use-node-22.sh || exit 1
echo "inside: node $(node --version) on PATH"
status=0
for command in $SDR_FRESH_COMMANDS; do
  s=$(t)
  case "$command" in
    demo) (npm ci --no-audit --no-fund && npm run demo) ;;
    test) (npm ci --no-audit --no-fund && SDR_TEST_SUMMARY_FILE=/tmp/summary.json npm test) ;;
  esac
  rc=$?
  [ "$rc" = 0 ] || status=$rc
  line="README command '$command': exit $rc in $(( $(t) - s )) s"
  if [ "$command" = test ] && [ -f /tmp/summary.json ]; then
    line="$line; $(node -e 'const r=require("/tmp/summary.json");console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`)')"
  fi
  echo "RESULT $line"
done
echo "RESULT container total $(( $(t) - started )) s"
exit "$status"
INSIDE

say "running the README's commands ($COMMANDS) for $rev in $IMAGE (log: $OUT/run.log)"
started=$SECONDS
docker run --rm --name "sdr-fresh-$$" \
  -e CI=true -e SDR_FRESH_COMMANDS="$COMMANDS" \
  -v "$OUT/peers:/tmp/sdr-peers" -v "$OUT/source.tar:/source.tar:ro" -v "$CA:/host-ca.crt:ro" -v "$OUT/inside.sh:/inside.sh:ro" \
  "$IMAGE" bash /inside.sh >"$OUT/run.log" 2>&1
status=$?
{
  echo "fresh-machine: $(date -u +%FT%TZ) commit $rev, image $IMAGE, load $(cut -d' ' -f1-3 /proc/loadavg) at end"
  grep '^RESULT ' "$OUT/run.log" | sed 's/^RESULT /fresh-machine: /'
  echo "fresh-machine: exit $status, wall $((SECONDS - started)) s including the container's apt-get of nodejs/npm"
} | tee "$OUT/result.txt"
exit "$status"
