#!/usr/bin/env bash
# moto in server mode (AWS API emulator, PyPI moto[server]) on 127.0.0.1:${SDR_TEST_MOTO_PORT:-5000}.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_MOTO_PORT:-5000}"
if port_open "$PORT"; then exit 0; fi
PY="${SDR_PYTHON:-python3}"
if ! "$PY" -c 'import moto.server, flask' 2>/dev/null; then
  say "installing moto[server] from PyPI"
  "$PY" -m pip install -q 'moto[server]>=5,<6' >"$SDR_PEER_DIR/moto-pip.log" 2>&1 \
    || die "pip install moto[server] failed; see $SDR_PEER_DIR/moto-pip.log"
fi
nohup "$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >"$SDR_PEER_DIR/moto.log" 2>&1 &
wait_for "moto on 127.0.0.1:$PORT" 60 port_open "$PORT"
say "started moto on 127.0.0.1:$PORT"
