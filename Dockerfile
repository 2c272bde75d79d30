# One image for every role; ROLE (api | worker | projector | all) picks what the process starts.
# Production runs compiled JavaScript with plain `node` (no tsx, no TypeScript compiler at run time), as
# the child of tini, which is PID 1: tini forwards SIGTERM to node and reaps, and node shuts down
# gracefully within SHUTDOWN_TIMEOUT_MS (stop taking jobs, finish or hand back those in flight, exit).

# Build: the full install (TypeScript; the postinstall applies patches/), compiled to dist/, then the
# development dependencies pruned away.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# Without DATABASE_URL the service keeps an embedded PostgreSQL under DATA_DIR; it must be writable by `node`.
RUN mkdir -p /app/data && chown node:node /app/data
USER node

ENV PORT=8080 \
    ROLE=all \
    DATA_DIR=/app/data
EXPOSE 8080

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
