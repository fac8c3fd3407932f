# syntax=docker/dockerfile:1
# Kernel orchestrator image: compile TypeScript once, run plain `node dist/src/main.js` as non-root.
ARG NODE_VERSION=22

# deps: every dependency, with the toolchain better-sqlite3 needs when no prebuilt binary matches.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# build: tsc emits to dist/ with rootDir ".", so the entry point is dist/src/main.js.
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# prod-deps: runtime dependencies only, native modules compiled here (same base as runtime).
FROM deps AS prod-deps
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# HOST is explicit: without it the server listens on 127.0.0.1 in development mode, which a
# container's published port cannot reach
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The embedded SQLite event store lives here when EVENTSTORE_URL is unset.
# owner-only: the event log holds password hashes and client addresses
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
VOLUME ["/data"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT||3000}/health`).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
