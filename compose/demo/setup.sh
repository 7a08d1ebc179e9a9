#!/bin/sh
# Demo profile, step 1 (runs once per demo volume): a throwaway CA and a certificate for the cloud
# (host name `cloud`), passwords for the sample database, and the runtime's connections file.
set -eu
umask 022
mkdir -p /demo/tls
if [ ! -f /demo/tls/ca.pem ]; then
  cd /demo/tls
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj '/CN=sdr demo CA' \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=cloud' \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:cloud,DNS:localhost,IP:127.0.0.1\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile ext.cnf \
    -out server.pem 2>/dev/null
  # The CA key is not needed again; the cloud (uid 1000) reads its own key.
  rm -f ca.key server.csr ext.cnf ca.srl
  chown 1000:1000 server.key && chmod 600 server.key
  echo "demo-setup: made a throwaway CA and a certificate for https://cloud:8787"
fi
# Readable by the postgres image's user and by the runtime (uid 1000); demo values only.
[ -f /demo/postgres-password ] || openssl rand -base64 18 >/demo/postgres-password
[ -f /demo/crawler-password ] || openssl rand -base64 18 >/demo/crawler-password
chmod 644 /demo/postgres-password /demo/crawler-password
cat >/demo/connections.yaml <<'YAML'
connections:
  - name: demo-shop
    type: postgres
    host: demo-postgres
    port: 5432
    database: sdr_demo
    secrets:
      user: env://DEMO_PG_USER
      password: file:///demo/crawler-password
    options: { sslmode: disable }
YAML
# The cloud keeps its state in its own volume as uid 1000.
chown 1000:1000 /var/lib/sdr-cloud
echo "demo-setup: done"
