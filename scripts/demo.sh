#!/usr/bin/env bash
# The demo: kiln finishing a simulated Cortex node in a scratch root.
# From a fresh Debian 12 machine (as root): installs what it needs, builds
# kiln, then simulates an instance: the IMDS emulator and a Consul agent
# emulator on loopback ports, a loop-file data volume, a scratch root under
# /tmp/kiln-demo.  It runs the four boot stages, shows what kiln did, reboots,
# and shuts down.  Nothing outside the scratch root, the loop device it
# creates and the loopback emulators is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
scripts/setup.sh
scripts/build.sh build >/dev/null
kiln() { "$src/build/kiln" --root "$root" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

root=${KILN_DEMO_ROOT:-/tmp/kiln-demo}
work=$(mktemp -d /tmp/kiln-demo-work.XXXXXX)
pids=() loopdev=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$loopdev" ]; then
    umount "$root/var/lib/cortex" 2>/dev/null || true
    losetup -d "$loopdev" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
umount "$root/var/lib/cortex" 2>/dev/null || true
rm -rf "$root"
mkdir -p "$root/etc/kiln/kiln.d" "$root/proc/sys/kernel/random"
mkdir -m 0700 "$root/root"
cat /proc/sys/kernel/random/uuid > "$root/proc/sys/kernel/random/boot_id"
# The image's accounts: kiln reads them from the root, never from the host.
printf 'root:x:0:0:root:/root:/bin/bash\ncortex:x:990:990::/var/lib/cortex:/usr/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\ncortex:x:990:\nconsul:x:998:\n' > "$root/etc/group"

# start EMULATOR ARGS...: runs tests/emulators/EMULATOR.py on a free loopback
# port (it exits with this script: so not from a $(...) subshell) and sets
# $url to its base URL.
start() {
  local name=$1; shift
  /usr/bin/python3 "tests/emulators/$name.py" "$@" --port-file "$work/$name.port" --exit-with-parent \
    >/dev/null 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  [ -s "$work/$name.port" ] || { cat "$work/$name.log" >&2; echo "demo: the $name emulator did not start" >&2; exit 1; }
  url="http://127.0.0.1:$(cat "$work/$name.port")"
}
# The instance's metadata service, serving demo/imds.json with demo/user-data.yaml.
start imds demo/imds.json --user-data-file demo/user-data.yaml; imds=$url
# The node's local Consul agent.
start consul; consul=$url
consul_get() {
  /usr/bin/python3 -c 'import json,sys,urllib.request as u; print(json.dumps(json.load(u.urlopen(sys.argv[1])), indent=1))' "$consul$1"
}

# The data EBS volume: a blank 256 MiB file on a loop device (on EC2 kiln
# finds it by volume id; here the image config names the device).
truncate -s 256M "$work/data-volume.img"
loopdev=$(losetup --find --show "$work/data-volume.img")

cat > "$root/etc/kiln/kiln.yaml" <<YAML
# The image's defaults, as Packer would bake them.  On EC2 metadata_urls and
# the consul address are left at their defaults.
datasource:
  name: ec2
  ec2:
    metadata_urls: ["$imds"]
    max_wait: 10
consul:
  address: $consul
YAML
cat > "$root/etc/kiln/kiln.d/50-data-volume.yaml" <<YAML
# The Cortex image keeps its TSDB on the data volume.
volumes:
  - device: $loopdev
    label: DATA
    filesystem: ext4
    mountpoint: /var/lib/cortex
    owner: cortex:cortex
    mode: "0750"
    wait_seconds: 10
YAML

step "What a run would change (kiln plan)"
kiln plan
# plan asked IMDS too; count only what the boot asks
/usr/bin/python3 -c 'import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1] + "/_emulator/stats", method="DELETE"))' "$imds"
step "Boot: kiln run (local, network, config, final)"
time kiln run
step "kiln status --long"
kiln status --long || true
step "kiln analyze"
kiln analyze
step "kiln query --format"
kiln query --format 'instance {{ v1.instance_id }} ({{ v1.instance_type }}) in {{ v1.availability_zone }}, role {{ tags.Role }}'
step "What the boot asked IMDS (one token, a targeted fetch, no credentials)"
/usr/bin/python3 - "$imds" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/_emulator/stats"))
for e in s["log"]:
    print(f"  {e['method']:4} {e['path']:50} {e['status']}  token: {e['token']}")
print(f"  {s['requests']} requests over {s['connections']} connections")
PY
step "The data volume: formatted because it was blank, labelled, mounted, in fstab"
findmnt -n -o SOURCE,FSTYPE,OPTIONS "$root/var/lib/cortex" | sed 's/^/  /'
blkid -o export "$loopdev" | grep -E '^(TYPE|LABEL)=' | sed 's/^/  /'
sed 's/^/  /' "$root/etc/fstab"
echo "demo data written by the previous boot" > "$root/var/lib/cortex/keep-me"
step "Consul: the agent config kiln rendered, the services it registered"
cat "$root/etc/consul.d/kiln-agent.json"
consul_get /v1/agent/services
step "Hostname and the commands' output"
cat "$root/etc/hostname" "$root/var/log/demo-boot.log" "$root/var/log/demo-runcmd.log"

step "Reboot: per-instance work is not repeated, the volume is not reformatted"
umount "$root/var/lib/cortex"
rm -rf "$root/run"; cat /proc/sys/kernel/random/uuid > "$root/proc/sys/kernel/random/boot_id"
kiln run 2>&1 | sed 's/^/  /'
kiln status
echo "  data on the volume: $(cat "$root/var/lib/cortex/keep-me")"

step "Shutdown: kiln-final.service's ExecStop deregisters the services"
kiln run --stage shutdown 2>&1 | sed 's/^/  /'
consul_get /v1/agent/services
printf '\nThe scratch root is %s (the loop device is detached on exit).\n' "$root"
