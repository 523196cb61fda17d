#!/usr/bin/env bash
# bench/hostile.sh (`npm run bench:hostile`; not in CI): hostile and careless clients against portico (issue 23).
#
# portico built from dist/ (pinned to PROXY_CPUS), two recording upstreams and the clients in one node process
# (bench/hostile.mjs, on LOAD_CPUS): for HOSTILE_SECONDS at once, normal traffic (keep-alive h1 GETs, h2 GETs,
# every response checked) and hostile mixes: h2 streams cancelled 20-250 ms in, h2 sessions closed mid-stream
# (GOAWAY or TCP), h1 clients closing mid-request, pipelined slow readers (a third abandoned mid-way), slowloris,
# smuggling/malformed payloads, rapid-reset bursts. Every HOSTILE_SAMPLE seconds: portico's RSS, ejections,
# in-flight requests, upstream states. The verdict (bench/results/hostile-<date>[-quick][-N].md):
#   - 0 normal requests failed;  - 0 ejections and no upstream ever down;  - portico alive, no engine assertion;
#   - RSS: no growth (slope over the second half <= HOSTILE_MAX_SLOPE MiB/min);
#   - every upstream request aborted within 1 s of its client's cancel (p50/p95/p99/max reported; "never" = 0).
# Raw data: bench/results/raw/hostile-<stamp>[-quick]/ (summary.json, samples.csv, portico.log: non-access lines
# and the first 200 5xx access lines).
#
# Usage: bash bench/hostile.sh [--quick]      --quick: 60 s (a smoke test, not a result)
# Variables: HOSTILE_SECONDS [600; 60 with --quick]  HOSTILE_SAMPLE [5]  HOSTILE_MAX_SLOPE [1.0]  NORMAL_CONC [4]
#   PROXY_CPUS [0] LOAD_CPUS [1] ("" for either: no pinning)  SEED [time]  PORTICO_CLI [dist/cli.js]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
QUICK=0
for a in "$@"; do case "$a" in --quick) QUICK=1 ;; -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;; *) echo "hostile.sh: unknown argument $a" >&2; exit 2 ;; esac; done
S="${HOSTILE_SECONDS:-$([ "$QUICK" = 1 ] && echo 60 || echo 600)}"
SAMPLE="${HOSTILE_SAMPLE:-5}"; MAX_SLOPE="${HOSTILE_MAX_SLOPE:-1.0}"
SEED="${SEED:-$(date +%s)}"
STAMP="$(date +%Y%m%d-%H%M%S)"; DAY="$(date +%Y-%m-%d)"
suffix=""; [ "$QUICK" = 1 ] && suffix="-quick"
OUT="$HERE/results/raw/hostile-$STAMP$suffix"; mkdir -p "$OUT"
CLI="${PORTICO_CLI:-$REPO/dist/cli.js}"
[ -f "$CLI" ] || { echo "hostile.sh: $CLI missing (npm run build)" >&2; exit 1; }
log() { printf '[%s] hostile: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

PIN=()
if [ -n "${LOAD_CPUS-1}" ] && command -v taskset >/dev/null; then PIN=(taskset -c "${LOAD_CPUS:-1}"); fi
log "$S s of load (sample every $SAMPLE s), SEED=$SEED -> $OUT"
PORTICO_CLI="$CLI" OUT="$OUT" SEED="$SEED" PROXY_CPUS="${PROXY_CPUS-0}" \
  SECONDS="$S" SAMPLE="$SAMPLE" NORMAL_CONC="${NORMAL_CONC:-4}" \
  "${PIN[@]}" node "$HERE/hostile.mjs" > "$OUT/summary.line" 2> "$OUT/driver.err" || { log "the driver failed:"; tail -20 "$OUT/driver.err" >&2; exit 1; }

REPORT="$HERE/results/hostile-$DAY$suffix.md"; n=2
while [ -e "$REPORT" ]; do REPORT="$HERE/results/hostile-$DAY$suffix-$n.md"; n=$((n + 1)); done
MACHINE="$(nproc) CPUs, $(lscpu 2>/dev/null | awk -F: '/^Model name/{gsub(/^[ \t]+/, "", $2); print $2; exit}'), kernel $(uname -r)"
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)"
node "$HERE/lib/hostile-report.mjs" "$OUT/summary.json" "$MAX_SLOPE" "$DAY" "$MACHINE" "$COMMIT $(node -v)" "${OUT#"$REPO"/}" "$QUICK" > "$REPORT"
log "report: ${REPORT#"$REPO"/}"
grep -E '^\| (PASS|FAIL)|^- verdict' "$REPORT" >&2 || true
