#!/usr/bin/env bash
# bench/run.sh: the `npm run bench` entry (package.json runs `npm run build --silent && bash bench/run.sh`).
#
# Runs bench/run-anchors.sh with portico next to its yardsticks in the same run, then writes
# bench/results/<YYYY-MM-DD>-<pin>[-quick].md: a header (date, machine, Node and undici versions, the exact
# command), a summary of same-run ratios (lib/summary.cjs), per-run notes and the full report.
# Raw data (raw.tsv, every wrk output, env.txt, notes.txt) goes to bench/results/raw/<stamp>-<pin>[-quick]/.
#
# Defaults (each can be overridden from the environment; every other run-anchors.sh variable passes through,
# see `bash bench/run-anchors.sh --help`):
#   TARGETS="direct nginx-w1 node undici-floor portico portico-noaccess"
#   SCENARIOS="ka close big"   ROUNDS=3   PIN=split
# Arguments are passed to run-anchors.sh (e.g. --quick = 1 round x 3 s, a smoke test; --add NAME 'CMD' [--h2]).
# Examples:
#   npm run bench
#   npm run bench -- --quick
#   TARGETS="undici-floor portico" SCENARIOS=ka ROUNDS=5 npm run bench
#   PORTICO_NODE=/opt/node26/bin/node FLOOR_NODE=/opt/node26/bin/node npm run bench
# The first run installs what is missing (apt-get: nginx haproxy caddy wrk nghttp2-client ...; npm in
# bench/node and bench/engines). Loopback only; needs root for apt-get (or the tools already installed).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

for a in "$@"; do
  case "$a" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; echo; exec bash "$HERE/run-anchors.sh" --help ;; esac
done
QUICK=0
for a in "$@"; do [ "$a" = --quick ] && QUICK=1; done

# the command as given (before defaults are filled in), for the record
given=()
for v in TARGETS SCENARIOS ROUNDS PIN DURATION WARMUP CONNS THREADS H2_CONNS H2_STREAMS PROXY_CPUS LOAD_CPUS \
         CERT_TYPE TLS_RESUME REF FLOOR_NODE PORTICO_NODE PORTICO_CLI PORTICO_STDOUT ADD_TARGETS SKIP_INSTALL; do
  [ -z "${!v+x}" ] && continue
  if [[ "${!v}" =~ ^[A-Za-z0-9_./:=,+@-]+$ ]]; then given+=("$v=${!v}")
  elif [[ "${!v}" != *[\"\$\`\\]* ]]; then given+=("$v=\"${!v}\"")
  else given+=("$v=$(printf '%q' "${!v}")"); fi
done
args=""; for a in "$@"; do args="$args $(printf '%q' "$a")"; done
if [ "${npm_lifecycle_event:-}" = bench ]; then cmdline="npm run bench${args:+ --$args}"
else cmdline="bash bench/run.sh$args"; fi

export TARGETS="${TARGETS:-direct nginx-w1 node undici-floor portico portico-noaccess}"
export SCENARIOS="${SCENARIOS:-ka close big}"
export ROUNDS="${ROUNDS:-3}"
export PIN="${PIN:-split}"

suffix=""; [ "$QUICK" = 1 ] && suffix="-quick"
STAMP="$(date +%Y%m%d-%H%M%S)"; DAY="$(date +%Y-%m-%d)"
export RESULTS="${RESULTS:-$HERE/results/raw/$STAMP-$PIN$suffix}"
mkdir -p "$HERE/results"

if [[ " $TARGETS " == *" portico"* ]] && [ ! -f "${PORTICO_CLI:-$REPO/dist/cli.js}" ]; then
  echo "run.sh: ${PORTICO_CLI:-$REPO/dist/cli.js} is missing: run 'npm run build' (or use 'npm run bench')." >&2
  echo "run.sh: the portico targets will be skipped." >&2
fi

bash "$HERE/run-anchors.sh" "$@"

# ---- bench/results/<date>-<pin>.md ---------------------------------------------------------------
OUT="$HERE/results/$DAY-$PIN$suffix.md"; n=2
while [ -e "$OUT" ]; do OUT="$HERE/results/$DAY-$PIN$suffix-$n.md"; n=$((n + 1)); done
rel() { local p; p="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; echo "${p#"$REPO"/}"; }
ver() { "$@" 2>/dev/null || echo n/a; }
model="$(lscpu 2>/dev/null | awk -F: '/^Model name/{gsub(/^[ \t]+/, "", $2); print $2; exit}')"
ram="$(awk '/^MemTotal:/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
pnode="$(ver "${PORTICO_NODE:-node}" -v)"; fnode="$(ver "${FLOOR_NODE:-node}" -v)"
pundici="$(ver node -p "require('$REPO/node_modules/undici/package.json').version")"
fundici="$(ver "${FLOOR_NODE:-node}" -p "require('$HERE/engines/undici-pkg.js').pkgVersion")"
commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)"
[ -z "$(git -C "$REPO" status --porcelain -- src 2>/dev/null)" ] || commit="$commit (src/ has uncommitted changes)"
{
  echo "# portico benchmark: $DAY, PIN=$PIN$([ "$QUICK" = 1 ] && echo ', --quick (smoke test, not for comparison)')"
  echo
  echo "- date: $(date -Iseconds)"
  echo "- machine: $(nproc) CPUs, ${model:-unknown model}, kernel $(uname -r), RAM $ram"
  echo "- node: portico $pnode, undici-floor $fnode (node on PATH: $(ver node -v))"
  echo "- undici: portico $pundici (repository node_modules), undici-floor $fundici (bench/engines)"
  echo "- portico commit: $commit"
  echo "- command: \`${given[*]:+${given[*]} }$cmdline\`"
  echo "- effective: TARGETS=\"$TARGETS\" SCENARIOS=\"$SCENARIOS\"; $(sed -n 's/^settings: //p' "$RESULTS/env.txt")"
  echo "- raw data: \`$(rel "$RESULTS")/\` (raw.tsv, wrk outputs, env.txt, notes.txt)"
  echo
  echo "Only ratios measured in the same run mean anything; absolute numbers move between hosts and runs."
  echo "See docs/performance.md."
  echo
  echo "## Summary: CPU per request against the yardsticks (same run)"
  echo
  node "$HERE/lib/summary.cjs" "$RESULTS/raw.tsv"
  if [ -s "$RESULTS/notes.txt" ]; then
    echo; echo "## Notes from the run"; echo; sed 's/^/- /' "$RESULTS/notes.txt"
  fi
  echo; echo "## Full report"; echo
  cat "$RESULTS/report.md"
  echo
} > "$OUT"
echo "run.sh: wrote $(rel "$OUT")" >&2
