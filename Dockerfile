# syntax=docker/dockerfile:1
# Multi-stage build: compile TypeScript with dev dependencies, ship only production ones, run as non-root.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY protocol ./protocol
COPY runtime ./runtime
COPY adapters ./adapters
COPY secrets ./secrets
COPY storage ./storage
COPY cloud ./cloud
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    SDR_CONNECTIONS_FILE=/etc/sdr/connections.yaml \
    SDR_HEALTH_HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# The image's node user (uid 1000); the code is root-owned and read-only to it.
USER node
# The health port is for the orchestrator's probes inside the pod/network, never published to the internet.
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:9464/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/runtime/main.js"]
