#!/usr/bin/env bash
# The demo: kiln finishing a simulated instance in a scratch root.
# From a fresh Debian 12 machine (as root): installs what it needs, builds
# kiln, makes a scratch root under /tmp/kiln-demo, serves the instance's
# metadata with the IMDS emulator on loopback, runs all four stages and
# shows what the agent did.  Touches nothing outside the scratch root.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
scripts/setup.sh
scripts/build.sh build >/dev/null
kiln() { "$src/build/kiln" --root "$root" "$@"; }

root=${KILN_DEMO_ROOT:-/tmp/kiln-demo}
rm -rf "$root"
mkdir -p "$root/etc/kiln" "$root/proc/sys/kernel/random"
mkdir -m 700 "$root/root"
cat /proc/sys/kernel/random/uuid > "$root/proc/sys/kernel/random/boot_id"
# a freshly baked image has a root account (kiln reads accounts from the root's files)
echo 'root:x:0:0:root:/root:/bin/bash' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"

# The instance's metadata service: the IMDS emulator on a loopback port,
# serving demo/imds.json with demo/user-data.yaml as the user-data.
emu=$(mktemp -d)
/usr/bin/python3 tests/emulators/imds.py demo/imds.json --user-data-file demo/user-data.yaml \
  --port-file "$emu/port" --exit-with-parent >/dev/null 2>"$emu/log" &
emu_pid=$!
trap 'kill "$emu_pid" 2>/dev/null; rm -rf "$emu"' EXIT
for _ in $(seq 100); do [ -s "$emu/port" ] && break; sleep 0.05; done
[ -s "$emu/port" ] || { cat "$emu/log" >&2; echo "demo: the IMDS emulator did not start" >&2; exit 1; }
imds=http://127.0.0.1:$(cat "$emu/port")
cat > "$root/etc/kiln/kiln.yaml" <<YAML
# the image's defaults, as Packer would bake them (on EC2 metadata_urls is left out)
datasource:
  name: ec2
  ec2:
    metadata_urls: ["$imds"]
    max_wait: 10
YAML

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "What a run would change (kiln plan)"
kiln plan
# (plan asked IMDS too: count only what the boot asks)
/usr/bin/python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1] + "/_emulator/stats", method="DELETE"))' "$imds"
step "Boot: kiln run (local, network, config, final)"
time kiln run
step "kiln status --long"
kiln status --long || true
step "kiln analyze"
kiln analyze
step "kiln query v1"
kiln query v1
step "What the boot asked IMDS (one token, a targeted fetch, no credentials)"
/usr/bin/python3 - "$imds" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/_emulator/stats"))
for e in s["log"]:
    print(f"  {e['method']:4} {e['path']:50} {e['status']}  token: {e['token']}")
print(f"  {s['requests']} requests over {s['connections']} connections")
PY
step "What the commands left behind"
cat "$root/var/log/demo-boot.log" "$root/var/log/demo-runcmd.log"
step "Reboot: per-instance work is not repeated"
rm -rf "$root/run"; cat /proc/sys/kernel/random/uuid > "$root/proc/sys/kernel/random/boot_id"
kiln run 2>&1 | sed 's/^/  /'
kiln status
printf '\nThe scratch root is %s.\n' "$root"
