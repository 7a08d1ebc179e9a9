#!/usr/bin/env bash
# fake-gcs-server (Google Cloud Storage JSON/XML API emulator, Go module github.com/fsouza/fake-gcs-server)
# over plain HTTP on 127.0.0.1:${SDR_TEST_GCS_PORT:-4443}. Built with `go install` through the Go module
# proxy into ${SDR_PEER_BIN:-$SDR_PEER_CACHE/bin} once per machine; data is in memory.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_GCS_PORT:-4443}"
VERSION="${SDR_TEST_GCS_VERSION:-v1.56.1}"
BIN_DIR="${SDR_PEER_BIN:-$SDR_PEER_CACHE/bin}"
BIN="$BIN_DIR/fake-gcs-server-$VERSION"
if port_open "$PORT"; then exit 0; fi
if [ ! -x "$BIN" ]; then
  # fake-gcs-server v1.56's go.mod asks for Go 1.26.
  go_toolchain "${SDR_TEST_GCS_GO:-1.26}"
  say "building fake-gcs-server $VERSION from the Go module proxy (once per machine)"
  mkdir -p "$BIN_DIR" "$SDR_PEER_DIR/gobin"
  GOBIN="$SDR_PEER_DIR/gobin" go install "github.com/fsouza/fake-gcs-server@$VERSION" >"$SDR_PEER_DIR/fake-gcs-build.log" 2>&1 \
    || die "go install github.com/fsouza/fake-gcs-server@$VERSION failed; see $SDR_PEER_DIR/fake-gcs-build.log"
  mv "$SDR_PEER_DIR/gobin/fake-gcs-server" "$BIN"
fi
nohup "$BIN" -scheme http -host 127.0.0.1 -port "$PORT" -backend memory \
  -external-url "http://127.0.0.1:$PORT" -public-host "127.0.0.1:$PORT" >"$SDR_PEER_DIR/fake-gcs.log" 2>&1 &
echo $! >"$SDR_PEER_DIR/fake-gcs.pid" # for ctl.sh stop
wait_for "fake-gcs-server on 127.0.0.1:$PORT" 60 port_open "$PORT"
say "started fake-gcs-server on 127.0.0.1:$PORT"
