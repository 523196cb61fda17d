# portico container image: multi-stage build on Node 26 (LTS), non-root, tini as PID 1.
#
#   docker build -t portico .
#   docker run -p 443:8443 -p 80:8080 -v portico-certs:/app/certs \
#     -v $PWD/config.toml:/app/config/config.toml:ro portico
#
# The listeners default to 8443/8080 so the non-root user can bind them: map 443 → 8443 and
# 80 → 8080 (as above), or set server.https = "0.0.0.0:443" and run with --cap-add NET_BIND_SERVICE.
# SIGHUP (docker kill -s HUP) reloads the config; SIGTERM (docker stop) drains and exits 0.

FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:26-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production PORTICO_CONFIG=/app/config/config.toml
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY examples ./examples
COPY certs/README.md ./certs/README.md
# /app/config/certs → /app/certs: a config mounted at /app/config/config.toml that keeps the defaults
# (tls.dir = "certs", storage.dir = "certs/managed", relative to the config file) lands on the volume,
# so a re-created container never loses its ACME account and certificates (and never re-orders them).
RUN mkdir -p /app/certs/managed && chown -R node:node /app/certs && chmod 700 /app/certs/managed \
 && ln -s ../certs /app/config/certs \
 && ln -s /app/dist/cli.js /usr/local/bin/portico && chmod +x /app/dist/cli.js
USER node
VOLUME ["/app/certs"]
EXPOSE 8443 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["portico", "health"]
STOPSIGNAL SIGTERM
# --max-semi-space-size=4: a small V8 young generation (src/node-flags.ts says why, with the numbers)
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=4", "/app/dist/cli.js"]
CMD ["run"]
