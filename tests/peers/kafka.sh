#!/usr/bin/env bash
# Apache Kafka, single-node KRaft (broker + controller), from the broker jars on Maven Central, run on Java 17.
# Listeners (all 127.0.0.1):
#   ${SDR_TEST_KAFKA_PORT:-19092}       PLAINTEXT (principal ANONYMOUS, a super user: test set-up and bench)
#   ${SDR_TEST_KAFKA_SSL_PORT:-19093}   SSL with client certificates required (mTLS; principal CN=sdr-client)
#   ${SDR_TEST_KAFKA_SASL_PORT:-19094}  SASL_SSL: SCRAM-SHA-512, SCRAM-SHA-256, PLAIN and (unsecured) OAUTHBEARER
#   ${SDR_TEST_KAFKA_CONTROLLER_PORT:-19095} KRaft controller
# The StandardAuthorizer is on, so ACL denials are real. TLS material (a throwaway CA, the broker's and a
# client's certificate) is generated in $SDR_PEER_DIR/kafka/tls; tests read it from there.
# Jars are cached in ${SDR_PEER_CACHE:-/opt/sdr-peers}/kafka-<version> and never committed.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_KAFKA_PORT:-19092}"
SSL_PORT="${SDR_TEST_KAFKA_SSL_PORT:-19093}"
SASL_PORT="${SDR_TEST_KAFKA_SASL_PORT:-19094}"
CTRL_PORT="${SDR_TEST_KAFKA_CONTROLLER_PORT:-19095}"
if port_open "$PORT" && port_open "$SASL_PORT" && port_open "$SSL_PORT"; then exit 0; fi
peer_lock kafka
if port_open "$PORT" && port_open "$SASL_PORT" && port_open "$SSL_PORT"; then exit 0; fi

VERSION="${SDR_TEST_KAFKA_VERSION:-4.1.1}"
CACHE="${SDR_PEER_CACHE:-/opt/sdr-peers}/kafka-$VERSION"
DIR="$SDR_PEER_DIR/kafka"
# Fixed, throwaway credentials of the test broker; tests/peers/endpoints.ts holds the same values.
ADMIN_PASSWORD="${SDR_TEST_KAFKA_ADMIN_PASSWORD:-sdr-admin-secret}"
READER_PASSWORD="${SDR_TEST_KAFKA_READER_PASSWORD:-sdr-reader-secret}"

command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null || apt_install maven
command -v openssl >/dev/null || apt_install openssl

if [ ! -f "$CACHE/libs/kafka_2.13-$VERSION.jar" ]; then
  say "fetching Apache Kafka $VERSION jars from Maven Central"
  mkdir -p "$CACHE/pom"
  cat >"$CACHE/pom/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sdr.peers</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
  (cd "$CACHE/pom" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$CACHE/libs.tmp" >"$SDR_PEER_DIR/kafka-mvn.log" 2>&1) \
    || die "fetching Kafka jars with Maven failed; see $SDR_PEER_DIR/kafka-mvn.log"
  rm -rf "$CACHE/libs" && mv "$CACHE/libs.tmp" "$CACHE/libs"
fi
CP="$CACHE/libs/*"
installed

mkdir -p "$DIR/tls"
if [ ! -f "$DIR/tls/client.pem" ]; then
  say "generating a throwaway CA and certificates in $DIR/tls"
  (
    cd "$DIR/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 3650 -subj "/CN=sdr-test-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout broker-key.pem -out broker.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out broker-cert.pem -days 3650 -extfile broker.ext 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in broker-key.pem -out broker-key.p8.pem
    cat broker-key.p8.pem broker-cert.pem >broker.pem
    openssl req -newkey rsa:2048 -nodes -keyout client-key.raw.pem -out client.csr -subj "/CN=sdr-client" 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client-cert.pem -days 3650 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in client-key.raw.pem -out client-key.pem
    cp client-cert.pem client.pem
  ) || die "generating test certificates with openssl failed"
fi

cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CTRL_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,SSL://127.0.0.1:$SSL_PORT,SASL_SSL://127.0.0.1:$SASL_PORT,CONTROLLER://127.0.0.1:$CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SSL://127.0.0.1:$SSL_PORT,SASL_SSL://127.0.0.1:$SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
num.network.threads=2
num.io.threads=4
background.threads=2
offsets.topic.num.partitions=10
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=1048576
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:sdr-admin;User:CN=sdr-client
allow.everyone.if.no.acl.found=false
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_sdr-admin="$ADMIN_PASSWORD" user_sdr-reader="$READER_PASSWORD";
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="sdr-admin";
ssl.keystore.type=PEM
ssl.keystore.location=$DIR/tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$DIR/tls/ca.pem
listener.name.ssl.ssl.client.auth=required
EOF

cat >"$DIR/log4j2.yaml" <<EOF
Configuration:
  Appenders:
    File: { name: file, fileName: "$DIR/server.log", PatternLayout: { pattern: "[%d] %p %m (%c)%n" } }
  Loggers:
    Root: { level: WARN, AppenderRef: [{ ref: file }] }
    Logger: [{ name: kafka.server.KafkaServer, level: INFO }, { name: kafka.server.BrokerServer, level: INFO }]
EOF

if [ ! -f "$DIR/data/meta.properties" ]; then
  CLUSTER_ID=$(java -cp "$CP" kafka.tools.StorageTool random-uuid 2>/dev/null) || die "kafka StorageTool random-uuid failed"
  java -cp "$CP" -Dlog4j2.configurationFile="$DIR/log4j2.yaml" kafka.tools.StorageTool format \
    -t "$CLUSTER_ID" -c "$DIR/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=sdr-admin,password=$ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=sdr-admin,password=$ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=sdr-reader,password=$READER_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=sdr-reader,password=$READER_PASSWORD]" \
    >"$DIR/format.log" 2>&1 || die "formatting Kafka storage failed; see $DIR/format.log"
fi

# One open file per partition segment: the bench's 30,000 partitions need more than a default limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# A modest heap and two GC threads: the machine is shared.
if ! alive "$DIR/kafka.pid" kafka.Kafka; then
setsid nohup java -Xms256m -Xmx"${SDR_TEST_KAFKA_HEAP:-512m}" -XX:+UseSerialGC -XX:ActiveProcessorCount=2 -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$DIR/log4j2.yaml" -cp "$CP" kafka.Kafka "$DIR/server.properties" \
  >"$DIR/stdout.log" 2>&1 &
echo $! >"$DIR/kafka.pid"
fi
wait_for "kafka on 127.0.0.1:$PORT" 120 port_open "$PORT"
wait_for "kafka SASL_SSL on 127.0.0.1:$SASL_PORT" 60 port_open "$SASL_PORT"
wait_for "kafka SSL on 127.0.0.1:$SSL_PORT" 60 port_open "$SSL_PORT"
say "started kafka $VERSION on 127.0.0.1:$PORT (PLAINTEXT), $SSL_PORT (mTLS), $SASL_PORT (SASL_SSL)"
