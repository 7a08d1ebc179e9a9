# Shared helpers for peer scripts: each script is idempotent, installs what is missing, starts the
# peer on 127.0.0.1 if nothing answers, and exits non-zero with one line naming what is wrong.
# Two places: $SDR_PEER_DIR holds what a running peer writes (data, logs, pid files, generated certificates);
# $SDR_PEER_CACHE holds what was installed (jars, virtual environments) and survives between runs.
set -euo pipefail
SDR_PEER_DIR="${SDR_PEER_DIR:-/tmp/sdr-peers}"
SDR_PEER_CACHE="${SDR_PEER_CACHE:-/opt/sdr-peers}"
mkdir -p "$SDR_PEER_DIR" "$SDR_PEER_CACHE"
# Peers outlive the test run, whose TMPDIR (vitest.config.ts) goes when it ends: theirs is here.
export TMPDIR="$SDR_PEER_DIR/tmp"
mkdir -p "$TMPDIR" && chmod 1777 "$TMPDIR"
SDR_PEER_NAME="$(basename "$0" .sh)"
# When this script started (kept across peer_lock's re-run, so waiting for the lock counts).
if [ "${SDR_PEER_T0_FOR:-}" != "$SDR_PEER_NAME" ]; then
  SDR_PEER_T0=$(date +%s.%N) SDR_PEER_T0_FOR="$SDR_PEER_NAME"
  export SDR_PEER_T0 SDR_PEER_T0_FOR
fi

# installed: everything this peer needs is on the machine now; the seconds it took go to ctl.sh's timings.
installed() {
  mkdir -p "$SDR_PEER_DIR/timings"
  awk -v a="$SDR_PEER_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$SDR_PEER_DIR/timings/$SDR_PEER_NAME.install"
}

say() { echo "peers: $*" >&2; }
die() { echo "peers: $*" >&2; exit 1; }

apt_install() {
  if [ "$(id -u)" != "0" ]; then die "$1 is missing; install it with: sudo apt-get install -y $*"; fi
  say "installing $* from Debian packages"
  # Debian's slim images (debian:bookworm-slim, a minbase debootstrap trimmed like it) drop /usr/share/man,
  # and openjdk's postinst fails linking java.1 there (Debian #863199), leaving dpkg broken for every later
  # install: the directory is all it needs.
  mkdir -p /usr/share/man/man1
  # Peers start in parallel and dpkg takes one installer at a time: queue behind our own lock, and
  # behind apt's (another installer on the machine) for up to ten minutes.
  (
    flock 9
    if [ ! -f "$SDR_PEER_DIR/.apt-updated" ]; then
      apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null && touch "$SDR_PEER_DIR/.apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >>"$SDR_PEER_DIR/apt.log" 2>&1
  ) 9>"$SDR_PEER_DIR/.apt.lock" || die "apt-get install $* failed; see $SDR_PEER_DIR/apt.log"
}

# peer_lock NAME: one start of a peer at a time (schema-registry.sh also makes sure of the Kafka peer).
# Re-runs the calling script under flock -o, so the daemons it starts do not inherit (and keep) the lock.
peer_lock() {
  if [ "${SDR_PEER_LOCKED:-}" = "$1" ]; then return 0; fi
  mkdir -p "$SDR_PEER_DIR/locks"
  SDR_PEER_LOCKED="$1" exec flock -o "$SDR_PEER_DIR/locks/$1" bash "$0"
}

# python_venv DIR REQUIREMENT...: a virtual environment of its own for a Python peer, made with the
# machine's python3 (PEP 668 forbids installing into Debian's), its packages from PyPI. Reused while
# the requirements are unchanged.
python_venv() {
  local dir="$1"; shift
  local want="$*"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.sdr-requirements" 2>/dev/null)" = "$want" ]; then return 0; fi
  local py="${SDR_PYTHON:-python3}"
  command -v "$py" >/dev/null || apt_install python3 python3-venv
  # Debian splits venv's pip bootstrap (ensurepip) into python3-venv.
  "$py" -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  say "installing $want from PyPI into $dir"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  "$py" -m venv "$dir" >"$dir.log" 2>&1 || die "python3 -m venv $dir failed; see $dir.log"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >>"$dir.log" 2>&1 \
    || { rm -rf "$dir"; die "pip install $want failed; see $dir.log"; }
  echo "$want" >"$dir/.sdr-requirements"
}

# go_toolchain VERSION: a Go of at least VERSION (the `go` line of the module to build) first on PATH.
# Debian's golang is older than most modules ask for, so where the machine's is missing or too old the
# toolchain comes from the Go module proxy as the module golang.org/toolchain (what `go` itself fetches for
# GOTOOLCHAIN), cached in $SDR_PEER_CACHE. The proxy is $GOPROXY's first URL, else proxy.golang.org.
go_toolchain() {
  local want="$1" have version dir arch proxy tmp
  have=$(go env GOVERSION 2>/dev/null || true)
  have="${have#go}"
  if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" = "$want" ]; then return 0; fi
  version="${SDR_GO_VERSION:-1.26.11}"
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  dir="$SDR_PEER_CACHE/go-$version"
  local lock=""
  if [ ! -x "$dir/bin/go" ]; then
    # Two peers that need Go (fake-gcs, k8s-tools) may start at once: one fetches, the other waits for it.
    mkdir -p "$SDR_PEER_CACHE"
    exec {lock}>"$dir.lock"
    flock "$lock"
  fi
  if [ ! -x "$dir/bin/go" ]; then
    command -v curl >/dev/null || apt_install curl
    command -v unzip >/dev/null || apt_install unzip
    proxy="${GOPROXY:-}"
    proxy="${proxy%%[,|]*}"
    case "$proxy" in http*) ;; *) proxy=https://proxy.golang.org ;; esac
    say "fetching Go $version from the Go module proxy (golang.org/toolchain, $proxy)"
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    curl -fsSL --retry 3 --retry-all-errors -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$version.linux-$arch.zip" \
      || { rm -rf "$tmp"; die "fetching Go $version (golang.org/toolchain) from $proxy failed: curl could not download it (GOPROXY, HTTPS_PROXY and the CA bundle decide where it comes from)"; }
    unzip -q "$tmp/go.zip" -d "$tmp" \
      || { rm -rf "$tmp"; die "unpacking Go $version from $proxy failed (is the disk full under $SDR_PEER_CACHE?)"; }
    rm -rf "$dir" && mv "$tmp/golang.org/toolchain@v0.0.1-go$version.linux-$arch" "$dir" && rm -rf "$tmp"
    # Module zips keep no file modes; go's own toolchain switch marks these executable the same way.
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
  fi
  # Released here: the peer that fetched may run on (and keep this shell's descriptors) for hours.
  [ -z "$lock" ] || exec {lock}>&-
  export PATH="$dir/bin:$PATH" GOTOOLCHAIN=local
}

# wait_for "description" seconds command...: the seconds are stretched by the tests' time scale
# (SDR_TEST_TIME_SCALE, which vitest.config.ts exports), so a busy machine gets longer.
wait_for() {
  local what="$1" seconds
  seconds=$(awk -v s="$2" -v k="${SDR_TEST_TIME_SCALE:-1}" 'BEGIN { printf "%d", s * (k > 1 ? k : 1) }')
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${seconds}s"
    sleep 0.3
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
# alive PIDFILE FRAGMENT: the process a previous start left is still running (starting up, perhaps
# slowly), so starting a second one would only fight it for its ports and data directory.
alive() { pid_of "$1" "$2" >/dev/null; }

# http_ok PORT PATH: a plain-HTTP GET on 127.0.0.1 answers 200 (bash only: curl is not on a minimal Debian).
http_ok() {
  local status
  status=$(exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 && head -c 12 <&3) 2>/dev/null || return 1
  [ "${status#HTTP/1.? }" = "200" ] || [ "${status:9:3}" = "200" ]
}

# start_postgres PORT DATA_DIR LOG_NAME [extra -c settings...]: initdb (superuser postgres, password
# postgres) if DATA_DIR is new, then pg_ctl start on 127.0.0.1:PORT. Runs as the postgres user when root.
# A PG_HBA variable, when set, replaces the cluster's pg_hba.conf before start.
# postgres_bin: the newest installed PostgreSQL's bin directory, installing Debian's postgresql (and with it
# the postgres user) first if there is none.
postgres_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    apt_install postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$bin"
}

start_postgres() {
  local port="$1" data="$2" name="$3"; shift 3
  local bin
  bin=$(postgres_bin)
  installed
  pg_run() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if [ "$(id -u)" = "0" ]; then chown postgres "$SDR_PEER_DIR" 2>/dev/null || true; chmod 755 "$SDR_PEER_DIR"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    pg_run mkdir -p "$data"
    echo postgres > "$SDR_PEER_DIR/pg-pwfile"; chmod 644 "$SDR_PEER_DIR/pg-pwfile"
    pg_run "$bin/initdb" -D "$data" -U postgres --pwfile="$SDR_PEER_DIR/pg-pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$SDR_PEER_DIR/$name-initdb.log" 2>&1 \
      || die "initdb failed; see $SDR_PEER_DIR/$name-initdb.log"
  fi
  if [ -n "${PG_HBA:-}" ]; then printf '%s\n' "$PG_HBA" | pg_run tee "$data/pg_hba.conf" >/dev/null; fi
  local settings="-p $port -k $SDR_PEER_DIR -c listen_addresses=127.0.0.1 -c fsync=off"
  for setting in "$@"; do settings="$settings -c $setting"; done
  pg_run "$bin/pg_ctl" -D "$data" -l "$SDR_PEER_DIR/$name.log" -w -t 60 -o "$settings" start >/dev/null \
    || die "$name did not start; see $SDR_PEER_DIR/$name.log"
}
