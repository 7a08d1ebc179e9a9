#!/usr/bin/env bash
# Redis Sentinel for the HA tests: Debian's redis-server + redis-sentinel on 127.0.0.1 — a master on
# ${SDR_TEST_SENTINEL_REDIS_PORT:-6380}, a replica on the next port, three sentinels from
# ${SDR_TEST_SENTINEL_PORT:-26379} watching master "sdrmaster" (quorum 2, down after 1 s). The shared
# Redis on 6379 is not touched.
#   redis-sentinel.sh            start everything that is not running (idempotent)
#   redis-sentinel.sh node       (re)start the data node that is not master as its replica (after a test killed it)
# Both forms return only when the replica is in sync and every sentinel would promote it.
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
  # No diskless-sync delay: with the default 5 s a replica is not yet in sync when a test kills the
  # master, and Sentinel then finds no replica it may promote (-failover-abort-no-good-slave).
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$DIR/$port" \
    --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid" --appendonly yes \
    --maxmemory-policy noeviction --save '' --repl-diskless-sync-delay 0 \
    ${master:+--replicaof 127.0.0.1 "$master"}
  wait_for "redis on 127.0.0.1:$port" 20 redis-cli -p "$port" ping
}

replica_synced() { redis-cli -p "$1" INFO replication | grep -q '^master_link_status:up'; }

# Every sentinel lists REPLICA_PORT as a replica it may promote (flags exactly "slave", link ok).
sentinels_see_replica() {
  local i
  for i in 0 1 2; do
    redis-cli -p $((SENTINEL_PORT + i)) --raw SENTINEL replicas sdrmaster |
      awk -v want="127.0.0.1:$1" '
        prev == "name" { name = $0 } prev == "flags" { flags = $0 } prev == "master-link-status" { link = $0 }
        { prev = $0 }
        END { exit !(name == want && flags == "slave" && link == "ok") }' || return 1
  done
}

# The data node of the pair that is not the current master, started as its replica if it is down.
ensure_replica() {
  local master other
  master=$(redis-cli -p "$SENTINEL_PORT" SENTINEL get-master-addr-by-name sdrmaster | sed -n 2p)
  master="${master:-$MASTER_PORT}"
  other=$([ "$master" = "$MASTER_PORT" ] && echo "$REPLICA_PORT" || echo "$MASTER_PORT")
  start_node "$other" "$master"
  wait_for "redis replica 127.0.0.1:$other in sync with $master" 30 replica_synced "$other"
  wait_for "the sentinels to list replica 127.0.0.1:$other" 30 sentinels_see_replica "$other"
}

if [ "${1:-}" = "node" ]; then
  ensure_replica
  exit 0
fi

if port_open "$SENTINEL_PORT"; then
  ensure_replica
  exit 0
fi
# A fresh start: no data or sentinel state from an earlier failover decides who is master.
for port in "$MASTER_PORT" "$REPLICA_PORT"; do
  if port_open "$port"; then redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true; fi
done
wait_for "redis on 127.0.0.1:$MASTER_PORT and :$REPLICA_PORT to stop" 20 \
  bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$MASTER_PORT) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$REPLICA_PORT) 2>/dev/null"
rm -rf "${DIR:?}/$MASTER_PORT" "${DIR:?}/$REPLICA_PORT"
start_node "$MASTER_PORT"
start_node "$REPLICA_PORT" "$MASTER_PORT"
wait_for "redis replica 127.0.0.1:$REPLICA_PORT in sync" 30 replica_synced "$REPLICA_PORT"
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
wait_for "the sentinels to list replica 127.0.0.1:$REPLICA_PORT" 30 sentinels_see_replica "$REPLICA_PORT"
say "started redis sentinel: master $MASTER_PORT, replica $REPLICA_PORT, sentinels $SENTINEL_PORT-$((SENTINEL_PORT + 2))"
