"""The templates module through the binary in a scratch root: rendering from the image's template dir and
inline, owner/mode (given, or kept from the existing file), unchanged files neither rewritten nor triggering,
on_change once per unit or command, symlinks refused, input errors naming the config key and the
template:line:col (and changing nothing), includes confined to the template dir, per-boot re-rendering,
secrets kept out of plans, logs, status and world-readable files.

Units under --root are recorded, never touched ("skipped under --root"); the live paths are tested in
namespaces at the end: without systemd ("systemd not running") and with a fake systemd on a private
D-Bus (the jobs kiln queues)."""
import json
import os
import shlex
import shutil
import stat
import subprocess
import textwrap
import time

import pytest

from kilntest import DEFAULT_META, KILN, VALGRIND

PASSWD_EXTRA = "app:x:1500:1500:app:/home/app:/bin/sh\n"
GROUP_EXTRA = "app:x:1500:\nconsul:x:998:\n"
TDIR = "/etc/kiln/templates"


@pytest.fixture
def host(machine):
    with open(machine.path("/etc/passwd"), "a") as f:
        f.write(PASSWD_EXTRA)
    with open(machine.path("/etc/group"), "a") as f:
        f.write(GROUP_EXTRA)
    return machine


def ud(entries: str, extra: str = "") -> str:
    return "#cloud-config\n" + extra + "templates:\n" + textwrap.indent(textwrap.dedent(entries), "  ")


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def changes(host):
    return [(c["action"], c["target"], c.get("detail")) for c in host.module("config", "templates")["changes"] or []]


def test_render_source_include_and_inline(host):
    host.write(f"{TDIR}/agent.hcl.j2", 'bind_addr = "{{ v1.local_ipv4 }}"\n{% include "partials/dc.j2" %}\n')
    host.write(f"{TDIR}/partials/dc.j2", 'datacenter = "{{ v1.region }}"')
    host.use_seed(user_data=ud("""\
        - source: agent.hcl.j2
          path: /etc/consul.d/agent.hcl
        - content: "zone={{ v1.availability_zone }} role={{ vars.role }}\\n"
          path: /etc/default/role
        """, "vars: {role: cortex}\n"))
    host.run()
    assert host.path("/etc/consul.d/agent.hcl").read_text() == \
        'bind_addr = "10.0.1.23"\ndatacenter = "eu-west-1"\n'
    assert host.path("/etc/default/role").read_text() == "zone=eu-west-1a role=cortex\n"
    assert mode(host.path("/etc/default/role")) == 0o644
    st = host.path("/etc/consul.d/agent.hcl").stat()
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert changes(host) == [("rendered", "/etc/consul.d/agent.hcl", "49 bytes, new, mode 0644"),
                             ("rendered", "/etc/default/role", "28 bytes, new, mode 0644")]
    m = host.module("config", "templates")
    assert (m["result"], m["frequency"]) == ("ok", "per-boot")


def test_absolute_source(host):
    host.write("/opt/tmpl/x.j2", "{{ v1.instance_id }}\n")
    host.use_seed(user_data=ud("- {source: /opt/tmpl/x.j2, path: /etc/x}\n"))
    host.run()
    assert host.path("/etc/x").read_text() == "i-0123456789abcdef0\n"


def test_plan_shows_no_content(host):
    host.use_seed(user_data=ud("""\
        - content: "token={{ vars.tok }}\\n"
          path: /etc/app.conf
          on_change: {reload: app}
        """, "vars: {tok: visible-only-in-the-file}\n"))
    p = host.kiln("plan")
    assert "render /etc/app.conf (31 bytes, new)" in p.stdout
    assert "reload app.service (skipped under --root; for /etc/app.conf)" in p.stdout
    assert "visible-only" not in p.stdout + p.stderr
    assert not host.path("/etc/app.conf").exists()


def test_unchanged_not_rewritten_nor_triggered(host):
    host.use_seed(user_data=ud("""\
        - content: "ip={{ v1.local_ipv4 }}\\n"
          path: /etc/a.conf
          on_change: {restart: consul}
        - content: "static\\n"
          path: /etc/b.conf
          on_change: {command: [sh, -c, 'echo fired >> "$KILN_ROOT/fired"']}
        """))
    host.run()
    assert host.path("/fired").read_text() == "fired\n"
    before = {p: os.stat(host.path(p)).st_mtime_ns for p in ("/etc/a.conf", "/etc/b.conf")}
    time.sleep(0.02)
    host.reboot()
    host.run()
    assert {p: os.stat(host.path(p)).st_mtime_ns for p in before} == before
    m = host.module("config", "templates")
    assert (m["result"], m["reason"], m["changes"] or []) == ("ok", "nothing to do", [])
    assert host.path("/fired").read_text() == "fired\n", "no trigger for an unchanged file"
    host.reboot()
    assert "config: templates: nothing to do" in host.kiln("plan").stdout


def test_one_trigger_per_unit(host):
    host.use_seed(user_data=ud("""\
        - {content: "1", path: /etc/consul.d/a.hcl, on_change: {reload: consul}}
        - {content: "2", path: /etc/consul.d/b.hcl, on_change: {reload: consul.service}}
        - {content: "3", path: /etc/consul.d/c.hcl, on_change: {restart: consul}}
        - {content: "4", path: /etc/nginx/nginx.conf, on_change: {reload: nginx}}
        - {content: "5", path: /etc/nginx/extra.conf, on_change: {reload: nginx}}
        - {content: "6", path: /etc/log.conf, on_change: {command: [sh, -c, 'echo x >> "$KILN_ROOT/ran"']}}
        - {content: "7", path: /etc/log2.conf, on_change: {command: [sh, -c, 'echo x >> "$KILN_ROOT/ran"']}}
        """))
    plan = host.kiln("plan").stdout
    assert "restart consul.service (skipped under --root; for /etc/consul.d/a.hcl, /etc/consul.d/b.hcl, " \
           "/etc/consul.d/c.hcl)" in plan
    host.run()
    triggers = [c for c in changes(host) if c[0] != "rendered"]
    # a restart includes a reload: one job per unit, in the order the units first appear
    assert triggers == [("restart", "consul.service", "skipped under --root"),
                        ("reload", "nginx.service", "skipped under --root"),
                        ("ran", "sh -c 'echo x >> \"$KILN_ROOT/ran\"'", None)]
    assert host.path("/ran").read_text() == "x\n", "the same command runs once"
    # only one of nginx's files changes: one reload, consul untouched
    host.seed(user_data=host.seed_dir.joinpath("user-data").read_text().replace('"5"', '"five"'))
    host.reboot()
    host.run()
    assert changes(host) == [("rendered", "/etc/nginx/extra.conf", "4 bytes, changed, mode 0644"),
                             ("reload", "nginx.service", "skipped under --root")]


def test_owner_group_mode(host):
    host.use_seed(user_data=ud("""\
        - {content: a, path: /etc/app/a.conf, owner: app, mode: "0640"}
        - {content: b, path: /etc/app/b.conf, owner: "app:consul", mode: 0600}
        - {content: c, path: /etc/app/c.conf, owner: app, group: consul}
        - {content: d, path: /etc/app/d.conf, group: "998", mode: 416}
        """))
    host.run()
    want = {"a": (1500, 1500, 0o640), "b": (1500, 998, 0o600), "c": (1500, 998, 0o644), "d": (0, 998, 0o640)}
    for name, (uid, gid, m) in want.items():
        st = host.path(f"/etc/app/{name}.conf").stat()
        assert (st.st_uid, st.st_gid, mode(host.path(f"/etc/app/{name}.conf"))) == (uid, gid, m), name
    # only the mode differs from what is asked: rewritten (same bytes), and said so
    host.path("/etc/app/a.conf").chmod(0o666)
    host.reboot()
    host.run()
    assert changes(host) == [("rendered", "/etc/app/a.conf", "1 bytes, mode/owner changed, mode 0640")]
    assert mode(host.path("/etc/app/a.conf")) == 0o640


def test_existing_file_keeps_mode_and_owner(host):
    f = host.write("/etc/svc/svc.conf", "old\n", mode=0o600)
    os.chown(f, 1500, 998)
    host.use_seed(user_data=ud("""\
        - {content: "new\\n", path: /etc/svc/svc.conf}
        - {content: "fresh\\n", path: /etc/svc/fresh.conf}
        """))
    host.run()
    st = f.stat()
    assert (f.read_text(), st.st_uid, st.st_gid, mode(f)) == ("new\n", 1500, 998, 0o600)
    fresh = host.path("/etc/svc/fresh.conf")
    assert (fresh.stat().st_uid, fresh.stat().st_gid, mode(fresh)) == (0, 0, 0o644)
    assert ("rendered", "/etc/svc/svc.conf", "4 bytes, changed, mode 0600") in changes(host)


def test_symlink_refused_others_written(host):
    host.write("/secret", "do not touch\n")
    host.path("/etc/app").mkdir(parents=True)
    os.symlink(host.path("/secret"), host.path("/etc/app/link.conf"))
    host.use_seed(user_data=ud("""\
        - {content: pwned, path: /etc/app/link.conf, on_change: {restart: app}}
        - {content: ok, path: /etc/app/other.conf}
        """))
    p = host.run(check=False)
    assert p.returncode == 1
    assert "Refusing to write /etc/app/link.conf: it is a symlink." in p.stderr
    assert host.path("/secret").read_text() == "do not touch\n"
    assert os.path.islink(host.path("/etc/app/link.conf"))
    assert host.path("/etc/app/other.conf").read_text() == "ok"
    m = host.module("config", "templates")
    assert m["result"] == "failed"
    assert m["errors"] == ["Refusing to write /etc/app/link.conf: it is a symlink."]
    assert not any(c[1] == "app.service" for c in changes(host)), "no trigger for a file not written"


@pytest.mark.parametrize("entries,template,message", [
    ("- {source: cortex.yaml.j2, path: /etc/cortex/cortex.yaml}\n",
     "server:\n  http_listen_port: {{ vars.port }}\n",
     "user-data:6:14: error: templates[1].source: cortex.yaml.j2:2:29: 'dict object' has no attribute 'port'"),
    ("- {source: cortex.yaml.j2, path: /etc/cortex/cortex.yaml}\n",
     "a: 1\n{% if v1.region %}\nb: 2\n",
     "user-data:6:14: error: templates[1].source: cortex.yaml.j2:4:1: unexpected end of template: 'if' at 2:4 is "
     "not closed (expected 'endif')"),
    ("- content: |\n    ok: 1\n    bad: {{ nope }}\n  path: /etc/x\n", None,
     "user-data:6:14: error: templates[1].content: line 2, column 9: 'nope' is undefined"),
    ("- {source: missing.j2, path: /etc/x}\n", None,
     "templates[1].source: template /etc/kiln/templates/missing.j2 not found (relative names are under "
     "/etc/kiln/templates)"),
    ("- {source: ../kiln.yaml, path: /etc/x}\n", None,
     "templates[1].source: '../kiln.yaml' is not a template name"),
    ("- {content: x, source: a.j2, path: /etc/x}\n", None,
     "templates[1]: give exactly one of source (a template file) and content (an inline template)"),
    ("- {content: x}\n", None, "user-data:6:5: error: templates[1]: missing required key 'path'"),  # schema
    ("- {content: x, path: etc/x}\n", None, "templates[1].path: 'etc/x' is not an absolute file path"),
    ("- {content: x, path: /etc/good}\n", None, "templates[1].path: /etc/good is also rendered by templates[0]"),
    ("- {content: x, path: /etc/x, mode: 644}\n", None,
     "templates[1].mode: 644 is a decimal number; write it as \"0644\""),
    ("- {content: x, path: /etc/x, owner: ghost}\n", None,
     "templates[1].owner: user 'ghost' not found in /etc/passwd"),
    ("- {content: x, path: /etc/x, group: ghosts}\n", None,
     "templates[1].group: group 'ghosts' not found in /etc/group"),
    ("- {content: x, path: /etc/x, on_change: {reload: a, restart: b}}\n", None,
     "templates[1].on_change: give exactly one of reload, restart and command"),
    ("- {content: x, path: /etc/x, on_change: {}}\n", None,
     "templates[1].on_change: give exactly one of reload, restart and command"),
    ("- {content: x, path: /etc/x, on_change: {reload: 'a b'}}\n", None,
     "templates[1].on_change.reload: 'a b' is not a systemd unit name"),
    ("- {content: x, path: /etc/x, on_change: {restart: x, timeout: 5}}\n", None,
     "templates[1].on_change.timeout: timeout applies to command only"),
    ("- {content: x, path: /etc/x, on_change: {command: [], timeout: 5}}\n", None,
     "templates[1].on_change.command: a command is a string (shell) or a non-empty list of strings"),
    ("- {content: x, path: /etc/x, on_change: {command: [/bin/true], timeout: 0}}\n", None,
     "templates[1].on_change.timeout: must be more than 0 and at most 3600 seconds"),
    ("- {content: x, path: /etc/x, on_change: {command: [/bin/true], timout: 5}}\n", None, None),  # a warning
])
def test_input_errors_change_nothing(host, entries, template, message):
    if template is not None:
        host.write(f"{TDIR}/cortex.yaml.j2", template)
    host.use_seed(user_data=ud("- {content: good, path: /etc/good}\n" + entries,
                               "write_files:\n  - {path: /etc/wf, content: wf}\n"))
    p = host.run(check=False)
    if message is None:
        assert p.returncode == 0 and "did you mean 'timeout'" in p.stderr
        return
    assert p.returncode == 1, p.stderr
    assert message in p.stderr
    assert not host.path("/etc/good").exists() and not host.path("/etc/wf").exists(), \
        "a stage with bad input writes nothing"
    if "missing required key" in message:  # the schema stops the run before any stage
        assert "The user-data has errors; nothing was changed." in p.stderr
        return
    assert "Input errors in the config stage; nothing of it was changed." in p.stderr
    errors = host.module("config", "templates")["errors"]
    assert any(message.split("error: ")[-1] in e for e in errors)


def test_include_escape_refused(host):
    host.write("/etc/secret-file", "root-only\n", mode=0o600)
    host.write(f"{TDIR}/ok.j2", "ok")
    os.symlink("/etc/secret-file", host.path(f"{TDIR}/abs-link.j2"))
    os.symlink("../../secret-file", host.path(f"{TDIR}/rel-link.j2"))
    for name, err in [("../../secret-file", "include name '../../secret-file' leaves the template directory"),
                      ("/etc/secret-file", "absolute"),
                      ("rel-link.j2", "rel-link.j2"),
                      ("abs-link.j2", "abs-link.j2")]:
        host.use_seed(user_data=ud(f"""\
            - content: '{{% include "ok.j2" %}} {{% include "{name}" %}}'
              path: /etc/out
            """))
        host.reboot()
        p = host.run(check=False)
        assert p.returncode == 1, name
        assert "templates[0].content: line 1, column 26:" in p.stderr and err in p.stderr, p.stderr
        assert not host.path("/etc/out").exists()


def test_command_on_change_with_timeout(host):
    host.use_seed(user_data=ud("""\
        - content: "{{ v1.local_ipv4 }}"
          path: /etc/slow.conf
          on_change: {command: [sleep, "30"], timeout: 1}
        - content: x
          path: /etc/failing.conf
          on_change: {command: "echo failing-output; exit 3"}
        - content: y
          path: /etc/ok.conf
          on_change: {command: 'echo "stage=$KILN_STAGE"'}
        """))
    start = time.monotonic()
    host.run()
    assert time.monotonic() - start < 20, "the timeout stops the command"
    m = host.module("config", "templates")
    assert m["result"] == "ok"
    assert m["recoverable_errors"] == ["templates on_change: 'sleep 30' timed out and was killed",
                                       "templates on_change: '/bin/sh -c 'echo failing-output; exit 3'' "
                                       "exited with status 3"]
    assert ("ran", "/bin/sh -c 'echo \"stage=$KILN_STAGE\"'", None) in changes(host)
    assert host.path("/etc/slow.conf").read_text() == "10.0.1.23", "the file stays written"
    log = host.path("/var/log/kiln-output.log").read_text()
    assert "failing-output\n" in log and "stage=config\n" in log
    assert host.kiln("status", check=False).returncode == 2


def test_per_boot_rerender(host):
    host.use_seed(user_data=ud("""\
        - content: "advertise={{ v1.local_ipv4 }}\\n"
          path: /etc/consul.d/addr.hcl
          on_change: {reload: consul}
        """))
    host.run()
    assert host.path("/etc/consul.d/addr.hcl").read_text() == "advertise=10.0.1.23\n"
    # stop/start: same instance, new address, new boot
    host.seed(dict(DEFAULT_META, **{"local-ipv4": "10.0.2.77"}), host.seed_dir.joinpath("user-data").read_text())
    host.run()  # same boot: per-boot module already ran
    assert host.path("/etc/consul.d/addr.hcl").read_text() == "advertise=10.0.1.23\n"
    host.reboot()
    host.run()
    assert host.path("/etc/consul.d/addr.hcl").read_text() == "advertise=10.0.2.77\n"
    assert changes(host) == [("rendered", "/etc/consul.d/addr.hcl", "20 bytes, changed, mode 0644"),
                             ("reload", "consul.service", "skipped under --root")]
    # kiln rerun --frequency always re-renders on a live host: a hand edit is put back
    host.path("/etc/consul.d/addr.hcl").write_text("edited by hand\n")
    host.kiln("rerun", "templates", "--frequency", "always")
    assert host.path("/etc/consul.d/addr.hcl").read_text() == "advertise=10.0.2.77\n"


SECRET = "s3cr3t-gossip-key-AAAA"


def test_secrets_stay_out_of_status_and_logs(host):
    host.use_seed(user_data=ud("""\
        - content: "encrypt = \\"{{ secret_vars.encrypt }}\\"\\n"
          path: /etc/consul.d/encrypt.hcl
          owner: "root:consul"
          mode: "0640"
          on_change: {reload: consul}
        """, f"secret_vars: {{encrypt: {SECRET}}}\n"))
    outs = [host.kiln("plan"), host.run()]
    assert host.path("/etc/consul.d/encrypt.hcl").read_text() == f'encrypt = "{SECRET}"\n'
    for p in outs:
        assert SECRET not in p.stdout + p.stderr
    assert SECRET not in host.path("/run/kiln/status.json").read_text()
    assert SECRET not in host.path("/run/kiln/instance-data.json").read_text()
    assert SECRET in host.path("/run/kiln/instance-data-sensitive.json").read_text()


def test_secret_into_world_readable_file_refused(host):
    host.write("/etc/consul.d/existing.hcl", "x", mode=0o644)
    host.use_seed(user_data=ud("""\
        - {content: "k={{ secret_vars.encrypt }}", path: /etc/consul.d/new.hcl}
        - {content: "k={{ secret_vars.encrypt }}", path: /etc/consul.d/existing.hcl}
        - {content: "{{ {'a': 1}[secret_vars.encrypt] }}", path: /etc/x, mode: "0600"}
        """, f"secret_vars: {{encrypt: {SECRET}}}\n"))
    p = host.run(check=False)
    assert p.returncode == 1
    assert "templates[0]: /etc/consul.d/new.hcl would hold a secret value and be world-readable (mode 0644)" \
        in p.stderr
    assert "templates[1]: /etc/consul.d/existing.hcl would hold a secret value and be world-readable" in p.stderr
    # an error message that would quote the secret shows *** instead
    assert "templates[2].content: line 1, column 12: 'dict object' has no attribute '***'" in p.stderr
    assert SECRET not in p.stdout + p.stderr
    assert SECRET not in host.path("/run/kiln/status.json").read_text()
    assert not host.path("/etc/consul.d/new.hcl").exists()


# ---- the live system, in namespaces ----

NS_PROLOGUE = r"""
set -eu
mkdir -p "$S/ns/etc" && cp -a /etc/. "$S/ns/etc/"
for d in /etc /var/lib /var/log /run /root; do mkdir -p "$S/ns$d"; mount --bind "$S/ns$d" "$d"; done
printf 'root:x:0:0:root:/root:/bin/bash\n' > /etc/passwd
printf 'root:x:0:\n' > /etc/group
mkdir -p /etc/kiln /var/lib/kiln/seed
printf 'datasource:\n  name: seed\n' > /etc/kiln/kiln.yaml
cp "$S/meta-data" "$S/user-data" /var/lib/kiln/seed/
"""

LIVE_UD = ud("""\
    - {content: "1", path: /etc/consul.d/a.hcl, on_change: {reload: consul}}
    - {content: "2", path: /etc/consul.d/b.hcl, on_change: {reload: consul}}
    - {content: "3", path: /etc/cortex/cortex.yaml, on_change: {restart: cortex}}
    - {content: "4", path: /etc/default/x, on_change: {restart: missing}}
    """)


def in_namespaces(tmp_path, script):
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces")
    if subprocess.run(["unshare", "--mount", "--uts", "--fork", "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here")
    (tmp_path / "meta-data").write_text(json.dumps(DEFAULT_META))
    (tmp_path / "user-data").write_text(LIVE_UD)
    kiln = KILN
    if VALGRIND:  # KILN_VALGRIND=1 reaches the live runs too
        kiln = tmp_path / "kiln-under-valgrind"
        kiln.write_text("#!/bin/sh\nexec " + " ".join(map(shlex.quote, [*VALGRIND, KILN])) + ' "$@"\n')
        kiln.chmod(0o755)
    env = dict(os.environ, S=str(tmp_path), KILN=str(kiln))
    env.pop("NOTIFY_SOCKET", None)
    env.pop("JOURNAL_STREAM", None)
    # --propagation private: nothing mounted inside is seen outside
    # a UTS namespace too: the network stage never runs here, but a sethostname would stay inside
    p = subprocess.run(["unshare", "--mount", "--uts", "--propagation", "private", "--fork", "sh", "-c",
                        NS_PROLOGUE + script],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_live_without_systemd(tmp_path):
    """No /run/systemd/system (an image build, a container): kiln says what it would do."""
    in_namespaces(tmp_path, '"$KILN" run --stage config > "$S/run.out" 2>&1 || echo "exit $?" >> "$S/run.out"\n')
    status = json.loads((tmp_path / "ns/run/kiln/status.json").read_text())["v1"]
    ch = [(c["action"], c["target"], c["detail"]) for c in status["config"]["modules"]["templates"]["changes"]]
    assert ch[4:] == [("would reload", "consul.service", "systemd not running"),
                      ("would restart", "cortex.service", "systemd not running"),
                      ("would restart", "missing.service", "systemd not running")]
    assert "exit" not in (tmp_path / "run.out").read_text()


FAKE_SYSTEMD = r"""
import sys, dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)

class Manager(dbus.service.Object):
    def job(self, method, unit, mode):
        log.write(f"{method} {unit} {mode}\n")
        if unit == "missing.service":
            raise dbus.exceptions.DBusException(f"Unit {unit} not found.",
                                                name="org.freedesktop.systemd1.NoSuchUnit")
        return dbus.ObjectPath("/org/freedesktop/systemd1/job/7")

    @dbus.service.method("org.freedesktop.systemd1.Manager", in_signature="ss", out_signature="o")
    def TryRestartUnit(self, unit, mode):
        return self.job("TryRestartUnit", unit, mode)

    @dbus.service.method("org.freedesktop.systemd1.Manager", in_signature="ss", out_signature="o")
    def ReloadOrTryRestartUnit(self, unit, mode):
        return self.job("ReloadOrTryRestartUnit", unit, mode)


name = dbus.service.BusName("org.freedesktop.systemd1", bus)
Manager(bus, "/org/freedesktop/systemd1")
open(sys.argv[2] + ".ready", "w").close()
GLib.MainLoop().run()
"""

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={s}/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
</busconfig>
"""

FAKE_SCRIPT = r"""
mkdir -p /run/systemd/system          # what sd_booted() looks for
dbus-daemon --config-file="$S/bus.conf" --fork --nopidfile
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$S/system_bus_socket"
/usr/bin/python3 "$S/fake.py" "$DBUS_SYSTEM_BUS_ADDRESS" "$S/calls" &
fake=$!
for i in $(seq 100); do [ -e "$S/calls.ready" ] && break; sleep 0.1; done
"$KILN" run --stage config > "$S/run.out" 2>&1 || echo "exit $?" >> "$S/run.out"
cp /run/kiln/status.json "$S/status1.json"
"$KILN" rerun templates --frequency always > "$S/run2.out" 2>&1 || echo "exit $?" >> "$S/run2.out"
cp /run/kiln/status.json "$S/status2.json"
kill $fake
"""


def test_live_with_fake_systemd(tmp_path):
    """systemd 'running' (/run/systemd/system in the namespace) and a fake org.freedesktop.systemd1 on a private
    bus: kiln queues one try-job per unit with mode replace, records the job, and a refused job is a
    recoverable error; a rerun with nothing changed calls nothing."""
    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is not installed")
    if subprocess.run(["/usr/bin/python3", "-c", "import dbus.service, dbus.mainloop.glib, gi.repository.GLib"],
                      capture_output=True).returncode != 0:
        pytest.skip("python3-dbus / python3-gi are not installed")
    (tmp_path / "bus.conf").write_text(BUS_CONF.format(s=tmp_path))
    (tmp_path / "fake.py").write_text(FAKE_SYSTEMD)
    in_namespaces(tmp_path, FAKE_SCRIPT)
    assert (tmp_path / "calls").read_text() == ("ReloadOrTryRestartUnit consul.service replace\n"
                                                "TryRestartUnit cortex.service replace\n"
                                                "TryRestartUnit missing.service replace\n")
    m = json.loads((tmp_path / "status1.json").read_text())["v1"]["config"]["modules"]["templates"]
    ch = [(c["action"], c["target"], c["detail"]) for c in m["changes"]]
    assert ch[4:] == [("reload", "consul.service", "queued: /org/freedesktop/systemd1/job/7"),
                      ("restart", "cortex.service", "queued: /org/freedesktop/systemd1/job/7")]
    assert m["recoverable_errors"] == ["on_change: could not restart missing.service: Unit missing.service not found."]
    out = (tmp_path / "run.out").read_text()
    assert "exit" not in out, out
    m2 = json.loads((tmp_path / "status2.json").read_text())["v1"]["config"]["modules"]["templates"]
    assert m2["result"] == "ok" and not m2["changes"]
