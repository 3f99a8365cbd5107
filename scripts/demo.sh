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
# the image's accounts (kiln reads them from the root, never from the host)
printf 'root:x:0:0:root:/root:/bin/bash\n' > "$root/etc/passwd"
printf 'root:x:0:\nconsul:x:998:\n' > "$root/etc/group"
mkdir -m 0700 "$root/root"
# The node's local Consul agent: the API emulator on a free loopback port
# (it exits with this script).
/usr/bin/python3 tests/emulators/consul.py --port-file "$root/consul-port" --exit-with-parent \
  >/dev/null 2>"$root/consul-emulator.log" &
for _ in $(seq 100); do [ -s "$root/consul-port" ] && break; sleep 0.05; done
consul_addr=http://127.0.0.1:$(cat "$root/consul-port")
consul_get() { /usr/bin/python3 -c 'import json,sys,urllib.request as u; print(json.dumps(json.load(u.urlopen(sys.argv[1])), indent=1))' "$consul_addr$1"; }
cat > "$root/etc/kiln/kiln.yaml" <<YAML
# the image's defaults, as Packer would bake them
datasource:
  name: seed
consul:
  address: $consul_addr
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
step "Consul: the agent config kiln rendered, the services it registered"
cat "$root/etc/consul.d/kiln-agent.json"
consul_get /v1/agent/services
step "What the commands left behind"
cat "$root/var/log/demo-boot.log" "$root/var/log/demo-runcmd.log"
step "Reboot: per-instance work is not repeated"
rm -rf "$root/run"; cat /proc/sys/kernel/random/uuid > "$root/proc/sys/kernel/random/boot_id"
kiln run 2>&1 | sed 's/^/  /'
kiln status
step "Shutdown: kiln-final.service's ExecStop deregisters the services"
kiln run --stage shutdown 2>&1 | sed 's/^/  /'
consul_get /v1/agent/services
printf '\nThe scratch root is %s.\n' "$root"
