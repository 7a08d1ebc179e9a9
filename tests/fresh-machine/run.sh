#!/usr/bin/env bash
# Fresh-machine proof: the README's two commands (`npm ci && npm run demo`, `npm ci && npm test`) in a
# clean Debian 12 container, on this checkout's committed HEAD, with their wall times.
#   bash tests/fresh-machine/run.sh            # both commands; SDR_FRESH_COMMANDS=test for only the tests
# The image is Debian's own packages, made offline: debian:bookworm-slim when tests/peers/images.sh has
# made it (debootstrap), otherwise a debootstrap (minbase) of our own imported as sdr-fresh/debian:bookworm.
# The container gets its own network namespace (its peers never meet this machine's). What a user behind
# a proxy would configure is passed in, nothing else:
#   SDR_FRESH_CA        CA bundle the registries' certificates chain to (default this machine's
#                       /etc/ssl/certs/ca-certificates.crt: a TLS-inspecting proxy's CA lives there)
#   HTTP(S)_PROXY, NO_PROXY (either case), PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_DEFAULT_TIMEOUT,
#   npm_config_registry, GOPROXY, MAVEN_OPTS   passed through when set (apt, pip, npm, curl honour the
#                       proxy variables; Maven takes its proxy from MAVEN_OPTS' -Dhttps.proxyHost=…)
#   SDR_DEBIAN_MIRROR   Debian mirror of the image (tests/peers/images.sh or the debootstrap below)
#   SDR_FRESH_CI=true   run as CI does (a peer that cannot start fails the run). Off by default, as for
#                       a new user: then the container test, which needs a Docker engine an unprivileged
#                       container cannot start, skips with one line.
# Where no Docker engine can start here, it says why in one line and exits 0. Results:
# $OUT/result.txt, the full log in $OUT/run.log, the container's peer logs (apt.log …) in $OUT/peers.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${SDR_FRESH_OUT:-/tmp/sdr-fresh-machine}"
CA="${SDR_FRESH_CA:-/etc/ssl/certs/ca-certificates.crt}"
COMMANDS="${SDR_FRESH_COMMANDS:-demo test}"
MIRROR="${SDR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
rm -rf "$OUT/peers" && mkdir -p "$OUT/peers"
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

passed=()
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy PIP_INDEX_URL PIP_EXTRA_INDEX_URL \
  PIP_DEFAULT_TIMEOUT npm_config_registry GOPROXY MAVEN_OPTS; do
  [ -z "${!name:-}" ] || passed+=(-e "$name=${!name}")
done
[ "${SDR_FRESH_CI:-}" != true ] || passed+=(-e CI=true)

say "running the README's commands ($COMMANDS) for $rev in $IMAGE (log: $OUT/run.log)"
started=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
name="sdr-fresh-$$"
docker run --rm --name "$name" \
  "${passed[@]}" -e SDR_FRESH_COMMANDS="$COMMANDS" \
  -v "$OUT/peers:/tmp/sdr-peers" -v "$OUT/source.tar:/source.tar:ro" -v "$CA:/host-ca.crt:ro" -v "$OUT/inside.sh:/inside.sh:ro" \
  "$IMAGE" bash /inside.sh >"$OUT/run.log" 2>&1 &
runner=$!
# Peak resident memory of everything in the container (its peers included), from its memory cgroup:
# anonymous memory only, as tests/support/measure.sh counts it (cgroup v1 total_rss, v2 anon).
peak=0 id=""
while kill -0 "$runner" 2>/dev/null; do
  [ -n "$id" ] || id=$(docker inspect -f '{{.Id}}' "$name" 2>/dev/null || true)
  for stat in "/sys/fs/cgroup/memory/docker/$id/memory.stat" "/sys/fs/cgroup/system.slice/docker-$id.scope/memory.stat"; do
    [ -n "$id" ] && [ -r "$stat" ] || continue
    now=$(awk '$1 == "total_rss" || $1 == "anon" { print $2; exit }' "$stat" 2>/dev/null)
    [ "${now:-0}" -le "$peak" ] || peak=$now
  done
  sleep 2
done
wait "$runner"
status=$?
{
  echo "fresh-machine: $(date -u +%FT%TZ) commit $rev, image $IMAGE, load $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
  grep '^RESULT ' "$OUT/run.log" | sed 's/^RESULT /fresh-machine: /'
  awk -v p="$peak" 'BEGIN { printf "fresh-machine: container peak RSS %.2f GB%s\n", p / 1073741824, p ? "" : " (no memory cgroup readable)" }'
  echo "fresh-machine: exit $status, wall $((SECONDS - started)) s including the container's apt-get of nodejs/npm"
} | tee "$OUT/result.txt"
exit "$status"
