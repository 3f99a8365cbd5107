#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what it
# needs, builds kiln twice (normal, and with ASan+UBSan) and runs every test
# (cmocka unit tests, integration tests against the binary, emulators, loop
# devices, units, packages) under ctest in both builds; then the integration
# tests that run kiln once more with every kiln process under valgrind
# memcheck, each libFuzzer target for a short time in a clang build, and
# finally boots the .deb under QEMU (tests/e2e).  Needs root.
#   KILN_TEST_SANITIZE=0  skip the sanitizer pass
#   KILN_TEST_VALGRIND=0  skip the valgrind pass
#   KILN_TEST_FUZZ=0      skip the fuzz pass (KILN_FUZZ_SECONDS per target, default 20)
#   KILN_TEST_E2E=0       skip the end-to-end step (QEMU boots; needs deb.debian.org for a cold image cache)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== build (RelWithDebInfo)"
scripts/build.sh build
(cd build && ctest --output-on-failure)

if [ "${KILN_TEST_E2E:-1}" != 0 ]; then
  echo "== end-to-end: the .deb booted under QEMU (tests/e2e/run.sh; cached image in /var/cache/kiln-e2e)"
  KILN_BINARY="$PWD/build/kiln" tests/e2e/run.sh
fi

if [ "${KILN_TEST_SANITIZE:-1}" != 0 ]; then
  echo "== build (ASan + UBSan)"
  scripts/build.sh build-asan -DKILN_SANITIZE=ON
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure -LE packaging)   # the packages build from source: once is enough
fi

if [ "${KILN_TEST_VALGRIND:-1}" != 0 ]; then
  # Every kiln the integration tests start through kilntest.Machine runs
  # under memcheck (KILN_VALGRIND=1); a memory error or a definite/indirect
  # leak fails that test.  Only the test files that run kiln: not the
  # emulators' self-tests, not test_crash (timing-based: it skips itself) nor
  # the files that call the binary directly (docs, units, jinja_diff, which
  # the ASan pass covers).
  echo "== valgrind memcheck (integration tests that run kiln)"
  tests='integration/test_(foundation|userdata|write_files|hostbasics|templating|templates|role_templates|imds'
  tests+='|volumes|consul|faults|secrets)$'
  start=$SECONDS
  (cd build && KILN_VALGRIND=1 ctest --output-on-failure -R "$tests")
  echo "valgrind pass: $((SECONDS - start)) s"
fi

if [ "${KILN_TEST_FUZZ:-1}" != 0 ]; then
  echo "== fuzz targets (clang, libFuzzer + ASan/UBSan, ${KILN_FUZZ_SECONDS:-20} s each)"
  start=$SECONDS
  CC=clang scripts/build.sh build-fuzz -DKILN_FUZZ=ON -DKILN_TESTS=OFF -DKILN_FUZZ_SECONDS="${KILN_FUZZ_SECONDS:-20}"
  (cd build-fuzz && ctest --output-on-failure -L fuzz -j"$(nproc)")
  echo "fuzz pass: $((SECONDS - start)) s"
fi
