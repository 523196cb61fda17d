#!/usr/bin/env bash
# bench/fuzz.sh (`npm run bench:fuzz`; not in CI): the property-based request fuzz of test/adversarial/fuzz.test.ts,
# run long. FUZZ_RUNS [20000], FUZZ_SEED [time; printed, so a failure can be replayed], FUZZ_SHRINK [1: shrink a
# failing run to a minimal one]. About 0.15 s a run: 20000 runs take ~50 minutes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/.."
export FUZZ_RUNS="${FUZZ_RUNS:-20000}" FUZZ_SEED="${FUZZ_SEED:-$(date +%s)}" FUZZ_SHRINK="${FUZZ_SHRINK:-1}"
echo "fuzz: $FUZZ_RUNS runs, FUZZ_SEED=$FUZZ_SEED (replay with FUZZ_SEED=$FUZZ_SEED)" >&2
exec npx tap --timeout=0 --disable-coverage test/adversarial/fuzz.test.ts
