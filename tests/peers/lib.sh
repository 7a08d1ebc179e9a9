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

# start_postgres PORT DATA_DIR LOG_NAME [extra -c settings...]: initdb (superuser postgres, password
# postgres) if DATA_DIR is new, then pg_ctl start on 127.0.0.1:PORT. Runs as the postgres user when root.
# A PG_HBA variable, when set, replaces the cluster's pg_hba.conf before start.
start_postgres() {
  local port="$1" data="$2" name="$3"; shift 3
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    apt_install postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  pg_run() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if [ "$(id -u)" = "0" ]; then chown postgres "$SDR_PEER_DIR" 2>/dev/null || true; chmod 755 "$SDR_PEER_DIR"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    pg_run mkdir -p "$data"
    echo postgres > "$SDR_PEER_DIR/pg-pwfile"; chmod 644 "$SDR_PEER_DIR/pg-pwfile"
    pg_run "$bin/initdb" -D "$data" -U postgres --pwfile="$SDR_PEER_DIR/pg-pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$SDR_PEER_DIR/$name-initdb.log" 2>&1 \
      || die "initdb failed; see $SDR_PEER_DIR/$name-initdb.log"
  fi
  if [ -n "${PG_HBA:-}" ]; then printf '%s\n' "$PG_HBA" | pg_run tee "$data/pg_hba.conf" >/dev/null; fi
  local settings="-p $port -k $SDR_PEER_DIR -c listen_addresses=127.0.0.1 -c fsync=off"
  for setting in "$@"; do settings="$settings -c $setting"; done
  pg_run "$bin/pg_ctl" -D "$data" -l "$SDR_PEER_DIR/$name.log" -w -t 60 -o "$settings" start >/dev/null \
    || die "$name did not start; see $SDR_PEER_DIR/$name.log"
}
