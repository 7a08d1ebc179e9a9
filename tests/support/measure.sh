#!/usr/bin/env bash
# measure.sh LABEL COMMAND...: runs COMMAND and prints its wall time and the peak resident memory of
# everything it started, the peers it daemonized included (they stay in the memory cgroup it runs in;
# where no cgroup can be made, the peak of its largest single process from /usr/bin/time instead).
# Prints the machine's load average at start and end too: this is a shared machine.
set -uo pipefail
label="$1"; shift
group=""
if [ -w /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/sdr-measure-$$" 2>/dev/null; then
  group="/sys/fs/cgroup/memory/sdr-measure-$$"
elif [ -w /sys/fs/cgroup/cgroup.procs ] && mkdir "/sys/fs/cgroup/sdr-measure-$$" 2>/dev/null; then
  group="/sys/fs/cgroup/sdr-measure-$$"
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
peak_file=$(mktemp)
echo 0 >"$peak_file"
if [ -n "$group" ]; then
  (
    # Anonymous memory only (page cache is the kernel's to drop): v1 "rss", v2 "anon".
    peak=0
    while [ -d "$group" ]; do
      now=$(awk '$1 == "total_rss" || $1 == "anon" { print $2; exit }' "$group/memory.stat" 2>/dev/null || echo 0)
      [ "${now:-0}" -gt "$peak" ] && peak=$now && echo "$peak" >"$peak_file"
      sleep 1
    done
  ) &
  sampler=$!
  status=0
  bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$group" "$@" || status=$?
else
  status=0
  /usr/bin/time -f '%M' -o "$peak_file.time" "$@" || status=$?
  echo $(( $(tail -1 "$peak_file.time") * 1024 )) >"$peak_file"
fi
end=$(date +%s.%N)
if [ -n "$group" ]; then
  sleep 2
  # The peers the command left running stay in the group; hand them back to the parent group first.
  while read -r pid; do echo "$pid" >"$(dirname "$group")/cgroup.procs" 2>/dev/null; done <"$group/cgroup.procs"
  rmdir "$group" 2>/dev/null
  wait "$sampler" 2>/dev/null
fi
awk -v l="$label" -v a="$start" -v b="$end" -v p="$(cat "$peak_file")" -v s="$status" -v l0="$load_start" -v l1="$(cut -d' ' -f1-3 /proc/loadavg)" \
  'BEGIN { printf "measure: %s: exit %d, wall %.0f s (%.1f min), peak RSS %.2f GB, load %s at start, %s at end\n", l, s, b - a, (b - a) / 60, p / 1073741824, l0, l1 }'
rm -f "$peak_file" "$peak_file.time"
exit "$status"
