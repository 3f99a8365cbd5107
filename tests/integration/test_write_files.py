"""write_files and write_files_deferred with cloud-init's meaning, kiln's
safety: encodings, owner/mode set before the file appears, append, defer,
per-instance frequency, input errors that change nothing, symlinks refused."""
import base64
import gzip
import os
import stat

import pytest

from kilntest import DEFAULT_META

PASSWD_EXTRA = "app:x:1500:1500:app:/home/app:/bin/sh\n"
GROUP_EXTRA = "app:x:1500:\nconsul:x:998:\n"


@pytest.fixture
def host(machine):
    with open(machine.path("/etc/passwd"), "a") as f:
        f.write(PASSWD_EXTRA)
    with open(machine.path("/etc/group"), "a") as f:
        f.write(GROUP_EXTRA)
    return machine


def ud(files: str) -> str:
    return "#cloud-config\nwrite_files:\n" + files


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_plain_and_encoded_files(host):
    gz = base64.b64encode(gzip.compress(b"compressed\n")).decode()
    b64 = base64.b64encode(b"\x00\x01binary\xff").decode()
    host.use_seed(user_data=ud(f"""  - path: /etc/motd
    content: "hello\\n"
  - path: /etc/app/app.conf
    content: {gz}
    encoding: gz+b64
    owner: app:consul
    permissions: '0640'
  - path: /opt/blob.bin
    content: {b64}
    encoding: b64
    permissions: 0600
"""))
    host.run()
    assert host.path("/etc/motd").read_text() == "hello\n"
    assert mode(host.path("/etc/motd")) == 0o644
    conf = host.path("/etc/app/app.conf")
    assert conf.read_text() == "compressed\n"
    st = conf.stat()
    assert (st.st_uid, st.st_gid, mode(conf)) == (1500, 998, 0o640)
    assert host.path("/opt/blob.bin").read_bytes() == b"\x00\x01binary\xff"
    assert mode(host.path("/opt/blob.bin")) == 0o600
    changes = host.module("config", "write_files")["changes"]
    assert [c["target"] for c in changes] == ["/etc/motd", "/etc/app/app.conf", "/opt/blob.bin"]
    assert all("hello" not in str(c) for c in changes), "content never reaches status"


def test_append_and_defer(host):
    host.write("/etc/hosts.allow", "ALL: LOCAL\n")
    host.use_seed(user_data=ud("""  - path: /etc/hosts.allow
    content: "sshd: 10.0.0.0/8\\n"
    append: true
  - path: /etc/late.conf
    content: late
    defer: true
"""))
    host.run("local"), host.run("network"), host.run("config")
    assert host.path("/etc/hosts.allow").read_text() == "ALL: LOCAL\nsshd: 10.0.0.0/8\n"
    assert not host.path("/etc/late.conf").exists(), "deferred files wait for the final stage"
    host.run("final")
    assert host.path("/etc/late.conf").read_text() == "late"
    assert host.module("final", "write_files_deferred")["result"] == "ok"


def test_per_instance(host):
    host.use_seed(user_data=ud("  - path: /etc/motd\n    content: one\n"))
    host.run()
    host.path("/etc/motd").write_text("edited by hand")
    host.reboot()
    host.run()
    assert host.path("/etc/motd").read_text() == "edited by hand"
    host.reboot()
    host.seed(dict(DEFAULT_META, **{"instance-id": "i-0aaaaaaaaaaaaaaa1"}), ud("  - path: /etc/motd\n    content: one\n"))
    host.run()
    assert host.path("/etc/motd").read_text() == "one"


def test_unchanged_file_is_not_rewritten(host):
    host.use_seed(user_data=ud("  - path: /etc/motd\n    content: same\n"))
    host.run()
    before = os.stat(host.path("/etc/motd")).st_mtime_ns
    host.kiln("rerun", "write_files", "--frequency", "always")
    assert os.stat(host.path("/etc/motd")).st_mtime_ns == before
    assert host.module("config", "write_files")["reason"] == "nothing to do"


@pytest.mark.parametrize("entry,message", [
    ("  - path: etc/motd\n    content: x\n", "user-data:3:11: error: write_files[0].path: 'etc/motd' is not an absolute path"),
    ("  - path: /etc/../root/x\n", "write_files[0].path: '/etc/../root/x' is not an absolute path without '..'"),
    ("  - path: /etc/x\n    permissions: 644\n", "user-data:4:18: error: write_files[0].permissions: 644 is a decimal number; write it as \"0644\""),
    ("  - path: /etc/x\n    permissions: '0999'\n", "write_files[0].permissions: not a file mode"),
    ("  - path: /etc/x\n    owner: ghost\n", "user-data:4:12: error: write_files[0].owner: user 'ghost' not found in /etc/passwd"),
    ("  - path: /etc/x\n    content: '!!!'\n    encoding: b64\n", "write_files[0].content: cannot be decoded as b64"),
    ("  - path: /etc/x\n    encoding: rot13\n", "write_files[0].encoding: 'rot13' is not one of"),
    ("  - content: x\n", "write_files[0]: missing required key 'path'"),
])
def test_bad_entries_change_nothing(host, entry, message):
    host.use_seed(user_data=ud("  - path: /etc/good\n    content: good\n" + entry.replace("[0]", "[1]")))
    p = host.run(check=False)
    assert p.returncode == 1
    msg = message.replace("[0]", "[1]")
    if msg.startswith("user-data:"):
        line = int(msg.split(":")[1]) + 2
        msg = msg.replace(f"user-data:{msg.split(':')[1]}:", f"user-data:{line}:", 1)
    assert msg in p.stderr
    assert not host.path("/etc/good").exists(), "a run with bad input writes nothing"


def test_symlink_target_refused_others_written(host):
    host.write("/secret", "do not touch\n")
    os.symlink(host.path("/secret"), host.path("/etc/link"))
    host.use_seed(user_data=ud("  - path: /etc/link\n    content: pwned\n  - path: /etc/other\n    content: ok\n"))
    p = host.run(check=False)
    assert p.returncode == 1
    assert "Refusing to write /etc/link: it is a symlink" in p.stderr
    assert host.path("/secret").read_text() == "do not touch\n"
    assert host.path("/etc/other").read_text() == "ok"
    assert host.module("config", "write_files")["result"] == "failed"


def test_plan_shows_no_content(host):
    host.use_seed(user_data=ud("  - path: /etc/secret.conf\n    content: s3cr3t-token\n    permissions: '0600'\n"))
    out = host.kiln("plan").stdout
    assert "write /etc/secret.conf (12 bytes, mode 0600)" in out
    assert "s3cr3t" not in out
