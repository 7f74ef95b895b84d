# Multi-stage build: compile TypeScript with dev dependencies, run on a slim image with only what runs.
# Node 24 LTS: the version CI runs the suite on (package.json engines: >=22).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json index.ts cli.ts ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim
# The OpenSSL CLI mints gateway credentials (MINT_ENGINE=openssl, the default); slim images do not ship it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The admin listener on every interface of the container: reachable by Prometheus and the health check on the
# compose network, and by nothing else unless its port is published.
ENV NODE_ENV=production CERT_PATH=/app/certs DATA_DIR=/app/data PORT=8443 ADMIN_HOST=0.0.0.0 ADMIN_PORT=8081
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The operator CLI on PATH: `docker compose exec cups cups-server gateway list`.
# /app/certs and /app/data belong to node: a named volume mounted there starts out owned by node too.
RUN chmod 755 dist/cli.js && ln -s /app/dist/cli.js /usr/local/bin/cups-server \
 && mkdir -p /app/certs /app/data && chown node:node /app/certs /app/data
USER node
EXPOSE 8443 8081
# Ready, not merely alive: storage reachable, PKI usable. On the admin listener, never the gateways' TLS port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ADMIN_PORT||8081)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "dist/index.js"]
