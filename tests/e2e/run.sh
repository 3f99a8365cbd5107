#!/bin/bash
# run.sh — kiln's end-to-end tests: build (or reuse) the base image, build the .deb, then boot and check
# (test_harness.py, test_smoke.py: the harness itself; test_scenarios.py: issue 9's four scenarios).
#
# Why a wrapper: the e2e tests must run as root inside their own network and mount namespaces. The network
# namespace holds only a loopback interface, so the emulators, QEMU's forwards and ssh share a private
# 127.0.0.1 (no port clashes with anything else on the machine) and nothing the VM does can leave the
# namespace even if QEMU's restrict=on failed. The mount namespace makes every loop/FUSE mount the harness
# makes vanish with it, whatever way it exits. The image build (it needs the Debian mirror) and the package
# build happen before, in the host's namespaces. Each step is timed and the numbers printed.
#
# Usage: tests/e2e/run.sh [pytest args...]          (smoke.sh: the harness's two files only)
# Env: KILN_E2E_TESTS (test files, default "test_harness.py test_smoke.py test_scenarios.py"),
#      KILN_E2E_ARTIFACTS (evidence; default a new /tmp/kiln-e2e-artifacts/<time>-XXXX, linked as
#      /tmp/kiln-e2e-artifacts/latest), KILN_E2E_CACHE (image cache), KILN_E2E_REBUILD=1 (rebuild the image
#      even if cached), KILN_E2E_KEEP_DISKS=1 (keep disk images), KILN_DEB (a built kiln .deb for the
#      scenarios; default: built here with packaging/build-deb.sh), KILN_BINARY (a built kiln binary for
#      the smoke test; default build/kiln if present).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PYTHON=/usr/bin/python3
TESTS=${KILN_E2E_TESTS:-test_harness.py test_smoke.py test_scenarios.py}

die() { printf 'e2e: error: %s\n' "$*" >&2; exit 1; }

check_host() {
        [[ $(id -u) == 0 ]] || die "run as root"
        local c
        for c in qemu-system-x86_64 qemu-img qemu-storage-daemon debootstrap ssh ssh-keygen unshare ip \
                 journalctl dpkg-deb mkfs.ext4 blkid; do
                command -v "$c" > /dev/null || die "missing $c: apt-get install qemu-system-x86 qemu-utils \
debootstrap openssh-client util-linux iproute2 systemd e2fsprogs python3-pytest (scripts/setup.sh does)"
        done
        "$PYTHON" -c 'import pytest' 2> /dev/null || die "missing pytest: apt-get install python3-pytest"
}

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

default_artifacts() {
        local top=/tmp/kiln-e2e-artifacts dir
        mkdir -p "$top"
        dir=$(mktemp -d "$top/$(date +%Y%m%d-%H%M%S)-XXXX")
        ln -sfn "$dir" "$top/latest"
        echo "$dir"
}

# In the host's namespaces: the image build needs the Debian mirror.
outer() {
        local t0 t1
        check_host
        # the tests run from tests/e2e: paths given relative to where run.sh was called must stay valid
        [[ -z ${KILN_BINARY:-} ]] || export KILN_BINARY=$(realpath "$KILN_BINARY")
        [[ -z ${KILN_DEB:-} ]] || export KILN_DEB=$(realpath "$KILN_DEB")
        export KILN_E2E_ARTIFACTS=${KILN_E2E_ARTIFACTS:-$(default_artifacts)}
        mkdir -p "$KILN_E2E_ARTIFACTS"
        t0=$(date +%s.%N)
        echo "e2e: base image (log: $KILN_E2E_ARTIFACTS/build-image.log)"
        if ! "$HERE/build-image.sh" ${KILN_E2E_REBUILD:+--force} > /dev/null \
                        2> "$KILN_E2E_ARTIFACTS/build-image.log"; then
                tail -n 30 "$KILN_E2E_ARTIFACTS/build-image.log" >&2
                die "image build failed"
        fi
        t1=$(date +%s.%N)
        export KILN_E2E_IMAGE_SECONDS KILN_E2E_DEB_SECONDS=0 KILN_E2E_T0=$t0
        KILN_E2E_IMAGE_SECONDS=$(secs "$t0" "$t1")
        if [[ " $TESTS " == *" test_scenarios.py "* && -z ${KILN_DEB:-} ]]; then
                echo "e2e: kiln .deb (packaging/build-deb.sh; log in $KILN_E2E_ARTIFACTS/deb/)"
                # nocheck, no lintian: ctest ran the unit tests and test_packaging the lintian check
                KILN_DEB=$(DEB_BUILD_OPTIONS=nocheck KILN_LINTIAN=0 "$REPO/packaging/build-deb.sh" \
                           "$KILN_E2E_ARTIFACTS/deb") || die "the .deb did not build"
                export KILN_DEB
                KILN_E2E_DEB_SECONDS=$(secs "$t1" "$(date +%s.%N)")
        fi
        KILN_E2E_IN_NS=1 exec unshare --net --mount --propagation private -- "${BASH_SOURCE[0]}" "$@"
}

# In the private namespaces: loopback only, mounts private.
inner() {
        local t1 rc=0
        ip link set lo up
        t1=$(date +%s.%N)
        cd "$HERE"
        # shellcheck disable=SC2086  # TESTS is a list of file names
        PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -v -p no:cacheprovider --durations=0 \
                $TESTS "$@" 2>&1 | tee "$KILN_E2E_ARTIFACTS/pytest.log" || rc=$?
        [[ -n ${KILN_E2E_KEEP_DISKS:-} ]] || find "$KILN_E2E_ARTIFACTS" \( -name '*.qcow2' -o -name '*.img' \) -delete
        printf 'e2e: image step %s s, .deb %s s, tests %s s, total %s s; evidence in %s\n' \
                "$KILN_E2E_IMAGE_SECONDS" "$KILN_E2E_DEB_SECONDS" "$(secs "$t1" "$(date +%s.%N)")" \
                "$(secs "$KILN_E2E_T0" "$(date +%s.%N)")" "$KILN_E2E_ARTIFACTS"
        return $rc
}

if [[ ${KILN_E2E_IN_NS:-} == 1 ]]; then
        inner "$@"
else
        outer "$@"
fi
