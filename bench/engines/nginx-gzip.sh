#!/usr/bin/env bash
# nginx-gzip.sh: nginx-w1 of run-anchors.sh (a TLS proxy, one worker) with `gzip on` at nginx's default level
# (gzip_comp_level 1 unless LEVEL is set): the reference for portico's compression cost in bench/features.sh.
# A bench/ab.sh target: uses PORT, UP1, UP2, CERT, KEY and CONF (its directory holds nginx's files).
set -euo pipefail
T_PORT=$PORT; T_UP1=$UP1; T_UP2=$UP2; T_CERT=$CERT; T_KEY=$KEY; T_DIR="$(dirname "$CONF")"
HARNESS_LIB=1 SKIP_INSTALL=1 RESULTS="$T_DIR/harness" source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/run-anchors.sh"
PORT=$T_PORT; UP1=$T_UP1; UP2=$T_UP2; CERT=$T_CERT; KEY=$T_KEY; TDIR="$T_DIR/nginx"; mkdir -p "$TDIR"
NGINX_EXTRA="gzip on; gzip_types application/json text/plain; gzip_proxied any;${LEVEL:+ gzip_comp_level $LEVEL;}"
nginx_proxy_conf 1
exec "${CMD[@]}"
