#!/usr/bin/env bash
# PostgreSQL from Debian on 127.0.0.1:${SDR_TEST_PG_PORT:-5432}; superuser postgres, password postgres.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_PG_PORT:-5432}"
if port_open "$PORT"; then exit 0; fi
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  apt_install postgresql
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
DATA="$SDR_PEER_DIR/pg-$PORT"
run() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = "0" ]; then chown postgres "$SDR_PEER_DIR" 2>/dev/null || true; chmod 755 "$SDR_PEER_DIR"; fi
if [ ! -f "$DATA/PG_VERSION" ]; then
  run mkdir -p "$DATA"
  echo postgres > "$SDR_PEER_DIR/pg-pwfile"; chmod 644 "$SDR_PEER_DIR/pg-pwfile"
  run "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$SDR_PEER_DIR/pg-pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$SDR_PEER_DIR/pg-initdb.log" 2>&1 \
    || die "initdb failed; see $SDR_PEER_DIR/pg-initdb.log"
fi
run "$BIN/pg_ctl" -D "$DATA" -l "$SDR_PEER_DIR/pg-$PORT.log" -w -t 60 \
  -o "-p $PORT -k $SDR_PEER_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
  || die "postgres did not start; see $SDR_PEER_DIR/pg-$PORT.log"
say "started postgresql on 127.0.0.1:$PORT"
