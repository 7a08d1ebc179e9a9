#!/usr/bin/env bash
# npm test: lint, typecheck and the test suite; on failure of any, npm test fails. Arguments go to vitest.
# With their caches filled (node_modules/.cache), lint and typecheck run beside the suite and their output
# follows its own: they then take ~15 s and little memory. Without (a fresh clone) they run first: ~110 s
# and ~1 GiB, which beside a cold run's peer builds and test workers took its peak to 2.8 GiB.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/require-node-22.sh "npm test" || exit 1
run_tests() { vitest run --project unit --project integration --project faults "$@"; }
if [ ! -f node_modules/.cache/tsc/typecheck.tsbuildinfo ] || [ ! -d node_modules/.cache/eslint ]; then
  npm run --silent lint && npm run --silent typecheck && run_tests "$@"
  exit
fi
checks_log=$(mktemp)
trap 'rm -f "$checks_log"' EXIT
(npm run --silent lint && npm run --silent typecheck) >"$checks_log" 2>&1 &
checks=$!
tests_status=0
run_tests "$@" || tests_status=$?
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
