#!/usr/bin/env bash
# A PostgreSQL of the fault suite's own on 127.0.0.1:${SDR_TEST_PG_RESTART_PORT:-5434} (superuser
# postgres, password postgres), which tests stop and start again mid-job. The shared 5432 is never touched.
#   postgres-restart.sh         start it if nothing answers (idempotent)
#   postgres-restart.sh stop    stop it at once (pg_ctl -m immediate: every session cut, as in a crash)
#   postgres-restart.sh start   start it again on its data directory
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_PG_RESTART_PORT:-5434}"
DATA="$SDR_PEER_DIR/pg-restart-$PORT"
case "${1:-}" in
  stop)
    if ! port_open "$PORT"; then exit 0; fi
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    # A test that "stopped" a server it did not own would go on to test nothing; say so instead.
    runuser -u postgres -- "$bin/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 ||
      die "postgres-restart: 127.0.0.1:$PORT answers but $DATA is not its data directory (started with another SDR_PEER_DIR?); stop that server or use its SDR_PEER_DIR"
    exit 0 ;;
  start | "") ;;
  *) die "usage: postgres-restart.sh [stop|start]" ;;
esac
if port_open "$PORT"; then exit 0; fi
peer_lock postgres-restart
if port_open "$PORT"; then exit 0; fi
start_postgres "$PORT" "$DATA" "pg-restart-$PORT" max_connections=50
say "started postgresql (restartable) on 127.0.0.1:$PORT"
