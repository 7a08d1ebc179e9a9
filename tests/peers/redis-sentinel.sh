#!/usr/bin/env bash
# Redis Sentinel for the HA tests: Debian's redis-server + redis-sentinel on 127.0.0.1 — a master on
# ${SDR_TEST_SENTINEL_REDIS_PORT:-6380}, a replica on the next port, three sentinels from
# ${SDR_TEST_SENTINEL_PORT:-26379} watching master "sdrmaster" (quorum 2, down after 1 s). The shared
# Redis on 6379 is not touched.
#   redis-sentinel.sh            start everything that is not running (idempotent)
#   redis-sentinel.sh node PORT  (re)start one data node as a replica of the current master (after a test killed it)
source "$(dirname "$0")/lib.sh"
MASTER_PORT="${SDR_TEST_SENTINEL_REDIS_PORT:-6380}"
REPLICA_PORT=$((MASTER_PORT + 1))
SENTINEL_PORT="${SDR_TEST_SENTINEL_PORT:-26379}"
DIR="$SDR_PEER_DIR/redis-sentinel"
mkdir -p "$DIR"
command -v redis-server >/dev/null || apt_install redis-server
command -v redis-sentinel >/dev/null || apt_install redis-sentinel

start_node() { # PORT [MASTER_PORT]
  local port="$1" master="${2:-}"
  port_open "$port" && return 0
  mkdir -p "$DIR/$port"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$DIR/$port" \
    --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid" --appendonly yes \
    --maxmemory-policy noeviction --save '' ${master:+--replicaof 127.0.0.1 "$master"}
  wait_for "redis on 127.0.0.1:$port" 20 redis-cli -p "$port" ping
}

if [ "${1:-}" = "node" ]; then
  current=$(redis-cli -p "$SENTINEL_PORT" SENTINEL get-master-addr-by-name sdrmaster | sed -n 2p)
  start_node "$2" "${current:-$MASTER_PORT}"
  exit 0
fi

if port_open "$SENTINEL_PORT"; then exit 0; fi
start_node "$MASTER_PORT"
start_node "$REPLICA_PORT" "$MASTER_PORT"
for i in 0 1 2; do
  port=$((SENTINEL_PORT + i))
  conf="$DIR/sentinel-$port.conf"
  # Sentinel rewrites its config file, so each run starts from a fresh one.
  cat >"$conf" <<CONF
port $port
bind 127.0.0.1
daemonize yes
dir $DIR
logfile $DIR/sentinel-$port.log
pidfile $DIR/sentinel-$port.pid
sentinel monitor sdrmaster 127.0.0.1 $MASTER_PORT 2
sentinel down-after-milliseconds sdrmaster 1000
sentinel failover-timeout sdrmaster 5000
sentinel parallel-syncs sdrmaster 1
CONF
  redis-sentinel "$conf"
  wait_for "redis-sentinel on 127.0.0.1:$port" 20 redis-cli -p "$port" ping
done
say "started redis sentinel: master $MASTER_PORT, replica $REPLICA_PORT, sentinels $SENTINEL_PORT-$((SENTINEL_PORT + 2))"
