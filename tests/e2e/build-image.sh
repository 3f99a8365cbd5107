#!/bin/bash
# build-image.sh — the cached Debian 12 base image kiln's end-to-end tests boot.
#
# Why it is shaped this way:
# - debootstrap + mkfs.ext4 -d: the root filesystem is made from a directory, so no loop device, partition table
#   or bootloader is needed to build it; the VM is booted with -kernel/-initrd taken from the same tree (direct
#   kernel boot), which is faster under TCG than firmware + GRUB and leaves nothing to install in a boot sector.
# - The result is cached outside the repository (KILN_E2E_CACHE, default /var/cache/kiln-e2e) in a directory
#   keyed by the hash of this very script: editing the script yields a new key and so a rebuild, an unchanged
#   script reuses the cache, a missing or half-built cache is rebuilt. A build happens in a temporary directory
#   that is renamed into place only when complete, under a lock, so it is idempotent and safe to run twice.
# - The base image is never booted directly: each VM gets a qcow2 overlay backed by base.qcow2 (vm.py), and the
#   files under test (.deb or binary + units) are installed into that overlay, so every run starts clean.
# - Everything the guest needs at run time is in the image (kiln's shared libraries included), because a test
#   run must not need the network: the guest's user-mode network only reaches the host's emulators.
# - The image is "baked" like an AMI: empty /etc/machine-id (so each VM boots as a first boot), no DNS, DHCP on
#   the first NIC by systemd-networkd, ssh for root with a key generated here, passwordless root on ttyS0.
#
# Usage: build-image.sh [--force]     prints the cache directory holding the image on stdout (logs on stderr)
# Files in that directory: base.qcow2 (read-only), vmlinuz, initrd.img, cmdline, id_ed25519{,.pub}, manifest,
# packages.txt, build-time.
set -euo pipefail

SUITE=bookworm
MIRROR=${KILN_E2E_MIRROR:-http://deb.debian.org/debian}
CACHE=${KILN_E2E_CACHE:-/var/cache/kiln-e2e}
IMAGE_SIZE=${KILN_E2E_IMAGE_SIZE:-4G}
ROOT_LABEL=kiln-root
# The guest: kernel, init, a way in, what tests assert with, and the libraries the kiln binary links.
PACKAGES=(
        linux-image-cloud-amd64 initramfs-tools systemd systemd-sysv udev dbus
        openssh-server iproute2 procps less curl jq nvme-cli util-linux e2fsprogs xfsprogs kmod
        libjansson4 libyaml-0-2 libcurl4 libblkid1 libmount1 zlib1g libsystemd0
)
# Timers and services that only cost boot time in a throwaway VM (masked, not removed: the packages stay).
MASKED_UNITS=(apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer
              man-db.timer dpkg-db-backup.timer systemd-timesyncd.service nvmf-autoconnect.service)

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

script_key() {
        sha256sum "${BASH_SOURCE[0]}" | cut -c1-16
}

is_complete() {
        local dir=$1 f
        for f in base.qcow2 vmlinuz initrd.img cmdline id_ed25519 id_ed25519.pub manifest complete; do
                [[ -s $dir/$f || ( $f == complete && -e $dir/$f ) ]] || return 1
        done
}

# Bind the kernel file systems a package's maintainer scripts expect. Called inside a private mount namespace,
# so they disappear with the process whatever happens.
chroot_mounts() {
        local root=$1
        mount -t proc proc "$root/proc"
        mount -t sysfs sys "$root/sys"
        mount --bind /dev "$root/dev"
        mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666
        mount -t tmpfs tmpfs "$root/run"
}

chroot_umounts() {
        local root=$1 m
        for m in run dev/pts dev sys proc; do
                umount "$root/$m"
        done
}

in_root() {
        local root=$1; shift
        LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"
}

bootstrap() {
        local root=$1
        mkdir -p "$CACHE/debs"
        log "debootstrap $SUITE from $MIRROR"
        debootstrap --variant=minbase --cache-dir="$CACHE/debs" "$SUITE" "$root" "$MIRROR" >&2
}

install_packages() {
        local root=$1
        cp /etc/resolv.conf "$root/etc/resolv.conf"
        printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
        chmod 0755 "$root/usr/sbin/policy-rc.d"
        echo "deb $MIRROR $SUITE main" > "$root/etc/apt/sources.list"
        # The kernel's postinst builds the initramfs: make it carry the NVMe and virtio drivers the VM boots from.
        mkdir -p "$root/etc/initramfs-tools"
        printf 'nvme\nvirtio_pci\nvirtio_blk\next4\n' >> "$root/etc/initramfs-tools/modules"
        log "apt-get install ${PACKAGES[*]}"
        in_root "$root" apt-get -q update >&2
        in_root "$root" apt-get -q -y -o APT::Install-Recommends=false install "${PACKAGES[@]}" >&2
        in_root "$root" apt-get clean
        rm -rf "$root"/var/lib/apt/lists/* "$root/usr/sbin/policy-rc.d"
        : > "$root/etc/resolv.conf"
}

configure_network() {
        local root=$1
        # DHCP from QEMU's user network; no DNS (the guest must resolve nothing), no IPv6, no link-local noise.
        cat > "$root/etc/systemd/network/20-e2e.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
UseDNS=no
UseNTP=no
UseHostname=no
EOF
        in_root "$root" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service >&2
        # Wait for one interface only, not for every link networkd knows about.
        mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
        cat > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/any.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
EOF
}

# The guest's local Consul agent address (127.0.0.1:8500), as on a real node, carried to the Consul emulator that
# vm.py forwards at 169.254.169.200:8500. Named consul.* so kiln's units order against it as against the real
# agent (kiln-network Before=consul.service; deregistration After=consul.service, so it stops first).
configure_consul_standin() {
        local root=$1
        cat > "$root/etc/systemd/system/consul.socket" <<'EOF'
[Unit]
Description=Local Consul agent address (e2e stand-in, forwarded to the Consul emulator)

[Socket]
ListenStream=127.0.0.1:8500

[Install]
WantedBy=sockets.target
EOF
        cat > "$root/etc/systemd/system/consul.service" <<'EOF'
[Unit]
Description=Consul agent stand-in: proxies 127.0.0.1:8500 to the e2e Consul emulator
Requires=consul.socket
After=consul.socket network-online.target
Wants=network-online.target

[Service]
ExecStart=/lib/systemd/systemd-socket-proxyd 169.254.169.200:8500
EOF
        in_root "$root" systemctl enable consul.socket >&2
}

configure_access() {
        local root=$1 keydir=$2
        ssh-keygen -q -t ed25519 -N '' -C kiln-e2e -f "$keydir/id_ed25519"
        install -d -m 0700 "$root/root/.ssh"
        install -m 0600 "$keydir/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
        cat > "$root/etc/ssh/sshd_config.d/e2e.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
EOF
        # Passwordless root on the serial console: the way in when ssh is not up (debugging a boot).
        in_root "$root" passwd -d root >&2
}

configure_system() {
        local root=$1
        echo kiln-e2e > "$root/etc/hostname"
        printf '127.0.0.1\tlocalhost\n127.0.1.1\tkiln-e2e\n' > "$root/etc/hosts"
        printf 'LABEL=%s\t/\text4\tdefaults,errors=remount-ro\t0\t1\n' "$ROOT_LABEL" > "$root/etc/fstab"
        # A baked image has no identity: systemd makes a machine-id at first boot (ConditionFirstBoot=yes).
        : > "$root/etc/machine-id"
        rm -f "$root/var/lib/dbus/machine-id"
        # Persistent journal, so one VM's boots can all be collected after a reboot.
        mkdir -p "$root/var/log/journal"
        in_root "$root" systemctl mask "${MASKED_UNITS[@]}" >&2
        in_root "$root" systemctl set-default multi-user.target >&2
        in_root "$root" update-initramfs -u -k all >&2
}

extract_boot() {
        local root=$1 out=$2 kernel initrd
        kernel=$(printf '%s\n' "$root"/boot/vmlinuz-* | sort -V | tail -n1)
        initrd=$(printf '%s\n' "$root"/boot/initrd.img-* | sort -V | tail -n1)
        [[ -f $kernel && -f $initrd ]] || die "no kernel or initrd in $root/boot"
        cp "$kernel" "$out/vmlinuz"
        cp "$initrd" "$out/initrd.img"
        echo "root=LABEL=$ROOT_LABEL rw console=ttyS0,115200 panic=-1" > "$out/cmdline"
        basename "$kernel" > "$out/kernel-version"
}

make_disk() {
        local root=$1 out=$2
        log "mkfs.ext4 -d ($IMAGE_SIZE) and convert to qcow2"
        mkfs.ext4 -q -F -L "$ROOT_LABEL" -d "$root" "$out/root.raw" "$IMAGE_SIZE" >&2
        qemu-img convert -O qcow2 "$out/root.raw" "$out/base.qcow2"
        rm -f "$out/root.raw"
        chmod 0444 "$out/base.qcow2"
}

write_manifest() {
        local root=$1 out=$2 started=$3
        # shellcheck disable=SC2016  # dpkg-query's own ${field} syntax
        in_root "$root" dpkg-query -W -f '${Package} ${Version}\n' > "$out/packages.txt"
        {
                echo "suite=$SUITE"
                echo "mirror=$MIRROR"
                echo "key=$(script_key)"
                echo "kernel=$(cat "$out/kernel-version")"
                echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
                echo "packages=$(wc -l < "$out/packages.txt")"
        } > "$out/manifest"
        echo $(( $(date +%s) - started )) > "$out/build-time"
}

# The whole build, in a private mount namespace (see chroot_mounts) and a scratch directory.
build() {
        local work=$1 root=$1/rootfs started
        started=$(date +%s)
        mkdir -p "$root"
        bootstrap "$root"
        chroot_mounts "$root"
        install_packages "$root"
        configure_network "$root"
        configure_consul_standin "$root"
        configure_access "$root" "$work"
        configure_system "$root"
        chroot_umounts "$root"
        extract_boot "$root" "$work"
        make_disk "$root" "$work"
        write_manifest "$root" "$work" "$started"
        rm -rf "$root"
        touch "$work/complete"
}

# Drop cache entries nobody used for two days (other versions of this script, e.g. other branches, keep theirs
# while they are in use: a base image may back a running VM's overlay, so recent ones are never removed).
prune_old() {
        local keep=$1 d
        find "$CACHE" -maxdepth 1 \( -name 'base-*' -o -name 'tmp-*' \) -mtime +2 -print0 |
        while IFS= read -r -d '' d; do
                [[ $d == "$keep" ]] && continue
                log "removing stale $d"
                rm -rf "$d"
        done
}

main() {
        local force=0 key dir work
        [[ ${1:-} == --force ]] && force=1
        [[ $(id -u) == 0 ]] || die "must run as root (debootstrap, chroot)"
        for c in debootstrap qemu-img mkfs.ext4 ssh-keygen flock unshare sha256sum; do
                command -v "$c" > /dev/null ||
                        die "missing $c (apt-get install debootstrap qemu-utils e2fsprogs openssh-client)"
        done
        key=$(script_key)
        dir=$CACHE/base-$key
        if [[ $force == 0 ]] && is_complete "$dir"; then
                touch "$dir"
                echo "$dir"
                return 0
        fi
        mkdir -p "$CACHE"
        chmod 0700 "$CACHE"
        exec 9> "$CACHE/.lock"
        flock 9
        if [[ $force == 0 ]] && is_complete "$dir"; then    # built by another process while we waited
                echo "$dir"
                return 0
        fi
        work=$CACHE/tmp-$key.$$
        rm -rf "$work"
        mkdir -p "$work"
        log "building $dir (this takes minutes)"
        unshare --mount --propagation private -- "${BASH_SOURCE[0]}" --build-into "$work" \
                || { rm -rf "$work"; die "build failed"; }
        rm -rf "$dir"
        mv "$work" "$dir"
        prune_old "$dir"
        log "built $dir in $(cat "$dir/build-time") s"
        echo "$dir"
}

if [[ ${1:-} == --build-into ]]; then
        build "$2"
else
        main "$@"
fi
