#!/usr/bin/env bash
# A second, TLS-only PostgreSQL on 127.0.0.1:${SDR_TEST_PG_TLS_PORT:-5433} for the adapter's sslmode tests.
# Its certificates live in $SDR_PEER_DIR/pg-tls-$PORT/certs: a test CA (ca.pem, ca.key, so tests can
# sign client certificates) and a server certificate for DNS:localhost only. pg_hba accepts only TLS:
# scram-sha-256, or client-certificate auth for members of role sdr_pg_certs.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_PG_TLS_PORT:-5433}"
if port_open "$PORT"; then exit 0; fi
peer_lock postgres-tls
if port_open "$PORT"; then exit 0; fi
command -v openssl >/dev/null || apt_install openssl
# PostgreSQL (and its postgres user, who must own the server key) before the certificates.
postgres_bin >/dev/null
DATA="$SDR_PEER_DIR/pg-tls-$PORT"
CERTS="$DATA-certs"
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
fi
# Outside the block above, so a start that failed after making the certificates still gets it right.
if [ "$(id -u)" = "0" ]; then chown postgres "$CERTS/server.key"; fi
chmod 600 "$CERTS/server.key"
PG_HBA='local   all  all                           trust
hostssl all  +sdr_pg_certs  127.0.0.1/32   cert
hostssl all  all            127.0.0.1/32   scram-sha-256' start_postgres "$PORT" "$DATA" "pg-tls-$PORT" max_connections=50 ssl=on \
  "ssl_cert_file=$CERTS/server.pem" "ssl_key_file=$CERTS/server.key" "ssl_ca_file=$CERTS/ca.pem"
say "started TLS postgresql on 127.0.0.1:$PORT"
