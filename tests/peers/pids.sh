# Sourced by ctl.sh and lib.sh; defines functions only.
# pid_of PIDFILE FRAGMENT: prints the pid in PIDFILE while that process runs and its command line contains
# FRAGMENT. A bare pid is not enough: a pid file restored from a snapshot (a CI machine) can name a reused pid.
pid_of() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" && echo "$pid"
}
