#!/usr/bin/env bash
# HashiCorp Vault in dev mode on 127.0.0.1:${SDR_TEST_VAULT_PORT:-8200}, root token ${SDR_TEST_VAULT_TOKEN:-sdr-root}.
# Built from source through the Go module proxy (no prebuilt binary can be fetched here) into
# ${SDR_PEER_BIN:-/opt/sdr-peers/bin}; `go install` refuses the module because its go.mod has replace
# directives, so it is downloaded with `go mod download` and built in a copy of the module directory.
# OpenBao was tried first: the proxy refuses every version of github.com/openbao/openbao.
# Cold build measured here: 1730 s wall on 2 busy cores (19 CPU-minutes), 3.7 GB of modules; the
# binary is cached in $BIN_DIR, so later runs start in about a second.
source "$(dirname "$0")/lib.sh"
PORT="${SDR_TEST_VAULT_PORT:-8200}"
TOKEN="${SDR_TEST_VAULT_TOKEN:-sdr-root}"
VERSION="${SDR_TEST_VAULT_VERSION:-v1.21.4}"
BIN_DIR="${SDR_PEER_BIN:-/opt/sdr-peers/bin}"
VAULT="$BIN_DIR/vault-$VERSION"
if port_open "$PORT"; then exit 0; fi
if [ ! -x "$VAULT" ]; then
  command -v go >/dev/null || die "vault is missing and Go is not installed to build it (needs Go >= 1.24)"
  mkdir -p "$BIN_DIR"
  say "building vault $VERSION from the Go module proxy (takes minutes; once per machine)"
  started=$SECONDS
  src="$SDR_PEER_DIR/vault-src-$VERSION"
  if [ ! -f "$src/go.mod" ]; then
    dir=$(go mod download -json "github.com/hashicorp/vault@$VERSION" 2>"$SDR_PEER_DIR/vault-build.log" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download github.com/hashicorp/vault@$VERSION failed; see $SDR_PEER_DIR/vault-build.log"
    # The module zip leaves out its nested api/ and sdk/ modules, so build against their released versions.
    rm -rf "$src" && cp -r "$dir" "$src" && chmod -R u+w "$src"
    for m in api api/auth/approle api/auth/kubernetes api/auth/userpass sdk; do
      (cd "$src" && go mod edit -dropreplace="github.com/hashicorp/vault/$m")
    done
    # The release branch's in-tree sdk predates the released sdk v0.21.0 by two signature changes;
    # adapt the three call sites (none is on a path the tests use).
    (cd "$src" \
      && sed -i 's/ActivationFunc: iStore.activateDeduplication,/ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error { return iStore.activateDeduplication(ctx, req) },/' vault/identity_store.go \
      && sed -i 's/b.idStoreBackend.ActivationFunc(ctx, nil)/b.idStoreBackend.ActivationFunc(ctx, nil, "")/' vault/logical_system_activation_flags.go \
      && sed -i 's/restoredKeyName, err := b.lm.RestorePolicy(/restoredKeyName, err := keyName, b.lm.RestorePolicy(/' builtin/logical/transit/path_restore.go) \
      || die "patching the vault source failed"
  fi
  (cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$VAULT.tmp" .) \
    >>"$SDR_PEER_DIR/vault-build.log" 2>&1 || die "building vault failed; see $SDR_PEER_DIR/vault-build.log"
  mv "$VAULT.tmp" "$VAULT"
  say "built vault $VERSION in $((SECONDS - started))s"
fi
nohup "$VAULT" server -dev -dev-listen-address="127.0.0.1:$PORT" -dev-root-token-id="$TOKEN" \
  -dev-no-store-token >"$SDR_PEER_DIR/vault-$PORT.log" 2>&1 &
echo $! >"$SDR_PEER_DIR/vault-$PORT.pid"
wait_for "vault on 127.0.0.1:$PORT" 60 curl -sf "http://127.0.0.1:$PORT/v1/sys/health"
say "started vault $VERSION on 127.0.0.1:$PORT (root token $TOKEN)"
