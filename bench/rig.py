"""The bench's machinery: scratch roots, the loop volume, measuring one process.

Why this shape: a benchmark of a boot agent has to measure a *first boot*
every time, so every repetition gets a brand-new scratch root (a new
instance, nothing cached), built before the clock starts.  As on a real
machine, the root's /run is a tmpfs (kiln's status and instance-data live
there, and fsync on tmpfs is free) while everything else -- /etc, /var/lib
-- sits on a disk filesystem, where every fsync reaches the device: an ext4
made for the run on a loop file (WorkDir says why not the host's own).  The
data volume is another loop file formatted once; kiln mounts it in each
repetition and the bench unmounts it afterwards, as a reboot would.

A kiln process is measured from outside, by bench/spawn.c: wall time around
vfork/execve and wait4, and wait4's rusage (user+sys CPU and peak RSS of
kiln and every child it waited for, e.g. a runcmd's shell).

Only what this file made is ever unmounted or detached: mounts below the
bench's own work directory and loop devices whose backing file lies there.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent
sys.path.insert(0, str(SOURCE_DIR / "tests" / "integration"))
sys.path.insert(0, str(SOURCE_DIR / "tests" / "emulators"))

from kilntest import Machine  # noqa: E402  (the integration tests' scratch-machine layout)

SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
MiB = 1024 * 1024


def sh(*argv, check=True):
    """Runs a set-up command (never measured); returns its stdout."""
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PATH=SBIN_PATH))
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p.stdout


def is_root():
    return os.geteuid() == 0


# ---- measuring one process ------------------------------------------------------------------------------

class Measured:
    """One process run: wall and CPU in milliseconds, peak RSS in KiB, exit status, output files."""

    def __init__(self, argv, report, out_path, err_path):
        wall_ns, user_us, sys_us, maxrss_kb, status = (int(x) for x in report.split())
        self.argv = argv
        self.wall_ms = wall_ns / 1e6
        self.user_ms = user_us / 1000.0
        self.sys_ms = sys_us / 1000.0
        self.cpu_ms = self.user_ms + self.sys_ms
        self.maxrss_kb = maxrss_kb
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.out_path = out_path
        self.err_path = err_path

    def output(self):
        return Path(self.out_path).read_text(errors="replace") + Path(self.err_path).read_text(errors="replace")

    def check(self):
        if self.exit_code != 0:
            raise RuntimeError(f"{' '.join(self.argv)} exited {self.exit_code}:\n{self.output()}")
        return self


SPAWN = None  # path of the compiled bench/spawn.c, set by bench.py


def run_measured(argv, env, log_dir, tag="run"):
    """Runs argv through bench/spawn.c (why: see there) and returns what it cost."""
    out_path = os.path.join(log_dir, f"{tag}.out")
    err_path = os.path.join(log_dir, f"{tag}.err")
    p = subprocess.run([SPAWN, out_path, err_path, *argv], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"spawn {' '.join(argv)}: {p.stderr.strip()}")
    return Measured(argv, p.stdout, out_path, err_path)


def kiln_env(extra=None):
    """The environment of a kiln run: not under systemd (logs to stderr, no sd_notify), C locale."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "LISTEN_FDS")}
    env.update({"LC_ALL": "C", "PATH": SBIN_PATH})
    env.update(extra or {})
    return env


# ---- the work directory and what is mounted in it ------------------------------------------------------

def _mount_targets_under(prefix):
    targets = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].encode().decode("unicode_escape")
        if target == prefix or target.startswith(prefix + "/"):
            targets.append(target)
    return targets


def unmount_under(prefix):
    """Unmounts everything mounted at or below prefix, deepest first."""
    for _ in range(8):
        targets = _mount_targets_under(prefix)
        if not targets:
            return
        for t in sorted(targets, key=len, reverse=True):
            if subprocess.run(["umount", t], capture_output=True, env={"PATH": SBIN_PATH}).returncode != 0:
                subprocess.run(["umount", "-l", t], capture_output=True, env={"PATH": SBIN_PATH})


def filesystem_of(path):
    """(fstype, source) of the mount holding path."""
    path = os.path.realpath(path)
    best = ("?", "?", "")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        target = left.split()[4].encode().decode("unicode_escape")
        if (path == target or path.startswith(target.rstrip("/") + "/")) and len(target) >= len(best[2]):
            fstype, source = right.split()[:2]
            best = (fstype, source, target)
    return best[0], best[1]


def detach_loops_under(prefix):
    """Detaches the loop devices whose backing file lies at or below prefix."""
    for bf in Path("/sys/block").glob("loop*/loop/backing_file"):
        backing = bf.read_text().strip()
        if backing == prefix or backing.startswith(prefix + "/"):
            subprocess.run(["losetup", "-d", f"/dev/{bf.parent.parent.name}"], capture_output=True,
                           env={"PATH": SBIN_PATH})


class WorkDir:
    """The bench's own directory: scratch roots, loop files and logs live below it.

    As root, the scratch roots go on a filesystem of their own (ext4 on a loop
    file made for this run, `roots/`), as an instance's root filesystem is its
    own: other work on the machine neither adds dirty data to kiln's syncs
    nor leaves freshly deleted inodes for ext4's allocator to step over (it
    skips inodes deleted in the last minutes, which made creating a file ten
    times slower on a busy shared disk).  For the same reason roots are not
    deleted between repetitions, only with the whole work directory."""

    ROOTS_FS_SIZE = 4096 * MiB  # sparse

    def __init__(self, parent=None, keep=False):
        parent = parent or "/var/tmp"
        self.path = Path(tempfile.mkdtemp(prefix="kiln-bench-", dir=parent))
        self.keep = keep
        self.logs = self.path / "logs"
        self.logs.mkdir()
        self.roots = self.path / "roots"
        self.roots.mkdir()
        self.roots_fs = None
        self.volume = None
        if is_root():
            self._make_roots_fs()

    def _make_roots_fs(self):
        image = self.path / "roots.img"
        with open(image, "wb") as f:
            f.truncate(self.ROOTS_FS_SIZE)
        sh("mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", "-L", "kbenchroot", str(image))
        dev = sh("losetup", "--find", "--show", str(image)).strip()
        sh("mount", "-t", "ext4", dev, str(self.roots))
        self.roots_fs = dev

    def close(self):
        unmount_under(str(self.path))
        detach_loops_under(str(self.path))
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LoopVolume:
    """A loop file formatted once (ext4, a label unique to this run); kiln mounts it in every repetition."""

    def __init__(self, workdir, size=64 * MiB):
        self.image = workdir.path / "data-volume.img"
        with open(self.image, "wb") as f:
            f.truncate(size)
        self.label = f"kbench{os.getpid() % 100000:05d}"[:12]
        # initialised in full now, as an old volume is: no lazy init running during the mounts
        sh("mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", "-L", self.label, str(self.image))
        self.device = sh("losetup", "--find", "--show", str(self.image)).strip()
        workdir.volume = self


# ---- one scratch machine ------------------------------------------------------------------------------------

class ScratchRoot:
    """A new instance's filesystem under workdir: kilntest's layout, /run on a tmpfs when we are root."""

    def __init__(self, workdir, name, passwd_extra=""):
        self.workdir = workdir
        self.path = workdir.roots / name
        self.machine = Machine(self.path)
        if passwd_extra:
            self.machine.write("/etc/passwd", self.machine.path("/etc/passwd").read_text() + passwd_extra)
        self.machine.write("/etc/fstab", "# static file system information\n")
        self.run_on_tmpfs = is_root()
        self._mount_run()

    def _mount_run(self):
        run = self.machine.path("/run")
        run.mkdir(exist_ok=True)
        if self.run_on_tmpfs:
            sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=64m,nosuid,nodev", "kiln-bench-run", str(run))

    def reboot(self):
        """A new kernel boot: everything unmounted (the data volume too), a fresh /run, a new boot id."""
        unmount_under(str(self.path))
        shutil.rmtree(self.machine.path("/run"), ignore_errors=True)
        self._mount_run()
        self.machine.new_boot_id()

    def remove(self):
        """Unmounts what the boot mounted; the files stay until the work directory goes (see WorkDir)."""
        unmount_under(str(self.path))

    def status(self):
        return json.loads(self.machine.path("/run/kiln/status.json").read_text())["v1"]
