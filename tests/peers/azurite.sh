#!/usr/bin/env bash
# Azurite (Azure Storage emulator, npm `azurite`), Blob service only, on 127.0.0.1:${SDR_TEST_AZURITE_PORT:-10000}
# with its well-known development account (devstoreaccount1). Installed from the npm registry into
# ${SDR_PEER_BIN:-$SDR_PEER_CACHE/bin}/../azurite-$VERSION once per machine.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_AZURITE_PORT:-10000}"
VERSION="${SDR_TEST_AZURITE_VERSION:-3.37.0}"
BIN_DIR="${SDR_PEER_BIN:-$SDR_PEER_CACHE/bin}"
PREFIX="$BIN_DIR/../azurite-$VERSION"
if port_open "$PORT"; then exit 0; fi
if [ ! -x "$PREFIX/node_modules/.bin/azurite-blob" ]; then
  command -v npm >/dev/null || die "azurite is missing and npm is not installed to fetch it"
  say "installing azurite $VERSION from the npm registry"
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" --no-audit --no-fund --omit=dev "azurite@$VERSION" >"$SDR_PEER_DIR/azurite-npm.log" 2>&1 \
    || die "npm install azurite@$VERSION failed; see $SDR_PEER_DIR/azurite-npm.log"
fi
mkdir -p "$SDR_PEER_DIR/azurite"
nohup "$PREFIX/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$PORT" \
  --location "$SDR_PEER_DIR/azurite" --skipApiVersionCheck --loose --silent >"$SDR_PEER_DIR/azurite.log" 2>&1 &
echo $! >"$SDR_PEER_DIR/azurite.pid" # for ctl.sh stop
wait_for "azurite on 127.0.0.1:$PORT" 60 port_open "$PORT"
say "started azurite on 127.0.0.1:$PORT"
