#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian 12
# machine (as root).  Idempotent: installs only what is missing, and runs
# `apt-get update` only when something is.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  libyaml-dev libcurl4-openssl-dev libjansson-dev libsystemd-dev libblkid-dev libmount-dev zlib1g-dev xfslibs-dev
  # tests
  libcmocka-dev python3 python3-pytest python3-jinja2 python3-yaml systemd valgrind clang libclang-rt-14-dev
  dbus-daemon dbus-bin python3-dbus python3-gi
  # role template checks (nginx -t, promtool check config)
  nginx-light prometheus
  # volumes (real mkfs, signatures for the safety tests)
  e2fsprogs xfsprogs btrfs-progs dosfstools cryptsetup-bin lvm2 fdisk gdisk util-linux
  # emulators' client check (AWS JavaScript SDK)
  nodejs npm
  # packages: the .deb (debhelper, lintian), the .rpm (Debian's rpmbuild), the man page (go-md2man, man -l)
  debhelper dpkg-dev lintian rpm rpm2cpio go-md2man man-db
  # end-to-end tests: a debootstrap image booted under QEMU (tests/e2e/run.sh)
  qemu-system-x86 qemu-utils debootstrap openssh-client iproute2
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from outside Debian on some machines: accept those
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
