# Shared helpers for peer scripts: each script is idempotent, installs what is missing, starts the
# peer on 127.0.0.1 if nothing answers, and exits non-zero with one line naming what is wrong.
set -euo pipefail
SDR_PEER_DIR="${SDR_PEER_DIR:-/tmp/sdr-peers}"
mkdir -p "$SDR_PEER_DIR"

say() { echo "peers: $*" >&2; }
die() { echo "peers: $*" >&2; exit 1; }

apt_install() {
  if [ "$(id -u)" != "0" ]; then die "$1 is missing; install it with: sudo apt-get install -y $*"; fi
  say "installing $* from Debian packages"
  if [ ! -f "$SDR_PEER_DIR/.apt-updated" ]; then apt-get update -qq >/dev/null && touch "$SDR_PEER_DIR/.apt-updated"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$SDR_PEER_DIR/apt.log" 2>&1 || die "apt-get install $* failed; see $SDR_PEER_DIR/apt.log"
}

# wait_for "description" seconds command...
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${seconds}s"
    sleep 0.3
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
