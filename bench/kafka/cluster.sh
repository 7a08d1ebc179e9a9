#!/usr/bin/env bash
# A dedicated 3-broker KRaft cluster for bench/kafka (PLAINTEXT on 127.0.0.1:19292-19294, controller 19295).
# Separate from the test peer so 30,000 bench partitions never slow the tests, and spread over three
# brokers because one broker keeps a file open per partition and this machine caps a process at 20,000.
# Reuses the jars tests/peers/kafka.sh fetched. Idempotent; `cluster.sh stop` stops what it started.
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../tests/peers/lib.sh"
DIR="$SDR_PEER_DIR/kafka-bench"
BASE="${SDR_BENCH_KAFKA_PORT:-19292}"
CTRL=$((BASE + 3))
if [ "${1:-}" = "stop" ]; then
  for pid in "$DIR"/node-*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; rm -f "$pid"; done
  exit 0
fi
if port_open "$BASE" && port_open $((BASE + 1)) && port_open $((BASE + 2)); then exit 0; fi
bash "$here/../../tests/peers/kafka.sh" >/dev/null || die "the Kafka jars could not be fetched (tests/peers/kafka.sh)"
VERSION="${SDR_TEST_KAFKA_VERSION:-4.1.1}"
CP="${SDR_PEER_CACHE:-/opt/sdr-peers}/kafka-$VERSION/libs/*"
mkdir -p "$DIR"
cat >"$DIR/log4j2.yaml" <<YAML
Configuration:
  Appenders:
    File: { name: file, fileName: "$DIR/server.log", PatternLayout: { pattern: "[%d] %p %m (%c)%n" } }
  Loggers:
    Root: { level: WARN, AppenderRef: [{ ref: file }] }
YAML
CLUSTER_ID_FILE="$DIR/cluster-id"
[ -f "$CLUSTER_ID_FILE" ] || java -cp "$CP" kafka.tools.StorageTool random-uuid >"$CLUSTER_ID_FILE" 2>/dev/null
for node in 1 2 3; do
  port=$((BASE + node - 1))
  conf="$DIR/node-$node.properties"
  if [ "$node" = 1 ]; then
    roles="broker,controller"
    listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$CTRL"
  else
    roles="broker"
    listeners="PLAINTEXT://127.0.0.1:$port"
  fi
  cat >"$conf" <<PROPS
process.roles=$roles
node.id=$node
controller.quorum.voters=1@127.0.0.1:$CTRL
listeners=$listeners
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data-$node
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=2
offsets.topic.num.partitions=10
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=1048576
PROPS
  if [ ! -f "$DIR/data-$node/meta.properties" ]; then
    java -cp "$CP" kafka.tools.StorageTool format -t "$(cat "$CLUSTER_ID_FILE")" -c "$conf" \
      >"$DIR/format-$node.log" 2>&1 || die "formatting bench node $node failed; see $DIR/format-$node.log"
  fi
  if ! port_open "$port"; then
    nohup java -Xms128m -Xmx"${SDR_BENCH_KAFKA_HEAP:-768m}" -XX:+UseSerialGC -XX:ActiveProcessorCount=2 \
      -Dlog4j2.configurationFile="$DIR/log4j2.yaml" -cp "$CP" kafka.Kafka "$conf" >"$DIR/node-$node.out" 2>&1 &
    echo $! >"$DIR/node-$node.pid"
  fi
done
for node in 1 2 3; do wait_for "bench kafka node $node" 180 port_open $((BASE + node - 1)); done
say "bench kafka cluster up on 127.0.0.1:$BASE-$((BASE + 2))"
