#!/usr/bin/env bash
# A Docker engine for the container test: Debian's docker.io (dockerd started in the background when
# none answers) and Debian's docker-compose 1.29 where Compose v2 is missing, then the offline base
# images (images.sh). Where no engine can start, says so in one line and lets the test skip — except in
# CI, where that fails the run.
source "$(dirname "$0")/lib.sh"
no_engine() {
  [ "${CI:-}" != "true" ] || die "$1"
  say "$1; the container test will be skipped"
  exit 0
}
# clear_stale_pid PIDFILE NAME: removes a pid file whose process is not NAME.
clear_stale_pid() {
  [ -f "$1" ] || return 0
  alive "$1" "$2" && return 0
  say "removing $1: pid $(cat "$1") is not a running $2 (left by an earlier boot)"
  rm -f "$1"
}
if ! docker info >/dev/null 2>&1; then
  # dockerd mounts and makes cgroups: without CAP_SYS_ADMIN (an unprivileged container, such as the
  # fresh-machine test's) it cannot start, so say so before installing it.
  cap_eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
  [ $(((0x${cap_eff:-0} >> 21) & 1)) = 1 ] || no_engine "no Docker engine answers and none can start here (no CAP_SYS_ADMIN: an unprivileged container)"
  if ! command -v dockerd >/dev/null; then
    [ "$(id -u)" = "0" ] || no_engine "no Docker engine and not root to install one (apt-get install docker.io)"
    apt_install docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    # A machine restored from a snapshot keeps the pid files of an engine that is gone, and their pids
    # may now belong to anything: dockerd then waits on a "still running" containerd that never answers.
    clear_stale_pid /var/run/docker.pid dockerd
    clear_stale_pid /var/run/docker/containerd/containerd.pid containerd
    say "starting dockerd (log: $SDR_PEER_DIR/dockerd.log)"
    setsid nohup dockerd >"$SDR_PEER_DIR/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    deadline=$((SECONDS + 90))
    until docker info >/dev/null 2>&1; do
      why=$( (grep -v 'module=grpc' "$SDR_PEER_DIR/dockerd.log" || true) | tail -3 | tr '\n' ' ')
      [ -d "/proc/$dockerd_pid" ] || no_engine "dockerd exited while starting: $why(log: $SDR_PEER_DIR/dockerd.log)"
      [ "$SECONDS" -lt "$deadline" ] || no_engine "dockerd did not start within 90 s: $why(log: $SDR_PEER_DIR/dockerd.log)"
      sleep 0.5
    done
  fi
fi
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  apt_install docker-compose
fi
bash "$(dirname "$0")/images.sh"
