"""Secrets never leak: secret_vars, secret write_files content, IAM
credentials, the Consul ACL token, the gossip encryption key and the agent's
ACL token reach none of stdout, stderr, the journal, status.json,
result.json, instance-data.json, `kiln query`/`status`/`plan` output for
anyone, /var/log/kiln-output.log, or any world-readable file; files holding
secrets are created with their final mode (never a moment wider); the Consul
token travels only in its header; and links an attacker plants where kiln
writes its records are never followed.

Two ways in for the IAM credentials: over IMDS (the emulator serves them;
kiln must never even fetch them) and in a seed's meta-data (kiln has them,
and must keep them out of the redacted copy).  Every run registers a service
with a Consul emulator that requires the token, and writes the agent's
config (0640 root:consul: it holds the gossip key and an ACL token).

Covered elsewhere: IMDS session tokens never logged
(test_imds.py::test_tokens_are_never_logged); write_files and templates
refusing a symlinked target (test_write_files.py::test_symlink_target_refused_others_written,
test_templates.py::test_symlink_refused_others_written); plans never showing
content (test_write_files.py::test_plan_shows_no_content,
test_templates.py::test_plan_shows_no_content); templates masking secrets in
their messages and refusing a secret into a world-readable file
(test_templates.py::test_secret_into_world_readable_file_refused); Consul's
secrets across reruns, refusals and shutdown (test_consul.py::test_secrets_stay_secret).
"""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import CORTEX_NODE, Consul, Imds
from kilntest import DEFAULT_META, KILN, VALGRIND, Machine

SECRET_VAR = "kiln-secret-var-7f3a9c01"
FILE_SECRET = "kiln-file-secret-b81e44d2"
with open(CORTEX_NODE, encoding="utf-8") as f:
    _creds = json.load(f)["meta-data"]["iam"]["security-credentials"]["cortex-node"]
IAM = [_creds["AccessKeyId"], _creds["SecretAccessKey"], _creds["Token"]]
CONSUL_TOKEN = "kiln-consul-token-5e3c7d9a"
GOSSIP = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
AGENT_TOKEN = "kiln-consul-agent-token-9f9f"
CONSUL = [CONSUL_TOKEN, GOSSIP, AGENT_TOKEN]
SECRETS = [SECRET_VAR, FILE_SECRET, *IAM, *CONSUL]
IID = DEFAULT_META["instance-id"]
CONSUL_GID = 4242

USER_DATA = f"""#cloud-config
consul:
  address: @CONSUL@
  token: {CONSUL_TOKEN}
  agent:
    encrypt: "{GOSSIP}"
    acl: {{tokens: {{agent: {AGENT_TOKEN}}}}}
  services:
    - {{name: cortex, port: 9009}}
vars:
  role: cortex
secret_vars:
  db_password: {SECRET_VAR}
write_files:
  - path: /etc/app/token
    content: "token={FILE_SECRET}\\n"
    permissions: '0600'
  - path: /etc/app/public.conf
    content: "role=cortex\\n"
runcmd:
  - [echo, hello from runcmd]
"""

# Where secrets may legitimately be, with the file's mode: root-only files,
# and the Consul agent's config, readable by the consul group.
SECRET_HOLDERS = {
    "etc/app/token": ([FILE_SECRET], 0o600),
    f"var/lib/kiln/instances/{IID}/user-data.txt": ([SECRET_VAR, FILE_SECRET, *CONSUL], 0o600),
    "run/kiln/instance-data-sensitive.json": ([SECRET_VAR], 0o600),
    "etc/consul.d/kiln-agent.json": ([GOSSIP, AGENT_TOKEN], 0o640),
}


@pytest.fixture(scope="module")
def consul():
    """A Consul agent that takes the token (module-wide: every run registers)."""
    with Consul(acl_tokens=[CONSUL_TOKEN]) as c:
        yield c


def user_data(consul):
    return USER_DATA.replace("@CONSUL@", consul.endpoint)


@pytest.fixture
def host(consul):
    """A machine on a tmpfs reachable by everyone (pytest's own directories are
    0700), so a non-root user can run `kiln query` against it as on a real host."""
    d = Path(tempfile.mkdtemp(prefix="kiln-secrets-"))
    d.chmod(0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "kiln-secrets", str(d)], check=True)
    try:
        m = Machine(d / "root")
        m.write("/etc/group", f"root:x:0:\nconsul:x:{CONSUL_GID}:\n")
        m.consul = consul
        yield m
    finally:
        subprocess.run(["umount", "-l", str(d)], check=True)
        d.rmdir()


@pytest.fixture(scope="module")
def imds():
    with Imds() as emulator:
        yield emulator


def use_imds(machine, imds):
    with open(CORTEX_NODE, encoding="utf-8") as f:
        tree = json.load(f)
    tree["user-data"] = user_data(machine.consul)
    tree["meta-data"]["public-keys"] = {"ops": DEFAULT_META["public-keys"][0]}
    tree["meta-data"]["instance-id"] = IID
    tree["dynamic"]["instance-identity"]["document"]["instanceId"] = IID
    imds.reset_faults()
    imds.set_tree(tree)
    machine.use_imds(imds)


def use_seed_with_iam(machine):
    """The seed datasource with IAM credentials in its meta-data (as a crawl of IMDS would have them)."""
    meta = dict(DEFAULT_META, iam={"security-credentials": {"cortex-node": _creds}})
    machine.use_seed(meta, user_data(machine.consul))
    for name in ("meta-data", "user-data"):
        (machine.seed_dir / name).chmod(0o600)  # the test's own input: root-only, as a seed should be


def leaks(text, secrets=SECRETS):
    return [s for s in secrets if s in text]


def check_tree(machine, iam_anywhere_ok=False):
    """No secret in a file others can read; the secret holders exist, 0600;
    IAM credentials nowhere (or, from a seed, only in the root-only files)."""
    problems = []
    root = machine.root
    seed = os.path.relpath(machine.seed_dir, root)
    for dirpath, dirnames, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != "proc"]
        for name in files:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode) or rel.startswith(seed + "/"):
                continue
            data = Path(p).read_bytes().decode("utf-8", "replace")
            if st.st_mode & 0o004 and leaks(data):
                problems.append(f"{rel} (mode {stat.S_IMODE(st.st_mode):04o}) holds {leaks(data)}")
            iam = leaks(data, IAM)
            if iam and not (iam_anywhere_ok and rel == "run/kiln/instance-data-sensitive.json"):
                problems.append(f"{rel} holds IAM credentials {iam}")
            if rel not in SECRET_HOLDERS and leaks(data, [SECRET_VAR, FILE_SECRET, *CONSUL]):
                problems.append(f"{rel} (mode {stat.S_IMODE(st.st_mode):04o}) holds a secret")
    for rel, (secrets, mode) in SECRET_HOLDERS.items():
        p = root / rel
        assert p.exists(), rel
        assert stat.S_IMODE(os.lstat(p).st_mode) == mode, rel
        assert all(s in p.read_text() for s in secrets), rel
    st = os.lstat(root / "etc/consul.d/kiln-agent.json")
    assert (st.st_uid, st.st_gid) == (0, CONSUL_GID)
    assert not problems, "\n".join(problems)


def check_outputs(machine, *texts):
    for t in texts:
        assert not leaks(t), t
    for f in ("/run/kiln/status.json", "/run/kiln/result.json", "/run/kiln/instance-data.json",
              "/var/log/kiln-output.log"):
        assert not leaks(machine.path(f).read_text()), f
    assert "hello from runcmd" in machine.path("/var/log/kiln-output.log").read_text()
    public = machine.instance_data(sensitive=False)
    assert public["secret_vars"] == "redacted for non-root user"
    assert public["vars"] == {"role": "cortex"}
    # the Consul token went to the agent in the X-Consul-Token header only, and worked
    assert "cortex" in machine.consul.services()
    log = [e for e in machine.consul.state()["stats"]["log"] if e["path"].startswith("/v1/agent/service/")]
    assert log and all(e["token_source"] == "X-Consul-Token" for e in log), log
    assert not any(CONSUL_TOKEN in json.dumps(e.get("query")) for e in log)


def run_everything(machine):
    """A verbose run and every read-only command, as root; returns all they printed."""
    out = []
    p = machine.kiln("-v", "run")
    out += [p.stdout, p.stderr]
    for args in (["status", "--long"], ["status", "--json"], ["plan"], ["query", "v1"], ["query", "--list-keys"],
                 ["query", "vars"]):
        p = machine.kiln(*args, check=False)
        out += [p.stdout, p.stderr]
    return out


def test_imds_run_leaks_nothing(host, imds):
    use_imds(host, imds)
    out = run_everything(host)
    check_outputs(host, *out)
    check_tree(host)
    paths = [e["path"] for e in imds.stats()["log"]]
    assert not [p for p in paths if "credentials" in p], "kiln must never fetch credentials"


def test_seed_iam_credentials_are_redacted(host):
    use_seed_with_iam(host)
    out = run_everything(host)
    check_outputs(host, *out)
    check_tree(host, iam_anywhere_ok=True)
    public = host.instance_data(sensitive=False)
    assert public["ds"]["meta_data"]["iam"]["security_credentials"] == "redacted for non-root user"
    assert "ds.meta_data.iam.security_credentials" in public["sensitive_keys"]
    # root sees the secrets it must see (so the checks above looked at real data)
    assert host.kiln("query", "secret_vars.db_password").stdout.strip() == SECRET_VAR


def test_query_as_another_user_is_redacted(host):
    use_seed_with_iam(host)
    host.run()
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *VALGRIND, KILN, "--root",
              str(host.root)]
    for args in (["query", "--all"], ["query", "secret_vars"], ["query", "ds.meta_data.iam"],
                 ["query", "--format", "{{ secret_vars }}"], ["status", "--long", "--json"]):
        p = subprocess.run([*nobody, *args], capture_output=True, text=True, timeout=120)
        assert not leaks(p.stdout + p.stderr), (args, p.stdout, p.stderr)
    p = subprocess.run([*nobody, "query", "secret_vars"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "redacted for non-root user", (p.stdout, p.stderr)


# ---- the journal ---------------------------------------------------------------------------------------

# Runs in a private mount namespace (unshare -m): a fresh /run there with a
# datagram socket where sd_journal_sendv() sends, so kiln believes it runs
# under systemd (JOURNAL_STREAM names its stderr) and logs to "the journal";
# every datagram is saved.  The host's /run is not touched.
FAKE_JOURNAL = r"""
import os, socket, subprocess, sys
out_path, err_path, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run(["mount", "-t", "tmpfs", "fake-run", "/run"], check=True)
os.makedirs("/run/systemd/journal")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
err = open(err_path, "wb")
st = os.fstat(err.fileno())
env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
msgs = []
s.settimeout(0.1)
while True:
    try:
        msgs.append(s.recv(1 << 20))
    except socket.timeout:
        if p.poll() is not None:
            break
with open(out_path, "wb") as f:
    f.write(b"\n\0\n".join(msgs))
sys.exit(p.returncode)
"""


def test_journal_gets_no_secrets(host, tmp_path):
    use_seed_with_iam(host)
    helper = tmp_path / "fake-journal.py"
    helper.write_text(FAKE_JOURNAL)
    journal, err = tmp_path / "journal", tmp_path / "stderr"
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "/usr/bin/python3", str(helper), str(journal),
                        str(err), *VALGRIND, KILN, "--root", str(host.root), "-v", "run"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.stdout, p.stderr, err.read_text())
    entries = journal.read_bytes().split(b"\n\0\n")
    text = journal.read_bytes().decode("utf-8", "replace")
    # the capture is real: kiln's structured messages, with its fields, went there and not to stderr
    assert len(entries) > 5
    assert "SYSLOG_IDENTIFIER=kiln" in text and "KILN_MODULE=write_files" in text, text[:2000]
    assert "MESSAGE=wrote /etc/app/token" in text
    assert "wrote /etc/app/token" not in err.read_text()
    assert not leaks(text), leaks(text)
    assert not leaks(err.read_text())
    check_tree(host, iam_anywhere_ok=True)


# ---- files holding secrets are born with their final mode -------------------------------------------------

OPEN_RE = re.compile(r'^\d+\s+openat\(\d+<[^>]*>, "(\.#[^"]+)", ([A-Z_|]+), (0\d+)\) = \d+<([^>]+)>')
FCHMOD_RE = re.compile(r'^\d+\s+fchmod\(\d+<([^>]+)>, (0\d+)\) = 0')
WRITE_RE = re.compile(r'^\d+\s+(?:write|pwrite64|writev)\(\d+<([^>]+)>,')
RENAME_RE = re.compile(r'^\d+\s+renameat2?\(\d+<([^>]*)>, "([^"]*)", \d+<([^>]*)>, "([^"]*)"')


def test_secret_files_never_wider_than_final(host, tmp_path):
    """strace of a run: every temporary file is created 0600, gets its final
    mode before the first byte is written, and the files holding secrets
    (0600, the Consul agent's config 0640) never had a wider mode than that."""
    assert shutil.which("strace"), "strace is needed (scripts/setup.sh installs it)"
    use_seed_with_iam(host)
    trace = tmp_path / "trace"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    # LeakSanitizer can't work under ptrace (an ASan build); every other test checks for leaks
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    p = subprocess.run(["strace", "-f", "-y", "-qq", "-s", "0", "-o", str(trace), "-e",
                        "trace=openat,fchmod,fchown,write,pwrite64,writev,rename,renameat,renameat2",
                        KILN, "--root", str(host.root), "run"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    files = {}  # temp path -> events
    final = {}  # final path -> temp path
    for line in trace.read_text().splitlines():
        if m := OPEN_RE.match(line):
            if "O_CREAT" in m.group(2):
                files[m.group(4)] = [("create", int(m.group(3), 8), "O_EXCL" in m.group(2))]
        elif (m := FCHMOD_RE.match(line)) and m.group(1) in files:
            files[m.group(1)].append(("chmod", int(m.group(2), 8)))
        elif (m := WRITE_RE.match(line)) and m.group(1) in files:
            files[m.group(1)].append(("write",))
        elif m := RENAME_RE.match(line):
            tmp, dst = os.path.join(m.group(1), m.group(2)), os.path.join(m.group(3), m.group(4))
            if tmp in files:
                final[os.path.relpath(dst, os.path.realpath(host.root))] = tmp
    assert len(files) >= 10, trace.read_text()[:3000]
    for tmp, ev in files.items():
        assert ev[0] == ("create", 0o600, True), (tmp, ev)
        writes = [i for i, e in enumerate(ev) if e[0] == "write"]
        chmods = [i for i, e in enumerate(ev) if e[0] == "chmod"]
        assert chmods and (not writes or chmods[-1] < writes[0]), f"{tmp}: content written before the final mode: {ev}"
    for rel, (_, mode) in SECRET_HOLDERS.items():
        assert rel in final, (rel, sorted(final))
        modes = [e[1] for e in files[final[rel]] if e[0] in ("create", "chmod")]
        assert all(m & ~mode == 0 for m in modes), f"{rel}: modes {[oct(m) for m in modes]}, final {mode:04o}"


# ---- links planted where kiln writes its records -----------------------------------------------------------

PLANTED = ["run/kiln/status.json", "run/kiln/result.json", "run/kiln/instance-data.json",
           "run/kiln/instance-data-sensitive.json", f"var/lib/kiln/instances/{IID}/user-data.txt"]


def test_planted_symlinks_are_never_followed(host):
    """A local user who got a link into kiln's directories (a mistake in the
    image's permissions, say) must not be able to have kiln write through it:
    not status, not instance-data (secrets), not the saved user-data."""
    use_seed_with_iam(host)
    victims = {}
    for i, rel in enumerate(PLANTED):
        victim = host.path(f"/home/victim{i}")
        victim.parent.mkdir(parents=True, exist_ok=True)
        victim.write_text("victim\n")
        victim.chmod(0o644)
        link = host.root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(victim, link)
        victims[rel] = victim
    p = host.run(check=False)
    assert p.returncode == 1
    assert "Too many levels of symbolic links" in p.stderr
    for rel, victim in victims.items():
        assert victim.read_text() == "victim\n", rel
        assert stat.S_IMODE(victim.stat().st_mode) == 0o644
        assert os.path.islink(host.root / rel), f"{rel} was replaced or removed"
    assert not host.path("/etc/app/token").exists(), "a run whose records can't be kept changes nothing"
    assert not leaks(p.stdout + p.stderr)


def test_planted_lock_symlink_is_refused(host):
    use_seed_with_iam(host)
    victim = host.path("/home/victim")
    victim.parent.mkdir(parents=True)
    victim.write_text("victim\n")
    host.path("/run/kiln").mkdir(parents=True)
    os.symlink(victim, host.path("/run/kiln/.lock"))
    p = host.run(check=False)
    assert p.returncode != 0
    assert "Failed to lock /run/kiln/.lock: Too many levels of symbolic links" in p.stderr
    assert victim.read_text() == "victim\n"


# ---- input errors don't quote secrets ------------------------------------------------------------------------

def test_input_errors_do_not_quote_secret_values(host):
    """A secret value kiln refuses (an unquoted number out of range, say) is
    pointed at by file:line:col, never quoted back into the log or status."""
    pin = "123456789012345678901234567890"
    host.use_seed(user_data=f"#cloud-config\nsecret_vars:\n  pin: {pin}\n")
    p = host.run(check=False)
    assert p.returncode == 1
    assert "user-data:3:8: error: integer out of 64-bit range" in p.stderr
    assert pin not in p.stdout + p.stderr
    assert pin not in host.path("/run/kiln/status.json").read_text()
    p = host.kiln("validate", str(host.seed_dir / "user-data"), check=False)
    assert p.returncode != 0 and pin not in p.stdout + p.stderr
