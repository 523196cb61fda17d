#!/usr/bin/env bash
# bench/soak.sh (`npm run bench:soak`; also the last phase of `npm run bench`): a bounded soak of portico.
#
# portico (default config, access log on, admin on 127.0.0.1) on CPU0; on CPU1 the same upstream as the benchmark,
# and for SOAK_SECONDS at once:
#   wrk keep-alive GET / (SOAK_KA_CONNS), wrk keep-alive GET of a 1 MiB body (SOAK_BIG_CONNS), and
#   bench/soak-client.cjs: SOAK_ABORT_CONNS clients that disconnect at random points: mid-response, mid-request-body,
#   mid-headers, before reading, during and right after the TLS handshake, mixed with checked requests.
# Every SOAK_SAMPLE seconds: RSS/PSS of portico's process tree (/proc), and from its admin /metrics the V8 heap
# (used/total), external memory, open fds, active handles, requests served -> bench/results/raw/soak-<stamp>/soak.csv.
# Then lib/soak-report.cjs: the verdict ("no growth trend": RSS slope over the second half <= SOAK_MAX_SLOPE MiB/min
# and last-window median - first-window-after-warm-up median <= SOAK_MAX_GROWTH MiB), errors (requests that failed
# before their client aborted: must be 0), an SVG of RSS and heap over time, and bench/results/soak-<date>.md.
# With UPDATE_DOCS=1 (default for runs of 300 s or more) the plot goes to docs/performance-soak.svg and the
# verdict into the soak:begin/end block of docs/performance.md.
#
# Variables: SOAK_SECONDS [600]  SOAK_SAMPLE [5; 2 below 300 s]  SOAK_WARMUP [20 % of the run, 10..120 s]
#   SOAK_WINDOW [15 % of the run, 10..60 s]  SOAK_MAX_SLOPE [1.0 MiB/min]  SOAK_MAX_GROWTH [10 MiB]
#   SOAK_KA_CONNS [16]  SOAK_BIG_CONNS [4]  SOAK_ABORT_CONNS [16]  SOAK_NODE [system; or 26, or a path]
#   SOAK_PORT [BASE_PORT+40; admin on +1]  SEED [time]  PIN [split]  PROXY_CPUS [0]  LOAD_CPUS [1]
#   RESULTS [bench/results/raw/soak-<stamp>]  REPORT_DIR [bench/results]  UPDATE_DOCS  DOCS [docs/performance.md]
#   SKIP_INSTALL=1, PORTICO_CLI, UP1_PORT/UP2_PORT/UP_STATUS_PORT as in run-anchors.sh.
# Run time: SOAK_SECONDS + about 20 s. Example: SOAK_SECONDS=60 bash bench/soak.sh
set -euo pipefail
SOAK_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOAK_REPO="$(cd "$SOAK_HERE/.." && pwd)"
for a in "$@"; do case "$a" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;; *) echo "soak.sh: unknown argument $a" >&2; exit 2 ;; esac; done

S="${SOAK_SECONDS:-600}"
SAMPLE="${SOAK_SAMPLE:-$([ "$S" -ge 300 ] && echo 5 || echo 2)}"
clamp() { local v=$1; [ "$v" -lt "$2" ] && v=$2; [ "$v" -gt "$3" ] && v=$3; echo "$v"; }
WARM="${SOAK_WARMUP:-$(clamp $((S / 5)) 10 120)}"
WIN="${SOAK_WINDOW:-$(clamp $((S * 15 / 100)) 10 60)}"
MAX_SLOPE="${SOAK_MAX_SLOPE:-1.0}"; MAX_GROWTH="${SOAK_MAX_GROWTH:-10}"
KA="${SOAK_KA_CONNS:-16}"; BIGC="${SOAK_BIG_CONNS:-4}"; AB="${SOAK_ABORT_CONNS:-16}"
UPDATE_DOCS="${UPDATE_DOCS:-$([ "$S" -ge 300 ] && echo 1 || echo 0)}"
DOCS="${DOCS:-$SOAK_REPO/docs/performance.md}"
SEED="${SEED:-$(date +%s)}"
STAMP="$(date +%Y%m%d-%H%M%S)"; DAY="$(date +%Y-%m-%d)"
export RESULTS="${RESULTS:-$SOAK_HERE/results/raw/soak-$STAMP}"
[ "$WARM" -lt "$S" ] || { echo "soak.sh: SOAK_WARMUP ($WARM) must be below SOAK_SECONDS ($S)" >&2; exit 2; }

# the harness's functions: install, certs, upstream, portico_conf, launch/stop by PID, mem_kb, cpu_ticks ...
export TARGETS=portico PIN="${PIN:-split}"
set --
HARNESS_LIB=1 source "$SOAK_HERE/run-anchors.sh"
HERE="$SOAK_HERE"
slog() { printf '[%s] soak: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
trap 'slog "stopped: a command failed at line $LINENO: $BASH_COMMAND"' ERR

PNODE=$(node_bin "${SOAK_NODE:-system}") || { slog "no Node '${SOAK_NODE:-system}'"; exit 1; }
SOAK_PORT="${SOAK_PORT:-$((BASE_PORT + 40))}"; ADMIN_PORT=$((SOAK_PORT + 1))
for p in "$UP1_PORT" "$UP2_PORT" "$UP_STATUS_PORT" "$SOAK_PORT" "$ADMIN_PORT"; do port_free "$p" || { slog "port $p in use"; exit 1; }; done
{
  echo "SOAK_SECONDS=$S"; echo "SOAK_SAMPLE=$SAMPLE"; echo "SOAK_WARMUP=$WARM"; echo "SOAK_WINDOW=$WIN"
  echo "SOAK_MAX_SLOPE=$MAX_SLOPE"; echo "SOAK_MAX_GROWTH=$MAX_GROWTH"; echo "SOAK_KA_CONNS=$KA"; echo "SOAK_BIG_CONNS=$BIGC"
  echo "SOAK_ABORT_CONNS=$AB"; echo "SEED=$SEED"; echo "NODE_VERSION=$("$PNODE" -v)"; echo "DATE=$DAY"; echo "PIN=$PIN"
} > "$RESULTS/params.env"

# ---- upstream and portico ----------------------------------------------------------------------
start_upstream
name=portico-soak; PORT=$SOAK_PORT; TDIR="$WORK/t-soak"; rm -rf "$TDIR"; mkdir -p "$TDIR"
UP1="$BIND:$UP1_PORT"; UP2="$BIND:$UP2_PORT"; TNODE=$PNODE
export PORT BIND UP1 UP2 CERT KEY PEM CA TDIR
mkfifo "$TDIR/log.fifo"
PORTICO_STDOUT="$TDIR/log.fifo" portico_conf true || { slog "portico: ${FAIL_REASON:-setup failed}"; exit 1; }
# default style: the harness config with the admin listener on (for /metrics) and the default idle timeout
sed -i "s|^listen = \"\"|listen = \"127.0.0.1:$ADMIN_PORT\"|; /^idle = \"65s\"/d" "$TDIR/config.toml"
cp "$TDIR/config.toml" "$RESULTS/config.toml"
# the log reader (counts access lines and statuses; nothing is kept on disk) runs on the load side
READER=$(launch "$LOAD_CPUS" "$RESULTS/access-stats.txt" "$TDIR" awk -f "$HERE/lib/access-count.awk" "$TDIR/log.fifo"); STARTED+=("$READER")
PID=$(launch "$PROXY_CPUS" "$TDIR/out.log" "$TDIR" "${CMD[@]}"); STARTED+=("$PID")
if ! WAIT_PID=$PID wait_http "https://$URL_HOST:$PORT/" --cacert "$CA"; then
  slog "portico did not come up:"; tail -20 "$TDIR/out.log" >&2; exit 1
fi
mtext=$(curl -s --max-time 3 "http://127.0.0.1:$ADMIN_PORT/metrics" || true)
[[ "$mtext" == *resident_memory_bytes* ]] || slog "admin /metrics has no process_resident_memory_bytes: heap columns will be empty"
slog "portico pid $PID ($("$PNODE" -v)) on $URL_HOST:$PORT, admin 127.0.0.1:$ADMIN_PORT; $S s of load, a sample every $SAMPLE s -> $RESULTS"

# ---- sampling ------------------------------------------------------------------------------------
CSV="$RESULTS/soak.csv"
echo "t_s,phase,rss_mib,pss_mib,heap_used_mib,heap_total_mib,external_mib,metrics_rss_mib,fds,handles,requests_total,cpu_pct,client_actions,client_aborts,client_errors,upstream_conns" > "$CSV"
T0=$(date +%s.%N); last_t=$T0; last_ticks=$(cpu_ticks "$PID")
sample() {   # PHASE
  local now t mk m cs ticks cpu
  now=$(date +%s.%N)
  read -r -a mk <<< "$(mem_kb "$PID")"
  ticks=$(cpu_ticks "$PID")
  cpu=$(awk -v a="$last_ticks" -v b="$ticks" -v c="$CLK" -v d="$(awk -v x="$now" -v y="$last_t" 'BEGIN{print x-y}')" 'BEGIN{ if (d>0) printf "%.0f", (b-a)/c/d*100; else print "" }')
  last_ticks=$ticks; last_t=$now
  m=$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null | awk '
    /^#/ {next}
    $1 ~ /process_resident_memory_bytes$/ {rss=$2}
    $1 ~ /nodejs_heap_size_used_bytes$/ {hu=$2}
    $1 ~ /nodejs_heap_size_total_bytes$/ {ht=$2}
    $1 ~ /nodejs_external_memory_bytes$/ {ext=$2}
    $1 ~ /process_open_fds$/ {fds=$2}
    $1 ~ /nodejs_active_handles_total$/ {h=$2}
    $1 ~ /^portico_requests_total[{ ]/ {req+=$NF; seen=1}
    END { if (rss == "") { print ",,,,,,"; exit }
          printf "%.1f,%.1f,%.1f,%.1f,%s,%s,%s", hu/1048576, ht/1048576, ext/1048576, rss/1048576, fds, h, (seen ? req : "") }' || true)
  [ -n "$m" ] || m=",,,,,,"
  cs=$(sed 's/.*"actions":\([0-9]*\),"requests_ok":[0-9]*,"aborts":\([0-9]*\),"aborts_hard":[0-9]*,"errors":\([0-9]*\).*/\1,\2,\3/' "$TDIR/client-stats.json" 2>/dev/null | grep -E '^[0-9]+,[0-9]+,[0-9]+$' || echo ",,")
  t=$(awk -v x="$now" -v y="$T0" 'BEGIN{printf "%.1f", x-y}')
  printf '%s,%s,%s,%s,%s,%s,%s,%s\n' "$t" "$1" "$(awk -v k="${mk[0]:-}" 'BEGIN{ if (k=="") print ""; else printf "%.1f", k/1024}')" \
    "$(awk -v k="${mk[1]:-}" 'BEGIN{ if (k=="") print ""; else printf "%.1f", k/1024}')" "$m" "$cpu" "$cs" "$(up_accepts)" >> "$CSV"
}
sample idle || true

# ---- load ------------------------------------------------------------------------------------------
T0=$(date +%s.%N)
load timeout $((S + 40)) wrk -t1 -c"$KA" -d"${S}s" --timeout 10s --latency "https://$URL_HOST:$PORT/" > "$RESULTS/wrk-ka.txt" 2>&1 & W1=$!
load timeout $((S + 40)) wrk -t1 -c"$BIGC" -d"${S}s" --timeout 10s --latency "https://$URL_HOST:$PORT/1m" > "$RESULTS/wrk-big.txt" 2>&1 & W2=$!
load env PORT="$PORT" HOST="$BIND" SNI=localhost CA="$CA" CONCURRENCY="$AB" SECONDS="$S" STATS="$TDIR/client-stats.json" SEED="$SEED" \
  timeout $((S + 60)) node "$HERE/soak-client.cjs" > "$RESULTS/client.json" 2> "$RESULTS/client.err" & W3=$!
STARTED+=("$W1" "$W2" "$W3")
k=1
while alive "$W1" || alive "$W2" || alive "$W3"; do
  target=$(awk -v t0="$T0" -v k="$k" -v s="$SAMPLE" 'BEGIN{printf "%.3f", t0 + k*s}')
  now=$(date +%s.%N); d=$(awk -v a="$target" -v b="$now" 'BEGIN{d=a-b; print (d>0? d : 0)}')
  sleep "$d"; k=$((k + 1))
  if ! alive "$PID"; then slog "portico exited during the soak!"; echo "portico exited during the soak" >> "$RESULTS/notes.txt"; break; fi
  sample load || slog "sample failed"
  if [ $((k % 12)) = 0 ]; then slog "$(tail -1 "$CSV" | awk -F, '{printf "t=%ss rss=%s MiB heap=%s MiB fds=%s portico cpu=%s%% requests=%s client errors=%s", $1, $3, $5, $9, $12, $11, $15}')"; fi
done
for w in "$W1" "$W2" "$W3"; do wait "$w" 2>/dev/null || true; done
STARTED=("$UP_PID" "$READER" "$PID")
for i in 1 2; do sleep 5; if alive "$PID"; then sample after || true; fi; done

# ---- stop, report ------------------------------------------------------------------------------
alive "$PID" && stop_pid_tree "$PID"
for i in $(seq 30); do alive "$READER" || break; sleep 0.1; done
stop_pid_tree "$READER"; stop_pid_tree "$UP_PID"
tail -n 50 "$TDIR/out.log" > "$RESULTS/portico-stderr.tail" 2>/dev/null || true

node "$HERE/lib/soak-report.cjs" "$RESULTS" > "$RESULTS/report-body.md"
REPORT_DIR="${REPORT_DIR:-$HERE/results}"; mkdir -p "$REPORT_DIR"
short=""; [ "$S" -ge 300 ] || short="-short"
OUT="$REPORT_DIR/soak-$DAY$short.md"; n=2
while [ -e "$OUT" ]; do OUT="$REPORT_DIR/soak-$DAY$short-$n.md"; n=$((n + 1)); done
relp() { local p; p="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; echo "${p#"$SOAK_REPO"/}"; }
commit="$(git -C "$SOAK_REPO" rev-parse --short HEAD 2>/dev/null || echo none)"
{
  echo "# portico soak: $DAY, $S s$([ -n "$short" ] && echo ' (short: a smoke test, not a result)')"
  echo
  echo "- machine: $(nproc) CPUs, $(lscpu 2>/dev/null | awk -F: '/^Model name/{gsub(/^[ \t]+/, "", $2); print $2; exit}'), kernel $(uname -r)"
  echo "- portico commit $commit on Node $("$PNODE" -v), PIN=$PIN (portico on CPU ${PROXY_CPUS}, load and upstream on CPU ${LOAD_CPUS})"
  echo "- load for $S s: wrk -c$KA keep-alive GET /, wrk -c$BIGC keep-alive GET of 1 MiB, $AB aborting clients (bench/soak-client.cjs, SEED=$SEED)"
  echo "- raw data: \`$(relp "$RESULTS")/\` (soak.csv, soak.svg, wrk-*.txt, client.json, access-stats.txt, config.toml)"
  echo
  echo "![RSS over time]($(realpath --relative-to="$REPORT_DIR" "$RESULTS/soak.svg"))"
  echo
  cat "$RESULTS/report-body.md"
} > "$OUT"
slog "$(head -1 "$RESULTS/verdict.md")"
slog "$(sed -n 3p "$RESULTS/verdict.md")"
slog "wrote $(relp "$OUT")"
if [ "$UPDATE_DOCS" = 1 ] && [ "$(grep -c ',load,' "$CSV" || true)" -lt 3 ]; then
  slog "fewer than 3 samples under load: docs/performance.md left as it was"
elif [ "$UPDATE_DOCS" = 1 ]; then
  cp "$RESULTS/soak.svg" "$(dirname "$DOCS")/performance-soak.svg"
  {
    echo "Soak of $DAY ($S s, Node $("$PNODE" -v), portico $commit; report [\`$(relp "$OUT")\`]($(r=$(relp "$OUT"); [ "${r#/}" != "$r" ] && echo "$r" || echo "../$r"))):"
    echo
    echo "![portico RSS and heap during the soak](performance-soak.svg)"
    echo
    cat "$RESULTS/verdict.md"
  } > "$RESULTS/soak-block.md"
  node "$HERE/lib/docs-block.cjs" "$DOCS" soak "$RESULTS/soak-block.md" || slog "docs not updated"
fi
