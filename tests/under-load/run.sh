#!/usr/bin/env bash
# The suite is honest only if it passes on a busy machine: runs the end-to-end file while one busy loop
# per core competes for the CPU, and fails if it fails. Bounded: the loops end with this script, and
# each ends on its own after SDR_UNDER_LOAD_MAX_S (default 1200 s) whatever happens.
# Usage: npm run test:under-load [-- other test files]
set -euo pipefail
cd "$(dirname "$0")/../.."
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/integration/end-to-end.redis.postgres.test.ts)
cores=$(nproc)
max="${SDR_UNDER_LOAD_MAX_S:-1200}"
loops=()
stop_loops() { for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_loops EXIT
for _ in $(seq 1 "$cores"); do
  timeout "$max" bash -c 'while :; do :; done' &
  loops+=("$!")
done
echo "under-load: $cores busy loops (pids ${loops[*]}) competing with: ${files[*]}"
started=$SECONDS
status=0
timeout "$max" npx vitest run --project integration "${files[@]}" || status=$?
echo "under-load: exit $status after $((SECONDS - started)) s with $cores busy loops; load now $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
