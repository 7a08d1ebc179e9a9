#!/usr/bin/env bash
# Kafka's own Java clients and CLI tools for the group and CLI-comparison tests: kafka-tools (kafka-topics,
# kafka-consumer-groups, kafka-configs, kafka-console-consumer as classes), kafka-clients and kafka-streams
# from Maven Central, on the Java the Kafka peer runs on, plus a JDK so tests can compile
# tests/peers/java/*.java (tests/support/kafka-java.ts does, once per version of the sources). Idempotent; prints
# the jar directory on stdout.
# Cached in ${SDR_PEER_CACHE:-/opt/sdr-peers}/kafka-clients-<version> and never committed.
source "$(dirname "$0")/lib.sh"
VERSION="${SDR_TEST_KAFKA_VERSION:-4.1.1}"
CACHE="${SDR_PEER_CACHE:-/opt/sdr-peers}/kafka-clients-$VERSION"

command -v javac >/dev/null || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null || apt_install maven

if [ ! -f "$CACHE/libs/kafka-tools-$VERSION.jar" ]; then
  say "fetching Kafka $VERSION tools, clients and streams jars from Maven Central"
  mkdir -p "$CACHE/pom"
  cat >"$CACHE/pom/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sdr.peers</groupId><artifactId>kafka-clients</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-streams</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  (cd "$CACHE/pom" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$CACHE/libs.tmp" >"$SDR_PEER_DIR/kafka-clients-mvn.log" 2>&1) \
    || die "fetching Kafka client jars with Maven failed; see $SDR_PEER_DIR/kafka-clients-mvn.log"
  # One SLF4J binding only: the tools stay quiet on stderr.
  rm -f "$CACHE"/libs.tmp/log4j-slf4j-impl-*.jar "$CACHE"/libs.tmp/slf4j-reload4j-*.jar
  rm -rf "$CACHE/libs" && mv "$CACHE/libs.tmp" "$CACHE/libs"
fi
echo "$CACHE/libs"
