#!/bin/sh
# Runs one libFuzzer target for a short time, as ctest's fuzz tests do:
#   run-fuzz.sh TARGET SEED_CORPUS WORK_CORPUS SECONDS
# New inputs go to WORK_CORPUS (in the build tree), never into the seed corpus
# in the source tree; a crash, leak, timeout or sanitizer report fails the test
# and leaves its reproducer (crash-*, leak-*, timeout-*) beside WORK_CORPUS.
# SEED_CORPUS.dict beside this script, if there is one, is the target's dictionary.
# Replay one with: TARGET FILE.
set -eu
mkdir -p "$3"
# absolute: the fuzzer runs in the work corpus's parent directory
target=$(readlink -f "$1") seeds=$(readlink -f "$2") work=$(readlink -f "$3") seconds=$4
dict=$(cd "$(dirname "$0")" && pwd)/$(basename "$seeds").dict
cd "$(dirname "$work")"
[ -f "$dict" ] && set -- -dict="$dict" || set --
exec "$target" "$@" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$(dirname "$work")/" -print_final_stats=1 "$work" "$seeds"
