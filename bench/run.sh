#!/usr/bin/env bash
# kiln's boot benchmark, one command (issue 10; docs/performance.md):
# builds the release binary into build-release/ (CMake -DKILN_RELEASE=ON:
# -Os, LTO, section GC, --as-needed, DT_RELR, stripped) and the bench's stopwatch,
# then runs W1 (the reference role), W2 (scaling) and the start-up
# measurements against the IMDS and Consul emulators on loopback, in
# scratch roots under /var/tmp.  Needs root for the tmpfs /run and the loop
# volume (without root it runs without them and says so).
#
#   bench/run.sh                 full run (about a minute); rewrites the results in docs/performance.md
#   bench/run.sh --smoke         a few repetitions (seconds; what CI runs); touches no document
#   bench/run.sh [--build-dir D] [--kiln BIN] [bench.py options: --reps N --w2-reps N --only w1,w2,startup
#                --out FILE --json FILE --keep --workdir DIR]
#
# --kiln BIN measures an existing binary instead of building one (the
# release build is what the targets are about).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$src/build-release
kiln=
smoke=0
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$(realpath -m "$2"); shift 2 ;;
    --kiln) kiln=$(realpath "$2"); shift 2 ;;
    --smoke) smoke=1; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if [ -z "$kiln" ]; then
  echo "bench: building the release binary in $build" >&2
  cmake -S "$src" -B "$build" -DKILN_RELEASE=ON -DKILN_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target kiln >/dev/null
  kiln=$build/kiln
fi
mkdir -p "$build"
# The stopwatch: static, so its own memory stays out of the peak RSS it reports.
cc -O2 -Wall -Wextra -Werror -static -o "$build/bench-spawn" "$src/bench/spawn.c" 2>/dev/null ||
  cc -O2 -Wall -Wextra -Werror -o "$build/bench-spawn" "$src/bench/spawn.c"

doc=()
[ "$smoke" = 1 ] || doc=(--doc "$src/docs/performance.md")
exec /usr/bin/python3 "$src/bench/bench.py" --kiln "$kiln" --spawn "$build/bench-spawn" \
  --command "bench/run.sh" "${doc[@]}" "${args[@]}"
