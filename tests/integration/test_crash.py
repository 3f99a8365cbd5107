"""Crash consistency: `kiln run` killed with SIGKILL at many points of a run.

Why: kiln runs at boot, where a power cut, an OOM kill or a watchdog can stop
it anywhere.  Its promise is that no file it manages is ever seen half
written, and that the next run (the unit restarted, or the next boot) ends in
exactly the state an uninterrupted run would have produced.

The workload is the second instance made from an image that already ran
once (instance A): instance B rewrites every write_files target of A with
new content and modes (some encoded, some secret at 0600, some in new
nested directories), re-renders templates, rewrites the Consul agent's
config (0640 root:consul, a new gossip key), renames the host
(/etc/hostname, /etc/hosts), installs SSH keys, and kiln records
instance-data, status, the user-data copy and the semaphores.  So a killed run can leave each managed file at A's version, at
B's, or (new files) absent — and nothing else.

Each iteration copies the prepared tree, starts `kiln run`, kills it after a
delay, then checks the tree:
  - every managed file is absent, A's version or B's version, whole (content
    and mode as one), never a prefix or a mix;
  - JSON records kiln rewrites during a run (status, semaphores,
    instance-data) parse completely;
  - nothing else exists except kiln's temporary files (".#NAME.<16 hex>"),
    which are never at the real name;
then reruns `kiln run` to completion and compares the whole tree with the
uninterrupted run's (timestamps and per-run change records normalised away,
no temporary file left).

Delays: an uninterrupted run is timed first, and the kill points are spread
over the whole run (half stepped over 0..1.1 x its duration, half stepped
over the window in which the reference run wrote its files, measured from
their mtimes; both timed exactly as the loop starts kiln).  The test fails if
too few kills landed mid-write, so it can't pass by killing only before or
after the work.

The scratch trees live on a tmpfs.  KILN_CRASH_ITERATIONS (default 200)
sets the number of kills; tests/crash-soak.sh runs thousands.
"""
import base64
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from kilntest import DEFAULT_META, KILN, VALGRIND, Machine

ITERATIONS = int(os.environ.get("KILN_CRASH_ITERATIONS", "200"))
SEED = int(os.environ.get("KILN_CRASH_SEED", "4242"))
TEMP_RE = re.compile(r"^\.#.+\.[0-9a-f]{16}$")
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAXmsyuJZFFp21/Lu6sDlYIOQGd6MpvSvGKwZvrTzMo3 bob@desk"

pytestmark = pytest.mark.skipif(bool(VALGRIND), reason="timing-based: not run under valgrind")


def user_data(tag, n_files):
    """write_files for one instance: n_files files, every 4th secret (0600),
    every 5th gz+b64, every 7th in a new nested directory, sizes up to 48 KiB (the seed takes 1 MiB)."""
    rnd = random.Random(tag)
    entries = []
    for i in range(n_files):
        path = f"/opt/crash/d{i % 3}/n{i:02d}/file{i:02d}.conf" if i % 7 == 3 else f"/etc/crash/file{i:02d}.conf"
        size = rnd.choice([10, 300, 4096, 16 * 1024, 48 * 1024])
        body = f"# {tag} {i}\n" + "".join(rnd.choice("abcdefghij\n") for _ in range(size))
        e = {"path": path, "permissions": "0600" if i % 4 == 0 else ("0644" if tag == "A" else "0640")}
        if i % 5 == 2:
            e["encoding"] = "gz+b64"
            e["content"] = base64.b64encode(gzip.compress(body.encode(), mtime=0)).decode()
        else:
            e["content"] = body
        entries.append(e)
    templates = [{"path": f"/etc/tmpl/t{i}.conf", "mode": "0640" if i % 2 else "0644",
                  "content": f"# {tag} {i}\nid={{{{ v1.instance_id }}}}\nzone={{{{ v1.availability_zone }}}}\n"
                             + "{% for k in range(200) %}line {{ k }} of " + tag + "\n{% endfor %}"}
                 for i in range(6)]
    consul = {"agent": {"datacenter": f"dc-{tag.lower()}", "encrypt": GOSSIP[tag]}}
    doc = {"hostname": f"crash-{tag.lower()}", "fqdn": f"crash-{tag.lower()}.example.com",
           "manage_etc_hosts": True, "write_files": entries, "templates": templates, "consul": consul}
    return "#cloud-config\n" + json.dumps(doc, indent=1) + "\n"


GOSSIP = {"A": "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", "B": "X4SYOinf2pTAcAHRhpj7dA=="}
META_A = dict(DEFAULT_META, **{"instance-id": "i-0aaaaaaaaaaaaaaa1"})
META_B = dict(DEFAULT_META, **{"instance-id": "i-0bbbbbbbbbbbbbbb2", "public-keys": [DEFAULT_META["public-keys"][0], KEY_B]})

# Files kiln rewrites several times in one run: only "complete JSON" is checked mid-run.
REWRITTEN_JSON = re.compile(r"^(run/kiln/(status|result|instance-data(-sensitive)?)\.json"
                            r"|var/lib/kiln/instances/[^/]+/sem/[^/]+|var/lib/kiln/data/sem/[^/]+)$")


def file_state(p):
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode):
        return ("l", os.readlink(p))
    if stat.S_ISDIR(st.st_mode):
        return ("d", stat.S_IMODE(st.st_mode))
    return ("f", stat.S_IMODE(st.st_mode), hashlib.sha256(Path(p).read_bytes()).hexdigest())


def tree(root):
    """rel path -> file_state for everything under root except proc/."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != "proc"]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = file_state(p)
    return out


def normalise_json(rel, text):
    """The parts of kiln's records that must be the same after any kill + rerun:
    results and errors, not times or the change lists of the last run.  A
    module the killed run finished is "skipped, already ran" in the rerun's
    status where the reference says "ok": both mean done."""
    v = json.loads(text)
    if rel.endswith("status.json"):
        done = {"ok": "done", "skipped": "done"}
        return {stage: {"errors": s["errors"], "modules": {m: done.get(r["result"], r["result"])
                                                           for m, r in s["modules"].items()}}
                for stage, s in v["v1"].items() if isinstance(s, dict) and "modules" in s}
    if "/sem/" in rel:
        v.pop("time", None)
    return v


def normalised_tree(root):
    t = tree(root)
    for rel, st in list(t.items()):
        if st[0] == "f" and (REWRITTEN_JSON.match(rel) or rel == "run/kiln/result.json"):
            t[rel] = ("json", st[1], normalise_json(rel, (Path(root) / rel).read_text()))
    return t


def start_kiln(template, work):
    """A fresh copy of template at work, and `kiln run` started on it (and when)."""
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["cp", "-a", str(template), str(work)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    t0 = time.time()
    proc = subprocess.Popen([KILN, "--root", str(work), "run"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    return proc, t0


def run_kiln(root, timeout=60):
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    return subprocess.run([KILN, "--root", str(root), "run"], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A tmpfs for the trees (fsync is free there, so a run is short and the kills many)."""
    d = tmp_path_factory.mktemp("crash")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m,mode=0755", "kiln-crash", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=True)


@pytest.fixture(scope="module")
def world(scratch):
    """The prepared tree (A ran, B is about to), the reference outcome and the run's timing."""
    m = Machine(scratch / "template")
    m.write("/etc/hosts", "127.0.0.1 localhost\n")
    m.write("/etc/group", "root:x:0:\nconsul:x:4242:\n")
    m.use_seed(META_A, user_data("A", 40))
    p = m.run(check=False)
    assert p.returncode == 0, p.stderr
    m.reboot()
    m.seed(META_B, user_data("B", 40))
    before = tree(m.root)

    # the reference: B's run uninterrupted, timed (best of a few)
    # timed exactly as the loop below starts and kills it; the median of a few runs
    ref_root, runs = scratch / "reference", []
    for _ in range(5):
        proc, t0 = start_kiln(m.root, ref_root)
        assert proc.wait(timeout=60) == 0
        duration = time.time() - t0
        # what this run wrote (cp -a kept the copied files' older mtimes)
        mtimes = [os.lstat(os.path.join(d, f)).st_mtime for d, _, fs in os.walk(ref_root) for f in fs]
        writes = [t - t0 for t in mtimes if t > t0]
        runs.append((duration, min(writes), max(writes)))
    duration, lo, hi = sorted(runs)[len(runs) // 2]
    after = tree(ref_root)
    return {"template": m.root, "before": before, "after": after, "reference": normalised_tree(ref_root),
            "duration": duration, "window": (lo, hi)}


def delays(world, n):
    """Half stepped over the whole run (and a little after), half over the write window."""
    rnd = random.Random(SEED)
    lo, hi = world["window"]
    half = n // 2
    whole = [(i + rnd.random()) / half * 1.1 * world["duration"] for i in range(half)]
    focus = [lo + (i + rnd.random()) / (n - half) * (hi - lo) for i in range(n - half)]
    return whole + focus


def check_killed_tree(root, world):
    """The invariants a kill must leave; returns how many managed files were already at B's version."""
    before, after = world["before"], world["after"]
    problems, at_b = [], 0
    for rel, st in tree(root).items():
        name = os.path.basename(rel)
        if TEMP_RE.match(name):
            continue  # a temporary file, never at the real name
        if REWRITTEN_JSON.match(rel):
            try:
                json.loads((root / rel).read_text())
            except ValueError as e:
                problems.append(f"{rel}: torn JSON ({e})")
            continue
        versions = [v for v in (before.get(rel), after.get(rel)) if v is not None]
        if not versions:
            problems.append(f"{rel}: unexpected file {st}")
        elif st not in versions:
            problems.append(f"{rel}: neither the old nor the new version: {st}")
        elif st == after.get(rel) and st != before.get(rel) and st[0] == "f":
            at_b += 1
    return problems, at_b


def temp_files(root):
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if TEMP_RE.match(f)]


def test_sigkill_anywhere_then_rerun_converges(scratch, world):
    work = scratch / "work"
    n_managed = sum(1 for rel, st in world["after"].items()
                    if st[0] == "f" and world["before"].get(rel) != st and not REWRITTEN_JSON.match(rel))
    outcomes = {"before": 0, "mid": 0, "after": 0}
    failures = []
    for i, delay in enumerate(delays(world, ITERATIONS)):
        proc, t0 = start_kiln(world["template"], work)
        time.sleep(max(0.0, delay - (time.time() - t0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        problems, at_b = check_killed_tree(work, world)
        outcomes["before" if at_b == 0 else "after" if at_b == n_managed else "mid"] += 1
        p = run_kiln(work)
        if p.returncode != 0:
            problems.append(f"rerun exited {p.returncode}: {p.stderr[-2000:]}")
        got = normalised_tree(work)
        ref = world["reference"]
        for rel in sorted(set(got) | set(ref)):
            if got.get(rel) != ref.get(rel):
                problems.append(f"after rerun, {rel}: {got.get(rel)} != reference {ref.get(rel)}")
        problems += [f"temporary file left after the rerun: {f}" for f in temp_files(work)]
        if problems:
            failures.append(f"iteration {i}, kill after {delay * 1000:.1f} ms:\n  " + "\n  ".join(problems[:10]))
            if len(failures) >= 5:
                break
    print(f"{ITERATIONS} kills over a {world['duration'] * 1000:.1f} ms run (writes between "
          f"{world['window'][0] * 1000:.1f} and {world['window'][1] * 1000:.1f} ms): {outcomes}")
    assert not failures, "\n".join(failures)
    # the kills must have hit the work itself, not only the edges of the run
    assert outcomes["mid"] >= ITERATIONS // 5, outcomes


# ---- the order in which a run commits its files ---------------------------------------------------------

RENAME_RE = re.compile(r'^\d+\s+(?:renameat2?\(\d+<([^>]*)>, "([^"]*)", \d+<([^>]*)>, "([^"]*)"'
                       r'|rename\("([^"]*)", "([^"]*)")')


def renames(trace, root):
    """The files a traced run renamed into place, in order, relative to root."""
    out = []
    for line in Path(trace).read_text().splitlines():
        m = RENAME_RE.match(line)
        if not m or not line.rstrip().endswith("= 0"):
            continue
        target = os.path.join(m.group(3), m.group(4)) if m.group(3) else m.group(6)
        out.append(os.path.relpath(os.path.realpath(os.path.dirname(target)), os.path.realpath(root)) + "/"
                   + os.path.basename(target))
    return out


def test_commit_order(machine, tmp_path):
    """What a later run trusts is written after what it vouches for, so a kill
    between two renames can't leave a state the next run misreads:
      - instance-data-sensitive.json (reused by later runs of this boot) after
        instance-data.json and the saved user-data (a kill between the two
        instance-data files once left instance-data.json missing for the boot);
      - a module's semaphore after every file the module writes."""
    assert shutil.which("strace"), "strace is needed (scripts/setup.sh installs it)"
    machine.use_seed(user_data="#cloud-config\nhostname: order\nwrite_files:\n"
                               "  - path: /etc/a.conf\n    content: a\n  - path: /opt/b.conf\n    content: b\n")
    trace = tmp_path / "trace"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    # LeakSanitizer can't work under ptrace (an ASan build); every other test checks for leaks
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    p = subprocess.run(["strace", "-f", "-y", "-qq", "-e", "trace=rename,renameat,renameat2", "-o", str(trace),
                        KILN, "--root", str(machine.root), "run"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    order = renames(trace, machine.root)
    iid = DEFAULT_META["instance-id"]
    sem = f"var/lib/kiln/instances/{iid}/sem/"

    def before(a, b):
        assert a in order and b in order, (a, b, order)
        assert order.index(a) < order.index(b), f"{a} must be renamed before {b}: {order}"

    before("run/kiln/instance-data.json", "run/kiln/instance-data-sensitive.json")
    before(f"var/lib/kiln/instances/{iid}/user-data.txt", "run/kiln/instance-data-sensitive.json")
    before("etc/a.conf", sem + "write_files")
    before("opt/b.conf", sem + "write_files")
    before("etc/hostname", sem + "hostname")
    before("root/.ssh/authorized_keys", sem + "ssh_keys")
