"""The harness's own smoke test: proves every mechanism the kiln scenarios will rely on, on a real boot.

One VM is booted and asserted on in order (booting is the expensive part, so the tests share it and run in
file order): systemd is PID 1 and reaches multi-user; the IMDS and Consul addresses reach host-loopback
servers (checked from the guest and from the server's request log); nothing else is reachable; the NVMe data
disk carries its EBS-style serial; both install hooks (.deb, files + units) worked; the guest reboots and
powers off completely. Then a second VM — a new instance — boots from a fresh overlay with the same data
disk and finds what the first one wrote on it (the mechanics of scenario 3).
"""
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import vm as e2e

DATA_SERIAL = "vol0123456789abcdef0"
IMDS_BODY = "kiln-e2e imds stand-in\n"
CONSUL_BODY = "kiln-e2e consul stand-in\n"
REPO = Path(__file__).resolve().parents[2]
SEEN = {}     # facts one test learns about the first VM that a later one compares against

HELLO_SCRIPT = "#!/bin/sh\necho \"hello from $(cat /proc/sys/kernel/random/boot_id)\" > /run/e2e-hello\n"
HELLO_UNIT = textwrap.dedent("""\
    [Unit]
    Description=e2e payload check (files + unit hook)

    [Service]
    Type=oneshot
    ExecStart=/usr/local/bin/e2e-hello

    [Install]
    WantedBy=multi-user.target
    """)
DEB_UNIT = textwrap.dedent("""\
    [Unit]
    Description=e2e payload check (.deb hook)

    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/bin/touch /run/e2e-deb

    [Install]
    WantedBy=multi-user.target
    """)
DEB_POSTINST = textwrap.dedent("""\
    #!/bin/sh
    set -e
    if [ "$1" = configure ]; then
            deb-systemd-helper enable e2e-dummy.service
    fi
    """)


def build_dummy_deb(workdir):
    """A minimal package shaped like kiln's will be: a unit in /lib/systemd/system enabled by its postinst."""
    root = workdir / "deb-root"
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (root / "lib/systemd/system").mkdir(parents=True, exist_ok=True)
    (root / "lib/systemd/system/e2e-dummy.service").write_text(DEB_UNIT)
    (root / "DEBIAN/control").write_text(
        "Package: kiln-e2e-dummy\nVersion: 1.0\nArchitecture: all\nMaintainer: kiln e2e <e2e@localhost>\n"
        "Description: kiln e2e install-hook check\n")
    (root / "DEBIAN/postinst").write_text(DEB_POSTINST)
    os.chmod(root / "DEBIAN/postinst", 0o755)
    deb = workdir / "kiln-e2e-dummy_1.0_all.deb"
    e2e.run_host(["dpkg-deb", "--root-owner-group", "-b", root, deb])
    return deb


def kiln_binary():
    path = os.environ.get("KILN_BINARY") or REPO / "build" / "kiln"
    return Path(path) if Path(path).is_file() else None


def smoke_payload(workdir):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "e2e-hello").write_text(HELLO_SCRIPT)
    (workdir / "e2e-hello.service").write_text(HELLO_UNIT)
    files = [(workdir / "e2e-hello", "/usr/local/bin/e2e-hello", 0o755),
             (workdir / "e2e-hello.service", "/etc/systemd/system/e2e-hello.service", 0o644)]
    if kiln_binary():
        files.append((kiln_binary(), "/usr/bin/kiln", 0o755))
    return e2e.Payload(debs=[build_dummy_deb(workdir)], files=files, enable=["e2e-hello.service"])


@pytest.fixture(scope="module")
def imds(standin):
    return standin(IMDS_BODY)


@pytest.fixture(scope="module")
def consul(standin):
    return standin(CONSUL_BODY)


@pytest.fixture(scope="module")
def data_disk(artifacts):
    return e2e.create_data_disk(artifacts / "data.img", "1G")


def make_vm(name, base, artifacts, data_disk, imds, consul, payload=None):
    overlay = e2e.create_overlay(base, artifacts / name / "root.qcow2", payload)
    return e2e.VM(base, overlay, artifacts / name, name=name,
                  data_disks=[e2e.DataDisk(data_disk, DATA_SERIAL)],
                  forwards=e2e.emulator_forwards(imds.port, consul.port))


@pytest.fixture(scope="module")
def guest(base, artifacts, data_disk, imds, consul, metrics):
    payload = smoke_payload(artifacts / "payload")
    with make_vm("first", base, artifacts, data_disk, imds, consul, payload) as vm:
        vm.start()
        yield vm
    metrics["first_boots"] = [vars(b) for b in vm.boots]


def test_boots_to_multi_user(guest, metrics):
    boot = guest.wait_ready()
    assert boot.state == "running", guest.ssh("systemctl --failed", check=False).stdout
    metrics["boot_to_ssh_s"] = boot.seconds_to_ssh
    metrics["boot_to_ready_s"] = boot.seconds_to_ready
    metrics["guest_multi_user_s"] = boot.multi_user_s
    SEEN["machine_id"] = guest.ssh("cat /etc/machine-id").stdout.strip()
    assert len(SEEN["machine_id"]) == 32


def test_systemd_is_pid1(guest):
    assert guest.ssh("ps -p 1 -o comm=").stdout.strip() == "systemd"
    assert guest.ssh("readlink /proc/1/exe").stdout.strip() == "/usr/lib/systemd/systemd"
    assert guest.ssh("systemctl is-active multi-user.target").stdout.strip() == "active"


def test_imds_address_reaches_host_loopback(guest, imds):
    before = len(imds.requests)
    for i in range(5):       # several connections in a row: each gets its own relay
        out = guest.ssh(f"curl -sS --fail -m 10 http://{e2e.IMDS_ADDR}/latest/meta-data/probe-{i}").stdout
        assert out == IMDS_BODY
    paths = [r["path"] for r in imds.requests[before:]]
    assert paths == [f"/latest/meta-data/probe-{i}" for i in range(5)]
    # ... and at the same time: concurrent connections do not share a stream.
    before = len(imds.requests)
    urls = " ".join(f"http://{e2e.IMDS_ADDR}/p/{i}" for i in range(8))
    out = guest.ssh(f"curl -sS --fail -m 20 --parallel --parallel-immediate {urls}").stdout
    assert out == IMDS_BODY * 8
    assert sorted(r["path"] for r in imds.requests[before:]) == sorted(f"/p/{i}" for i in range(8))


def test_consul_address_reaches_host_loopback(guest, consul):
    before = len(consul.requests)
    out = guest.ssh(f"curl -sS --fail -m 10 http://{e2e.CONSUL_ADDR}:{e2e.CONSUL_PORT}/v1/status/leader").stdout
    assert out == CONSUL_BODY
    # The guest's own agent address, as kiln will use it: consul.socket proxies it to the forward.
    out = guest.ssh("curl -sS --fail -m 10 http://127.0.0.1:8500/v1/agent/self").stdout
    assert out == CONSUL_BODY
    assert [r["path"] for r in consul.requests[before:]] == ["/v1/status/leader", "/v1/agent/self"]


def test_guest_is_isolated(guest, imds):
    """restrict=on: the gateway address, which without it leads to the host's loopback, leads nowhere; no
    default route and no DNS server are offered, so nothing but the forwards is reachable."""
    before = len(imds.requests)
    p = guest.ssh(f"curl -sS -m 10 http://{e2e.HOST_ALIAS}:{imds.port}/", check=False)
    assert p.returncode != 0, p.stdout
    assert len(imds.requests) == before
    assert "default" not in guest.ssh("ip -4 route show").stdout
    assert "nameserver" not in guest.ssh("cat /etc/resolv.conf").stdout


def test_nvme_data_disk_has_ebs_serial(guest):
    serials = guest.ssh("cat /sys/class/nvme/*/serial").stdout.split()
    assert DATA_SERIAL in serials and e2e.ROOT_SERIAL in serials
    dev = guest.ssh(f"readlink -f /dev/disk/by-id/nvme-*_{DATA_SERIAL}").stdout.strip()
    assert dev.startswith("/dev/nvme") and dev.endswith("n1")
    assert guest.ssh(f"blkid -p {dev}", check=False).returncode == 2      # blank: no signature at all
    assert guest.ssh("findmnt -no SOURCE /").stdout.strip() != dev


def test_install_hooks(guest):
    assert guest.ssh("cat /run/e2e-hello").stdout.startswith("hello from ")
    assert guest.ssh("dpkg-query -W -f '${Status}' kiln-e2e-dummy").stdout == "install ok installed"
    assert guest.ssh("systemctl is-active e2e-dummy.service").stdout.strip() == "active"


@pytest.mark.skipif(kiln_binary() is None, reason="no kiln binary (set KILN_BINARY or build into build/)")
def test_kiln_binary_runs_in_guest(guest):
    assert "not found" not in guest.ssh("ldd /usr/bin/kiln").stdout    # the image carries kiln's libraries
    assert guest.ssh("kiln version").returncode == 0


def test_data_disk_write(guest):
    dev = f"/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_{DATA_SERIAL}"
    guest.ssh(f"mkfs.ext4 -q -L e2e-data {dev} && mkdir -p /mnt/data && mount {dev} /mnt/data && "
              "echo first > /mnt/data/written-by && umount /mnt/data")


def test_reboot(guest, metrics):
    old = guest.boots[-1].boot_id
    boot = guest.reboot()
    assert boot.boot_id != old and boot.state == "running"
    assert guest.ssh("cat /run/e2e-hello").stdout.startswith("hello from " + boot.boot_id)
    metrics["reboot_to_ready_s"] = boot.seconds_to_ready


def test_shutdown_completes(guest, metrics):
    metrics["shutdown_s"] = round(guest.shutdown(), 1)
    journal = guest.collect_journal().read_text()
    assert journal.count("\n") > 100
    assert "Reached target reboot.target" in journal or "Reached target System Reboot" in journal
    assert "Reached target poweroff.target" in journal or "Reached target System Power Off" in journal


def test_data_disk_visible_from_host(data_disk):
    out = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(data_disk)], capture_output=True, text=True)
    assert out.stdout.strip() == "e2e-data"


def test_new_instance_reuses_data_disk(base, artifacts, data_disk, imds, consul, guest, metrics):
    """A fresh overlay of the same base (a new instance of the AMI), the same data disk: it sees the file."""
    assert not guest.running()
    with make_vm("second", base, artifacts, data_disk, imds, consul) as vm:
        vm.start()
        boot = vm.wait_ready()
        assert boot.boot_id not in {b.boot_id for b in guest.boots}
        assert vm.ssh("cat /etc/machine-id").stdout.strip() not in ("", SEEN.get("machine_id"))
        dev = f"/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_{DATA_SERIAL}"
        out = vm.ssh(f"mount -o ro {dev} /mnt && cat /mnt/written-by && umount /mnt").stdout
        assert out == "first\n"
        vm.shutdown(method="acpi")      # the power button, as EC2's stop/terminate presses it
    metrics["second_boot_to_ready_s"] = boot.seconds_to_ready


def test_isolation_check_can_fail(base, artifacts, imds, metrics):
    """The control for test_guest_is_isolated: the same request with restrict=off reaches the host's loopback
    server. Without this, that test could pass because the request was wrong rather than blocked. Loopback
    only, and VM() allows restrict=False only in a private network namespace that has nothing but lo."""
    if not e2e.in_private_netns():
        pytest.skip("needs a private network namespace (run.sh makes one)")
    overlay = e2e.create_overlay(base, artifacts / "control" / "root.qcow2")
    with e2e.VM(base, overlay, artifacts / "control", name="control", restrict=False) as vm:
        vm.start()
        metrics["control_boot_to_ready_s"] = vm.wait_ready().seconds_to_ready
        before = len(imds.requests)
        out = vm.ssh(f"curl -sS --fail -m 10 http://{e2e.HOST_ALIAS}:{imds.port}/control").stdout
        assert out == IMDS_BODY and imds.requests[before:][0]["path"] == "/control"
        vm.shutdown()
