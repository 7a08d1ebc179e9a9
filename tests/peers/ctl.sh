#!/usr/bin/env bash
# The test peers, by hand:
#   bash tests/peers/ctl.sh start [peer...]   install what is missing and start, in parallel (all when none named)
#   bash tests/peers/ctl.sh stop [peer...]    stop the peers the peer scripts started (by their pid files);
#                                             with none named, every peer a test may have started
#   bash tests/peers/ctl.sh status            which peers answer, their pids, and the disk the cache takes
# Peers: redis postgres postgres-tls moto vault kafka schema-registry, started for every run; and those
# single test files start for themselves: postgres-restart moto-iam redis-sentinel redis-cluster redis-lru
# azurite fake-gcs. `npm run peers -- stop` is the same.
# start prints each peer's install and start time and the total, and appends them to $SDR_PEER_DIR/timings.txt
# (.ci/run empties it first, so its log shows every start of the run, not only the last).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SDR_PEER_DIR="${SDR_PEER_DIR:-/tmp/sdr-peers}"
SDR_PEER_CACHE="${SDR_PEER_CACHE:-/opt/sdr-peers}"
export SDR_PEER_DIR SDR_PEER_CACHE
source "$HERE/pids.sh"
ALL=(redis postgres postgres-tls moto vault kafka schema-registry)
# Started by the test files that need them (global-setup.ts reads the peers from each file's name).
EXTRA=(postgres-restart moto-iam redis-sentinel redis-cluster redis-lru azurite fake-gcs)

ports() {
  case "$1" in
    redis) echo "${SDR_TEST_REDIS_PORT:-6379}" ;;
    postgres) echo "${SDR_TEST_PG_PORT:-5432}" ;;
    postgres-tls) echo "${SDR_TEST_PG_TLS_PORT:-5433}" ;;
    postgres-restart) echo "${SDR_TEST_PG_RESTART_PORT:-5434}" ;;
    moto) echo "${SDR_TEST_MOTO_PORT:-5000}" ;;
    moto-iam) echo "${SDR_TEST_MOTO_IAM_PORT:-5010}" ;;
    vault) echo "${SDR_TEST_VAULT_PORT:-8200}" ;;
    kafka) echo "${SDR_TEST_KAFKA_PORT:-19092} ${SDR_TEST_KAFKA_SSL_PORT:-19093} ${SDR_TEST_KAFKA_SASL_PORT:-19094}" ;;
    schema-registry) echo "${SDR_TEST_SCHEMA_REGISTRY_PORT:-18081}" ;;
    redis-sentinel)
      local data="${SDR_TEST_SENTINEL_REDIS_PORT:-6380}" sentinel="${SDR_TEST_SENTINEL_PORT:-26379}"
      echo "$data $((data + 1)) $sentinel $((sentinel + 1)) $((sentinel + 2))" ;;
    redis-cluster)
      local first="${SDR_TEST_REDIS_CLUSTER_PORT:-7000}"
      echo "$first $((first + 1)) $((first + 2))" ;;
    redis-lru) echo "${SDR_TEST_REDIS_LRU_PORT:-6390}" ;;
    azurite) echo "${SDR_TEST_AZURITE_PORT:-10000}" ;;
    fake-gcs) echo "${SDR_TEST_GCS_PORT:-4443}" ;;
    *) # Another peer script (no port known here): always run; it is idempotent.
      [ -f "$HERE/$1.sh" ] || { echo "peers: unknown peer '$1' (known: ${ALL[*]} ${EXTRA[*]})" >&2; exit 2; } ;;
  esac
}

# pidfile:command-line-fragment pairs: a pid is signalled only while its command line still matches.
pidfiles() {
  local p port
  p=$(ports "$1")
  case "$1" in
    redis) echo "$SDR_PEER_DIR/redis.pid:redis-server" ;;
    moto | moto-iam) echo "$SDR_PEER_DIR/moto-$p.pid:moto.server" ;;
    vault) echo "$SDR_PEER_DIR/vault-$p.pid:server" ;;
    kafka) echo "$SDR_PEER_DIR/kafka/kafka.pid:kafka.Kafka" ;;
    schema-registry)
      echo "$SDR_PEER_DIR/schema-registry-gateway.pid:schema-registry-gateway"
      echo "$SDR_PEER_DIR/schema-registry.pid:runner.jar" ;;
    redis-sentinel)
      for port in $(echo "$p" | cut -d' ' -f1-2); do echo "$SDR_PEER_DIR/redis-sentinel/redis-$port.pid:redis-server"; done
      for port in $(echo "$p" | cut -d' ' -f3-5); do echo "$SDR_PEER_DIR/redis-sentinel/sentinel-$port.pid:sentinel"; done ;;
    redis-cluster)
      for port in $p; do echo "$SDR_PEER_DIR/redis-cluster/redis-$port.pid:redis-server"; done ;;
    redis-lru) echo "$SDR_PEER_DIR/redis-lru.pid:redis-server" ;;
    azurite) echo "$SDR_PEER_DIR/azurite.pid:azurite" ;;
    fake-gcs) echo "$SDR_PEER_DIR/fake-gcs.pid:fake-gcs-server" ;;
  esac
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
  local port list
  list=$(ports "$1")
  [ -n "$list" ] || return 1
  for port in $list; do port_open "$port" || return 1; done
}


postgres_data() {
  case "$1" in
    postgres) echo "$SDR_PEER_DIR/pg-$(ports postgres)" ;;
    postgres-tls) echo "$SDR_PEER_DIR/pg-tls-$(ports postgres-tls)" ;;
    postgres-restart) echo "$SDR_PEER_DIR/pg-restart-$(ports postgres-restart)" ;;
  esac
}

pg_ctl_run() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] || return 1
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$bin/pg_ctl" "$@"; else "$bin/pg_ctl" "$@"; fi
}

cmd_status() {
  local peer pids entry pid state
  printf '%-16s %-8s %-22s %s\n' peer state ports pids
  for peer in "${ALL[@]}" "${EXTRA[@]}"; do
    if up "$peer"; then state=up; else state=down; fi
    pids=""
    case "$peer" in
      postgres | postgres-tls | postgres-restart)
        pid=$(head -1 "$(postgres_data "$peer")/postmaster.pid" 2>/dev/null || true)
        [ -n "$pid" ] && [ -d "/proc/$pid" ] && pids="$pid" ;;
      *)
        for entry in $(pidfiles "$peer"); do
          pid=$(pid_of "${entry%%:*}" "${entry#*:}") && pids="$pids $pid"
        done ;;
    esac
    if [ "$state" = up ] && [ -z "$pids" ]; then pids="(not started by these scripts in $SDR_PEER_DIR)"; fi
    printf '%-16s %-8s %-22s %s\n' "$peer" "$state" "$(ports "$peer")" "${pids# }"
  done
  echo "run data: $SDR_PEER_DIR ($(du -sh "$SDR_PEER_DIR" 2>/dev/null | cut -f1)); installed: $SDR_PEER_CACHE ($(du -sh "$SDR_PEER_CACHE" 2>/dev/null | cut -f1))"
}

stop_pid() { # pid name
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 60); do [ -d "/proc/$pid" ] || return 0; sleep 0.25; done
  echo "peers: $2 (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL" >&2
  kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
  local peer entry pid status=0 stopped
  for peer in "$@"; do
    stopped=""
    case "$peer" in
      postgres | postgres-tls | postgres-restart)
        if [ -f "$(postgres_data "$peer")/postmaster.pid" ]; then
          pg_ctl_run -D "$(postgres_data "$peer")" -m fast -w stop >/dev/null 2>&1 && stopped=yes
        fi ;;
      *)
        for entry in $(pidfiles "$peer"); do
          if pid=$(pid_of "${entry%%:*}" "${entry#*:}"); then stop_pid "$pid" "$peer"; stopped=yes; fi
          rm -f "${entry%%:*}"
        done ;;
    esac
    if [ -n "$stopped" ]; then echo "peers: stopped $peer"
    elif up "$peer"; then echo "peers: $peer answers on $(ports "$peer") but was not started from $SDR_PEER_DIR; left alone" >&2; status=1
    else echo "peers: $peer was not running"; fi
  done
  return "$status"
}

cmd_start() {
  local peer started=$SECONDS failed=() pids=() names=() i rc t0 t1 install
  mkdir -p "$SDR_PEER_DIR/timings"
  for peer in "$@"; do ports "$peer" >/dev/null || exit 2; done
  for peer in "$@"; do
    rm -f "$SDR_PEER_DIR/timings/$peer".*
    (
      t0=$(date +%s.%N)
      if up "$peer"; then echo already >"$SDR_PEER_DIR/timings/$peer.state"; else echo started >"$SDR_PEER_DIR/timings/$peer.state"; fi
      bash "$HERE/$peer.sh"
      rc=$?
      t1=$(date +%s.%N)
      echo "$t0 $t1" >"$SDR_PEER_DIR/timings/$peer.span"
      exit "$rc"
    ) &
    pids+=("$!")
    names+=("$peer")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
  done
  {
    for peer in "$@"; do
      read -r t0 t1 <"$SDR_PEER_DIR/timings/$peer.span" 2>/dev/null || { t0=0; t1=0; }
      install=$(cat "$SDR_PEER_DIR/timings/$peer.install" 2>/dev/null || echo 0)
      if [ "$(cat "$SDR_PEER_DIR/timings/$peer.state" 2>/dev/null)" = already ]; then
        awk -v p="$peer" -v a="$t0" -v b="$t1" 'BEGIN { printf "peers: %-16s already running                      total %6.1f s\n", p, b - a }'
      else
        awk -v p="$peer" -v a="$t0" -v b="$t1" -v i="$install" \
          'BEGIN { printf "peers: %-16s install %6.1f s, start %6.1f s   total %6.1f s\n", p, i, b - a - i, b - a }'
      fi
    done
    printf 'peers: all %d in parallel: %d s%s\n' "$#" "$((SECONDS - started))" \
      "$([ ${#failed[@]} -eq 0 ] || echo "; FAILED: ${failed[*]}")"
  } | tee -a "$SDR_PEER_DIR/timings.txt" >&2
  [ ${#failed[@]} -eq 0 ]
}

command="${1:-status}"
shift || true
if [ $# -eq 0 ]; then set -- "${ALL[@]}"; fi
case "$command" in
  start) cmd_start "$@" ;;
  stop) if [ "$*" = "${ALL[*]}" ]; then cmd_stop "${ALL[@]}" "${EXTRA[@]}"; else cmd_stop "$@"; fi ;;
  status) cmd_status ;;
  *) echo "usage: bash tests/peers/ctl.sh start|stop|status [peer...]" >&2; exit 2 ;;
esac
