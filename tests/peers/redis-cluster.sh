#!/usr/bin/env bash
# Redis Cluster for the cluster tests: Debian's redis-server in cluster mode, three masters (no replicas)
# on 127.0.0.1:${SDR_TEST_REDIS_CLUSTER_PORT:-7000} and the next two ports, joined with
# `redis-cli --cluster create`. AOF on and noeviction, as the runtime requires. The shared Redis on 6379
# is not touched. Idempotent: a formed cluster whose nodes answer is left as it is.
source "$(dirname "$0")/lib.sh"
FIRST="${SDR_TEST_REDIS_CLUSTER_PORT:-7000}"
PORTS=("$FIRST" $((FIRST + 1)) $((FIRST + 2)))
DIR="$SDR_PEER_DIR/redis-cluster"

cluster_ok() { redis-cli -p "$FIRST" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }
if cluster_ok; then exit 0; fi
peer_lock redis-cluster
if cluster_ok; then exit 0; fi
command -v redis-server >/dev/null || apt_install redis-server
command -v redis-cli >/dev/null || apt_install redis-tools
installed

fresh=no
for port in "${PORTS[@]}"; do
  if port_open "$port"; then continue; fi
  mkdir -p "$DIR/$port"
  # A node that starts without its nodes file cannot rejoin the old cluster: start all from scratch then.
  [ -f "$DIR/$port/nodes.conf" ] || fresh=yes
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$DIR/$port" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --appendonly yes --save '' --maxmemory-policy noeviction \
    --logfile "$DIR/redis-$port.log" --pidfile "$DIR/redis-$port.pid"
  wait_for "redis cluster node on 127.0.0.1:$port" 20 redis-cli -p "$port" ping
done

if [ "$fresh" = yes ] || ! redis-cli -p "$FIRST" cluster info | grep -q '^cluster_known_nodes:3'; then
  for port in "${PORTS[@]}"; do redis-cli -p "$port" flushall >/dev/null 2>&1 || true; redis-cli -p "$port" cluster reset hard >/dev/null; done
  redis-cli --cluster create "${PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 \
    || die "redis-cli --cluster create failed; see $DIR/create.log"
fi
wait_for "redis cluster on 127.0.0.1:$FIRST-$((FIRST + 2)) to report cluster_state:ok" 30 cluster_ok
say "started redis cluster: masters on 127.0.0.1:${PORTS[*]}"
