"""Host basics through the binary: hostname/fqdn//etc/hosts, SSH keys and
user-data scripts in a scratch --root with its own passwd and group files.

Each test boots a Machine (seed datasource, fake boot id), then reboots it
or gives it a new instance id, and checks files, owners, modes, mtimes and
what status.json recorded.  The live hostname of the machine running the
tests must never change.
"""
import json
import os
import socket
import stat
import subprocess
import time

import pytest

from kilntest import DEFAULT_META, KILN

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINT+QnQrYxjZYHG5tXO5uBv9CWadzdJlFR1u0nQdnOby test@kiln"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAXmsyuJZFFp21/Lu6sDlYIOQGd6MpvSvGKwZvrTzMo3 bob@desk"
KEY_C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMhHC3BYwzeIbYJ5NOe9GteMh9qgYPCzxvTROChyrnR6 carol@ops"
assert DEFAULT_META["public-keys"] == [KEY_A]

PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
          "admin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\n"
          "other:x:1001:1001::/home/other:/bin/sh\n")
GROUP = "root:x:0:\ndaemon:x:1:\nadmin:x:1000:\nother:x:1001:\n"
IMAGE_SSH = "ssh:\n  user: admin\n"
IMAGE_HOSTS = "127.0.0.1 localhost\n10.0.0.5 db.internal db\n::1 localhost ip6-localhost ip6-loopback\n"

EC2_SHORT = "ip-10-0-1-23"
EC2_FQDN = "ip-10-0-1-23.eu-west-1.compute.internal"


@pytest.fixture
def host(machine):
    """A machine with a non-root login user (admin, uid 1000) and an image /etc/hosts."""
    machine.write("/etc/passwd", PASSWD)
    machine.write("/etc/group", GROUP)
    machine.write("/etc/hosts", IMAGE_HOSTS)
    home = machine.path("/home/admin")
    home.mkdir(parents=True)
    os.chown(home, 1000, 1000)
    machine.path("/home/other").mkdir(parents=True)
    return machine


@pytest.fixture(autouse=True)
def live_hostname_untouched():
    before = socket.gethostname()
    yield
    assert socket.gethostname() == before, "kiln changed the live host name under --root"


def cloud_config(**keys):
    """One key a line from line 2, in the order given: `key: <JSON value>` (JSON is YAML)."""
    return "#cloud-config\n" + "".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items())


def new_instance(machine, iid="i-0fedcba9876543210", hostname="ip-10-0-9-9.eu-west-1.compute.internal",
                 keys=None, user_data=None):
    meta = dict(DEFAULT_META, **{"instance-id": iid, "local-hostname": hostname,
                                 "local-ipv4": "10.0.9.9", "public-keys": keys or [KEY_A]})
    machine.reboot()
    machine.seed(meta, user_data)


def changes(machine, stage, module):
    m = machine.module(stage, module)
    return [(c["action"], c["target"]) for c in (m.get("changes") or [])]


def mtimes(machine, *paths):
    return {p: machine.path(p).stat().st_mtime_ns for p in paths}


def text(machine, p):
    return machine.path(p).read_text()


# ---- hostname -----------------------------------------------------------

def test_first_boot_names_the_machine_from_metadata(host):
    host.use_seed(extra_config=IMAGE_SSH)
    host.run()
    assert text(host, "/etc/hostname") == EC2_SHORT + "\n"
    assert oct(host.path("/etc/hostname").stat().st_mode & 0o777) == "0o644"
    assert text(host, "/var/lib/kiln/data/previous-hostname") == EC2_SHORT + "\n"
    assert text(host, "/etc/hosts") == IMAGE_HOSTS, "manage_etc_hosts is off by default"
    assert changes(host, "network", "hostname") == [("wrote", "/etc/hostname")]
    assert host.kiln("status").stdout == "status: done\n"


def test_hostname_fqdn_and_managed_hosts(host):
    ud = cloud_config(hostname="cortex-1", fqdn="cortex-1.prod.example.com", manage_etc_hosts=True)
    host.use_seed(user_data=ud)
    host.run()
    assert text(host, "/etc/hostname") == "cortex-1\n"
    # no 127.0.1.1 line yet: it goes before the first entry, every other line stays
    assert text(host, "/etc/hosts") == ("127.0.1.1 cortex-1.prod.example.com cortex-1\n"
                                        "127.0.0.1 localhost\n"
                                        "10.0.0.5 db.internal db\n"
                                        "::1 localhost ip6-localhost ip6-loopback\n")
    assert ("updated", "/etc/hosts") in changes(host, "network", "hostname")


def test_prefer_fqdn_and_hostname_with_dots(host):
    host.use_seed(user_data=cloud_config(hostname="web.example.com", prefer_fqdn_over_hostname=True,
                                         manage_etc_hosts="localhost"))
    host.run()
    assert text(host, "/etc/hostname") == "web.example.com\n"
    assert text(host, "/etc/hosts") == IMAGE_HOSTS.replace(
        "127.0.0.1 localhost\n", "127.0.1.1 web.example.com web\n127.0.0.1 localhost\n")


def test_localhost_mode_keeps_earlier_names(host):
    host.write("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 baked.example baked\n")
    host.use_seed(user_data=cloud_config(manage_etc_hosts="localhost"))
    host.run()
    assert text(host, "/etc/hosts") == ("127.0.0.1 localhost\n127.0.1.1 baked.example baked\n"
                                        f"127.0.1.1 {EC2_FQDN} {EC2_SHORT}\n")


def test_missing_hosts_file_gets_the_debian_template(host):
    host.path("/etc/hosts").unlink()
    host.use_seed(user_data=cloud_config(manage_etc_hosts=True))
    host.run()
    hosts = text(host, "/etc/hosts")
    assert f"\n127.0.1.1 {EC2_FQDN} {EC2_SHORT}\n127.0.0.1 localhost\n" in hosts
    assert "ff02::2 ip6-allrouters\n" in hosts


def test_template_alias_warns(host):
    host.use_seed(user_data=cloud_config(manage_etc_hosts="template"))
    p = host.run()
    assert "manage_etc_hosts: 'template' is deprecated" in p.stderr
    assert f"127.0.1.1 {EC2_FQDN} {EC2_SHORT}\n" in text(host, "/etc/hosts")


def test_reboot_is_idempotent(host):
    host.use_seed(user_data=cloud_config(manage_etc_hosts=True, ssh_authorized_keys=[KEY_B]),
                  extra_config=IMAGE_SSH)
    host.run()
    files = ("/etc/hostname", "/etc/hosts", "/home/admin/.ssh/authorized_keys",
             "/var/lib/kiln/data/previous-hostname")
    before = mtimes(host, *files)
    host.reboot()
    host.run()
    hn = host.module("network", "hostname")
    assert hn["result"] == "ok" and not hn.get("changes"), "per-boot: ran again, changed nothing"
    ssh = host.module("network", "ssh_keys")
    assert ssh["result"] == "skipped" and "per-instance" in ssh["reason"]
    assert mtimes(host, *files) == before
    # forcing either module to run again changes nothing either
    for module in ("hostname", "ssh_keys"):
        host.kiln("rerun", module, "--frequency", "always")
        m = host.module("network", module)
        assert m["result"] == "ok" and not m.get("changes"), m
    assert mtimes(host, *files) == before


def test_hand_edited_hostname_is_kept_until_a_new_instance(host):
    host.use_seed()
    host.run()
    host.write("/etc/hostname", "my-own-name\n")
    host.reboot()
    p = host.run()
    assert text(host, "/etc/hostname") == "my-own-name\n"
    assert "maintained by hand" in p.stderr
    # a new instance has a new name: kiln sets it, as cloud-init's set_hostname does
    new_instance(host)
    host.run()
    assert text(host, "/etc/hostname") == "ip-10-0-9-9\n"


def test_new_instance_renames_and_updates_hosts(host):
    host.use_seed(user_data=cloud_config(manage_etc_hosts=True))
    host.run()
    new_instance(host, user_data=cloud_config(manage_etc_hosts=True))
    host.run()
    assert text(host, "/etc/hostname") == "ip-10-0-9-9\n"
    hosts = text(host, "/etc/hosts")
    assert "127.0.1.1 ip-10-0-9-9.eu-west-1.compute.internal ip-10-0-9-9\n" in hosts
    assert EC2_SHORT not in hosts, "managed mode keeps one 127.0.1.1 line"


def test_preserve_hostname(host):
    host.write("/etc/hostname", "baked\n")
    host.use_seed(user_data=cloud_config(preserve_hostname=True, manage_etc_hosts=True))
    host.run()
    assert text(host, "/etc/hostname") == "baked\n"
    assert not host.path("/var/lib/kiln/data/previous-hostname").exists()
    assert f"127.0.1.1 {EC2_FQDN} {EC2_SHORT}\n" in text(host, "/etc/hosts"), "hosts is still managed"


def test_ipv4_local_hostname(host):
    host.use_seed(meta=dict(DEFAULT_META, **{"local-hostname": "10.0.1.23"}))
    host.run()
    assert text(host, "/etc/hostname") == "ip-10-0-1-23\n"


BAD_HOSTNAMES = [
    ({"hostname": "web_1"}, "user-data:2:11: error: hostname: 'web_1' may contain only letters, digits"),
    ({"fqdn": "host.example.com."}, "user-data:2:7: error: fqdn: 'host.example.com.' ends with a dot"),
    ({"hostname": "a" * 64}, "error: hostname: '" + "a" * 64 + "' has a label longer than 63"),
    ({"fqdn": ("a" * 40 + ".") * 2 + "com", "prefer_fqdn_over_hostname": True},
     "is longer than the 64 characters the kernel allows (prefer_fqdn_over_hostname is set)"),
    ({"hostname": "cortex-{{ v1.nope }}"}, "user-data:2:11: error: hostname: "),
    ({"hostname": "cortex_{{ v1.instance_id }}"}, "error: hostname: 'cortex_i-0123456789abcdef0' may contain only"),
    ({"hostname": ""}, "user-data:2:11: error: hostname: is empty"),
    ({"manage_etc_hosts": "yes"}, "error: manage_etc_hosts: 'yes' is not one of: localhost, template"),
    ({"hostname": "web.bad_domain.example"}, "user-data:2:11: error: hostname: 'web.bad_domain.example' may"),
]


@pytest.mark.parametrize("keys,message", BAD_HOSTNAMES)
def test_bad_hostname_values_change_nothing(host, keys, message):
    host.use_seed(user_data=cloud_config(**dict(keys, manage_etc_hosts=keys.get("manage_etc_hosts", True))),
                  extra_config=IMAGE_SSH)
    before = host.snapshot()
    p = host.run(check=False)
    assert p.returncode == 1
    assert message in p.stderr
    assert p.stderr.count(": error: ") == 1, "one error per bad value"
    after = host.snapshot()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # only kiln's own bookkeeping moves: state, status, instance-data
    assert all(k.startswith(("run", "var/lib/kiln")) for k in changed), changed
    assert not host.path("/etc/hostname").exists()
    assert not host.path("/home/admin/.ssh").exists()
    assert text(host, "/etc/hosts") == IMAGE_HOSTS


def test_bad_local_hostname_in_metadata(host):
    host.use_seed(meta=dict(DEFAULT_META, **{"local-hostname": "bad_name.internal"}))
    p = host.run(check=False)
    assert p.returncode == 1
    assert ("instance-data: error: the metadata's local-hostname gives 'bad_name.internal', "
            "which may contain only") in p.stderr
    assert p.stderr.count(": error: ") == 1
    assert not host.path("/etc/hostname").exists()


# ---- SSH keys -----------------------------------------------------------

def test_keys_for_a_non_root_user(host):
    host.use_seed(user_data=cloud_config(ssh_authorized_keys=[KEY_B, KEY_A]), extra_config=IMAGE_SSH)
    host.run()
    d = host.path("/home/admin/.ssh")
    f = d / "authorized_keys"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700 and (d.stat().st_uid, d.stat().st_gid) == (1000, 1000)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and (f.stat().st_uid, f.stat().st_gid) == (1000, 1000)
    # metadata key pair first, then ssh_authorized_keys; KEY_A only once
    assert f.read_text() == KEY_A + "\n" + KEY_B + "\n"
    assert changes(host, "network", "ssh_keys") == [
        ("created", "/home/admin/.ssh"),
        ("added key", "/home/admin/.ssh/authorized_keys"),
        ("added key", "/home/admin/.ssh/authorized_keys")]
    assert not host.path("/root/.ssh").exists()


def test_default_user_is_root(host):
    host.use_seed()
    host.run()
    f = host.path("/root/.ssh/authorized_keys")
    assert f.read_text() == KEY_A + "\n"
    assert (f.stat().st_uid, stat.S_IMODE(f.stat().st_mode)) == (0, 0o600)


def test_existing_keys_are_kept_and_new_instance_adds_its_key(host):
    ssh = host.path("/home/admin/.ssh")
    ssh.mkdir(mode=0o755)
    os.chown(ssh, 1000, 1000)
    theirs = "# added by the image\nno-pty " + KEY_B.replace("bob@desk", "bob-old-comment") + "\n"
    (ssh / "authorized_keys").write_text(theirs)
    host.use_seed(user_data=cloud_config(ssh_authorized_keys=[KEY_B]), extra_config=IMAGE_SSH)
    host.run()
    assert text(host, "/home/admin/.ssh/authorized_keys") == theirs + KEY_A + "\n"
    assert stat.S_IMODE(ssh.stat().st_mode) == 0o755, "an existing .ssh keeps its mode"
    new_instance(host, keys=[KEY_C], user_data=cloud_config(ssh_authorized_keys=[KEY_B]))
    host.run()
    assert text(host, "/home/admin/.ssh/authorized_keys") == theirs + KEY_A + "\n" + KEY_C + "\n"


def test_symlinked_authorized_keys_is_refused(host):
    ssh = host.path("/home/admin/.ssh")
    ssh.mkdir(mode=0o700)
    os.chown(ssh, 1000, 1000)
    victim = host.write("/etc/victim", "precious\n", 0o644)
    os.symlink(str(victim), ssh / "authorized_keys")
    host.use_seed(extra_config=IMAGE_SSH)
    p = host.run(check=False)
    assert p.returncode == 1
    assert "Refusing to update /home/admin/.ssh/authorized_keys" in p.stderr
    assert victim.read_text() == "precious\n"
    assert os.path.islink(ssh / "authorized_keys")
    assert host.module("network", "ssh_keys")["result"] == "failed"
    assert host.module("network", "hostname")["result"] == "ok", "the other modules still ran"
    assert host.kiln("status", check=False).returncode == 1
    assert not host.path("/var/lib/kiln/instance/sem/ssh_keys").exists(), "retried next boot"


def test_symlinked_ssh_dir_is_refused(host):
    elsewhere = host.path("/etc/ssh-elsewhere")
    elsewhere.mkdir()
    os.symlink(str(elsewhere), host.path("/home/admin/.ssh"))
    host.use_seed(extra_config=IMAGE_SSH)
    p = host.run(check=False)
    assert p.returncode == 1
    assert "Refusing to write /home/admin/.ssh/authorized_keys" in p.stderr
    assert os.listdir(elsewhere) == []


def test_ssh_dir_of_another_user_is_refused(host):
    ssh = host.path("/home/admin/.ssh")
    ssh.mkdir(mode=0o700)
    os.chown(ssh, 1001, 1001)
    host.use_seed(extra_config=IMAGE_SSH)
    assert host.run(check=False).returncode == 1
    assert os.listdir(ssh) == []


def test_hard_linked_or_binary_authorized_keys_is_refused(host):
    ssh = host.path("/home/admin/.ssh")
    ssh.mkdir(mode=0o700)
    os.chown(ssh, 1000, 1000)
    secret = host.write("/home/admin/secret", "not for keys\n", 0o600)
    os.chown(secret, 1000, 1000)
    os.link(secret, ssh / "authorized_keys")
    host.use_seed(extra_config=IMAGE_SSH)
    p = host.run(check=False)
    assert p.returncode == 1 and "Refusing to update /home/admin/.ssh/authorized_keys" in p.stderr
    assert secret.read_text() == "not for keys\n" and os.stat(secret).st_nlink == 2
    (ssh / "authorized_keys").unlink()
    (ssh / "authorized_keys").write_bytes(KEY_B.encode() + b"\n\0garbage\n")
    host.reboot()
    assert host.run(check=False).returncode == 1
    assert (ssh / "authorized_keys").read_bytes() == KEY_B.encode() + b"\n\0garbage\n"


def test_missing_home_fails_the_module(host):
    host.path("/home/admin").rmdir()
    host.use_seed(extra_config=IMAGE_SSH)
    p = host.run(check=False)
    assert p.returncode == 1
    assert "Failed to open /home/admin, the home directory of admin: No such file or directory" in p.stderr
    assert not host.path("/home/admin").exists(), "kiln does not create home directories"


def test_preserve_hostname_alone_does_nothing(host):
    host.use_seed(user_data=cloud_config(preserve_hostname=True))
    host.run()
    assert host.module("network", "hostname")["reason"] == "nothing to do"
    assert not host.path("/etc/hostname").exists()


def test_bad_key_in_user_data_is_an_input_error(host):
    ud = "#cloud-config\nssh_authorized_keys:\n  - " + KEY_B + "\n  - ssh-ed25519 AAAAnotbase64! x\n"
    host.use_seed(user_data=ud, extra_config=IMAGE_SSH)
    p = host.run(check=False)
    assert p.returncode == 1
    assert ("user-data:4:5: error: ssh_authorized_keys[1]: not an SSH public key: "
            "the key blob is not valid base64") in p.stderr
    assert not host.path("/home/admin/.ssh").exists()
    assert not host.path("/etc/hostname").exists(), "nothing of the stage ran"


def test_bad_key_in_metadata_is_skipped_as_recoverable(host):
    host.use_seed(meta=dict(DEFAULT_META, **{"public-keys": ["ssh-rsa nonsense", KEY_C]}), extra_config=IMAGE_SSH)
    host.run()
    assert text(host, "/home/admin/.ssh/authorized_keys") == KEY_C + "\n"
    p = host.kiln("status", "--long", check=False)
    assert p.returncode == 2
    assert "v1.public_ssh_keys[0]: not an SSH public key" in p.stdout


def test_unknown_user_is_an_input_error_at_the_image_key(host):
    host.use_seed(extra_config="ssh:\n  user: nobody-here\n")
    p = host.run(check=False)
    assert p.returncode == 1
    assert "/etc/kiln/kiln.yaml:4:9: error: ssh.user: no user 'nobody-here' in /etc/passwd" in p.stderr


# ---- user-data scripts --------------------------------------------------

def mime_scripts(*parts):
    """multipart/mixed user-data; parts are (content_type, filename or None, body)."""
    out = 'Content-Type: multipart/mixed; boundary="B"\nMIME-Version: 1.0\n\n'
    for ctype, filename, body in parts:
        out += f"--B\nContent-Type: {ctype}\n"
        if filename:
            out += f'Content-Disposition: attachment; filename="{filename}"\n'
        out += f"\n{body}\n"
    return out + "--B--\n"


LOG_LINE = 'echo "$0 $KILN_INSTANCE_ID $KILN_STAGE" >> "$KILN_ROOT/scripts.log"'
SCRIPTS_UD = mime_scripts(
    ("text/cloud-config", None, "#cloud-config\nruncmd:\n  - echo runcmd >> \"$KILN_ROOT/scripts.log\"\n"),
    ("text/x-shellscript", "10-first.sh", "#!/bin/sh\n" + LOG_LINE + "\necho hello from first\n"),
    ("text/x-shellscript", "20-fails.sh", "#!/bin/sh\necho about to fail >&2\nexit 3\n"),
    ("text/x-shellscript", "30-last.py",
     "#!/usr/bin/python3\nimport os\nopen(os.environ['KILN_ROOT'] + '/scripts.log', 'a').write('python\\n')\n"),
)


def script_log(machine):
    p = machine.path("scripts.log")
    return p.read_text().splitlines() if p.exists() else []


def test_scripts_run_in_order_and_a_failure_is_recoverable(host):
    host.use_seed(user_data=SCRIPTS_UD)
    host.run()
    sdir = host.path("/var/lib/kiln/instances/i-0123456789abcdef0/scripts")
    first = sdir / "10-first.sh"
    assert script_log(host) == ["runcmd", f"{first} i-0123456789abcdef0 final", "python"]
    assert stat.S_IMODE(first.stat().st_mode) == 0o700 and stat.S_IMODE(sdir.stat().st_mode) == 0o700
    assert sorted(os.listdir(sdir)) == ["10-first.sh", "20-fails.sh", "30-last.py"]
    out = text(host, "/var/log/kiln-output.log")
    assert "hello from first" in out and "about to fail" in out
    p = host.kiln("status", "--long", check=False)
    assert p.returncode == 2
    assert "20-fails.sh' exited with status 3" in p.stdout
    assert host.module("final", "scripts_user")["result"] == "ok"


def test_scripts_are_per_instance(host):
    host.use_seed(user_data=SCRIPTS_UD)
    host.run()
    host.reboot()
    host.run()
    assert script_log(host).count("python") == 1
    assert host.module("final", "scripts_user")["result"] == "skipped"
    new_instance(host, user_data=SCRIPTS_UD)
    host.run()
    assert script_log(host).count("python") == 2
    assert host.path("/var/lib/kiln/instances/i-0fedcba9876543210/scripts/10-first.sh").exists()


def test_script_timeout_is_recoverable(host):
    host.use_seed(user_data=mime_scripts(
        ("text/x-shellscript", "slow.sh", "#!/bin/sh\nsleep 30\n"),
        ("text/x-shellscript", "after.sh", "#!/bin/sh\n" + LOG_LINE)), extra_config="kiln:\n  command_timeout: 0.5\n")
    t0 = time.monotonic()
    host.run()
    assert time.monotonic() - t0 < 10
    assert len(script_log(host)) == 1, "the next script still ran"
    p = host.kiln("status", "--long", check=False)
    assert p.returncode == 2 and "slow.sh' timed out and was killed" in p.stdout


def test_plain_script_user_data(host):
    host.use_seed(user_data="#!/bin/sh\necho plain >> \"$KILN_ROOT/scripts.log\"\n")
    host.run()
    assert script_log(host) == ["plain"]


@pytest.mark.parametrize("names,message", [
    ((".hidden",), 'user-data[part 2: .hidden]: error: the script filename ".hidden" can\'t be used as a file name'),
    (("..",), 'user-data[part 2: ..]: error: the script filename ".." can\'t be used'),
    (("same.sh", "same.sh"), 'user-data[part 3: same.sh]: error: another script part is also named "same.sh"'),
])
def test_bad_script_names_change_nothing(host, names, message):
    parts = [("text/x-shellscript", n, "#!/bin/sh\n" + LOG_LINE) for n in names]
    ud = mime_scripts(
        ("text/cloud-config", None, "#cloud-config\nruncmd: ['echo runcmd >> \"$KILN_ROOT/scripts.log\"']\n"),
        *parts)
    host.use_seed(user_data=ud)
    before = host.snapshot(exclude=("proc", "run", "var"))
    p = host.run(check=False)
    assert p.returncode == 1
    assert message in p.stderr
    # caught while loading user-data, before any stage changed anything
    assert script_log(host) == []
    assert not host.path("/var/lib/kiln/instances/i-0123456789abcdef0/scripts").exists()
    assert host.snapshot(exclude=("proc", "run", "var")) == before, "hostname and keys unchanged too"
    # and `kiln validate` says the same before any boot
    f = host.path("/tmp-ud")
    f.write_bytes(ud.encode() if isinstance(ud, str) else ud)
    v = host.kiln("validate", str(f), check=False)
    assert v.returncode == 1 and message.replace("user-data", str(f), 1) in v.stderr


def test_plan_lists_everything_and_changes_nothing(host):
    host.use_seed(user_data=SCRIPTS_UD.replace("#cloud-config\n", "#cloud-config\nmanage_etc_hosts: true\n"),
                  extra_config=IMAGE_SSH)
    before = host.snapshot()
    out = host.kiln("plan").stdout
    assert f"set hostname ({EC2_SHORT}, /etc/hostname)" in out
    assert f"update /etc/hosts (127.0.1.1 {EC2_FQDN} {EC2_SHORT} (managed))" in out
    assert "add key /home/admin/.ssh/authorized_keys (ssh-ed25519 test@kiln)" in out
    assert "run 20-fails.sh (user-data script" in out
    assert host.snapshot() == before


# ---- the live path, inside namespaces -------------------------------------

# Private mounts, hostname and pids: nothing below leaks to the machine running the tests, and every
# process started here dies with the namespace.
NAMESPACE_PROLOGUE = r"""
set -eu
mkdir -p "$S/etc-real"
mount --bind /etc "$S/etc-real"
mount -t tmpfs tmpfs /etc
cp -a "$S/etc-real/." /etc/
umount "$S/etc-real"
for d in /var/lib /var/log /run /root; do mount -t tmpfs tmpfs "$d"; done
hostname baked-name
printf 'baked-name\n' > /etc/hostname
printf 'root:x:0:0:root:/root:/bin/bash\n' > /etc/passwd
mkdir -p /etc/kiln /var/lib/kiln/seed
printf 'datasource:\n  name: seed\n' > /etc/kiln/kiln.yaml
cp "$S/meta-data" "$S/user-data" /var/lib/kiln/seed/
"""

LIVE_SCRIPT = NAMESPACE_PROLOGUE + r"""
"$KILN" run > "$S/run.out" 2>&1 || echo "exit $?" >> "$S/run.out"
hostname > "$S/kernel-hostname"
cp /etc/hostname /etc/hosts /var/log/kiln-output.log /run/kiln/status.json "$S/"
# something else renamed the kernel only: kiln puts the name back (the files agree with its record)
hostname drifted
"$KILN" rerun hostname --frequency always > "$S/run2.out" 2>&1 || echo "exit $?" >> "$S/run2.out"
cp /run/kiln/status.json "$S/status2.json"
hostname > "$S/kernel-hostname2"
# and once more: nothing left to change
"$KILN" rerun hostname --frequency always > "$S/run3.out" 2>&1 || echo "exit $?" >> "$S/run3.out"
cp /run/kiln/status.json "$S/status3.json"
"""


def in_namespaces(tmp_path, script, user_data, meta=None):
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces")
    probe = subprocess.run(["unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mount/UTS/PID namespaces here: " + probe.stderr.decode())
    (tmp_path / "meta-data").write_text(json.dumps(meta or DEFAULT_META))
    (tmp_path / "user-data").write_text(user_data)
    env = dict(os.environ, S=str(tmp_path), KILN=KILN)
    env.pop("NOTIFY_SOCKET", None)
    env.pop("JOURNAL_STREAM", None)
    p = subprocess.run(["unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for out in tmp_path.glob("run*.out"):
        assert "exit" not in out.read_text(), out.read_text()


def test_live_system_in_namespaces(tmp_path):
    """Without --root: sethostname(2) really runs, inside a UTS namespace, with /etc, /var/lib,
    /var/log, /run and /root on private tmpfs mounts (no D-Bus there: hostnamed is skipped)."""
    in_namespaces(tmp_path, LIVE_SCRIPT, cloud_config(manage_etc_hosts=True, runcmd=['echo "root=$KILN_ROOT"']))
    assert (tmp_path / "kernel-hostname").read_text() == EC2_SHORT + "\n"
    assert (tmp_path / "hostname").read_text() == EC2_SHORT + "\n"
    assert f"127.0.1.1 {EC2_FQDN} {EC2_SHORT}\n" in (tmp_path / "hosts").read_text()
    assert "root=/\n" in (tmp_path / "kiln-output.log").read_text()
    net = json.loads((tmp_path / "status.json").read_text())["v1"]["network"]["modules"]
    assert [c["action"] + " " + c["target"] for c in net["hostname"]["changes"]] == [
        "wrote /etc/hostname", "set kernel hostname", "updated /etc/hosts"]
    hn2 = json.loads((tmp_path / "status2.json").read_text())["v1"]["network"]["modules"]["hostname"]
    assert [(c["action"], c["target"]) for c in hn2["changes"]] == [("set", "kernel hostname")]
    assert (tmp_path / "kernel-hostname2").read_text() == EC2_SHORT + "\n"
    hn3 = json.loads((tmp_path / "status3.json").read_text())["v1"]["network"]["modules"]["hostname"]
    assert hn3["result"] == "ok" and not hn3["changes"]


HOSTNAMED = "/lib/systemd/systemd-hostnamed"
BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={s}/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{s}/services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
# If kiln ever bus-activated hostnamed, this would leave a mark.
ACTIVATION = "[D-BUS Service]\nName=org.freedesktop.hostname1\nExec=/bin/sh -c 'touch {s}/activated; sleep 5'\n"

HOSTNAMED_SCRIPT = NAMESPACE_PROLOGUE + r"""
dbus-daemon --config-file="$S/bus.conf" --fork --nopidfile
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$S/system_bus_socket"
# 1. a bus, but hostnamed is not running: kiln must not start it
"$KILN" run > "$S/run1.out" 2>&1 || echo "exit $?" >> "$S/run1.out"
cp /run/kiln/status.json "$S/status1.json"
# 2. hostnamed running, a new instance with a new name: kiln tells hostnamed
rm -f "$S/services/"*
$HOSTNAMED &
for i in $(seq 50); do
  busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status org.freedesktop.hostname1 >/dev/null 2>&1 && break
  sleep 0.1
done
cp "$S/meta-data-2" /var/lib/kiln/seed/meta-data
rm -rf /run/kiln
"$KILN" run > "$S/run2.out" 2>&1 || echo "exit $?" >> "$S/run2.out"
cp /run/kiln/status.json "$S/status2.json"
busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property org.freedesktop.hostname1 /org/freedesktop/hostname1 \
  org.freedesktop.hostname1 StaticHostname > "$S/static-hostname"
hostname > "$S/kernel-hostname"
"""


def test_hostnamed_is_told_only_when_running(tmp_path):
    """A private D-Bus 'system' bus in the namespaces: kiln never activates systemd-hostnamed, and calls
    SetStaticHostname on it when it is running."""
    for tool in (HOSTNAMED, "/usr/bin/dbus-daemon", "/usr/bin/busctl"):
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is not installed")
    (tmp_path / "bus.conf").write_text(BUS_CONF.format(s=tmp_path))
    (tmp_path / "services").mkdir()
    (tmp_path / "services/org.freedesktop.hostname1.service").write_text(ACTIVATION.format(s=tmp_path))
    meta2 = dict(DEFAULT_META, **{"instance-id": "i-0fedcba9876543210",
                                  "local-hostname": "ip-10-0-9-9.eu-west-1.compute.internal"})
    (tmp_path / "meta-data-2").write_text(json.dumps(meta2))
    in_namespaces(tmp_path, HOSTNAMED_SCRIPT.replace("$HOSTNAMED", HOSTNAMED), cloud_config())
    assert not (tmp_path / "activated").exists(), "kiln bus-activated systemd-hostnamed"
    hn1 = json.loads((tmp_path / "status1.json").read_text())["v1"]["network"]["modules"]["hostname"]
    assert [c["target"] for c in hn1["changes"]] == ["/etc/hostname", "kernel hostname"]
    hn2 = json.loads((tmp_path / "status2.json").read_text())["v1"]["network"]["modules"]["hostname"]
    # (whether hostnamed also set the kernel's name before kiln checked it depends on its version)
    assert [c["target"] for c in hn2["changes"]][:2] == ["/etc/hostname", "systemd-hostnamed static hostname"]
    assert (tmp_path / "static-hostname").read_text() == 's "ip-10-0-9-9"\n'
    assert (tmp_path / "kernel-hostname").read_text() == "ip-10-0-9-9\n"
