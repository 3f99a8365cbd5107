"""vm.py — boot kiln's end-to-end test VMs: Debian 12 under qemu-system-x86_64 (TCG), systemd as PID 1.

Why it is shaped this way (docs/e2e.md has the long version):
- One cached base image (build-image.sh), never written: every VM boots a qcow2 overlay backed by it, and the
  files under test (a .deb, or a binary + unit files until the .deb exists) are installed into that overlay
  before boot (`create_overlay`). The overlay is opened on the host through qemu-storage-daemon's FUSE export
  (a raw view of the qcow2 file) and loop-mounted: no nbd module, no guestfs appliance, no extra boot.
- Networking is QEMU user mode placed in 169.254.169.0/24 with restrict=on: the guest reaches nothing but
  the guestfwd forwards (169.254.169.254:80 → the IMDS emulator, 169.254.169.200:8500 → the Consul emulator,
  both on host loopback) and is reached only through the ssh hostfwd on 127.0.0.1. guestfwd only accepts
  addresses inside the user network, hence the network's placement; each guest connection runs relay.py
  (guestfwd's cmd: form), because the tcp: form is one shared stream that breaks after the first request.
- The data EBS volume is an emulated NVMe controller whose serial is the volume id without the dash, as on
  Nitro; it is a plain raw file, so the same file can be given to a later VM (a new instance, scenario 3) and
  inspected from the host. The root disk is NVMe too (Nitro-like), found by label.
- Assertions run over ssh (`VM.ssh` returns exit code and output); the serial console is logged to a file and
  reachable on a unix socket for debugging. A completed shutdown is proven by QEMU exiting 0 after the
  kernel's "reboot: Power down" line; a reboot by the "reboot: Restarting system" line and a new boot id.
- Evidence outlives the VM: per boot, `systemd-analyze time/blame/critical-chain` are saved when the boot
  is ready; after shutdown the persistent journal is read from the overlay with the host's journalctl, so
  the shutdown itself (deregistration) is in it.
Standard library only; runs as root under /usr/bin/python3.
"""
import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_IMAGE = HERE / "build-image.sh"
RELAY = HERE / "relay.py"

GUEST_NET = "169.254.169.0/24"
HOST_ALIAS = "169.254.169.2"   # QEMU's gateway address; with restrict=on it leads nowhere
IMDS_ADDR, IMDS_PORT = "169.254.169.254", 80
CONSUL_ADDR, CONSUL_PORT = "169.254.169.200", 8500
ROOT_SERIAL = "vol00000000000000001"
DEFAULT_DATA_SERIAL = "vol0123456789abcdef0"
NVME_SERIAL_MAX = 20

POWER_DOWN_LINE = "reboot: Power down"
RESTART_LINE = "reboot: Restarting system"


class E2EError(Exception):
    """A harness step failed; the message says which and carries the evidence (output, console tail)."""


def log(msg):
    print(f"e2e: {msg}", flush=True)


def run_host(argv, check=True, **kw):
    """Run a host command (argument vector, no shell); raise E2EError with its output when it fails."""
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise E2EError(f"{shlex.join(map(str, argv))} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p


def free_port():
    """A free TCP port on 127.0.0.1 (run inside a private network namespace, nobody else can take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------- base image

@dataclasses.dataclass(frozen=True)
class BaseImage:
    dir: Path

    @property
    def qcow2(self):
        return self.dir / "base.qcow2"

    @property
    def kernel(self):
        return self.dir / "vmlinuz"

    @property
    def initrd(self):
        return self.dir / "initrd.img"

    @property
    def cmdline(self):
        return (self.dir / "cmdline").read_text().strip()

    @property
    def ssh_key(self):
        return self.dir / "id_ed25519"

    def manifest(self):
        lines = (self.dir / "manifest").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


def base_image(force=False):
    """Build the base image if it is missing or stale (see build-image.sh) and return it."""
    argv = [BUILD_IMAGE] + (["--force"] if force else [])
    p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise E2EError(f"build-image.sh failed with {p.returncode} (its log is above)")
    return BaseImage(Path(p.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------------------- disks and overlays

@dataclasses.dataclass
class Payload:
    """What to install into an overlay before boot.

    debs:    .deb files, installed with dpkg -i in a chroot (their maintainer scripts enable units offline).
    files:   (source, destination in the guest, mode) triples, e.g. the kiln binary and its unit files.
    enable:  unit names for `systemctl --root enable`.
    run:     shell commands run in the chroot last (written by the test: a shell is what they are for).
    """
    debs: list = dataclasses.field(default_factory=list)
    files: list = dataclasses.field(default_factory=list)
    enable: list = dataclasses.field(default_factory=list)
    run: list = dataclasses.field(default_factory=list)

    def empty(self):
        return not (self.debs or self.files or self.enable or self.run)


def create_data_disk(path, size="1G"):
    """A blank raw disk (sparse file): the data EBS volume. Raw so the host can inspect it (blkid, debugfs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    run_host(["qemu-img", "create", "-q", "-f", "raw", path, size])
    return path


def create_overlay(base, path, payload=None):
    """A qcow2 overlay backed by the base image, with `payload` installed in it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    run_host(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base.qcow2, path])
    if payload and not payload.empty():
        with mounted_image(path) as root:
            _install_payload(root, payload)
    return path


def _install_payload(root, payload):
    for src, dest, mode in payload.files:
        target = _inside(root, dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        os.chmod(target, mode)
    if payload.debs or payload.run:
        with _chroot_mounts(root):
            for deb in payload.debs:
                _install_deb(root, Path(deb))
            for cmd in payload.run:
                run_host(["chroot", root, "/bin/sh", "-ec", cmd], env=_chroot_env())
    if payload.enable:
        run_host(["systemctl", "--root", root, "enable", *payload.enable])


def _inside(root, dest):
    """root/dest, refused when it resolves outside root: the image has absolute symlinks (/etc/localtime)
    that, followed on the host, would make the copy overwrite a host file."""
    target = root / str(dest).lstrip("/")
    real = os.path.realpath(target)
    if not real.startswith(str(root) + os.sep):
        raise E2EError(f"payload destination {dest} resolves outside the image ({real})")
    return target


def _install_deb(root, deb):
    staged = root / "tmp" / deb.name
    shutil.copyfile(deb, staged)
    try:
        p = run_host(["chroot", root, "dpkg", "-i", f"/tmp/{deb.name}"], check=False, env=_chroot_env())
        if p.returncode != 0:
            raise E2EError(f"dpkg -i {deb.name} failed in the image ({p.returncode}); a missing dependency must "
                           f"be added to PACKAGES in build-image.sh:\n{p.stdout}{p.stderr}")
    finally:
        staged.unlink()


def _chroot_env():
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}


@contextlib.contextmanager
def _chroot_mounts(root):
    """/proc, /sys, /dev and a policy-rc.d that keeps maintainer scripts from starting anything on the host."""
    mounts = [(["-t", "proc", "proc"], "proc"), (["-t", "sysfs", "sys"], "sys"), (["--bind", "/dev"], "dev"),
              (["-t", "tmpfs", "tmpfs"], "run")]
    done = []
    policy = root / "usr/sbin/policy-rc.d"
    try:
        for args, sub in mounts:
            run_host(["mount", *args, root / sub])
            done.append(root / sub)
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        yield
    finally:
        policy.unlink(missing_ok=True)
        for m in reversed(done):
            run_host(["umount", m], check=False)


@contextlib.contextmanager
def mounted_image(qcow2, readonly=False):
    """Mount the ext4 file system of a (stopped) VM's qcow2 disk on the host; yields the mount point.

    qemu-storage-daemon exports the qcow2 as a raw file over FUSE; that file is loop-mounted. On the way out
    the file system is unmounted, the daemon is told to quit over QMP (so the qcow2 is flushed and closed),
    and the FUSE mount point it leaves behind is removed.
    """
    tmp = Path(tempfile.mkdtemp(prefix="kiln-e2e-mnt-"))
    view, mnt, qmp_path = tmp / "raw", tmp / "root", tmp / "qsd.sock"
    view.touch()
    mnt.mkdir()
    ro, writable = ("on", "off") if readonly else ("off", "on")
    qsd = subprocess.Popen(
        ["qemu-storage-daemon",
         "--chardev", f"socket,id=m0,path={qmp_path},server=on,wait=off", "--monitor", "chardev=m0",
         "--blockdev", f"driver=file,node-name=f0,filename={qcow2},read-only={ro}",
         "--blockdev", f"driver=qcow2,node-name=d0,file=f0,read-only={ro}",
         "--export", f"type=fuse,id=e0,node-name=d0,mountpoint={view},writable={writable}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mounted = False
    try:
        _wait_for(lambda: _is_mountpoint(view) or qsd.poll() is not None, 30, "the FUSE export of " + str(qcow2))
        if qsd.poll() is not None:
            raise E2EError(f"qemu-storage-daemon failed on {qcow2}: {qsd.stdout.read()}")
        # noload: a read-only device cannot replay the ext4 journal of a VM that was killed.
        run_host(["mount", "-o", "loop,ro,noload" if readonly else "loop", view, mnt])
        mounted = True
        yield mnt
    finally:
        busy = None
        if mounted:
            p = run_host(["umount", mnt], check=False)
            if p.returncode != 0:           # e.g. a daemon a maintainer script left running in the chroot
                busy = p.stderr.strip()
                run_host(["umount", "-l", mnt], check=False)
        _qsd_quit(qsd, qmp_path)
        if _is_mountpoint(view):
            run_host(["umount", view], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        if busy:
            raise E2EError(f"{qcow2} was still in use when unmounted (lazily unmounted): {busy}")


def _qsd_quit(proc, qmp_path):
    if proc.poll() is None:
        try:
            with Qmp(qmp_path) as q:
                q.execute("quit")
        except (OSError, E2EError):
            proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _is_mountpoint(path):
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def _wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise E2EError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------------------------------------ QMP

class Qmp:
    """The smallest QMP client: connect, negotiate, execute commands (events are skipped)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rw")
        self._read()                                   # greeting
        self.execute("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise E2EError("QMP connection closed")
        return json.loads(line)

    def execute(self, command, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg) + "\n")
        self.file.flush()
        while True:
            try:
                reply = self._read()
            except E2EError:
                if command == "quit":
                    return {}
                raise
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise E2EError(f"QMP {command}: {reply['error'].get('desc')}")

    def close(self):
        self.file.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------------------------- the VM

@dataclasses.dataclass(frozen=True)
class DataDisk:
    path: Path
    serial: str = DEFAULT_DATA_SERIAL
    format: str = "raw"

    def __post_init__(self):
        if len(self.serial) > NVME_SERIAL_MAX:
            raise E2EError(f"NVMe serial {self.serial!r} is longer than {NVME_SERIAL_MAX} characters")


@dataclasses.dataclass(frozen=True)
class Forward:
    """Guest address:port → a TCP port on the host's loopback, through relay.py."""
    guest_addr: str
    guest_port: int
    host_port: int
    host_addr: str = "127.0.0.1"


@dataclasses.dataclass
class Boot:
    """What is known about one boot of a VM once it reached multi-user."""
    index: int
    boot_id: str
    state: str                  # systemctl is-system-running: running | degraded | ...
    seconds_to_ssh: float       # wall clock from QEMU start (or reboot request) to the first ssh answer
    seconds_to_ready: float     # ... to `systemctl is-system-running --wait` returning
    kernel_s: float = None      # from systemd-analyze time
    userspace_s: float = None
    multi_user_s: float = None  # multi-user.target reached, counted from kernel start


class VM:
    """One QEMU guest. Use as a context manager so it is always stopped and its evidence collected.

    workdir receives: console.log (serial), qemu.log (QEMU's stderr), qemu-cmdline.txt, boot-N/ (analyze
    time, blame, critical-chain of boot N), journal.txt (all boots, collected after the VM stops).
    """

    def __init__(self, base, overlay, workdir, *, name="vm", data_disks=(), forwards=(), memory=1024, smp=2,
                 cpu=None, append="", root_serial=ROOT_SERIAL, extra_args=(), accel=None, restrict=True):
        self.base, self.overlay, self.name = base, Path(overlay), name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_disks, self.forwards = list(data_disks), list(forwards)
        self.memory, self.smp, self.cpu = memory, smp, cpu
        self.append, self.root_serial, self.extra_args = append, root_serial, list(extra_args)
        self.accel = accel or os.environ.get("KILN_E2E_ACCEL", "tcg")
        # restrict=False exists only to prove the isolation check can fail (test_smoke.py): allowed only inside
        # a private network namespace with nothing but loopback, so even then nothing can leave the machine.
        if not restrict and not in_private_netns():
            raise E2EError("restrict=False is allowed only inside a private network namespace")
        self.restrict = restrict
        self.console_log = self.workdir / "console.log"
        self.sockdir = Path(tempfile.mkdtemp(prefix=f"kiln-e2e-{name}-"))   # unix socket paths must be short
        self.serial_sock, self.qmp_sock = self.sockdir / "serial.sock", self.sockdir / "qmp.sock"
        self.ssh_port = None
        self.proc = None
        self.boots = []
        self.exit_code = None
        self._started_at = None

    # -- life cycle

    def qemu_argv(self):
        restrict = "on" if self.restrict else "off"
        netdev = [f"user,id=net0,net={GUEST_NET},restrict={restrict},hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"]
        for fwd in self.forwards:
            cmd = shlex.join(["/usr/bin/python3", "-I", "-S", str(RELAY), str(fwd.host_port), fwd.host_addr,
                              str(self.workdir / "relay.log")])
            netdev.append(f"guestfwd=tcp:{fwd.guest_addr}:{fwd.guest_port}-cmd:{cmd}")
        argv = ["qemu-system-x86_64", "-name", f"kiln-e2e-{self.name}", "-machine", "q35", "-accel", self.accel,
                "-m", str(self.memory), "-smp", str(self.smp), "-nodefaults", "-no-user-config",
                "-display", "none", "-rtc", "base=utc",
                "-kernel", self.base.kernel, "-initrd", self.base.initrd,
                "-append", f"{self.base.cmdline} {self.append}".strip(),
                "-drive", f"if=none,id=root,file={self.overlay},format=qcow2,discard=unmap",
                "-device", f"nvme,drive=root,serial={self.root_serial}"]
        for i, disk in enumerate(self.data_disks):
            argv += ["-drive", f"if=none,id=data{i},file={disk.path},format={disk.format}",
                     "-device", f"nvme,drive=data{i},serial={disk.serial}"]
        argv += ["-netdev", ",".join(netdev), "-device", "virtio-net-pci,netdev=net0",
                 "-device", "virtio-rng-pci",
                 "-chardev", f"socket,id=ser0,path={self.serial_sock},server=on,wait=off,"
                             f"logfile={self.console_log},logappend=on",
                 "-serial", "chardev:ser0",
                 "-qmp", f"unix:{self.qmp_sock},server=on,wait=off"]
        if self.cpu:
            argv += ["-cpu", self.cpu]
        return [str(a) for a in argv + self.extra_args]

    def start(self):
        if self.proc:
            raise E2EError(f"{self.name} is already started")
        for fwd in self.forwards:
            check_forward(fwd)
        paths = [self.overlay, self.workdir, self.sockdir, RELAY, self.base.dir] + [d.path for d in self.data_disks]
        if any("," in str(p) for p in paths):      # QEMU's option syntax would split them
            raise E2EError(f"{self.name}: a path given to QEMU contains a comma: {paths}")
        self.ssh_port = free_port()
        argv = self.qemu_argv()
        (self.workdir / "qemu-cmdline.txt").write_text(shlex.join(argv) + "\n")
        log(f"{self.name}: starting QEMU (ssh on 127.0.0.1:{self.ssh_port}, console {self.console_log})")
        self._started_at = time.monotonic()
        with open(self.workdir / "qemu.log", "ab") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=300):
        """Wait for ssh, then for systemd to finish booting; record and return this boot's Boot."""
        t0 = self._started_at
        deadline = t0 + timeout
        self._wait_ssh(deadline)
        t_ssh = time.monotonic() - t0
        left = max(5, deadline - time.monotonic())
        p = self.ssh("systemctl is-system-running --wait", timeout=left, check=False)
        state = p.stdout.strip()
        if state not in ("running", "degraded"):
            raise E2EError(f"{self.name}: boot ended in state {state!r}:\n{p.stderr}"
                           f"{self.ssh('systemctl --failed --no-legend', check=False).stdout}")
        boot = Boot(index=len(self.boots), boot_id=self.boot_id(), state=state, seconds_to_ssh=round(t_ssh, 1),
                    seconds_to_ready=round(time.monotonic() - t0, 1))
        self._record_boot(boot)
        self.boots.append(boot)
        log(f"{self.name}: boot {boot.index} {state} after {boot.seconds_to_ready}s "
            f"(multi-user at {boot.multi_user_s}s guest time)")
        return boot

    def _wait_ssh(self, deadline):
        while True:
            if not self.running():
                raise E2EError(f"{self.name}: QEMU exited ({self.proc.returncode}) before the guest came up\n"
                               f"{self.tail('qemu.log')}{self.tail()}")
            if "Kernel panic" in self.console_text():
                raise E2EError(f"{self.name}: the guest kernel panicked\n{self.tail()}")
            try:
                if self.ssh("true", timeout=15, check=False, connect_timeout=3).returncode == 0:
                    return
            except E2EError:
                pass
            if time.monotonic() > deadline:
                raise E2EError(f"{self.name}: no ssh after {deadline - self._started_at:.0f}s\n{self.tail()}")
            time.sleep(1)

    def _record_boot(self, boot):
        out = self.workdir / f"boot-{boot.index}"
        out.mkdir(exist_ok=True)
        for fname, cmd in (("analyze-time.txt", "systemd-analyze time"),
                           ("blame.txt", "systemd-analyze blame --no-pager"),
                           ("critical-chain.txt", "systemd-analyze critical-chain --no-pager"),
                           ("failed-units.txt", "systemctl --failed --no-pager")):
            p = self.ssh(cmd, check=False, timeout=60)
            (out / fname).write_text(p.stdout + p.stderr)
        boot.kernel_s, boot.userspace_s, boot.multi_user_s = parse_analyze_time(
            (out / "analyze-time.txt").read_text())

    def reboot(self, timeout=300):
        """Reboot from inside the guest; returns the new Boot after checking the old one ended and its id changed."""
        old = self.boot_id()
        restarts = self.console_text().count(RESTART_LINE)
        self._started_at = time.monotonic()
        self.ssh("systemctl reboot", check=False, timeout=30)
        _wait_for(lambda: self.console_text().count(RESTART_LINE) > restarts or not self.running(), timeout,
                  f"{self.name} to restart")
        self._ssh_master_exit()        # its connection died with the old boot
        boot = self.wait_ready(timeout)
        if boot.boot_id == old:
            raise E2EError(f"{self.name}: boot id unchanged after reboot ({old})")
        return boot

    def shutdown(self, timeout=180, method="ssh"):
        """Power the guest off and prove it completed: QEMU exits 0 after the kernel printed its power-down line.

        method "ssh" runs `systemctl poweroff` in the guest; "acpi" presses the virtual power button over QMP
        (what EC2's stop/terminate does). Returns the seconds the shutdown took.
        """
        mark = len(self.console_text())
        t0 = time.monotonic()
        if method == "acpi":
            with Qmp(self.qmp_sock) as q:
                q.execute("system_powerdown")
        else:
            self.ssh("systemctl poweroff", check=False, timeout=30)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise E2EError(f"{self.name}: shutdown did not finish in {timeout}s\n{self.tail()}")
        elapsed = time.monotonic() - t0
        self._ssh_master_exit()
        if self.exit_code != 0:
            raise E2EError(f"{self.name}: QEMU exited {self.exit_code} on shutdown\n{self.tail('qemu.log')}")
        if POWER_DOWN_LINE not in self.console_text()[mark:]:
            raise E2EError(f"{self.name}: QEMU exited but the guest never printed {POWER_DOWN_LINE!r}\n{self.tail()}")
        log(f"{self.name}: shut down cleanly in {elapsed:.1f}s")
        return elapsed

    def kill(self):
        """Stop QEMU now (no guest shutdown): QMP quit, then SIGKILL."""
        if not self.running():
            return
        try:
            with Qmp(self.qmp_sock, timeout=5) as q:
                q.execute("quit")
            self.proc.wait(timeout=10)
        except (OSError, E2EError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.exit_code = self.proc.returncode

    def collect_journal(self):
        """Write journal.txt (every boot of this VM) from its disk; the VM must be stopped. Returns the path."""
        if self.running():
            raise E2EError(f"{self.name}: collect_journal needs a stopped VM")
        dest = self.workdir / "journal.txt"
        # Writable, so ext4 replays its journal if the VM was killed: the overlay is thrown away anyway.
        with mounted_image(self.overlay) as root:
            jdir = root / "var/log/journal"
            p = run_host(["journalctl", "-D", jdir, "--no-pager", "-o", "short-monotonic"], check=False)
            boots = run_host(["journalctl", "-D", jdir, "--no-pager", "--list-boots"], check=False)
        dest.write_text(boots.stdout + "\n" + p.stdout + p.stderr)
        return dest

    def close(self, collect=True):
        """Stop the VM if still running, collect its journal, remove its sockets. Never raises on collection."""
        self._ssh_master_exit()
        self.kill()
        if collect and self.proc is not None:
            try:
                self.collect_journal()
            except E2EError as e:
                log(f"{self.name}: could not collect the journal: {e}")
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- in the guest

    def ssh(self, command, *, timeout=120, check=True, input=None, connect_timeout=10):
        """Run a command in the guest as root. command: a shell string or an argument list (quoted for the
        guest's shell). Returns CompletedProcess (returncode 255 means ssh itself failed)."""
        if not isinstance(command, str):
            command = shlex.join(map(str, command))
        argv = self._ssh_argv(connect_timeout) + ["root@127.0.0.1", command]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise E2EError(f"{self.name}: `{command}` timed out after {timeout}s") from e
        if check and p.returncode != 0:
            raise E2EError(f"{self.name}: `{command}` exited {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def _ssh_argv(self, connect_timeout=10):
        # One multiplexed connection per boot: under TCG a fresh ssh handshake costs about a second, a new
        # channel on an open connection a fraction of that. A reboot closes the master; the next call opens one.
        return ["ssh", "-i", str(self.base.ssh_key), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", f"ConnectTimeout={connect_timeout}", "-o", "ServerAliveInterval=5",
                "-o", "ServerAliveCountMax=6", "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self.sockdir}/ssh-%C", "-o", "ControlPersist=30"]

    def _ssh_master_exit(self):
        if self.ssh_port:
            subprocess.run(self._ssh_argv() + ["-O", "exit", "root@127.0.0.1"], capture_output=True, timeout=30)

    def boot_id(self):
        return self.ssh("cat /proc/sys/kernel/random/boot_id", timeout=30).stdout.strip()

    # -- evidence

    def console_text(self):
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, fname="console.log", lines=40):
        try:
            text = (self.workdir / fname).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return f"--- last {lines} lines of {self.workdir / fname}:\n" + "\n".join(text.splitlines()[-lines:]) + "\n"


# -------------------------------------------------------------------------------------------- helpers

def emulator_forwards(imds_port=None, consul_port=None):
    """The usual forwards: IMDS at 169.254.169.254:80 and Consul at 169.254.169.200:8500 → host loopback ports."""
    fwds = []
    if imds_port:
        fwds.append(Forward(IMDS_ADDR, IMDS_PORT, imds_port))
    if consul_port:
        fwds.append(Forward(CONSUL_ADDR, CONSUL_PORT, consul_port))
    return fwds


def in_private_netns():
    """True inside a network namespace whose only interface is loopback: nothing in it can leave the machine."""
    with open("/proc/self/net/dev") as f:          # per namespace, unlike /sys/class/net without a remount
        names = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    return names == ["lo"]


def check_forward(fwd):
    """A forward must go from a free guest address of the user network to the host's loopback, nowhere else."""
    net = ipaddress.ip_network(GUEST_NET)
    guest = ipaddress.ip_address(fwd.guest_addr)
    reserved = {HOST_ALIAS, "169.254.169.3"} | {f"169.254.169.{i}" for i in range(15, 31)}   # gateway, DNS, DHCP
    if guest not in net or fwd.guest_addr in reserved:
        raise E2EError(f"forward {fwd}: guest address must be in {GUEST_NET} outside gateway, DNS and DHCP range")
    if not ipaddress.ip_address(fwd.host_addr).is_loopback:
        raise E2EError(f"forward {fwd}: host address must be loopback")

_SPAN = re.compile(r"(\d+(?:\.\d+)?)(min|ms|us|s|h)\b")
_UNITS = {"h": 3600.0, "min": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}


def parse_timespan(text):
    """systemd's '1min 2.345s' / '850ms' → seconds."""
    return round(sum(float(n) * _UNITS[u] for n, u in _SPAN.findall(text)), 3)


def parse_analyze_time(text):
    """(kernel, userspace, multi-user reached since kernel start) from `systemd-analyze time`; None if absent."""
    kernel = userspace = target = None
    m = re.search(r"Startup finished in (.*?) \(kernel\)", text)
    if m:
        kernel = parse_timespan(m.group(1))
    m = re.search(r"\+ ([^+]*?) \(userspace\)", text)
    if m:
        userspace = parse_timespan(m.group(1))
    m = re.search(r"reached after (.*?) in userspace", text)
    if m and kernel is not None:
        target = round(kernel + parse_timespan(m.group(1)), 3)
    return kernel, userspace, target


# ------------------------------------------------------------------------------------------ command line

def _parse_file_spec(spec):
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"--file {spec}: expected SRC:DEST[:MODE]")
    return Path(parts[0]), parts[1], int(parts[2], 8) if len(parts) == 3 else 0o644


def _parse_data_spec(spec):
    path, _, serial = spec.partition(":")
    return DataDisk(Path(path), serial or DEFAULT_DATA_SERIAL)


def main(argv=None):
    """`vm.py boot ...`: boot one VM by hand for debugging, print how to reach it, wait until it powers off
    (or Ctrl-C), then collect its journal. Run it as root inside `unshare --net --mount` like run.sh."""
    import argparse
    ap = argparse.ArgumentParser(prog="vm.py", description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("boot")
    b.add_argument("--workdir", type=Path, default=None, help="evidence directory (default: new /tmp dir)")
    b.add_argument("--deb", action="append", default=[], type=Path)
    b.add_argument("--file", action="append", default=[], type=_parse_file_spec, metavar="SRC:DEST[:MODE]")
    b.add_argument("--enable", action="append", default=[], metavar="UNIT")
    b.add_argument("--data", action="append", default=[], type=_parse_data_spec, metavar="PATH[:SERIAL]",
                   help="data disk (created blank, 1G, if missing)")
    b.add_argument("--imds-port", type=int, help=f"host loopback port for {IMDS_ADDR}:{IMDS_PORT}")
    b.add_argument("--consul-port", type=int, help=f"host loopback port for {CONSUL_ADDR}:{CONSUL_PORT}")
    b.add_argument("--append", default="", help="extra kernel command line (e.g. systemd.log_level=debug)")
    args = ap.parse_args(argv)

    base = base_image()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kiln-e2e-boot-"))
    for disk in args.data:
        if not disk.path.exists():
            create_data_disk(disk.path)
    forwards = emulator_forwards(args.imds_port, args.consul_port)
    payload = Payload(debs=args.deb, files=args.file, enable=args.enable)
    overlay = create_overlay(base, workdir / "root.qcow2", payload)
    with VM(base, overlay, workdir, name="debug", data_disks=args.data, forwards=forwards,
            append=args.append) as vm:
        vm.start()
        # The forwards live in this process's network namespace: another shell reaches them through it.
        ns = f"nsenter --net=/proc/{os.getpid()}/ns/net " if in_private_netns() else ""
        print(f"serial console: socat -,raw,echo=0 UNIX-CONNECT:{vm.serial_sock}   (log: {vm.console_log})")
        vm.wait_ready()
        print(f"ssh: {ns}ssh -i {base.ssh_key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
              "-o LogLevel=ERROR "
              f"-p {vm.ssh_port} root@127.0.0.1")
        print("waiting for the guest to power off (Ctrl-C kills it)")
        try:
            vm.proc.wait()
        except KeyboardInterrupt:
            pass
    print(f"evidence in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
