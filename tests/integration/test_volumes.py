"""The volumes, fs_setup and mounts modules through the kiln binary, on real
loop devices (root only; skipped otherwise).

Every test gets a work directory /tmp/kiln-voltest-<pid>-XXXX holding its
scratch --root (so every mount kiln makes lies under it) and its backing
files.  Teardown, after every test passed or failed, unmounts what is
mounted under that directory and detaches the loop devices whose backing
file lies there -- and the same for work directories of test processes that
no longer exist (a crashed run) -- and nothing else: loop devices and mounts
are shared with whatever else runs on the machine.

Labels are unique per test run, because label lookups scan every block
device of the machine.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from kilntest import DEFAULT_META, Machine

PREFIX = "kiln-voltest-"
MiB = 1024 * 1024
TAG = f"{os.getpid() % 100000:05d}"
SBIN = "/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("losetup", path=SBIN),
                                reason="loop-device tests need root and losetup")


def sh(*argv, input=None, check=True):
    env = dict(os.environ, PATH=SBIN)
    p = subprocess.run(list(argv), capture_output=True, text=True, input=input, env=env, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p.stdout


def label(name):
    """A label unique to this test run (at most 12 characters: xfs's limit)."""
    return f"{name[:6]}{TAG}"


# -- cleanup: only our own mounts and loop devices ---------------------------

def _ours(path, workdir):
    if workdir and (path == workdir or path.startswith(workdir + "/")):
        return True
    m = re.match(rf"/tmp/{PREFIX}(\d+)-", path)
    if not m or int(m.group(1)) == os.getpid():
        return False
    try:
        os.kill(int(m.group(1)), 0)
        return False
    except ProcessLookupError:
        return True
    except PermissionError:
        return False


def _unmount_all(workdir):
    for _ in range(8):
        targets = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4].encode().decode("unicode_escape")
            if _ours(target, workdir):
                targets.append(target)
        if not targets:
            return
        for t in sorted(targets, key=len, reverse=True):
            if subprocess.run(["umount", t], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", t], capture_output=True)


def _detach_all(workdir):
    for bf in Path("/sys/block").glob("loop*/loop/backing_file"):
        backing = bf.read_text().strip()
        if _ours(backing, workdir):
            subprocess.run(["losetup", "-d", f"/dev/{bf.parent.parent.name}"], capture_output=True)


class Rig:
    """A scratch machine plus loop devices, cleaned up after the test."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.machine = Machine(Path(workdir) / "root")
        self.machine.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
                           "cortex:x:990:991:Cortex:/var/lib/cortex:/usr/sbin/nologin\n")
        self.machine.write("/etc/group", "root:x:0:\ncortex:x:991:\nmetrics:x:992:\n")
        self.machine.write("/etc/fstab", "# static file system information\n/dev/vda / ext4 defaults 0 1\n")

    def image(self, name, size):
        p = Path(self.workdir) / f"{name}.img"
        with open(p, "wb") as f:
            f.truncate(size)
        return p

    def attach(self, image):
        dev = sh("losetup", "--find", "--show", str(image)).strip()
        assert dev.startswith("/dev/loop")
        return dev

    def blank(self, name, size=64 * MiB):
        return self.attach(self.image(name, size))

    def user_data(self, volumes=None, runcmd=True, **keys):
        doc = {}
        if volumes is not None:
            doc["volumes"] = volumes
        doc.update(keys)
        if runcmd:
            doc["runcmd"] = ['echo ran >> "$KILN_ROOT/runcmd.log"']
        return "#cloud-config\n" + json.dumps(doc, indent=2) + "\n"

    def run(self, ud, check=False, prefix=(), **kw):
        self.machine.use_seed(user_data=ud)
        if prefix:
            return self._run_prefixed(prefix)
        return self.machine.run(check=check, **kw)

    def _run_prefixed(self, prefix):
        from kilntest import KILN
        cmd = [*prefix, KILN, "--root", str(self.machine.root), "run", "--stage", "all"]
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)

    def volumes_status(self, module="volumes"):
        return self.machine.module("network", module)

    def changes(self, module="volumes"):
        return [(c["action"], c["target"]) for c in (self.volumes_status(module).get("changes") or [])]

    def errors(self):
        return self.machine.status()["network"]["errors"]

    def recoverable(self):
        return self.machine.status()["network"]["recoverable_errors"].get("WARNING", [])

    def mounted(self, mountpoint):
        return os.path.ismount(self.machine.path(mountpoint))


@pytest.fixture
def rig():
    _unmount_all(None)
    _detach_all(None)
    workdir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    try:
        yield Rig(workdir)
    finally:
        _unmount_all(workdir)
        _detach_all(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def sha256_dev(dev):
    h = hashlib.sha256()
    with open(dev, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def blkid(dev, tag):
    return sh("blkid", "-p", "-o", "value", "-s", tag, dev, check=False).strip()


def tree_hashes(top):
    out = {}
    for dirpath, _, files in os.walk(top):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(top))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def fstab_lines(rig):
    return rig.machine.path("/etc/fstab").read_text().splitlines()


# -- blank: formatted, labelled, mounted, persisted; later boots keep the data --

def test_blank_volume_lifecycle(rig):
    m = rig.machine
    dev = rig.blank("data")
    lab = label("data")
    vol = {"device": dev, "label": lab, "filesystem": "ext4", "mountpoint": "/data", "owner": "cortex",
           "mode": "0750", "wait_seconds": 5, "required_by": ["cortex.service"]}
    ud = rig.user_data([vol])
    rig.run(ud, check=True)

    st = rig.volumes_status()
    assert st["result"] == "ok" and st["frequency"] == "per-boot"
    actions = [a for a, _ in rig.changes()]
    assert actions == ["drop-in", "formatted", "mounted", "fstab"], actions
    formatted = st["changes"][1]
    assert formatted["target"] == dev and "blank" in formatted["detail"] and lab in formatted["detail"]
    assert blkid(dev, "TYPE") == "ext4" and blkid(dev, "LABEL") == lab
    uuid = blkid(dev, "UUID")
    assert rig.mounted("/data")
    data = m.path("/data").stat()
    assert (data.st_uid, data.st_gid, data.st_mode & 0o7777) == (990, 991, 0o750)
    assert fstab_lines(rig) == ["# static file system information", "/dev/vda / ext4 defaults 0 1",
                                f"UUID={uuid} /data ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2"]
    dropin = m.path("/etc/systemd/system/cortex.service.d/kiln-volumes.conf").read_text()
    assert "RequiresMountsFor=/data\n" in dropin and "AssertPathIsMountPoint=/data\n" in dropin
    assert m.path("runcmd.log").read_text() == "ran\n"

    # data written by the service
    (m.path("/data/cortex")).mkdir()
    for i in range(5):
        m.path(f"/data/cortex/chunk{i}").write_bytes(os.urandom(100_000))
    os.sync()
    before = tree_hashes(m.path("/data"))
    fstab_mtime = m.path("/etc/fstab").stat().st_mtime_ns

    # a second run in the same state (next boot): no change recorded, nothing rewritten
    m.reboot()
    rig.run(ud, check=True)
    st = rig.volumes_status()
    assert st["result"] == "ok" and not st.get("changes"), st
    assert m.path("/etc/fstab").stat().st_mtime_ns == fstab_mtime

    # a new instance from the same image, the same volume: used, not formatted
    m.reboot()
    m.seed(dict(DEFAULT_META, **{"instance-id": "i-0fedcba9876543210"}), ud)
    m.run(check=True)
    assert m.path("/var/lib/kiln/data/previous-instance-id").read_text() == "i-0123456789abcdef0\n"
    assert not rig.volumes_status().get("changes")
    assert blkid(dev, "UUID") == uuid
    assert tree_hashes(m.path("/data")) == before

    # a boot where nothing mounted it yet: kiln mounts it again, owner and mode of existing data kept
    sh("umount", str(m.path("/data")))
    os.chown(m.path("/data"), 0, 0)
    m.reboot()
    m.run(check=True)
    assert rig.changes() == [("mounted", "/data")]
    assert tree_hashes(m.path("/data")) == before
    assert (m.path("/data").stat().st_uid, m.path("/data/cortex").stat().st_uid) == (990, 0)
    assert len([l for l in fstab_lines(rig) if " /data " in l]) == 1


def test_yaml_octal_mode_and_numeric_owner(rig):
    dev = rig.blank("octal")
    ud = (f"#cloud-config\nvolumes:\n  - device: {dev}\n    label: {label('octal')}\n"
          f"    mountpoint: /var/lib/prometheus\n    owner: '990:metrics'\n    mode: 0700\n")
    rig.run(ud, check=True)
    st = rig.machine.path("/var/lib/prometheus").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (990, 992, 0o700)


# -- foreign signatures: the whole device stays byte-identical ----------------

SIGNATURES = [
    ("ext2", 32, ["mkfs.ext2", "-q", "-F", "@"], None),
    ("ext3", 32, ["mkfs.ext3", "-q", "-F", "@"], None),
    ("ext4-label", 32, ["mkfs.ext4", "-q", "-F", "-L", "other", "@"], None),
    ("xfs", 320, ["mkfs.xfs", "-q", "-f", "-L", "data", "@"], None),
    ("btrfs", 128, ["mkfs.btrfs", "-q", "-f", "-L", "data", "@"], None),
    ("swap", 32, ["mkswap", "-L", "data", "@"], None),
    ("vfat", 32, ["mkfs.vfat", "-n", "DATA", "@"], None),
    ("luks", 32, ["cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                  "--pbkdf-force-iterations", "1000", "@", "-"], "not-a-secret"),
    ("lvm-pv", 32, ["pvcreate", "-q", "--config", "devices { use_devicesfile=0 }", "@"], None),
    ("gpt", 32, ["sgdisk", "-o", "-n", "1:2048:0", "@"], None),
    ("mbr", 32, ["sfdisk", "-q", "@"], "label: dos\n,,83\n"),
    ("data", 32, None, None),
]


def test_foreign_signatures_refused_and_untouched(rig):
    devs, sums = {}, {}
    for name, size, cmd, stdin in SIGNATURES:
        dev = rig.blank(name, size * MiB)
        if cmd:
            sh(*[dev if a == "@" else a for a in cmd], input=stdin)
        else:
            with open(dev, "r+b") as f:  # bytes without any signature blkid knows
                f.seek(64 * 1024)
                f.write(os.urandom(4096))
        devs[name] = dev
    for name, dev in devs.items():
        sums[name] = sha256_dev(dev)
    vols = [{"device": dev, "label": label("data"), "filesystem": "ext4",
             "mountpoint": f"/srv/{name}", "wait_seconds": 2} for name, dev in devs.items()]
    p = rig.run(rig.user_data(vols))
    assert p.returncode == 1

    for name, dev in devs.items():
        assert sha256_dev(dev) == sums[name], f"{name}: {dev} changed"
        assert not rig.mounted(f"/srv/{name}")
    st = rig.volumes_status()
    assert st["result"] == "failed" and not st.get("changes")
    errors = rig.errors()
    assert len(errors) == len(devs)
    for i, (name, dev) in enumerate(devs.items()):
        assert errors[i].startswith(f"volumes: volumes[{i}]: refused {dev}: "), errors[i]
        assert "untouched" in errors[i] or "never formats" in errors[i], errors[i]
    assert "type ext2" in errors[0] and "crypto_LUKS" in errors[7] and "partition table (gpt)" in errors[9]
    assert "non-zero data without a known signature" in errors[11]
    assert fstab_lines(rig)[2:] == []
    # the rest of the run still happened, and the module runs again next boot
    assert rig.machine.path("runcmd.log").read_text() == "ran\n"
    assert rig.machine.kiln("status", check=False).returncode == 1
    assert not rig.machine.path("/var/lib/kiln/instance/sem/volumes").exists()


def test_other_volumes_still_processed(rig):
    good, bad = rig.blank("good"), rig.blank("bad")
    sh("mkfs.ext4", "-q", "-F", "-L", "OLD", bad)
    before = sha256_dev(bad)
    vols = [{"device": bad, "label": label("new"), "mountpoint": "/srv/bad"},
            {"device": good, "label": label("good"), "mountpoint": "/srv/good"}]
    rig.run(rig.user_data(vols))
    assert sha256_dev(bad) == before
    assert rig.errors() == [f"volumes: volumes[0]: refused {bad}: ext4 filesystem labelled 'OLD', not "
                            f"'{label('new')}'; set relabel: true to relabel it: device left untouched"]
    assert rig.mounted("/srv/good") and not rig.mounted("/srv/bad")


def test_relabel(rig):
    m = rig.machine
    dev = rig.blank("relabel")
    sh("mkfs.ext4", "-q", "-F", "-L", "OLD", dev)
    work = Path(rig.workdir) / "m"
    work.mkdir()
    sh("mount", dev, str(work))
    (work / "keep").write_bytes(b"precious\n" * 1000)
    sh("umount", str(work))
    before = sha256_dev(dev)
    vol = {"device": dev, "label": label("new"), "mountpoint": "/data"}

    rig.run(rig.user_data([vol]))
    assert sha256_dev(dev) == before and not rig.mounted("/data")
    assert "set relabel: true" in rig.errors()[0]

    m.reboot()
    rig.run(rig.user_data([dict(vol, relabel=True)]), check=True)
    assert rig.changes()[:2] == [("relabelled", dev), ("mounted", "/data")]
    assert blkid(dev, "LABEL") == label("new")
    assert m.path("/data/keep").read_bytes() == b"precious\n" * 1000


# -- growing -----------------------------------------------------------------

def grow_backing(dev, image, size):
    with open(image, "r+b") as f:
        f.truncate(size)
    sh("losetup", "-c", dev)


def test_xfs_grown_online(rig):
    m = rig.machine
    image = rig.image("xfs", 320 * MiB)
    dev = rig.attach(image)
    ud = rig.user_data([{"device": dev, "label": label("xfs"), "filesystem": "xfs", "mountpoint": "/data"}])
    rig.run(ud, check=True)
    size_before = os.statvfs(m.path("/data")).f_blocks * os.statvfs(m.path("/data")).f_frsize
    (m.path("/data/file")).write_bytes(b"x" * 100_000)

    grow_backing(dev, image, 400 * MiB)
    m.reboot()
    rig.run(ud, check=True)
    assert [a for a, _ in rig.changes()] == ["grew"]
    vfs = os.statvfs(m.path("/data"))
    assert vfs.f_blocks * vfs.f_frsize > size_before + 60 * MiB
    assert (m.path("/data/file")).read_bytes() == b"x" * 100_000
    m.reboot()
    rig.run(ud, check=True)
    assert not rig.volumes_status().get("changes")


def has_cap_sys_resource():
    eff = int(re.search(r"CapEff:\s*([0-9a-f]+)", Path("/proc/self/status").read_text()).group(1), 16)
    return bool(eff & (1 << 24))


def test_ext4_grow_needs_cap_sys_resource(rig):
    m = rig.machine
    image = rig.image("ext4", 64 * MiB)
    dev = rig.attach(image)
    ud = rig.user_data([{"device": dev, "label": label("ext4"), "mountpoint": "/data"}])
    rig.run(ud, check=True)
    grow_backing(dev, image, 128 * MiB)
    m.reboot()
    # without CAP_SYS_RESOURCE the kernel refuses an online ext4 resize: a clear recoverable error
    p = rig.run(ud, prefix=["setpriv", "--bounding-set", "-sys_resource", "--"])
    assert p.returncode == 0, p.stderr
    assert rig.volumes_status()["result"] == "ok"
    assert any("requires CAP_SYS_RESOURCE" in w for w in rig.recoverable()), rig.recoverable()
    assert m.kiln("status", check=False).returncode == 2
    if has_cap_sys_resource():
        m.reboot()
        rig.run(ud, check=True)
        assert [a for a, _ in rig.changes()] == ["grew"]


# -- waiting -----------------------------------------------------------------

def test_late_device_is_found(rig):
    """The device is attached 2 s after kiln started waiting for it."""
    from kilntest import KILN
    m = rig.machine
    image = rig.image("late", 64 * MiB)
    lab = label("late")
    sh("mkfs.ext4", "-q", "-F", "-L", lab, str(image))
    m.use_seed(user_data=rig.user_data([{"label": lab, "mountpoint": "/data", "wait_seconds": 30}]))
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    proc = subprocess.Popen([KILN, "--root", str(m.root), "run", "--stage", "all"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines, waiting = [], threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if "Waiting up to 30 s" in line:
                waiting.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert waiting.wait(60), "".join(lines)
        time.sleep(2)
        rig.attach(image)
        assert proc.wait(timeout=60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join()
    log = "".join(lines)
    found = re.search(rf"Found volume labelled '{lab}' after (\d+\.\d) s", log)
    assert found and float(found.group(1)) >= 2.0, log
    assert rig.changes() == [("mounted", "/data"), ("fstab", "/etc/fstab")]


def test_never_appears_errors_at_deadline(rig):
    m = rig.machine
    ud = rig.user_data([{"volume_id": "vol-0ffffffffffffffff", "device": "sdq", "mountpoint": "/data",
                         "wait_seconds": 2}])
    start = time.monotonic()
    p = rig.run(ud)
    took = time.monotonic() - start
    assert p.returncode == 1
    assert 2 <= took < 10
    assert rig.errors() == ["volumes: volumes[0]: volume vol-0ffffffffffffffff (device sdq) did not appear "
                            "within 2 s (wait_seconds); nothing was done with it"]
    assert "Gave up waiting for volume vol-0ffffffffffffffff (device sdq) after 2." in p.stderr
    assert m.path("runcmd.log").read_text() == "ran\n"
    assert not m.path("/data").exists()


# -- plan ----------------------------------------------------------------------

def test_plan_changes_nothing(rig):
    m = rig.machine
    dev = rig.blank("plan")
    m.use_seed(user_data=rig.user_data([{"device": dev, "label": label("plan"), "mountpoint": "/data",
                                         "required_by": ["cortex.service"]},
                                        {"volume_id": "vol-0eeeeeeeeeeeeeeee", "wait_seconds": 60}]))
    before_dev, before_tree = sha256_dev(dev), m.snapshot()
    start = time.monotonic()
    p = m.kiln("plan")
    assert time.monotonic() - start < 5  # plan never waits
    assert f"mkfs {dev} (blank" in p.stdout
    assert "mount /data" in p.stdout and "drop-in /etc/systemd/system/cortex.service.d/kiln-volumes.conf" in p.stdout
    assert "wait volume vol-0eeeeeeeeeeeeeeee (volumes[1]: not attached yet; wait up to 60 s)" in p.stdout
    assert sha256_dev(dev) == before_dev
    assert m.snapshot() == before_tree
    assert not rig.mounted("/data")


# -- cloud-config fs_setup and mounts ------------------------------------------

def test_fs_setup_and_mounts(rig):
    m = rig.machine
    dev = rig.blank("fss")
    lab = label("fss")
    ud = rig.user_data(fs_setup=[{"label": lab, "filesystem": "ext4", "device": dev, "partition": "none"}],
                       mounts=[[f"LABEL={lab}", "/srv/data", "auto", "defaults,noatime", "0", "2"]])
    rig.run(ud, check=True)
    assert rig.changes("fs_setup") == [("formatted", dev)]
    assert rig.changes("mounts") == [("mounted", "/srv/data"), ("fstab", "/etc/fstab")]
    uuid = blkid(dev, "UUID")
    assert fstab_lines(rig)[-1] == (f"UUID={uuid} /srv/data ext4 "
                                    "defaults,noatime,nofail,x-systemd.device-timeout=30s 0 2")
    assert blkid(dev, "LABEL") == lab
    m.reboot()
    rig.run(ud, check=True)
    assert not rig.changes("fs_setup") and not rig.changes("mounts")


def test_mounts_never_formats(rig):
    dev = rig.blank("mnt")
    rig.run(rig.user_data(mounts=[[dev, "/srv/x"]]))
    assert rig.errors() == [f"mounts: mounts[0]: refused {dev}: it is blank, and mounts never creates a "
                            "filesystem (fs_setup or volumes do)"]
    assert blkid(dev, "TYPE") == "" and not rig.mounted("/srv/x")
    assert rig.machine.path("runcmd.log").exists()


def test_fs_setup_refusals(rig):
    xfs_dev = rig.blank("xfsold", 320 * MiB)
    sh("mkfs.xfs", "-q", "-f", "-L", "OLD", xfs_dev)
    blank = rig.blank("blank")
    other = rig.blank("other")
    sums = {d: sha256_dev(d) for d in (xfs_dev, other)}
    ud = rig.user_data(
        fs_setup=[
            {"device": xfs_dev, "filesystem": "ext4", "label": "NEW", "overwrite": True, "partition": "none"},
            {"device": xfs_dev, "filesystem": "xfs", "label": "NEW", "replace_fs": "xfs"},
            {"device": other, "filesystem": "ext4", "cmd": "mkfs -t %(filesystem)s -L %(label)s %(device)s"},
            {"device": other, "filesystem": "ext4", "partition": 1},
            {"device": other, "filesystem": "btrfs"},
            {"device": "ephemeral0", "filesystem": "ext4"},
            {"device": blank, "filesystem": "ext4", "label": label("ow"), "overwrite": True},
        ],
        mounts=[["UUID=0b5c6f6e-0000-4000-8000-000000000000", "/srv/u"], ["/dev/xvdz", "none", "swap", "sw"]])
    p = rig.run(ud)
    assert p.returncode == 1
    errors = rig.errors()
    assert errors[0].startswith(f"fs_setup: fs_setup[0]: refused {xfs_dev}: holds a filesystem of type xfs")
    assert errors[1].startswith(f"fs_setup: fs_setup[1]: refused {xfs_dev}: xfs filesystem labelled 'OLD', not 'NEW'")
    assert errors[2] == ("fs_setup: fs_setup[2]: refused: cmd: kiln never runs a custom mkfs command (it could "
                         "format a device that holds data)")
    assert "partition: 1: kiln formats whole devices only" in errors[3]
    assert "filesystem 'btrfs': kiln creates only ext4 and xfs" in errors[4]
    assert "'ephemeral0' is a cloud-init alias" in errors[5]
    assert "mounts[0]: refused: 'UUID=" in errors[6] and "mounts[1]: refused: swap entries" in errors[7]
    assert len(errors) == 8
    warnings = rig.recoverable()
    assert "fs_setup[0]: overwrite: true is not honoured: kiln never formats a device that carries any signature" \
        in warnings
    assert any(w.startswith("fs_setup[1]: replace_fs: xfs is not honoured") for w in warnings)
    # overwrite: true on a blank device: formatted the safe way, with the same warning
    assert rig.changes("fs_setup") == [("formatted", blank)]
    assert "fs_setup[6]: overwrite: true is not honoured: kiln never formats a device that carries any signature" \
        in warnings
    for d, s in sums.items():
        assert sha256_dev(d) == s
    assert blkid(xfs_dev, "LABEL") == "OLD"


def test_bad_input_changes_nothing(rig):
    m = rig.machine
    dev = rig.blank("bad")
    m.use_seed(user_data=f"#cloud-config\nvolumes:\n  - device: {dev}\n    mountpoint: /data\n"
                         f"    owner: nobody\n    mode: '999'\n  - volume_id: vol-xyz\n    mountpoint: /data\n")
    before = sha256_dev(dev)
    p = m.run(check=False)
    assert p.returncode == 1
    assert "user-data:5:12: error: volumes[0].owner: user 'nobody' not found in /etc/passwd" in p.stderr
    assert "user-data:6:11: error: volumes[0].mode: a mode is an octal string" in p.stderr
    assert "user-data:7:5: error: volumes[1]: volume_id 'vol-xyz' is not an EBS volume id" in p.stderr
    assert "user-data:8:17: error: volumes[1].mountpoint: mountpoint /data is already used by volumes[0]" in p.stderr
    assert sha256_dev(dev) == before and not m.path("/data").exists()
    assert "nothing of it was changed" in p.stderr
