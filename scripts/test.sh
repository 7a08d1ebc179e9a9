#!/usr/bin/env bash
# npm test: lint and typecheck run beside the test suite, not before it (they need no peer, and took
# 15 s of a warm run and ~110 s of a fresh clone's before the first test); their output follows the
# suite's, and a failure of either fails npm test. Arguments go to vitest.
set -uo pipefail
cd "$(dirname "$0")/.."
# On an older node the product's own code fails in a dozen tests (no zstd in node:zlib, no TypeScript in
# workers): one line instead.
if ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number); process.exit(major > 22 || (major === 22 && minor >= 12) ? 0 : 1)'; then
  echo "npm test: sdr needs Node.js >= 22.12 and this is $(node --version); run '. scripts/use-node-22.sh' first (it fetches Node 22 from the npm registry)" >&2
  exit 1
fi
checks_log=$(mktemp)
trap 'rm -f "$checks_log"' EXIT
(npm run --silent lint && npm run --silent typecheck) >"$checks_log" 2>&1 &
checks=$!
tests_status=0
vitest run --project unit --project integration --project faults "$@" || tests_status=$?
checks_status=0
wait "$checks" || checks_status=$?
if [ "$checks_status" -ne 0 ]; then
  cat "$checks_log"
  echo "npm test: lint or typecheck failed (output above); npm run lint and npm run typecheck repeat them" >&2
else
  echo "npm test: lint (ESLint, Prettier) and typecheck passed"
fi
[ "$tests_status" -ne 0 ] && exit "$tests_status"
exit "$checks_status"
