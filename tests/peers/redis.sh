#!/usr/bin/env bash
# Redis for the queue: Debian's redis-server on 127.0.0.1:${SDR_TEST_REDIS_PORT:-6379}.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_REDIS_PORT:-6379}"
if port_open "$PORT"; then exit 0; fi
peer_lock redis
if port_open "$PORT"; then exit 0; fi
command -v redis-server >/dev/null || apt_install redis-server
installed
redis-server --port "$PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
  --dir "$SDR_PEER_DIR" --logfile "$SDR_PEER_DIR/redis.log" --pidfile "$SDR_PEER_DIR/redis.pid" \
  --maxmemory-policy noeviction
wait_for "redis on 127.0.0.1:$PORT" 20 redis-cli -p "$PORT" ping
say "started redis on 127.0.0.1:$PORT"
