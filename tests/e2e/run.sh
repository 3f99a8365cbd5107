#!/bin/bash
# smoke.sh — build (or reuse) the e2e base image, boot it, and prove the harness works (tests/e2e/test_smoke.py).
#
# Why a wrapper: the e2e tests must run as root inside their own network and mount namespaces. The network
# namespace holds only a loopback interface, so the emulators, QEMU's forwards and ssh share a private
# 127.0.0.1 (no port clashes with anything else on the machine) and nothing the VM does can leave the
# namespace even if QEMU's restrict=on failed. The mount namespace makes every loop/FUSE mount the harness
# makes vanish with it, whatever way it exits. Then it times the image step and the tests and prints the numbers.
#
# Usage: tests/e2e/smoke.sh [pytest args...]
# Env: KILN_E2E_ARTIFACTS (evidence; default /tmp/kiln-e2e-smoke-<time>), KILN_E2E_CACHE (image cache),
#      KILN_E2E_REBUILD=1 (rebuild the image even if cached), KILN_E2E_KEEP_DISKS=1 (keep disk images),
#      KILN_BINARY (a built kiln binary to install into the guest; default build/kiln if present).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=/usr/bin/python3

die() { printf 'smoke: error: %s\n' "$*" >&2; exit 1; }

check_host() {
        [[ $(id -u) == 0 ]] || die "run as root"
        local c
        for c in qemu-system-x86_64 qemu-img qemu-storage-daemon debootstrap ssh ssh-keygen unshare ip \
                 journalctl dpkg-deb mkfs.ext4 blkid; do
                command -v "$c" > /dev/null || die "missing $c: apt-get install qemu-system-x86 qemu-utils \
debootstrap openssh-client util-linux iproute2 systemd e2fsprogs python3-pytest"
        done
        "$PYTHON" -c 'import pytest' 2> /dev/null || die "missing pytest: apt-get install python3-pytest"
}

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# In the host's namespaces: the image build needs the Debian mirror.
outer() {
        local t0
        check_host
        export KILN_E2E_ARTIFACTS=${KILN_E2E_ARTIFACTS:-$(mktemp -d /tmp/kiln-e2e-smoke-"$(date +%Y%m%d-%H%M%S)"-XXXX)}
        mkdir -p "$KILN_E2E_ARTIFACTS"
        t0=$(date +%s.%N)
        echo "smoke: base image (log: $KILN_E2E_ARTIFACTS/build-image.log)"
        if ! "$HERE/build-image.sh" ${KILN_E2E_REBUILD:+--force} > /dev/null \
                        2> "$KILN_E2E_ARTIFACTS/build-image.log"; then
                tail -n 30 "$KILN_E2E_ARTIFACTS/build-image.log" >&2
                die "image build failed"
        fi
        export KILN_E2E_IMAGE_SECONDS KILN_E2E_T0=$t0
        KILN_E2E_IMAGE_SECONDS=$(secs "$t0" "$(date +%s.%N)")
        KILN_E2E_IN_NS=1 exec unshare --net --mount --propagation private -- "${BASH_SOURCE[0]}" "$@"
}

# In the private namespaces: loopback only, mounts private.
inner() {
        local t1 rc=0
        ip link set lo up
        t1=$(date +%s.%N)
        cd "$HERE"
        PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -v -p no:cacheprovider --durations=0 \
                test_harness.py test_smoke.py "$@" 2>&1 | tee "$KILN_E2E_ARTIFACTS/pytest.log" || rc=$?
        [[ -n ${KILN_E2E_KEEP_DISKS:-} ]] || find "$KILN_E2E_ARTIFACTS" \( -name '*.qcow2' -o -name '*.img' \) -delete
        printf 'smoke: image step %s s, tests %s s, total %s s; evidence in %s\n' "$KILN_E2E_IMAGE_SECONDS" \
                "$(secs "$t1" "$(date +%s.%N)")" "$(secs "$KILN_E2E_T0" "$(date +%s.%N)")" "$KILN_E2E_ARTIFACTS"
        return $rc
}

if [[ ${KILN_E2E_IN_NS:-} == 1 ]]; then
        inner "$@"
else
        outer "$@"
fi
