#!/usr/bin/env bash
# moto in server mode (AWS API emulator, PyPI moto[server]) on 127.0.0.1:${SDR_TEST_MOTO_PORT:-5000},
# from a virtual environment of its own under $SDR_PEER_CACHE (PEP 668: never the machine's Python).
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_MOTO_PORT:-5000}"
VENV="$SDR_PEER_CACHE/venv-moto"
if port_open "$PORT"; then exit 0; fi
peer_lock moto
if port_open "$PORT"; then exit 0; fi
python_venv "$VENV" 'moto[server]>=5,<6'
installed
setsid nohup "$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$PORT" </dev/null >"$SDR_PEER_DIR/moto-$PORT.log" 2>&1 &
echo $! >"$SDR_PEER_DIR/moto-$PORT.pid"
wait_for "moto on 127.0.0.1:$PORT (log: $SDR_PEER_DIR/moto-$PORT.log)" 60 port_open "$PORT"
say "started moto on 127.0.0.1:$PORT"
