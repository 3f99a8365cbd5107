"""kiln's end-to-end scenarios (issue 9): the .deb on a booted Debian 12 image, against the real emulators.

What is booted: the cached base image (build-image.sh) with kiln's .deb installed into a fresh overlay the
way Packer bakes a role image — `dpkg -i` (units enabled, nothing started), the cortex role's kiln.d file
and templates copied from /usr/share/kiln, the role's system users — and an NVMe data disk whose serial is
the EBS volume id. The IMDS emulator serves the reference Cortex node (tests/emulators/data/cortex-node.json)
with user-data made like Terraform's cloudinit_config (MIME, gzip, base64; cloudinit.py) from the role's
examples plus a part naming the data volume by id; the Consul emulator stands in for the cluster behind the
guest's local agent address.

The scenarios run in file order on shared VMs (booting is the expensive part):
  0. the bake — the .deb installed with dpkg -i into a running machine (what Packer does) enables the
     units and runs nothing of kiln;
  1. first boot — volume formatted, labelled and mounted; config files rendered; hostname set; services
     registered; `kiln status --wait` exits 0; `systemd-analyze blame` saved; units verified, ordered, no
     ordering cycle;
  2. reboot — per-instance work not repeated, the volume mounted again (same filesystem), data intact;
  4. shutdown (before 3, since 3 needs the disk free) — the services are deregistered from Consul;
  3. a new instance (new instance-id) from the same image with the same data disk — per-instance work runs
     again, the data is intact and not reformatted; then its ACPI power-off deregisters it too.
Every check is made from inside the guest (ssh) and, where the emulators can see it, from their records.

Run by tests/e2e/run.sh (root, private network and mount namespaces). KILN_DEB names a prebuilt .deb
(run.sh builds one with packaging/build-deb.sh); without it the test builds it.
"""
import copy
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import cloudinit
import vm as e2e

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests/emulators"))
from harness import CORTEX_NODE, Consul, Imds  # noqa: E402

VOLUME_ID = "vol-0123456789abcdef0"
DATA_SERIAL = VOLUME_ID.replace("-", "")
MOUNT = "/var/lib/cortex"
UNITS = ["kiln-local.service", "kiln-network.service", "kiln-config.service", "kiln-final.service"]
SERVICES = {"cortex", "node-exporter"}
FIRST = {"instance_id": "i-0123456789abcdef0", "ipv4": "10.0.1.23", "name": "cortex-prod-1"}
SECOND = {"instance_id": "i-0fedcba9876543210", "ipv4": "10.0.1.57", "name": "cortex-prod-2"}
PER_INSTANCE = [("network", "ssh_keys"), ("config", "write_files"), ("final", "runcmd"), ("final", "scripts_user")]
SEEN = {}      # what one step learns that a later one compares against

# The image bake: what a Packer build of the cortex role does after installing the .deb.
BAKE = [
    "useradd --system --user-group --no-create-home --home-dir /var/lib/cortex --shell /usr/sbin/nologin cortex",
    "useradd --system --user-group --no-create-home --home-dir /var/lib/consul --shell /usr/sbin/nologin consul",
    "useradd --create-home --shell /bin/bash admin",
    "install -d -m 0755 /etc/kiln/kiln.d /etc/consul.d /etc/cortex",
    "cp /usr/share/kiln/examples/cortex.kiln.yaml /etc/kiln/kiln.d/cortex.yaml",
    "cp -r /usr/share/kiln/templates /etc/kiln/templates",
]

# The role's services, as the cortex and node-exporter packages would install them: stand-ins that start,
# stay up, and (cortex) write to the data volume, so their ordering after kiln and the volume is real.
STANDIN_UNITS = {
    "cortex.service": """[Unit]
Description=Cortex (e2e stand-in for the cortex package's unit)

[Service]
User=cortex
ExecStart=/bin/sh -c 'echo "cortex started $$(cat /proc/sys/kernel/random/boot_id)" >> /var/lib/cortex/e2e-cortex.log; exec sleep infinity'

[Install]
WantedBy=multi-user.target
""",
    "prometheus-node-exporter.service": """[Unit]
Description=Prometheus node exporter (e2e stand-in)

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
""",
}

# The scenario's own user-data part: the data volume by id (a list: replaces the role's `device: sdf` entry,
# which needs EBS identify data QEMU's NVMe disk cannot carry), and per-boot / per-instance evidence.
E2E_PART = f"""#cloud-config
volumes:
  - volume_id: {VOLUME_ID}
    label: DATA
    filesystem: xfs
    mountpoint: {MOUNT}
    owner: cortex:cortex
    mode: "0750"
    required_by: [cortex.service]
bootcmd:
  - echo "bootcmd $(cat /proc/sys/kernel/random/boot_id)" >> /var/log/e2e-bootcmd.log
runcmd:
  - echo "runcmd $(kiln query v1.instance_id) $(cat /proc/sys/kernel/random/boot_id)" >> {MOUNT}/e2e-runcmd.log
"""
JINJA_PART = """## template: jinja
#cloud-config
write_files:
  - path: /etc/e2e/instance.txt
    content: "{{ v1.instance_id }} {{ v1.region }} {{ v1.local_ipv4 }}\\n"
"""
SCRIPT_PART = f"""#!/bin/sh
echo "script $(cat /proc/sys/kernel/random/boot_id)" >> /var/log/e2e-script.log
"""


def user_data():
    examples = REPO / "config/examples"
    parts = [
        cloudinit.Part((examples / "cortex.user-data.yaml").read_text(), "text/cloud-config", "cortex.yaml"),
        cloudinit.Part(E2E_PART, "text/cloud-config", "e2e.yaml", "list(append)+dict(recurse_array)+str()"),
        # Terraform's default content_type (text/plain): the type comes from the first line, as in cloud-init
        # (a part declared text/cloud-config would be YAML, its `## template: jinja` line a comment)
        cloudinit.Part(JINJA_PART, filename="instance.yaml"),
        cloudinit.Part(SCRIPT_PART, "text/x-shellscript", "e2e.sh"),
    ]
    return cloudinit.render(parts).decode("ascii")


def imds_tree(inst, ssh_key):
    """The reference Cortex node as instance `inst` (instance-id, address, names), with the user-data and,
    as its key pair, the image's test key (the emulator's sample key is not a valid key)."""
    tree = json.loads(Path(CORTEX_NODE).read_text())
    tree.pop("$comment", None)
    md, doc = tree["meta-data"], tree["dynamic"]["instance-identity"]["document"]
    host = "ip-" + inst["ipv4"].replace(".", "-") + ".eu-west-1.compute.internal"
    md.update({"instance-id": inst["instance_id"], "local-ipv4": inst["ipv4"], "local-hostname": host,
               "hostname": host})
    for mac in md["network"]["interfaces"]["macs"].values():
        mac.update({"local-ipv4s": inst["ipv4"], "local-hostname": host})
    md["tags"]["instance"]["Name"] = inst["name"]
    md["public-keys"] = {"kiln-ops": ssh_key}
    doc.update({"instanceId": inst["instance_id"], "privateIp": inst["ipv4"]})
    tree["user-data"] = user_data()
    return tree


def hostname(inst):
    """The name the role's user-data gives (`hostname: cortex-{{ v1.instance_id }}`), also the Consul node."""
    return "cortex-" + inst["instance_id"]


# ------------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def kiln_deb(artifacts, metrics):
    given = os.environ.get("KILN_DEB")
    if given:
        return Path(given)
    out = artifacts / "deb"
    p = subprocess.run([str(REPO / "packaging/build-deb.sh"), str(out)], capture_output=True, text=True,
                       env=dict(os.environ, DEB_BUILD_OPTIONS="nocheck", KILN_LINTIAN="0"))
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def data_disk(artifacts):
    return e2e.create_data_disk(artifacts / "data.img", "1G")


@pytest.fixture(scope="module")
def ssh_key(base):
    return base.ssh_key.with_name("id_ed25519.pub").read_text().strip()


@pytest.fixture(scope="module")
def emulators(artifacts, ssh_key):
    tree = artifacts / "imds-first.json"
    tree.write_text(json.dumps(imds_tree(FIRST, ssh_key), indent=1))
    # the tree holds `user-data` inline; $file references of the original are not used
    with Imds(data=str(tree)) as imds, Consul() as consul:
        yield imds, consul
        (artifacts / "imds-stats.json").write_text(json.dumps(imds.stats(), indent=1))
        (artifacts / "consul-state.json").write_text(json.dumps(consul.state(), indent=1))


@pytest.fixture(scope="module")
def imds(emulators):
    return emulators[0]


@pytest.fixture(scope="module")
def consul(emulators):
    return emulators[1]


def bake_payload(artifacts, kiln_deb):
    files = []
    for unit, text in STANDIN_UNITS.items():
        (artifacts / "payload").mkdir(exist_ok=True)
        (artifacts / "payload" / unit).write_text(text)
        files.append((artifacts / "payload" / unit, f"/etc/systemd/system/{unit}", 0o644))
    return e2e.Payload(debs=[kiln_deb], files=files, run=BAKE, enable=list(STANDIN_UNITS))


def make_vm(name, base, artifacts, kiln_deb, data_disk, imds, consul):
    payload = bake_payload(artifacts, kiln_deb)
    overlay = e2e.create_overlay(base, artifacts / name / "root.qcow2", payload)
    return e2e.VM(base, overlay, artifacts / name, name=name, data_disks=[e2e.DataDisk(data_disk, DATA_SERIAL)],
                  forwards=e2e.emulator_forwards(imds.port, consul.port))


@pytest.fixture(scope="module")
def first(base, artifacts, kiln_deb, data_disk, imds, consul):
    imds.reset_stats()
    consul.reset_state()
    with make_vm("first", base, artifacts, kiln_deb, data_disk, imds, consul) as vm:
        vm.start()
        yield vm


@pytest.fixture(scope="module")
def second(base, artifacts, kiln_deb, data_disk, imds, consul, first, ssh_key):
    assert not first.running(), "the data disk is still attached to the first instance"
    imds.set_tree(imds_tree(SECOND, ssh_key))
    imds.reset_stats()
    with make_vm("second", base, artifacts, kiln_deb, data_disk, imds, consul) as vm:
        vm.start()
        yield vm


# ------------------------------------------------------------------------------------------------ helpers

def sh(vm, cmd, **kw):
    return vm.ssh(cmd, **kw).stdout


def status_json(vm):
    return json.loads(sh(vm, "cat /run/kiln/status.json"))


def changes(status, stage, module):
    mod = status["v1"][stage]["modules"].get(module) or {}
    return [json.dumps(c) for c in mod.get("changes") or []]


def stage_seconds(status):
    """How long each of kiln's stages took on this boot (status.json start/finished)."""
    return {stage: round(status["v1"][stage]["finished"] - status["v1"][stage]["start"], 3)
            for stage in ("local", "network", "config", "final") if status["v1"][stage].get("finished")}


def wait_kiln_done(vm, name):
    """`kiln status --wait` exits 0 (done, no errors); keeps the evidence of this boot."""
    boot = vm.boots[-1]
    out = vm.workdir / f"boot-{boot.index}"
    p = vm.ssh("kiln status --wait --timeout 300", check=False, timeout=330)
    for fname, cmd in (("kiln-status-long.txt", "kiln status --long"), ("status.json", "cat /run/kiln/status.json"),
                       ("kiln-analyze.txt", "kiln analyze"),
                       ("kiln-journal.txt", "journalctl -b --no-pager -o short-monotonic -u 'kiln-*'")):
        q = vm.ssh(cmd, check=False, timeout=60)
        (out / fname).write_text(q.stdout + q.stderr)
    assert p.returncode == 0, (f"{name}: kiln status --wait exited {p.returncode}: {p.stdout}{p.stderr}\n"
                               + (out / "kiln-status-long.txt").read_text())
    return p


def data_device(vm):
    return sh(vm, f"readlink -f /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_{DATA_SERIAL}").strip()


def blkid(vm, dev):
    out = sh(vm, ["blkid", "-o", "export", dev])
    return dict(line.split("=", 1) for line in out.split() if "=" in line)


def registered(consul):
    return {s["Service"]: s for s in consul.services().values()}


# --------------------------------------------------------------------- the bake: Packer's install step

def test_install_into_running_builder_starts_nothing(base, artifacts, kiln_deb, imds, consul, metrics):
    """Packer installs the .deb into a running machine (no policy-rc.d there): the units get enabled, and
    nothing of kiln runs — no stage, no IMDS request, no Consul call, the builder's blank disk untouched."""
    disk = e2e.create_data_disk(artifacts / "bake-data.img", "1G")
    overlay = e2e.create_overlay(base, artifacts / "bake" / "root.qcow2",
                                 e2e.Payload(files=[(kiln_deb, "/root/kiln.deb", 0o644)]))
    imds.reset_stats()
    with e2e.VM(base, overlay, artifacts / "bake", name="bake", data_disks=[e2e.DataDisk(disk, DATA_SERIAL)],
                forwards=e2e.emulator_forwards(imds.port, consul.port)) as vm:
        vm.start()
        vm.wait_ready()
        p = vm.ssh("DEBIAN_FRONTEND=noninteractive dpkg -i /root/kiln.deb", timeout=300)
        (vm.workdir / "dpkg-i.txt").write_text(p.stdout + p.stderr)
        vm.ssh("sleep 3")
        for unit in UNITS:
            assert sh(vm, ["systemctl", "is-enabled", unit]).strip() == "enabled"
            assert sh(vm, ["systemctl", "show", "-P", "ActiveState", unit]).strip() == "inactive", unit
            assert sh(vm, ["systemctl", "show", "-P", "ExecMainStartTimestampMonotonic", unit]).strip() == "0"
        assert vm.ssh("test -e /run/kiln", check=False).returncode != 0
        assert vm.ssh("test -e /var/lib/kiln/instance", check=False).returncode != 0
        assert vm.ssh(f"blkid -p {data_device(vm)}", check=False).returncode == 2       # still blank
        assert "kiln[" not in sh(vm, "journalctl -b --no-pager")
        vm.shutdown()
    assert imds.stats()["requests"] == 0 and consul.state()["registrations"] == []


# ------------------------------------------------------------------------------- scenario 1: first boot

def assert_no_failed_units(vm, boot):
    """`running`, not `degraded`: no unit failed (a lost race with the volume's mount unit would show here)."""
    assert boot.state == "running", (vm.workdir / f"boot-{boot.index}/failed-units.txt").read_text()


def test_first_boot_ready(first, imds, metrics):
    boot = first.wait_ready()
    wait_kiln_done(first, "first boot")
    assert_no_failed_units(first, boot)
    metrics["first_boot_to_ready_s"] = boot.seconds_to_ready
    metrics["first_boot_multi_user_s"] = boot.multi_user_s
    metrics["first_boot_kiln_stages_s"] = stage_seconds(status_json(first))
    assert (first.workdir / "boot-0/blame.txt").read_text().strip(), "systemd-analyze blame not saved"
    assert "kiln-network.service" in (first.workdir / "boot-0/blame.txt").read_text()


def test_first_boot_units_enabled_verified_ordered(first):
    for unit in UNITS:
        assert sh(first, ["systemctl", "is-enabled", unit]).strip() == "enabled"
    # --man=no: the image has no man command (minbase); the page itself is checked to be there
    assert sh(first, "ls /usr/share/man/man1/kiln.1.gz").strip()
    p = first.ssh(["systemd-analyze", "verify", "--man=no", *UNITS], check=False)
    (first.workdir / "boot-0/analyze-verify.txt").write_text(p.stdout + p.stderr)
    assert p.returncode == 0 and "kiln" not in p.stderr, p.stderr
    journal = sh(first, "journalctl -b --no-pager")
    assert "ordering cycle" not in journal.lower()
    props = {}
    for unit in UNITS + ["multi-user.target", "network-online.target"]:
        out = sh(first, ["systemctl", "show", unit, "-p", "InactiveExitTimestampMonotonic",
                         "-p", "ActiveEnterTimestampMonotonic", "-p", "Result", "-p", "ActiveState"])
        props[unit] = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    for unit in UNITS:
        assert props[unit]["ActiveState"] == "active" and props[unit]["Result"] == "success", props[unit]
    t = {u: (int(p["InactiveExitTimestampMonotonic"]), int(p["ActiveEnterTimestampMonotonic"]))
         for u, p in props.items()}
    # each stage starts only after the previous one finished; network after network-online, final after
    # multi-user
    for before, after in zip(UNITS, UNITS[1:]):
        assert t[before][1] <= t[after][0], f"{before} finished after {after} started: {t}"
    assert t["network-online.target"][1] <= t["kiln-network.service"][0], t
    assert t["multi-user.target"][1] <= t["kiln-final.service"][0], t


def test_first_boot_volume(first, data_disk):
    dev = data_device(first)
    assert dev.startswith("/dev/nvme")
    found = json.loads(sh(first, ["findmnt", "-J", "-o", "SOURCE,FSTYPE,TARGET", MOUNT]))["filesystems"][0]
    assert found["source"] == dev and found["fstype"] == "xfs", found
    ids = blkid(first, dev)
    assert ids["LABEL"] == "DATA" and ids["TYPE"] == "xfs", ids
    SEEN["uuid"] = ids["UUID"]
    fstab = sh(first, "cat /etc/fstab")
    assert re.search(rf"^UUID={ids['UUID']}\s+{MOUNT}\s+xfs\s+\S*nofail", fstab, re.M), fstab
    assert sh(first, ["stat", "-c", "%U:%G %a", MOUNT]).strip() == "cortex:cortex 750"
    st = status_json(first)
    formatted = [c for c in changes(st, "network", "volumes") if "formatted" in c]
    assert formatted, st["v1"]["network"]["modules"].get("volumes")
    # the drop-in that keeps cortex.service off a missing volume
    dropin = sh(first, "cat /etc/systemd/system/cortex.service.d/kiln-volumes.conf")
    assert f"RequiresMountsFor={MOUNT}" in dropin


def test_first_boot_rendered_files(first):
    cortex = sh(first, "cat /etc/cortex/cortex.yaml")
    assert "metrics-eu-cortex-blocks" in cortex               # vars.cortex.s3_bucket from the user-data
    assert sh(first, "stat -c '%U:%G %a' /etc/cortex/cortex.yaml").strip() == "root:cortex 640"
    assert sh(first, "cat /etc/default/prometheus-node-exporter").strip()
    # the consul module's agent file: the image's client settings, the user-data's cluster tag and gossip
    # key, the instance's region and address; the key makes it a secret the agent's group alone reads
    agent = json.loads(sh(first, "cat /etc/consul.d/kiln-agent.json"))
    assert agent["datacenter"] == "eu-west-1" and agent["advertise_addr"] == FIRST["ipv4"], agent
    assert agent["node_name"] == hostname(FIRST) and agent["server"] is False, agent
    assert agent["retry_join"] == ["provider=aws tag_key=ConsulCluster tag_value=metrics-eu"], agent
    assert agent["encrypt"]
    assert sh(first, "stat -c '%U:%G %a' /etc/consul.d/kiln-agent.json").strip() == "root:consul 640"
    # the jinja part, rendered against this instance's data
    assert sh(first, "cat /etc/e2e/instance.txt") == f"{FIRST['instance_id']} eu-west-1 {FIRST['ipv4']}\n"


def test_first_boot_hostname_and_keys(first):
    assert sh(first, "hostname").strip() == hostname(FIRST)
    assert sh(first, "cat /etc/hostname").strip() == hostname(FIRST)
    keys = sh(first, "cat /home/admin/.ssh/authorized_keys")
    assert "kiln-e2e" in keys                                # the instance's key pair, from the IMDS
    assert sh(first, "stat -c '%U %a' /home/admin/.ssh/authorized_keys").strip() == "admin 600"


def test_first_boot_role_services_after_the_volume(first):
    """cortex.service started after kiln-config and with its data volume mounted (it wrote on it)."""
    assert sh(first, "systemctl is-active cortex.service prometheus-node-exporter.service").split() == \
        ["active", "active"]
    boot_id = sh(first, "cat /proc/sys/kernel/random/boot_id").strip()
    assert sh(first, f"cat {MOUNT}/e2e-cortex.log").splitlines() == [f"cortex started {boot_id}"]
    config_done = int(sh(first, "systemctl show -P ActiveEnterTimestampMonotonic kiln-config.service"))
    cortex_start = int(sh(first, "systemctl show -P InactiveExitTimestampMonotonic cortex.service"))
    assert config_done <= cortex_start


def test_first_boot_registered_in_consul(first, consul):
    services = registered(consul)
    assert set(services) == SERVICES, services
    assert all(s["Address"] == FIRST["ipv4"] for s in services.values()), services
    assert services["cortex"]["Port"] == 9009
    # the guest sees them through its local agent address too
    seen = json.loads(sh(first, "curl -sS --fail -m 10 http://127.0.0.1:8500/v1/agent/services"))
    assert {s["Service"] for s in seen.values()} == SERVICES


def test_first_boot_imds_requests(first, imds, metrics):
    stats = imds.stats()
    metrics["first_boot_imds_requests"] = stats["requests"]
    assert stats["by_method"].get("PUT") == 1, stats["by_method"]          # one token for the whole boot
    # docs/datasources.md: 12 requests for the reference role (token, 6 reads, tag listing, 4 tags)
    assert stats["requests"] == 12, stats["by_path"]
    assert all(e["token"] == "valid" for e in stats["log"] if e["method"] == "GET"), stats["log"]


def test_first_boot_evidence(first):
    assert sh(first, "wc -l < /var/log/e2e-bootcmd.log").strip() == "1"
    assert sh(first, "wc -l < /var/log/e2e-script.log").strip() == "1"
    runs = sh(first, f"cat {MOUNT}/e2e-runcmd.log").splitlines()
    assert len(runs) == 1 and runs[0].startswith(f"runcmd {FIRST['instance_id']} ")
    # data the service would have written: checked after the reboot and on the next instance
    first.ssh(f"head -c 4194304 /dev/urandom > {MOUNT}/payload.bin && sync")
    SEEN["payload"] = sh(first, f"sha256sum {MOUNT}/payload.bin").split()[0]


# ------------------------------------------------------------------------------------ scenario 2: reboot

def test_reboot(first, imds, consul, metrics):
    imds.reset_stats()
    before = len(consul.state()["deregistrations"])
    boot = first.reboot()
    wait_kiln_done(first, "reboot")
    assert_no_failed_units(first, boot)
    metrics["reboot_to_ready_s"] = boot.seconds_to_ready
    metrics["reboot_kiln_stages_s"] = stage_seconds(status_json(first))
    # the datasource is asked again (once) on the new boot
    assert imds.stats()["by_method"].get("PUT") == 1
    # the reboot's shutdown deregistered the services, the new boot registered them again
    assert SERVICES <= {d["id"] for d in consul.state()["deregistrations"][before:]}


def test_reboot_per_instance_not_repeated(first):
    assert sh(first, "wc -l < /var/log/e2e-bootcmd.log").strip() == "2"           # per-boot
    assert sh(first, "wc -l < /var/log/e2e-script.log").strip() == "1"           # per-instance
    assert len(sh(first, f"cat {MOUNT}/e2e-runcmd.log").splitlines()) == 1        # per-instance
    st = status_json(first)
    for stage, module in PER_INSTANCE:
        mod = st["v1"][stage]["modules"][module]
        assert mod["result"] == "skipped" and "already ran" in mod["reason"], (module, mod)
    assert st["v1"]["network"]["modules"]["bootcmd"]["result"] == "ok"


def test_reboot_volume_mounted_again_data_intact(first):
    dev = data_device(first)
    found = json.loads(sh(first, ["findmnt", "-J", "-o", "SOURCE,FSTYPE", MOUNT]))["filesystems"][0]
    assert found == {"source": dev, "fstype": "xfs"}, found
    assert blkid(first, dev)["UUID"] == SEEN["uuid"]                              # not reformatted
    assert sh(first, f"sha256sum {MOUNT}/payload.bin").split()[0] == SEEN["payload"]
    st = status_json(first)
    assert not [c for c in changes(st, "network", "volumes") if "formatted" in c]


def test_reboot_still_registered(first, consul):
    assert set(registered(consul)) == SERVICES


# ---------------------------------------------------------------------------------- scenario 4: shutdown

def test_shutdown_deregisters(first, consul, metrics):
    assert set(registered(consul)) == SERVICES
    metrics["first_shutdown_s"] = round(first.shutdown(method="ssh"), 1)
    assert registered(consul) == {}, "services left in Consul after the shutdown"
    dereg = [d["id"] for d in consul.state()["deregistrations"]]
    assert SERVICES <= set(dereg), dereg
    journal = first.collect_journal().read_text()
    assert "ordering cycle" not in journal.lower()


def test_data_disk_from_host(data_disk):
    out = subprocess.run(["blkid", "-o", "export", str(data_disk)], capture_output=True, text=True).stdout
    assert "LABEL=DATA" in out and "TYPE=xfs" in out and f"UUID={SEEN['uuid']}" in out


# ----------------------------------------------------------------------------- scenario 3: new instance

def test_new_instance_ready(second, metrics):
    boot = second.wait_ready()
    wait_kiln_done(second, "new instance")
    assert_no_failed_units(second, boot)
    metrics["second_boot_to_ready_s"] = boot.seconds_to_ready
    metrics["second_boot_kiln_stages_s"] = stage_seconds(status_json(second))


def test_new_instance_reran_per_instance_work(second):
    assert sh(second, "hostname").strip() == hostname(SECOND)
    assert sh(second, "cat /etc/e2e/instance.txt") == f"{SECOND['instance_id']} eu-west-1 {SECOND['ipv4']}\n"
    assert sh(second, "wc -l < /var/log/e2e-script.log").strip() == "1"
    runs = sh(second, f"cat {MOUNT}/e2e-runcmd.log").splitlines()       # on the data disk: both instances
    assert [r.split()[1] for r in runs] == [FIRST["instance_id"], SECOND["instance_id"]], runs
    agent = json.loads(sh(second, "cat /etc/consul.d/kiln-agent.json"))
    assert agent["advertise_addr"] == SECOND["ipv4"]
    st = status_json(second)
    for stage, module in PER_INSTANCE:
        assert st["v1"][stage]["modules"][module]["result"] == "ok", (module, st["v1"][stage]["modules"][module])


def test_new_instance_data_intact_not_reformatted(second):
    dev = data_device(second)
    found = json.loads(sh(second, ["findmnt", "-J", "-o", "SOURCE,FSTYPE", MOUNT]))["filesystems"][0]
    assert found == {"source": dev, "fstype": "xfs"}, found
    assert blkid(second, dev)["UUID"] == SEEN["uuid"]
    assert sh(second, f"sha256sum {MOUNT}/payload.bin").split()[0] == SEEN["payload"]
    st = status_json(second)
    assert not [c for c in changes(st, "network", "volumes") if "formatted" in c], \
        st["v1"]["network"]["modules"].get("volumes")
    journal = sh(second, "journalctl -b --no-pager -u kiln-network.service")
    assert "formatted" not in journal


def test_new_instance_registered_and_imds(second, consul, imds):
    services = registered(consul)
    assert set(services) == SERVICES
    assert all(s["Address"] == SECOND["ipv4"] for s in services.values()), services
    stats = imds.stats()
    assert stats["by_method"].get("PUT") == 1 and stats["requests"] == 12, stats["by_path"]


def test_new_instance_acpi_shutdown_deregisters(second, consul, metrics):
    metrics["second_shutdown_s"] = round(second.shutdown(method="acpi"), 1)
    assert registered(consul) == {}
    journal = second.collect_journal().read_text()
    assert "ordering cycle" not in journal.lower()
