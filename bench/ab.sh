#!/usr/bin/env bash
# ab.sh: interleaved A/B comparison of proxies, for deciding whether a change helps.
#
# All targets are started once (pinned to PROXY_CPUS), then the load alternates between them in short
# runs (A B B A A B ...), so every pair of runs compares the targets a few seconds apart: slow drifts of
# a shared machine cancel out, which they do not across the minutes of a run.sh round. Each target's CPU
# per request (per connection for close, per MiB for big) is measured per run; the ratio of each target
# to the first one is taken per cycle, and the median and [min-max] over cycles are printed; PAIRS="a/b c/d"
# prints those ratios too. CONTROL=1 adds an identical copy of the first target (NAME-again): two
# identical targets drift apart by up to 7 % in one run here (bench/results/ab-2026-12-06-ratelimit.md),
# so a change whose ratio is inside the control's is not a finding.
#
#   bash bench/ab.sh NAME='COMMAND' NAME='COMMAND' ...
#   CYCLES=10 DURATION=3 SCENARIO=ka bash bench/ab.sh floor='node bench/engines/undici-dispatch.js' \
#       portico='dist/cli.js run --config $CONF'   # through its shebang: node with portico's V8 flags
#
# Each COMMAND runs with PORT set (its own port), UP1/UP2 (the upstream), CERT/KEY (a test cert), and
# CONF: a portico config.toml written for that port (PORTICO_EXTRA is appended to its [server] table).
# Scenarios: ka (keep-alive GET /, 13 bytes), close (Connection: close: a TLS connection per request),
# big (GET /1m, 1 MiB), h2 (h2load), text (GET /text.json, 1 MiB of JSON, with `Accept-Encoding: $AE`, default
# gzip: per MiB of uncompressed text; the upstream must serve it: bench/features.sh starts one that does).
# Uses the upstream and certs of run-anchors.sh (started here); CERT_TYPE=rsa takes its RSA-2048 certificate
# (run-anchors.sh with CERT_TYPE=rsa makes it) instead of P-256. A non-2xx answer stops the run (error
# answers are cheap and would flatter the target that gives them); ALLOW_ERRORS=1 counts them anyway.
# Not a report: the figures are for the person running it; npm run bench writes the results.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CYCLES="${CYCLES:-8}"; DURATION="${DURATION:-3}"; WARMUP="${WARMUP:-2}"; SCENARIO="${SCENARIO:-ka}"
CONNS="${CONNS:-50}"; PROXY_CPUS="${PROXY_CPUS:-0}"; LOAD_CPUS="${LOAD_CPUS:-1}"
UP1_PORT="${UP1_PORT:-18081}"; UP2_PORT="${UP2_PORT:-18082}"; BASE_PORT="${BASE_PORT:-18540}"
BIND=127.0.0.1; WORK="${WORK:-$HERE/run}"; OUT="${OUT:-$WORK/ab}"
[ $# -ge 1 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
# the control: an identical copy of the first target (its ratio is the run's own noise)
if [ -n "${CONTROL:-}" ]; then set -- "$@" "${1%%=*}-again=${1#*=}"; fi
mkdir -p "$OUT"
CRT="$WORK/certs-${CERT_TYPE:-ec}"; CERT="$CRT/fullchain.pem"; KEY="$CRT/key.pem"
[ -s "$CERT" ] || { echo "no test certificate: run '${CERT_TYPE:+CERT_TYPE=$CERT_TYPE }bash bench/run-anchors.sh --quick' once (it makes $CRT)" >&2; exit 1; }

PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 0.5; for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
descendants() { local k; for k in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$k"; descendants "$k"; done; }
cpu_ticks() { local t=0 p v; for p in $1 $(descendants "$1"); do v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}' || true); t=$((t + ${v:-0})); done; echo $t; }
rss_kb() { local r=0 p v; for p in $1 $(descendants "$1"); do v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true); r=$((r + ${v:-0})); done; echo $r; }
CLK=$(getconf CLK_TCK)

# the upstream: run-anchors.sh's nginx, unless one already answers (then not ours: another run may stop
# it mid-way, so any non-2xx answer below ends the run rather than counting cheap error answers)
UPSTREAM_OWNER="another process (already answering when this run began)"
if ! curl -s --max-time 1 "http://$BIND:$UP1_PORT/" | grep -q Hello; then
  UPSTREAM_OWNER="this run"
  [ -s "$WORK/upstream/nginx.conf" ] || { echo "no upstream config: run 'bash bench/run-anchors.sh --quick' once" >&2; exit 1; }
  ( cd "$WORK/upstream" && exec taskset -c "$LOAD_CPUS" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" ) > "$OUT/upstream.log" 2>&1 &
  PIDS+=($!); sleep 0.5
fi

NAMES=(); TPIDS=(); TPORTS=()
i=0
for spec in "$@"; do
  name="${spec%%=*}"; cmd="${spec#*=}"; port=$((BASE_PORT + i)); d="$OUT/$name"; mkdir -p "$d/certs" && mkdir -p -m 700 "$d/state"
  cp "$CERT" "$d/certs/localhost.crt"; cp "$KEY" "$d/certs/localhost.key"; chmod 600 "$d/certs/localhost.key"
  cat > "$d/config.toml" <<EOF
[server]
https = "$BIND:$port"
http = ""
${PORTICO_EXTRA:-}
[server.timeouts]
idle = "65s"
upstream_idle = "60s"
[tls]
dir = "$d/certs"
[storage]
dir = "$d/state"
[admin]
listen = ""
[log]
level = "info"
access = true
[[routes]]
hosts = ["localhost", "127.0.0.1"]
upstreams = ["http://$BIND:$UP1_PORT", "http://$BIND:$UP2_PORT"]
EOF
  ( cd "$HERE/.." && PORT=$port BIND=$BIND UP1="$BIND:$UP1_PORT" UP2="$BIND:$UP2_PORT" CERT="$CERT" KEY="$KEY" CONF="$d/config.toml" \
      exec taskset -c "$PROXY_CPUS" bash -c "$cmd" ) > "$d/stdout.log" 2> "$d/stderr.log" &
  NAMES+=("$name"); TPIDS+=($!); TPORTS+=("$port"); PIDS+=($!); i=$((i + 1))
done
for k in "${!NAMES[@]}"; do
  ok=""; for _ in $(seq 100); do
    if curl -sk --max-time 2 "https://localhost:${TPORTS[$k]}/" | grep -q Hello; then ok=1; break; fi; sleep 0.2
  done
  [ -n "$ok" ] || { echo "${NAMES[$k]} does not answer on ${TPORTS[$k]}:" >&2; tail -5 "$OUT/${NAMES[$k]}/stderr.log" >&2; exit 1; }
  echo "${NAMES[$k]}: pid ${TPIDS[$k]}, port ${TPORTS[$k]}, RSS idle $(( $(rss_kb "${TPIDS[$k]}") / 1024 )) MiB"
done

# one run: sets UNITS (requests, connections or MiB) and TICKS (CPU ticks of the target tree) and PEAK (kB)
one_run() { # K SECONDS
  local k=$1 s=$2 port=${TPORTS[$1]} pid=${TPIDS[$1]} f="$OUT/${NAMES[$1]}/last.txt" t0 t1 peak=0 mon
  t0=$(cpu_ticks "$pid")
  ( while sleep 0.5; do rss_kb "$pid"; done ) > "$f.rss" & mon=$!
  case "$SCENARIO" in
    ka)    taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNS" -d"${s}s" "https://localhost:$port/" > "$f" 2>&1 || true ;;
    close) taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNS" -d"${s}s" -H 'Connection: close' "https://localhost:$port/" > "$f" 2>&1 || true ;;
    big)   taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNS" -d"${s}s" "https://localhost:$port/1m" > "$f" 2>&1 || true ;;
    h2)    taskset -c "$LOAD_CPUS" h2load -t1 -c10 -m5 -D "$s" --npn-list=h2 "https://localhost:$port/" > "$f" 2>&1 || true ;;
    text)  taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONNS" -d"${s}s" -H "Accept-Encoding: ${AE:-gzip}" "https://localhost:$port/text.json" > "$f" 2>&1 || true ;;
  esac
  t1=$(cpu_ticks "$pid"); kill "$mon" 2>/dev/null || true; wait "$mon" 2>/dev/null || true
  PEAK=$(sort -n "$f.rss" | tail -1); PEAK=${PEAK:-0}
  TICKS=$((t1 - t0))
  if [ "$SCENARIO" = h2 ]; then UNITS=$(awk '/^requests:/{print $8}' "$f")
  elif [ "$SCENARIO" = big ] || [ "$SCENARIO" = text ]; then UNITS=$(awk '/requests in/{print $1}' "$f")   # 1 request = 1 MiB
  else UNITS=$(awk '/requests in/{print $1}' "$f"); fi
  UNITS=${UNITS:-0}
  if grep -q 'Non-2xx\|Socket errors' "$f"; then echo "  (${NAMES[$k]}: $(grep 'Non-2xx\|Socket errors' "$f" | tr '\n' ' '))"; fi
  # an error answer costs less than a proxied one: a run with any would flatter its target (ALLOW_ERRORS=1
  # for a scenario that answers non-2xx on purpose)
  # (wrk prints "Non-2xx or 3xx responses: N"; h2load only "status codes: N 2xx, N 3xx, N 4xx, N 5xx")
  if { grep -q 'Non-2xx' "$f" || awk '/^status codes:/{ if ($5 + $7 + $9 > 0) found = 1 } END { exit !found }' "$f"; } && [ -z "${ALLOW_ERRORS:-}" ]; then
    echo "${NAMES[$k]} answered non-2xx: the figures would be wrong; stopping (the upstream on :$UP1_PORT/:$UP2_PORT is run by $UPSTREAM_OWNER; see $f)" >&2
    exit 1
  fi
}

for k in "${!NAMES[@]}"; do one_run "$k" "$WARMUP"; done   # warm-up
n=${#NAMES[@]}
: > "$OUT/cycles.tsv"
for c in $(seq "$CYCLES"); do
  order=(); for k in $(seq 0 $((n - 1))); do order+=("$k"); done
  if [ $((c % 2)) = 0 ]; then mapfile -t order < <(printf '%s\n' "${order[@]}" | tac); fi
  line="$c"
  declare -A COST=()
  for k in "${order[@]}"; do
    one_run "$k" "$DURATION"
    COST[$k]=$(awk -v t="$TICKS" -v u="$UNITS" -v h="$CLK" 'BEGIN{ printf "%.1f", (u > 0 ? t / h * 1e6 / u : 0) }')
    echo -e "$c\t${NAMES[$k]}\t${COST[$k]}\t$UNITS\t$PEAK" >> "$OUT/cycles.tsv"
  done
  for k in $(seq 0 $((n - 1))); do line="$line  ${NAMES[$k]}=${COST[$k]}"; done
  echo "cycle $line"
  unset COST
done
echo "--- $SCENARIO: CPU µs per $( [ "$SCENARIO" = close ] && echo connection || ([ "$SCENARIO" = big ] || [ "$SCENARIO" = text ] && echo MiB || echo request)), median [min-max] over $CYCLES cycles; ratio to ${NAMES[0]} per cycle"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split("\t"));
const names = [...new Set(rows.map((r) => r[1]))];
const med = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const by = (n) => rows.filter((r) => r[1] === n);
const base = new Map(by(names[0]).map((r) => [r[0], Number(r[2])]));
for (const n of names) {
  const cost = by(n).map((r) => Number(r[2]));
  const ratio = by(n).map((r) => Number(r[2]) / base.get(r[0]));
  const peak = Math.max(...by(n).map((r) => Number(r[4]))) / 1024;
  console.log(`${n.padEnd(16)} ${med(cost).toFixed(1).padStart(8)} [${Math.min(...cost).toFixed(1)}-${Math.max(...cost).toFixed(1)}]   x${names[0]} ${med(ratio).toFixed(3)} [${Math.min(...ratio).toFixed(2)}-${Math.max(...ratio).toFixed(2)}]   peak RSS ${peak.toFixed(0)} MiB`);
}
for (const pair of (process.env.PAIRS || "").split(/\s+/).filter(Boolean)) {
  const [a, b] = pair.split("/");
  const bm = new Map(by(b).map((r) => [r[0], Number(r[2])]));
  const ratio = by(a).map((r) => Number(r[2]) / bm.get(r[0]));
  console.log(`${a} / ${b}: ${med(ratio).toFixed(3)} [${Math.min(...ratio).toFixed(2)}-${Math.max(...ratio).toFixed(2)}]`);
}' "$OUT/cycles.tsv"
