#!/usr/bin/env bash
# Shows that each loss-path test of issue 13 guards its fix: every *.patch here takes the fix out again
# (its header names the loss path, the test file and the test's name), and the test must then FAIL.
# Each patch is applied to a throwaway worktree of HEAD, so the checkout is never touched.
#   bash tests/faults/failed-before/run.sh              every patch (about 25 min: a mutant runs to its deadline)
#   bash tests/faults/failed-before/run.sh 1 4          only loss paths 1 and 4
# Not part of `npm test`: it runs each guarded test once more, against code known to be wrong.
# A patch that no longer applies is reported as such: rewrite it against the code as it is now.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
head="$(git -C "$repo" rev-parse --short HEAD)"
logs="$(mktemp -d -t sdr-failed-before-XXXX)"
export CI=true
# A mutant runs to its deadline: keep deadlines short, and read each log to see it failed for its reason.
export SDR_TEST_TIME_SCALE="${SDR_TEST_TIME_SCALE:-1.5}"

patches=()
if [ $# -eq 0 ]; then
  patches=("$here"/*.patch)
else
  for n in "$@"; do patches+=("$here/$n"-*.patch); done
fi

results=()
status=0
for patch in "${patches[@]}"; do
  [ -f "$patch" ] || { echo "no patch for loss path ${patch##*/}" >&2; status=1; continue; }
  id="$(basename "$patch" .patch)"
  file="$(sed -n 's/^# test: //p' "$patch")"
  name="$(sed -n 's/^# name: //p' "$patch")"
  project=integration
  [[ $file == tests/faults/* ]] && project=faults
  wt="$logs/$id"
  git -C "$repo" worktree add --quiet --detach "$wt" HEAD
  ln -s "$repo/node_modules" "$wt/node_modules"
  started=$SECONDS
  if ! git -C "$wt" apply "$patch" 2>"$logs/$id.apply.log"; then
    verdict="patch no longer applies (see $logs/$id.apply.log)"
    status=1
  elif (cd "$wt" && npx vitest run --project "$project" "$file" -t "$name") >"$logs/$id.log" 2>&1; then
    verdict="PASSED without its fix: the test does not guard it"
    status=1
  else
    verdict="failed without its fix, as it must"
  fi
  results+=("$(printf '%-18s %-66s %5d s  %s' "$id" "$file" $((SECONDS - started)) "$verdict")")
  echo "${results[-1]}"
  git -C "$repo" worktree remove --force "$wt"
done

echo
echo "failed-before at $head (logs in $logs):"
printf '%s\n' "${results[@]}"
exit $status
