# The sdr runtime image: Node.js 22, the bundled runtime and its external packages only, non-root,
# read-only friendly.
# It needs BuildKit (Docker 23+ uses it by default; with Debian's docker.io 20.10 set DOCKER_BUILDKIT=1):
#
#   DOCKER_BUILDKIT=1 docker build -t sdr-runtime:local .
#
# Behind a TLS-inspecting proxy, `npm ci` needs the proxy's CA. Pass it as a build secret: it is
# mounted for that one step and is in no layer of any stage (off unless given):
#
#   DOCKER_BUILDKIT=1 docker build --secret id=ca,src=/path/to/proxy-ca.pem -t sdr-runtime:local .
#
# Base images are build arguments so a registry mirror or a locally made image can stand in for the
# official ones (tests/peers/images.sh makes them offline). No `# syntax=` line: the builder's own
# Dockerfile frontend is used, so no frontend image is pulled from Docker Hub.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.npm,sharing=locked \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
 && npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.ts ./scripts/
COPY protocol ./protocol
COPY common ./common
COPY runtime ./runtime
COPY adapters ./adapters
COPY secrets ./secrets
COPY storage ./storage
COPY cloud ./cloud
# The runtime and the reference cloud bundled and minified by esbuild into out/dist, and into
# out/node_modules only the packages the bundle leaves external (SDKs and drivers loaded when a connection,
# a secret store or a delivery target needs them; optional native addons), without type declarations,
# source maps or READMEs. Idle, the bundled runtime holds ~20 MB less than the tsc output of 840 files
# (bench/README.md). Types are checked by `npm run typecheck` in CI, not here.
RUN npx tsx scripts/bundle.ts /app/out

# The runtime's root filesystem: the node binary, exactly the shared libraries it links (found with
# ldd, so any architecture works), and the files libc reads. No shell, no package manager: nothing in
# the image can install or run anything but node, and the image is about 60 MB smaller.
FROM ${BASE_IMAGE} AS rootfs
COPY --from=build /usr/local/bin/node /rootfs/usr/local/bin/node
RUN set -e; \
    for lib in $(ldd /rootfs/usr/local/bin/node | grep -o '/[^ ]*'); do cp --parents -L "$lib" /rootfs; done; \
    mkdir -p /rootfs/etc /rootfs/tmp /rootfs/app && chmod 1777 /rootfs/tmp; \
    cp /etc/nsswitch.conf /etc/host.conf /rootfs/etc/; \
    echo 'root:x:0:0:root:/root:/usr/sbin/nologin' >/rootfs/etc/passwd; \
    echo 'node:x:1000:1000:node:/tmp:/usr/sbin/nologin' >>/rootfs/etc/passwd; \
    printf 'root:x:0:\nnode:x:1000:\n' >/rootfs/etc/group; \
    chroot /rootfs /usr/local/bin/node --version

FROM scratch AS runtime
COPY --from=rootfs /rootfs/ /
# The heap cap compose.yaml also sets (docs/operations.md, "Memory"): without it V8 lets short-lived
# objects pile up to ~100 MB before a major collection. NODE_OPTIONS, not a node argument: job
# isolation's worker threads refuse V8 flags in their execArgv.
ENV PATH=/usr/local/bin \
    NODE_ENV=production \
    NODE_OPTIONS=--max-old-space-size=128 \
    SDR_CONNECTIONS_FILE=/etc/sdr/connections.yaml \
    SDR_HEALTH_HOST=0.0.0.0 \
    SDR_HEALTH_PORT=9464
WORKDIR /app
COPY --from=build --chown=root:root /app/out/node_modules ./node_modules
COPY --from=build --chown=root:root /app/out/dist ./dist
COPY --chown=root:root package.json ./
# The code is root-owned and read-only to the node user (uid 1000); nothing is written to the image.
USER 1000:1000
# The health port is for probes on the container network, never published to the internet.
EXPOSE 9464
# Ready = the tunnel is up and Redis answers, so an orchestrator sees a runtime that cannot work.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SDR_HEALTH_PORT||9464)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The sdr CLI: `start` (the daemon) by default; `docker compose run --rm runtime check` runs the preflight.
# --max-semi-space-size=2 (MiB): V8's young generation otherwise grows to 2 x 16 MiB under a job's record
# stream and stays there; capped, a 10k-table PostgreSQL job peaked at ~160 MB instead of ~220 MB, at the
# same speed (bench/README.md). It is set here, not in NODE_OPTIONS, because compose.yaml and the Helm chart
# replace NODE_OPTIONS (the chart derives the heap cap from the memory limit) but all run this entrypoint.
# V8 flags are process-wide: every job's worker thread gets the same young generation.
ENTRYPOINT ["node", "--max-semi-space-size=2", "dist/runtime/cli.js"]
CMD ["start"]
