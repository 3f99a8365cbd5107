#!/usr/bin/env bash
# Crash-consistency soak: tests/integration/test_crash.py with thousands of
# SIGKILLs instead of the suite's 200 (each: kill `kiln run` at a point spread
# over the run, check that no managed file is half written, rerun, compare
# with an uninterrupted run).  Not part of ctest; run it after touching how
# kiln writes files or records state.  Needs root (tmpfs mount).
#
#   tests/crash-soak.sh [ITERATIONS [KILN_BINARY]]     defaults: 5000, build/kiln
#   KILN_CRASH_SEED=N tests/crash-soak.sh             another set of kill points
#
# Several seeds in a row (each a fresh set of delays):
#   for s in 1 2 3; do KILN_CRASH_SEED=$s tests/crash-soak.sh 3000; done
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-5000}
binary=${2:-build/kiln}
[ -x "$binary" ] || { echo "crash-soak: $binary not built (scripts/build.sh)" >&2; exit 1; }
start=$(date +%s)
KILN_CRASH_ITERATIONS=$iterations KILN_BINARY=$(realpath "$binary") KILN_SOURCE_DIR=$PWD PYTHONDONTWRITEBYTECODE=1 \
        /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/integration/test_crash.py \
        -k test_sigkill_anywhere_then_rerun_converges
echo "crash-soak: $iterations kills (seed ${KILN_CRASH_SEED:-4242}) in $(( $(date +%s) - start )) s"
