#!/usr/bin/env bash
# A Confluent-compatible Schema Registry: Apicurio Registry 2.4.2 (from Maven Central) serving the Confluent
# REST API, in-memory storage, on 127.0.0.1:$((PORT + 1)) (plain HTTP, loopback only), fronted on
# https://127.0.0.1:${SDR_TEST_SCHEMA_REGISTRY_PORT:-18081}/apis/ccompat/v7 by schema-registry-gateway.ts:
# TLS with the Kafka peer's throwaway CA and HTTP basic auth (sdr-registry / sdr-registry-secret), the way
# Confluent Cloud puts an API key in front of its registry. Apicurio's own auth needs an OIDC server.
# Karapace is not on PyPI and Confluent's registry is not on Maven Central, so this is the real registry we
# can install here. Apicurio's Maven Central artifacts are incomplete: the app is rebuilt with the Quarkus
# Maven plugin, with a JSON-schema library from Central and a two-line stand-in for a build extension that
# only jitpack serves (see ConfigBeans.java below). Built once into ${SDR_PEER_CACHE:-/opt/sdr-peers}.
source "$(dirname "$0")/lib.sh"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PORT="${SDR_TEST_SCHEMA_REGISTRY_PORT:-18081}"
if port_open "$PORT"; then exit 0; fi
peer_lock schema-registry
if port_open "$PORT"; then exit 0; fi
VERSION=2.4.2.Final
BUILD="${SDR_PEER_CACHE:-/opt/sdr-peers}/apicurio-registry-$VERSION"
RUNNER="$BUILD/target/sdr-schema-registry-$VERSION-runner.jar"
TLS="$SDR_PEER_DIR/kafka/tls"
LOG="$SDR_PEER_DIR/schema-registry.log"
command -v mvn >/dev/null || apt_install maven
command -v unzip >/dev/null || apt_install unzip

if [ ! -f "$RUNNER" ]; then
  say "building Apicurio Registry $VERSION from Maven Central (first run only)"
  mkdir -p "$BUILD/src/main/java/sdr/peers" "$BUILD/src/main/resources"
  cat >"$BUILD/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent><groupId>io.apicurio</groupId><artifactId>apicurio-registry</artifactId><version>$VERSION</version><relativePath/></parent>
  <groupId>sdr.peers</groupId><artifactId>sdr-schema-registry</artifactId>
  <dependencies>
    <dependency><groupId>io.apicurio</groupId><artifactId>apicurio-registry-app</artifactId><version>$VERSION</version>
      <exclusions>
        <exclusion><groupId>io.apicurio</groupId><artifactId>apicurio-common-app-components-config-index</artifactId></exclusion>
        <exclusion><groupId>com.github.everit-org.json-schema</groupId><artifactId>org.everit.json.schema</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency><groupId>com.github.erosb</groupId><artifactId>everit-json-schema</artifactId><version>1.14.4</version></dependency>
  </dependencies>
  <!-- The parent names repositories this machine cannot reach; Central under the same id replaces one. -->
  <repositories><repository><id>confluent</id><url>https://repo.maven.apache.org/maven2</url></repository></repositories>
  <build>
    <plugins>
      <plugin>
        <groupId>io.quarkus</groupId><artifactId>quarkus-maven-plugin</artifactId><version>\${quarkus.version}</version>
        <executions><execution><goals><goal>build</goal></goals></execution></executions>
      </plugin>
    </plugins>
  </build>
</project>
EOF
  cat >"$BUILD/src/main/java/sdr/peers/ConfigBeans.java" <<'EOF'
package sdr.peers;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.ArrayList;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

/** Stands in for the config-index build extension (not on Maven Central): no dynamic properties. */
@ApplicationScoped
public class ConfigBeans {
    @Produces
    @Singleton
    public DynamicConfigPropertyList dynamicConfigPropertyList() {
        return new DynamicConfigPropertyList(new ArrayList<>());
    }
}
EOF
  (cd "$BUILD" && mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$VERSION" \
    -DoutputDirectory="$BUILD/app-jar" >"$SDR_PEER_DIR/schema-registry-mvn.log" 2>&1) \
    || die "fetching Apicurio from Maven Central failed; see $SDR_PEER_DIR/schema-registry-mvn.log"
  # The app's own settings, as its upstream build would have them, plus what this peer needs.
  unzip -p "$BUILD/app-jar/apicurio-registry-app-$VERSION.jar" application.properties \
    >"$BUILD/src/main/resources/application.properties"
  cat >>"$BUILD/src/main/resources/application.properties" <<'EOF'
quarkus.index-dependency.registryapp.group-id=io.apicurio
quarkus.index-dependency.registryapp.artifact-id=apicurio-registry-app
EOF
  (cd "$BUILD" && mvn -B -DskipTests -Dcheckstyle.skip -Dlicense.skip -Denforcer.skip -Dmaven.javadoc.skip \
    -Dmaven.source.skip -Dquarkus.profile=prod package >"$SDR_PEER_DIR/schema-registry-mvn.log" 2>&1) \
    || die "building Apicurio Registry failed; see $SDR_PEER_DIR/schema-registry-mvn.log"
fi

installed
# The registry's TLS certificate comes from the Kafka peer's throwaway CA (built in parallel with this).
bash "$(dirname "$0")/kafka.sh" || die "the Kafka peer (which makes the TLS material) did not start"

BACKEND=$((PORT + 1))
if ! port_open "$BACKEND"; then
  if ! alive "$SDR_PEER_DIR/schema-registry.pid" runner.jar; then
    setsid nohup java -Xms64m -Xmx384m -XX:+UseSerialGC -XX:ActiveProcessorCount=2 \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$BACKEND" -Dquarkus.log.level=WARN \
      -jar "$RUNNER" </dev/null >"$LOG" 2>&1 &
    echo $! >"$SDR_PEER_DIR/schema-registry.pid"
  fi
  wait_for "apicurio registry on 127.0.0.1:$BACKEND" 120 port_open "$BACKEND"
fi
command -v node >/dev/null || die "node is needed for the schema registry's TLS and basic-auth gateway"
cd "$ROOT" # so node finds tsx in this checkout's node_modules
SDR_GATEWAY_PORT="$PORT" SDR_GATEWAY_BACKEND="$BACKEND" SDR_GATEWAY_CERT="$TLS/broker-cert.pem" \
  SDR_GATEWAY_KEY="$TLS/broker-key.p8.pem" SDR_GATEWAY_USER=sdr-registry SDR_GATEWAY_PASSWORD=sdr-registry-secret \
  setsid nohup node --import tsx "$ROOT/tests/peers/schema-registry-gateway.ts" </dev/null >"$SDR_PEER_DIR/schema-registry-gateway.log" 2>&1 &
echo $! >"$SDR_PEER_DIR/schema-registry-gateway.pid"
wait_for "schema registry gateway on 127.0.0.1:$PORT" 30 port_open "$PORT"
say "started Apicurio Registry $VERSION (Confluent API) on https://127.0.0.1:$PORT/apis/ccompat/v7"
