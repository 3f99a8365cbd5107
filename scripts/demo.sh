#!/usr/bin/env bash
# The demo: kiln finishing a simulated instance in a scratch root.
# From a fresh Debian 12 machine (as root): installs what it needs, builds
# kiln, makes a scratch root under /tmp/kiln-demo, runs all four stages and
# shows what the agent did.  Touches nothing outside the scratch root.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
scripts/setup.sh
scripts/build.sh build >/dev/null
kiln() { "$src/build/kiln" --root "$root" "$@"; }

root=${KILN_DEMO_ROOT:-/tmp/kiln-demo}
rm -rf "$root"
mkdir -p "$root/etc/kiln" "$root/var/lib/kiln/seed" "$root/proc/sys/kernel/random"
cat /proc/sys/kernel/random/uuid > "$root/proc/sys/kernel/random/boot_id"
cat > "$root/etc/kiln/kiln.yaml" <<'YAML'
# the image's defaults, as Packer would bake them
datasource:
  name: seed
YAML
cp demo/meta-data.yaml "$root/var/lib/kiln/seed/meta-data"
cp demo/user-data.yaml "$root/var/lib/kiln/seed/user-data"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "What a run would change (kiln plan)"
kiln plan
step "Boot: kiln run (local, network, config, final)"
time kiln run
step "kiln status --long"
kiln status --long || true
step "kiln analyze"
kiln analyze
step "kiln query v1"
kiln query v1
step "What the commands left behind"
cat "$root/var/log/demo-boot.log" "$root/var/log/demo-runcmd.log"
step "Reboot: per-instance work is not repeated"
rm -rf "$root/run"; cat /proc/sys/kernel/random/uuid > "$root/proc/sys/kernel/random/boot_id"
kiln run 2>&1 | sed 's/^/  /'
kiln status
printf '\nThe scratch root is %s.\n' "$root"
