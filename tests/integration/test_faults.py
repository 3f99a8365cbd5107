"""Fault injection: kiln meets a full disk, a read-only destination, a full
/run or state directory, a metadata service that is down — and each run ends
in a clear status (the stage's errors name the file and the reason, `kiln
status` exits 1), with no half-written file (the old file intact or no file
at all), no temporary file left behind, and a rerun that finishes the job
once the fault is gone.

Faults covered elsewhere, with their status checks:
  IMDS: every fault mode of the emulator (5xx, 429, dropped and truncated
        answers, slow answers, 401/expired tokens, 403 disabled, redirects,
        garbage, oversize) — test_imds.py; here, the status a failed fetch
        leaves and that nothing was written.
  volumes: a late volume (test_volumes.py::test_late_device_is_found) and one
        that never comes (::test_never_appears_errors_at_deadline).
  write_files: symlinked targets (test_write_files.py::test_symlink_target_refused_others_written).
TODO(consul, when agent/consul* lands on main): Consul agent down, late, 403,
500 and slow (the emulator has every one: tests/emulators/consul.py), each
ending in a clear status for the consul modules; and the `templates` module's
targets on a full and a read-only filesystem, as write_files' below.

Filesystems are small tmpfs mounts inside the scratch root (needs root, as
the rest of the suite); every mount is undone by its fixture.
"""
import contextlib
import json
import os
import subprocess

import pytest

from harness import CORTEX_NODE, Imds

KiB = 1024


@contextlib.contextmanager
def tmpfs(path, size=64 * KiB, ro=False):
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0755" + (",ro" if ro else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "kiln-test", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(directory, leave=0):
    """Fills the filesystem of directory up to `leave` free bytes (a filler file)."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    filler = directory / ".filler"
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * max(0, free - leave))
        except OSError:
            pass
    return filler


def temp_files(root):
    """kiln's temporary files (".#name.random") anywhere under root."""
    found = []
    for dirpath, _, files in os.walk(root):
        found += [os.path.join(dirpath, f) for f in files if f.startswith(".#")]
    return found


def stage_errors(machine, stage):
    return machine.status()[stage]["errors"]


def status_exit(machine):
    return machine.kiln("status", check=False).returncode


def write_files(*entries):
    ud = "#cloud-config\nwrite_files:\n"
    for path, content in entries:
        ud += f"  - path: {path}\n    content: {json.dumps(content)}\n"
    return ud


BIG = "x" * (200 * KiB)  # larger than the 64 KiB filesystems below


# ---- a full disk while writing configs ------------------------------------------------------------------


def test_enospc_keeps_the_old_file_and_reruns(machine):
    app = machine.path("/etc/app")
    with tmpfs(app):
        machine.write("/etc/app/app.conf", "old\n", mode=0o640)
        machine.use_seed(user_data=write_files(("/etc/app/app.conf", BIG), ("/etc/other.conf", "ok\n")))
        p = machine.run(check=False)
        assert p.returncode == 1
        assert "Failed to write /etc/app/app.conf: No space left on device" in p.stderr
        mod = machine.module("config", "write_files")
        assert mod["result"] == "failed"
        assert mod["errors"] == ["Failed to write /etc/app/app.conf: No space left on device"]
        assert stage_errors(machine, "config") == ["write_files: Failed to write /etc/app/app.conf: No space left on device"]
        assert status_exit(machine) == 1
        # the old file as it was, the other file written, nothing half-written, no temp file left
        assert (app / "app.conf").read_text() == "old\n"
        assert os.stat(app / "app.conf").st_mode & 0o777 == 0o640
        assert machine.path("/etc/other.conf").read_text() == "ok\n"
        assert temp_files(machine.root) == []
        assert sorted(os.listdir(app)) == ["app.conf"]
        # later stages still ran; the failed module has no semaphore and runs again
        assert machine.path("/run/kiln/result.json").exists()
        assert not machine.path("/var/lib/kiln/instance/sem/write_files").exists()
    # the fault is gone (the small filesystem unmounted): the rerun finishes the job
    machine.reboot()
    machine.run()
    assert machine.path("/etc/app/app.conf").read_text() == BIG
    assert machine.module("config", "write_files")["result"] == "ok"
    assert status_exit(machine) == 0


def test_enospc_on_a_new_file_leaves_no_file(machine):
    with tmpfs(machine.path("/srv")) as srv:
        fill(srv, leave=4 * KiB)
        machine.use_seed(user_data=write_files(("/srv/new.conf", "y" * (16 * KiB))))
        p = machine.run(check=False)
        assert p.returncode == 1
        assert not (srv / "new.conf").exists()
        assert temp_files(machine.root) == []
        assert machine.module("config", "write_files")["errors"] == [
            "Failed to write /srv/new.conf: No space left on device"]


def test_enospc_append_keeps_the_old_content(machine):
    with tmpfs(machine.path("/srv")) as srv:
        machine.write("/srv/hosts.allow", "ALL: LOCAL\n")
        fill(srv, leave=8 * KiB)
        machine.use_seed(user_data="#cloud-config\nwrite_files:\n  - path: /srv/hosts.allow\n"
                                   f"    content: {json.dumps(BIG)}\n    append: true\n")
        assert machine.run(check=False).returncode == 1
        assert (srv / "hosts.allow").read_text() == "ALL: LOCAL\n"
        assert temp_files(machine.root) == []


# ---- a read-only destination ---------------------------------------------------------------------------


def test_read_only_destination(machine):
    ro = machine.path("/etc/ro")
    ro.mkdir(parents=True)
    (ro / "keep.conf").write_text("kept\n")
    subprocess.run(["mount", "--bind", str(ro), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        machine.use_seed(user_data=write_files(("/etc/ro/keep.conf", "new\n"), ("/etc/ro/fresh.conf", "new\n"),
                                               ("/etc/rw.conf", "ok\n")))
        p = machine.run(check=False)
        assert p.returncode == 1
        errors = machine.module("config", "write_files")["errors"]
        assert errors == ["Failed to write /etc/ro/keep.conf: Read-only file system",
                          "Failed to write /etc/ro/fresh.conf: Read-only file system"]
        assert status_exit(machine) == 1
        assert (ro / "keep.conf").read_text() == "kept\n"
        assert not (ro / "fresh.conf").exists()
        assert machine.path("/etc/rw.conf").read_text() == "ok\n"
        assert temp_files(machine.root) == []
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_read_only_directory_to_create(machine):
    """The target's directory does not exist and can't be made."""
    with tmpfs(machine.path("/opt"), ro=True):
        machine.use_seed(user_data=write_files(("/opt/app/conf.d/x.conf", "x\n")))
        assert machine.run(check=False).returncode == 1
        assert machine.module("config", "write_files")["errors"] == [
            "Failed to create the directory of /opt/app/conf.d/x.conf: Read-only file system"]


def test_read_only_etc_fails_the_network_modules_clearly(machine):
    """hostname and ssh_keys on a read-only /etc and /root: errors that say which file and why."""
    machine.write("/etc/hostname", "old-name\n")
    machine.use_seed()
    with tmpfs(machine.path("/root"), ro=True):
        etc = machine.path("/etc")
        subprocess.run(["mount", "--bind", str(etc), str(etc)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(etc)], check=True)
            p = machine.run(check=False)
        finally:
            subprocess.run(["umount", str(etc)], check=True)
    assert p.returncode == 1
    assert machine.module("network", "hostname")["errors"] == [
        "Failed to write /etc/hostname: Read-only file system"]
    errs = machine.module("network", "ssh_keys")["errors"]
    assert len(errs) == 1 and errs[0].startswith("Refusing to write /root/.ssh/authorized_keys") \
        and errs[0].endswith("Read-only file system"), errs
    assert machine.path("/etc/hostname").read_text() == "old-name\n"
    assert temp_files(machine.root) == []


# ---- kiln's own directories full -----------------------------------------------------------------------


def test_full_run_directory(machine):
    """/run/kiln full: status can't be written.  kiln says so and fails; what is
    there is never a torn status.json."""
    machine.use_seed(user_data=write_files(("/etc/motd", "hi\n")))
    run = machine.path("/run/kiln")
    with tmpfs(run, size=16 * KiB):
        fill(run)
        p = machine.run(check=False)
        assert p.returncode != 0
        assert "Failed to write /run/kiln/status.json: No space left on device" in p.stderr
        assert "Failed to write instance-data under /run/kiln: No space left on device" in p.stderr
        for name in ("status.json", "instance-data.json", "instance-data-sensitive.json"):
            f = run / name
            if f.exists():
                json.loads(f.read_text())  # complete, never a prefix
        assert temp_files(machine.root) == []
    machine.run()
    assert status_exit(machine) == 0


def test_full_state_directory(machine):
    """/var/lib/kiln/instances on a full filesystem: the instance's user-data
    can't be saved, so nothing runs; the status says why."""
    machine.use_seed(user_data=write_files(("/etc/motd", "hi\n")))
    inst = machine.path("/var/lib/kiln/instances")
    with tmpfs(inst, size=16 * KiB):
        fill(inst)
        p = machine.run(check=False)
        assert p.returncode == 1
        assert ("Failed to save user-data in /var/lib/kiln/instances/i-0123456789abcdef0: No space left on device"
                in p.stderr)
        errors = stage_errors(machine, "local")
        assert errors == ["local stage failed: No space left on device"], errors
        assert status_exit(machine) == 1
        assert not machine.path("/etc/motd").exists(), "nothing is changed when the instance can't be recorded"
        assert temp_files(machine.root) == []
    machine.run()
    assert machine.path("/etc/motd").read_text() == "hi\n"


# ---- the metadata service down -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imds():
    with Imds() as emulator:
        yield emulator


IMDS_DOWN = {
    "disabled": ({"disabled": True}, "403"),
    "5xx-forever": ({"rules": [{"action": "status", "status": 503, "count": None}]}, "deadline"),
    "drop-forever": ({"rules": [{"action": "drop", "count": None}]}, "deadline"),
    "slow-forever": ({"rules": [{"action": "delay", "delay_ms": 3000, "count": None}]}, "deadline"),
}


@pytest.mark.parametrize("fault", sorted(IMDS_DOWN))
def test_imds_down_leaves_a_clear_status_and_writes_nothing(machine, imds, fault):
    spec, _ = IMDS_DOWN[fault]
    with open(CORTEX_NODE, encoding="utf-8") as f:
        tree = json.load(f)
    tree["user-data"] = write_files(("/etc/motd", "hi\n"))
    imds.set_tree(tree)
    imds.reset_faults()
    imds.set_faults(spec)
    try:
        machine.use_imds(imds, max_wait=3)
        p = machine.run(check=False)
    finally:
        imds.reset_faults()
    assert p.returncode == 1
    errors = stage_errors(machine, "network")
    assert len(errors) == 1 and errors[0].startswith("network stage failed: "), errors
    assert status_exit(machine) == 1
    # nothing was fetched, so nothing was written: no instance data, no user-data copy, no files
    for f in ("/run/kiln/instance-data.json", "/run/kiln/instance-data-sensitive.json", "/etc/motd"):
        assert not machine.path(f).exists(), f
    assert not machine.path("/var/lib/kiln/instances").exists()
    assert temp_files(machine.root) == []
    # IMDS back: the next run (a service restart) completes
    p = machine.run(check=False)
    assert p.returncode == 0, p.stderr
    assert machine.path("/etc/motd").read_text() == "hi\n"
