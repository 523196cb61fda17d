#!/usr/bin/env bash
# nginx-gzip.sh: nginx as a TLS proxy (one worker) with `gzip on` at its default level (gzip_comp_level 1
# unless LEVEL is set): the reference for portico's compression cost in bench/features.sh. Run as a
# bench/ab.sh target: uses PORT, CERT, KEY, UP1, UP2 and CONF (its directory holds the nginx files).
set -euo pipefail
D="$(dirname "$CONF")/nginx"; mkdir -p "$D/tmp"
cat > "$D/nginx.conf" <<EOF2
worker_processes 1;
user root;
daemon off;
pid $D/nginx.pid;
error_log $D/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $D/tmp; proxy_temp_path $D/tmp; fastcgi_temp_path $D/tmp; uwsgi_temp_path $D/tmp; scgi_temp_path $D/tmp;
  keepalive_requests 1000000;
  gzip on;
  gzip_types application/json text/plain;
  gzip_proxied any;
  ${LEVEL:+gzip_comp_level $LEVEL;}
  upstream up { server $UP1; server $UP2; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $CERT; ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF2
exec nginx -p "$D" -c "$D/nginx.conf"
