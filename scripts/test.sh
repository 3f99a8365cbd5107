#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what it
# needs, builds kiln twice (normal, and with ASan+UBSan) and runs every test
# (cmocka unit tests, integration tests against the binary, emulators, loop
# devices, units, packages) under ctest in both builds, then boots the .deb
# under QEMU (tests/e2e).  Needs root.
#   KILN_TEST_SANITIZE=0  skip the sanitizer pass
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
