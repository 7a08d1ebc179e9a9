#!/usr/bin/env bash
# The chart's check, with no cluster and no network beyond the package registries:
#   1. helm lint, and `helm template` of the chart with each values file in deploy/helm/sdr/ci/
#      (minimal = defaults + the three required values; full = every optional feature on; …);
#   2. kubeconform validates every rendered manifest, strictly, against Kubernetes' JSON schemas and
#      KEDA's CRD schemas from local files (tests/peers/k8s-tools.sh installs both from registries);
#   3. the rules the schemas cannot know: pure defaults refuse to render naming cloud.url, the grace
#      period covers the drain, the heap cap follows the memory limit.
# Usage: bash deploy/helm/check.sh   (exit 0 = all good; the failing manifest or rule otherwise)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CHART="$HERE/sdr"
KUBE_VERSION="${SDR_KUBE_VERSION:-1.34.0}"
TOOLS="$(bash "$REPO/tests/peers/k8s-tools.sh" | tail -1)"
HELM="$TOOLS/bin/helm"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
# Helm keeps no state for `template`; its cache and config go to the temporary directory.
export HELM_CACHE_HOME="$OUT/.helm-cache" HELM_CONFIG_HOME="$OUT/.helm-config" HELM_DATA_HOME="$OUT/.helm-data"

fail() { echo "helm check: $*" >&2; exit 1; }

"$HELM" lint "$CHART" --strict -f "$CHART/ci/minimal-values.yaml" >"$OUT/lint.log" 2>&1 \
  || { cat "$OUT/lint.log" >&2; fail "helm lint failed"; }

for values in "$CHART"/ci/*-values.yaml; do
  name="$(basename "$values" -values.yaml)"
  "$HELM" template sdr "$CHART" --namespace sdr --kube-version "$KUBE_VERSION" -f "$values" \
    >"$OUT/$name.yaml" 2>"$OUT/$name.err" || { cat "$OUT/$name.err" >&2; fail "helm template with ci/$name-values.yaml failed"; }
done

"$TOOLS/bin/kubeconform" -strict -summary -output text -kubernetes-version "$KUBE_VERSION" \
  -schema-location "$TOOLS/schemas/kubernetes/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  -schema-location "$TOOLS/schemas/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
  "$OUT"/*.yaml || fail "a rendered manifest does not match its schema (above)"

# Kinds each rendering must contain: a schema check passes on a manifest that is simply missing.
expect_kinds() { # file kind...
  local file="$1" kind; shift
  for kind in "$@"; do grep -q "^kind: $kind\$" "$OUT/$file.yaml" || fail "ci/$file-values.yaml renders no $kind"; done
}
expect_kinds minimal Deployment PodDisruptionBudget NetworkPolicy ServiceAccount ConfigMap StatefulSet Service
expect_kinds full Deployment PodDisruptionBudget NetworkPolicy ServiceAccount Secret Service ScaledObject

# Values the schemas accept but the runtime would not work with.
(cd "$REPO" && node_modules/.bin/tsx scripts/helm-chart-rules.ts "$OUT") || fail "a rendered manifest breaks a rule of the chart (above)"

if "$HELM" template sdr "$CHART" --kube-version "$KUBE_VERSION" >"$OUT/defaults.yaml" 2>"$OUT/defaults.err"; then
  fail "pure defaults rendered; they must refuse and name cloud.url"
fi
grep -q "cloud.url is required" "$OUT/defaults.err" || { cat "$OUT/defaults.err" >&2; fail "pure defaults failed for another reason than cloud.url"; }
echo "helm check: $(ls "$CHART"/ci/*-values.yaml | wc -l) renderings valid against Kubernetes $KUBE_VERSION and KEDA schemas"
