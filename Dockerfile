# Multi-stage build: compile TypeScript with dev dependencies, run on a slim image with only what runs.
# Node 20: the version the test suite runs on (see package.json engines).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json index.ts cli.ts ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
# The OpenSSL CLI mints gateway credentials; slim images do not ship it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production CERT_PATH=/app/certs DATA_DIR=/app/data PORT=8443
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The operator CLI on PATH: `docker compose exec cups cups-server gateway list`.
RUN chmod 755 dist/cli.js && ln -s /app/dist/cli.js /usr/local/bin/cups-server \
 && mkdir -p /app/certs /app/data && chown node:node /app/certs /app/data
USER node
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "require('https').get({host:'127.0.0.1',port:process.env.PORT||8443,path:'/healthz',rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
CMD ["node", "dist/index.js"]
