# portico container image: multi-stage build on Node 26 (LTS), non-root, tini as PID 1.
#
#   docker build -t portico .
#   docker volume create portico-certs
#   docker run -d --name portico -p 443:8443 -p 80:8080 -v portico-certs:/app/certs \
#     -v "$PWD/portico":/app/config:ro portico
#
# Mount a config DIRECTORY at /app/config (its config.toml is read; editors that replace the file and
# Kubernetes ConfigMap updates reach the container, which one bind-mounted file does not) and run with
# `run --watch` to reload on every change, or send SIGHUP (docker kill -s HUP). SIGTERM (docker stop)
# drains and exits 0. The listeners default to 8443/8080 so the non-root user can bind them; redirects
# name port 443 (PORTICO_PUBLIC_HTTPS_PORT below): map 443 → 8443 as above, or set
# -e PORTICO_PUBLIC_HTTPS_PORT=<the published https port>.
#
# Behind a proxy that intercepts TLS, hand its CA to `npm ci` for the build only (it never lands in a layer):
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t portico .

FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --no-audit --no-fund --no-update-notifier --loglevel=error
COPY tsconfig.json ./
COPY src ./src
RUN npm run build --no-update-notifier && npm prune --omit=dev --no-audit --no-fund --no-update-notifier --loglevel=error

FROM node:26-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# PORTICO_PUBLIC_HTTPS_PORT: the port redirects name when server.public_https_port is not set in the
# config (443: the port a client reaches through -p 443:8443, a compose ports entry or a Service).
ENV NODE_ENV=production PORTICO_CONFIG=/app/config/config.toml PORTICO_PUBLIC_HTTPS_PORT=443
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY examples/app.js examples/migrate.js ./examples/
COPY certs/README.md ./certs/README.md
# /app/config/certs → /app/certs: a config file mounted at /app/config/config.toml that keeps the defaults
# (tls.dir = "certs", storage.dir = "certs/managed", relative to the config file) lands on the volume, and
# so does a mounted config directory whose config.toml says "../certs" like the embedded one: a re-created
# container never loses its ACME account and certificates (and never re-orders them).
RUN mkdir -p /app/certs/managed && chown -R node:node /app/certs && chmod 700 /app/certs/managed \
 && ln -s ../certs /app/config/certs \
 && ln -s /app/dist/cli.js /usr/local/bin/portico && chmod +x /app/dist/cli.js
USER node
VOLUME ["/app/certs"]
EXPOSE 8443 8080
# `portico health` asks the admin listener (admin.listen; keep it, loopback is enough): with admin.listen = ""
# this check always fails, so such a deployment runs with --no-healthcheck.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["portico", "health"]
STOPSIGNAL SIGTERM
# --max-semi-space-size=4: a small V8 young generation (src/node-flags.ts says why, with the numbers)
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=4", "/app/dist/cli.js"]
CMD ["run"]
