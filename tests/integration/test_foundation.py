"""The foundation: stages, frequencies, state, status, plan, clean, CLI.

Every test runs the real binary against a scratch --root with the seed
datasource; "reboots" change the fake boot id and wipe /run.
"""
import json
import os
import subprocess
import time

import pytest

from kilntest import KILN

RUNCMD_UD = """#cloud-config
bootcmd:
  - echo boot >> "$KILN_ROOT/bootcmd.log"
runcmd:
  - echo "run $KILN_INSTANCE_ID" >> "$KILN_ROOT/runcmd.log"
"""


def lines(machine, name):
    p = machine.path(name)
    return p.read_text().splitlines() if p.exists() else []


def test_first_boot_runs_every_stage(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.run()
    st = machine.status()
    for stage in ("local", "network", "config", "final"):
        assert st[stage]["start"] and st[stage]["finished"], stage
        assert st[stage]["errors"] == []
    assert st["datasource"] == "seed"
    assert st["instance_id"] == "i-0123456789abcdef0"
    assert st["network"]["modules"]["bootcmd"]["result"] == "ok"
    assert st["final"]["modules"]["runcmd"]["changes"][0]["action"] == "ran"
    assert lines(machine, "runcmd.log") == ["run i-0123456789abcdef0"]
    assert lines(machine, "bootcmd.log") == ["boot"]
    # state layout
    assert os.readlink(machine.path("/var/lib/kiln/instance")) == "instances/i-0123456789abcdef0"
    assert machine.path("/var/lib/kiln/data/instance-id").read_text() == "i-0123456789abcdef0\n"
    assert machine.path("/var/lib/kiln/instance/sem/runcmd").exists()
    # result.json in cloud-init's shape
    result = json.loads(machine.path("/run/kiln/result.json").read_text())
    assert result["v1"]["errors"] == [] and result["v1"]["datasource"] == "seed"
    # instance-data files and their modes
    assert oct(machine.path("/run/kiln/instance-data.json").stat().st_mode & 0o777) == "0o644"
    assert oct(machine.path("/run/kiln/instance-data-sensitive.json").stat().st_mode & 0o777) == "0o600"
    assert machine.kiln("status").stdout == "status: done\n"


def test_reboot_skips_per_instance_and_reruns_per_boot(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.run()
    machine.reboot()
    machine.run()
    assert lines(machine, "runcmd.log") == ["run i-0123456789abcdef0"]
    assert lines(machine, "bootcmd.log") == ["boot", "boot"]
    runcmd = machine.module("final", "runcmd")
    assert runcmd["result"] == "skipped" and "per-instance" in runcmd["reason"]
    # a manual run in the same boot repeats neither
    machine.run()
    assert lines(machine, "bootcmd.log") == ["boot", "boot"]


def test_new_instance_id_reruns_per_instance(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.run()
    machine.reboot()
    meta = dict(__import__("kilntest").DEFAULT_META, **{"instance-id": "i-0fedcba9876543210"})
    machine.seed(meta, RUNCMD_UD)
    machine.run()
    assert lines(machine, "runcmd.log") == ["run i-0123456789abcdef0", "run i-0fedcba9876543210"]
    assert machine.path("/var/lib/kiln/data/previous-instance-id").read_text() == "i-0123456789abcdef0\n"
    assert os.readlink(machine.path("/var/lib/kiln/instance")) == "instances/i-0fedcba9876543210"


def test_failed_module_is_retried_next_run(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    # the command output log can't be opened: runcmd fails as a whole
    machine.path("/var/log/kiln-output.log").mkdir(parents=True)
    p = machine.run(check=False)
    assert p.returncode == 1
    assert machine.module("final", "runcmd")["result"] == "failed"
    assert not machine.path("/var/lib/kiln/instance/sem/runcmd").exists()
    assert machine.kiln("status", check=False).returncode == 1
    assert lines(machine, "runcmd.log") == []
    machine.path("/var/log/kiln-output.log").rmdir()
    machine.reboot()
    machine.run()
    assert machine.module("final", "runcmd")["result"] == "ok"
    assert lines(machine, "runcmd.log") == ["run i-0123456789abcdef0"]


def test_failing_command_is_recoverable(machine):
    machine.use_seed(user_data="#cloud-config\nruncmd:\n  - 'false'\n  - echo after >> \"$KILN_ROOT/after\"\n")
    machine.run()
    assert machine.path("after").exists()
    p = machine.kiln("status", "--long", check=False)
    assert p.returncode == 2
    assert "status: degraded done" in p.stdout
    assert "exited with status 1" in p.stdout


def test_plan_changes_nothing(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    before = machine.snapshot()
    p = machine.kiln("plan")
    assert "final: runcmd (per-instance):" in p.stdout
    assert "run echo" in p.stdout
    assert machine.snapshot() == before
    # and after a first boot, plan says what would be skipped, still touching nothing
    machine.run()
    before = machine.snapshot()
    p = machine.kiln("plan")
    assert "final: runcmd: skipped, already ran (per-instance)" in p.stdout
    assert machine.snapshot() == before


def wait_proc(machine, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    return subprocess.Popen([KILN, "--root", str(machine.root), "status", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_status_wait_returns_only_after_final(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    waiter = wait_proc(machine, "--wait")
    for stage in ("local", "network", "config"):
        machine.run(stage)
    time.sleep(0.5)
    assert waiter.poll() is None, "status --wait returned before the final stage"
    machine.run("final")
    out, _ = waiter.communicate(timeout=10)
    assert waiter.returncode == 0
    assert out == "status: done\n"


def test_status_wait_exit_codes(machine):
    machine.use_seed(user_data="#cloud-config\nruncmd: ['false']\n")
    machine.run()
    assert machine.kiln("status", "--wait", check=False).returncode == 2
    machine.reboot()
    machine.use_seed(user_data="#cloud-config\nruncmd: 5\n")
    machine.run(check=False)
    p = machine.kiln("status", "--wait", "--json", check=False)
    assert p.returncode == 1
    assert json.loads(p.stdout)["v1"]["final"]["errors"]


def test_status_wait_timeout(machine):
    machine.use_seed()
    t0 = time.monotonic()
    p = machine.kiln("status", "--wait", "--timeout", "0.5", check=False)
    assert p.returncode == 1 and "timed out" in p.stderr
    assert time.monotonic() - t0 < 5


def test_disabled(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.write("/etc/kiln/kiln-disabled", "")
    machine.run()
    assert not machine.path("/run/kiln/status.json").exists()
    p = machine.kiln("status", "--wait", timeout=10)
    assert p.stdout == "status: disabled\n"


def test_bad_user_data_changes_nothing(machine):
    machine.use_seed(user_data="#cloud-config\nruncmd:\n  - echo hi\nbootcmd: {a: 1}\n")
    p = machine.run(check=False)
    assert p.returncode == 1
    assert "user-data:4:10: error: bootcmd: expected list, got mapping" in p.stderr
    assert not machine.path("/var/log/kiln-output.log").exists()
    assert not machine.path("/var/lib/kiln/instance/sem/runcmd").exists()
    errors = machine.status()["network"]["errors"]
    assert errors and "invalid input" in errors[0]


def test_bad_image_config_changes_nothing(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.image_config("kiln:\n  command_timeout: soon\n", name="50-bad.yaml")
    p = machine.run(check=False)
    assert p.returncode == 1
    assert "/etc/kiln/kiln.d/50-bad.yaml:2:20: error: kiln.command_timeout: expected number, got string" in p.stderr
    assert not machine.path("/var/lib/kiln/instance").exists()
    assert machine.kiln("status", check=False).returncode == 1


def test_unknown_key_warns_with_suggestion(machine):
    machine.use_seed(user_data="#cloud-config\nrumcmd: [echo]\npackages: [htop]\n")
    p = machine.run()
    assert "user-data:2:1: warning: rumcmd: unknown key (did you mean 'runcmd'?)" in p.stderr
    assert "user-data:3:1: warning: packages: cloud-init key not supported by kiln (ignored)" in p.stderr


def test_dropins_layer_in_lexical_order(machine):
    machine.use_seed(user_data=None, extra_config="runcmd: ['echo base >> \"$KILN_ROOT/out\"']\n")
    machine.image_config("runcmd: ['echo 10 >> \"$KILN_ROOT/out\"']\n", name="10-a.yaml")
    machine.image_config("runcmd: ['echo 20 >> \"$KILN_ROOT/out\"']\n", name="20-b.yaml")
    machine.image_config("runcmd: ['echo ignored >> \"$KILN_ROOT/out\"']\n", name="30-c.yaml.disabled")
    machine.run()
    assert lines(machine, "out") == ["20"]


def test_user_data_overrides_image_defaults(machine):
    machine.use_seed(user_data="#cloud-config\nvars: {b: 2}\n", extra_config="vars: {a: 1, b: 1}\n")
    machine.run()
    assert machine.instance_data()["vars"] == {"a": 1, "b": 2}


def test_rerun_module(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.run()
    machine.kiln("rerun", "runcmd")
    assert lines(machine, "runcmd.log") == ["run i-0123456789abcdef0"]
    machine.kiln("rerun", "runcmd", "--frequency", "always")
    assert lines(machine, "runcmd.log") == ["run i-0123456789abcdef0"] * 2
    p = machine.kiln("rerun", "nosuchmodule", check=False)
    assert p.returncode == 64 and "unknown module" in p.stderr


def test_clean_makes_next_boot_a_first_boot(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.write("/etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0o444)
    machine.run()
    machine.kiln("clean", "--logs", "--machine-id")
    assert not machine.path("/var/lib/kiln/instance").exists()
    assert not machine.path("/var/lib/kiln/instances").exists()
    assert machine.path("/var/lib/kiln/seed/meta-data").exists(), "seed kept without --seed"
    assert not machine.path("/run/kiln").exists()
    assert not machine.path("/var/log/kiln-output.log").exists()
    assert machine.path("/etc/machine-id").read_text() == "uninitialized\n"
    machine.reboot()
    machine.run()
    assert lines(machine, "runcmd.log") == ["run i-0123456789abcdef0"] * 2
    machine.kiln("clean", "--seed")
    assert not machine.path("/var/lib/kiln/seed").exists()


def test_query(machine):
    machine.use_seed(user_data="#cloud-config\nvars: {role: cortex}\nsecret_vars: {token: s3cr3t}\n")
    machine.run()
    assert machine.kiln("query", "v1.region").stdout == "eu-west-1\n"
    assert machine.kiln("query", "ds.meta_data.local_ipv4").stdout == "10.0.1.23\n"
    assert machine.kiln("query", "tags.Role").stdout == "cortex\n"
    assert machine.kiln("query", "vars.role").stdout == "cortex\n"
    keys = machine.kiln("query", "--list-keys").stdout.split()
    assert {"v1", "ds", "tags", "vars", "kiln"} <= set(keys)
    assert json.loads(machine.kiln("query", "--all").stdout)["v1"]["instance_id"] == "i-0123456789abcdef0"
    public = machine.instance_data(sensitive=False)
    assert public["secret_vars"] == "redacted for non-root user"
    assert "s3cr3t" not in machine.path("/run/kiln/instance-data.json").read_text()
    assert "s3cr3t" not in machine.path("/run/kiln/status.json").read_text()
    p = machine.kiln("query", "v1.nope", check=False)
    assert p.returncode == 1 and "no key 'v1.nope'" in p.stderr


def test_analyze(machine):
    machine.use_seed(user_data=RUNCMD_UD)
    machine.run()
    out = machine.kiln("analyze").stdout
    for word in ("local", "network", "config", "final", "final/runcmd (ok)", "network/bootcmd (ok)"):
        assert word in out


def test_validate(machine, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("#cloud-config\nruncmd: [ls]\n")
    p = machine.kiln("validate", str(good))
    assert p.returncode == 0 and "valid" in p.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("#cloud-config\nruncmd:\n  - [ls, {a: 1}]\n")
    p = machine.kiln("validate", str(bad), check=False)
    assert p.returncode == 1
    assert f"{bad}:3:10: error: runcmd[0][1]: expected string or integer, got mapping" in p.stderr
    p = machine.kiln("validate", "-", input="#cloud-config\nruncmd: [\n", check=False)
    assert p.returncode == 1 and p.stderr.startswith("<stdin>:")
    image = tmp_path / "kiln.yaml"
    image.write_text("datasource: {name: nope}\n")
    p = machine.kiln("validate", "--image", str(image), check=False)
    assert p.returncode == 1
    assert "datasource.name: 'nope' is not one of" in p.stderr


USAGE = [
    ([], "missing command"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["--bogus", "run"], "unknown option"),
    (["run", "--stage", "later"], "unknown stage 'later'"),
    (["run", "extra"], "unexpected argument"),
    (["status", "--timeout", "x", "--wait"], "positive number"),
    (["rerun"], "needs exactly one MODULE"),
    (["query"], "give a KEY"),
    (["--root", "relative", "version"], "absolute path"),
]


@pytest.mark.parametrize("args,message", USAGE)
def test_usage_errors_exit_64_with_one_line(args, message):
    p = subprocess.run([KILN, *args], capture_output=True, text=True)
    assert p.returncode == 64
    assert message in p.stderr
    assert p.stderr.count("\n") == 1 and "kiln --help" in p.stderr


@pytest.mark.parametrize("cmd", ["run", "status", "query", "validate", "plan", "rerun", "render", "clean",
                                 "analyze"])
def test_every_command_has_help(cmd):
    p = subprocess.run([KILN, cmd, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith(f"Usage: kiln {cmd}")


def test_version_and_global_help():
    assert subprocess.run([KILN, "version"], capture_output=True, text=True).stdout.startswith("kiln ")
    out = subprocess.run([KILN, "--help"], capture_output=True, text=True).stdout
    assert "--root DIR" in out and "status [--wait" in out


def test_rerun_replaces_one_module_record_only(machine):
    machine.use_seed(user_data="#cloud-config\nwrite_files:\n  - {path: /etc/late, content: x, defer: true}\n"
                               "runcmd: ['false']\n")
    machine.run()
    before = machine.status()["final"]
    assert before["recoverable_errors"]["WARNING"] == ["runcmd: '/bin/sh -c false' exited with status 1"]
    machine.kiln("rerun", "runcmd", "--frequency", "always")
    after = machine.status()["final"]
    assert set(after["modules"]) == set(before["modules"]), "the other modules' records stay"
    assert after["modules"]["write_files_deferred"] == before["modules"]["write_files_deferred"]
    assert after["recoverable_errors"]["WARNING"] == before["recoverable_errors"]["WARNING"], "not counted twice"
    assert machine.kiln("status", check=False).returncode == 2
