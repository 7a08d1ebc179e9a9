#!/usr/bin/env bash
# A second, deliberately misconfigured Redis (maxmemory-policy allkeys-lru) on 127.0.0.1:${SDR_TEST_REDIS_LRU_PORT:-6390},
# for the runtime's refusal to queue jobs in a Redis that may evict them (`sdr check`, daemon start). CONFIG is
# disabled, as on managed Redis services, so the policy must be read from INFO memory.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_REDIS_LRU_PORT:-6390}"
if port_open "$PORT"; then exit 0; fi
command -v redis-server >/dev/null || apt_install redis-server
redis-server --port "$PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
  --dir "$SDR_PEER_DIR" --logfile "$SDR_PEER_DIR/redis-lru.log" --pidfile "$SDR_PEER_DIR/redis-lru.pid" \
  --maxmemory 64mb --maxmemory-policy allkeys-lru --rename-command CONFIG ''
wait_for "redis (allkeys-lru) on 127.0.0.1:$PORT" 20 redis-cli -p "$PORT" ping
say "started redis (allkeys-lru) on 127.0.0.1:$PORT"
