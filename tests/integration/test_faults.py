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
  write_files, templates: symlinked targets (test_write_files.py::test_symlink_target_refused_others_written,
        test_templates.py::test_symlink_refused_others_written).
  Consul: an agent that is down for good (test_consul.py::test_agent_never_up),
        starts late (::test_late_agent_start), refuses with 403 (::test_acl_denied,
        ::test_permission_denied_names_the_service), 400 (::test_400_is_reported_not_retried),
        429/500 for a while (::test_429_and_500_are_retried), or is gone at shutdown
        (::test_shutdown_with_the_agent_gone_is_bounded); here, an agent that
        answers 500 for good and one that is too slow to answer.

Filesystems are small tmpfs mounts inside the scratch root (needs root, as
the rest of the suite); every mount is undone by its fixture.
"""
import contextlib
import json
import os
import subprocess

import pytest

from harness import CORTEX_NODE, Consul, Imds

KiB = 1024
DEFAULT_IID = "i-0123456789abcdef0"


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


def templates(*entries):
    ud = "#cloud-config\ntemplates:\n"
    for path, content in entries:
        ud += f"  - path: {path}\n    content: {json.dumps(content)}\n"
    return ud


def test_enospc_templates_keep_the_old_file(machine):
    """The templates module (per boot) on a full filesystem: as write_files."""
    with tmpfs(machine.path("/srv")) as srv:
        machine.write("/srv/app.conf", "old\n")
        machine.use_seed(user_data=templates(("/srv/app.conf", "{{ v1.instance_id }}" + BIG),
                                             ("/etc/other.conf", "{{ v1.region }}\n")))
        assert machine.run(check=False).returncode == 1
        assert machine.module("config", "templates")["errors"] == [
            "Failed to write /srv/app.conf: No space left on device"]
        assert status_exit(machine) == 1
        assert (srv / "app.conf").read_text() == "old\n"
        assert machine.path("/etc/other.conf").read_text() == "eu-west-1\n"
        assert temp_files(machine.root) == []
    machine.reboot()
    machine.run()
    assert machine.path("/srv/app.conf").read_text() == DEFAULT_IID + BIG


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


def test_read_only_templates_target(machine):
    with tmpfs(machine.path("/opt"), ro=True):
        machine.use_seed(user_data=templates(("/opt/app.conf", "x\n"), ("/etc/rw.conf", "ok\n")))
        assert machine.run(check=False).returncode == 1
        assert machine.module("config", "templates")["errors"] == [
            "Failed to write /opt/app.conf: Read-only file system"]
        assert machine.path("/etc/rw.conf").read_text() == "ok\n"
        assert temp_files(machine.root) == []


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


# ---- the Consul agent failing -------------------------------------------------------------------------------

CONSUL_UD = """#cloud-config
consul:
  address: {address}
  register_timeout: 2
  services:
    - {{name: cortex, port: 9009}}
runcmd:
  - touch "$KILN_ROOT/runcmd-ran"
"""


@pytest.mark.parametrize("fault,last", [
    ({"rules": [{"action": "status", "status": 500, "path": "/v1/agent/service/register", "count": None}]},
     "(last: 500 "),
    ({"rules": [{"action": "delay", "delay_ms": 4000, "path": "/v1/agent/service/register", "count": None}]},
     "(last: no answer: Connection timed out)"),
], ids=["500-for-good", "too-slow"])
def test_consul_failing_for_good_is_a_clear_recoverable_error(machine, fault, last):
    with Consul() as consul:
        consul.set_faults(fault)
        machine.use_seed(user_data=CONSUL_UD.format(address=consul.endpoint))
        p = machine.run(check=False)
    assert p.returncode == 0, "a recoverable error does not fail the stage"
    (err,) = machine.module("final", "consul")["recoverable_errors"]
    assert err.startswith(f"The Consul agent at {consul.endpoint} did not accept requests within 2 s {last}"), err
    assert "not done: cortex" in err
    assert status_exit(machine) == 2
    assert machine.path("/runcmd-ran").exists(), "the rest of the final stage ran"
    # recorded, so whatever reached the agent is deregistered at shutdown
    record = json.loads(machine.path("/var/lib/kiln/data/consul-registered.json").read_text())
    assert [s["id"] for s in record["services"]] == ["cortex"]
    assert temp_files(machine.root) == []


def test_consul_slow_but_within_the_deadline_registers(machine):
    with Consul() as consul:
        consul.set_faults(delay_ms=600, delay_path="/v1/agent/service/register")
        machine.use_seed(user_data=CONSUL_UD.format(address=consul.endpoint).replace("register_timeout: 2",
                                                                                     "register_timeout: 10"))
        p = machine.run(check=False)
        assert p.returncode == 0, p.stderr
        assert set(consul.services()) == {"cortex"}
    assert not machine.module("final", "consul").get("recoverable_errors")
    assert status_exit(machine) == 0
