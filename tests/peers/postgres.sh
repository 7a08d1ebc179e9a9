#!/usr/bin/env bash
# PostgreSQL from Debian on 127.0.0.1:${SDR_TEST_PG_PORT:-5432}; superuser postgres, password postgres.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_PG_PORT:-5432}"
if port_open "$PORT"; then exit 0; fi
peer_lock postgres
if port_open "$PORT"; then exit 0; fi
start_postgres "$PORT" "$SDR_PEER_DIR/pg-$PORT" "pg-$PORT" max_connections=200
say "started postgresql on 127.0.0.1:$PORT"
