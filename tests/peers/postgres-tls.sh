#!/usr/bin/env bash
# A second, TLS-only PostgreSQL on 127.0.0.1:${SDR_TEST_PG_TLS_PORT:-5433} for the adapter's sslmode tests.
# Its certificates live in $SDR_PEER_DIR/pg-tls-$PORT/certs: a test CA (ca.pem, ca.key, so tests can
# sign client certificates) and a server certificate for DNS:localhost only. pg_hba accepts only TLS:
# scram-sha-256, or client-certificate auth for members of role sdr_pg_certs.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_PG_TLS_PORT:-5433}"
if port_open "$PORT"; then exit 0; fi
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  apt_install postgresql
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
command -v openssl >/dev/null || apt_install openssl
DATA="$SDR_PEER_DIR/pg-tls-$PORT"
CERTS="$DATA-certs"
run() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = "0" ]; then chown postgres "$SDR_PEER_DIR" 2>/dev/null || true; chmod 755 "$SDR_PEER_DIR"; fi
if [ ! -f "$CERTS/server.pem" ]; then
  mkdir -p "$CERTS"
  (
    cd "$CERTS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sdr test CA" -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.pem
  ) >"$SDR_PEER_DIR/pg-tls-certs.log" 2>&1 || die "openssl could not make test certificates; see $SDR_PEER_DIR/pg-tls-certs.log"
  chmod 644 "$CERTS"/*.pem "$CERTS/ca.key"
  if [ "$(id -u)" = "0" ]; then chown postgres "$CERTS/server.key"; fi
  chmod 600 "$CERTS/server.key"
fi
if [ ! -f "$DATA/PG_VERSION" ]; then
  run mkdir -p "$DATA"
  echo postgres > "$SDR_PEER_DIR/pg-pwfile"; chmod 644 "$SDR_PEER_DIR/pg-pwfile"
  run "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$SDR_PEER_DIR/pg-pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$SDR_PEER_DIR/pg-tls-initdb.log" 2>&1 \
    || die "initdb failed; see $SDR_PEER_DIR/pg-tls-initdb.log"
fi
un "$BIN/pg_ctl" -D "$DATA" -l "$SDR_PEER_DIR/pg-tls-$PORT.log" -w -t 60 \
  -o "-p $PORT -k $SDR_PEER_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50 -c ssl=on -c ssl_cert_file=$CERTS/server.pem -c ssl_key_file=$CERTS/server.key -c ssl_ca_file=$CERTS/ca.pem" start >/dev/null \
  || die "TLS postgres did not start; see $SDR_PEER_DIR/pg-tls-$PORT.log"
say "started TLS postgresql on 127.0.0.1:$PORT"
