"""Helpers for kiln's integration tests: a scratch machine under a --root.

A `Machine` is a directory that stands in for a host's filesystem: kiln runs
with --root pointing at it, a seed datasource (or an emulator) provides the
instance, and a fake /proc/sys/kernel/random/boot_id lets a test "reboot"
(new boot id, /run wiped) without touching the real machine.
"""
import hashlib
import json
import os
import stat
import subprocess
import uuid
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("KILN_SOURCE_DIR", Path(__file__).resolve().parents[2]))
KILN = os.environ.get("KILN_BINARY", str(SOURCE_DIR / "build" / "kiln"))
# KILN_VALGRIND=1 runs every kiln invocation of the integration tests under
# memcheck; any error or leak makes that invocation exit 99.
VALGRIND = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect"] \
    if os.environ.get("KILN_VALGRIND") == "1" else []

DEFAULT_META = {
    "instance-id": "i-0123456789abcdef0",
    "instance-type": "m6i.large",
    "local-hostname": "ip-10-0-1-23.eu-west-1.compute.internal",
    "local-ipv4": "10.0.1.23",
    "placement": {"availability-zone": "eu-west-1a", "region": "eu-west-1"},
    "public-keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINT+QnQrYxjZYHG5tXO5uBv9CWadzdJlFR1u0nQdnOby test@kiln"],
    "tags": {"Role": "cortex", "Name": "cortex-1"},
}


def dump_yaml_like(obj) -> str:
    """JSON is YAML: seed files are written as JSON for exactness."""
    return json.dumps(obj, indent=2) + "\n"


# Like a freshly baked image: root exists (kiln reads accounts from the file, never from the host's NSS).
BASE_PASSWD = "root:x:0:0:root:/root:/bin/bash\n"
BASE_GROUP = "root:x:0:\n"


class Machine:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "etc/kiln").mkdir(parents=True, exist_ok=True)
        (self.root / "etc/passwd").write_text(BASE_PASSWD)
        (self.root / "etc/group").write_text(BASE_GROUP)
        (self.root / "root").mkdir(mode=0o700, exist_ok=True)
        self.seed_dir = self.root / "var/lib/kiln/seed"
        self.seed_dir.mkdir(parents=True, exist_ok=True)
        self.boot_id_file = self.root / "proc/sys/kernel/random/boot_id"
        self.boot_id_file.parent.mkdir(parents=True, exist_ok=True)
        self.new_boot_id()

    # -- set-up ---------------------------------------------------------
    def path(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def write(self, p: str, text, mode=0o644):
        f = self.path(p)
        f.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            text = text.encode()
        f.write_bytes(text)
        f.chmod(mode)
        return f

    def image_config(self, text: str, name: str = None):
        """Writes /etc/kiln/kiln.yaml (or kiln.d/<name>)."""
        p = "/etc/kiln/kiln.yaml" if name is None else f"/etc/kiln/kiln.d/{name}"
        return self.write(p, text)

    def use_seed(self, meta=None, user_data=None, extra_config: str = ""):
        self.image_config("datasource:\n  name: seed\n" + extra_config)
        self.seed(meta, user_data)

    def use_imds(self, imds=None, extra_config: str = "", **ec2):
        """Image config for the ec2 datasource, pointed at an IMDS emulator
        (harness.Imds) with test-sized timeouts; keyword arguments set other
        datasource.ec2 keys (metadata_urls=[...] without an emulator).  Tests
        must never leave the loopback: metadata_urls is always set."""
        settings = {"metadata_urls": [imds.endpoint] if imds else [], "timeout": 1, "max_wait": 10}
        settings.update(ec2)
        assert settings["metadata_urls"], "use_imds needs an emulator or metadata_urls"
        self.image_config("datasource:\n  name: ec2\n  ec2: " + json.dumps(settings) + "\n" + extra_config)

    def seed(self, meta=None, user_data=None):
        meta = dict(DEFAULT_META if meta is None else meta)
        (self.seed_dir / "meta-data").write_text(dump_yaml_like(meta))
        ud = self.seed_dir / "user-data"
        if user_data is None:
            ud.unlink(missing_ok=True)
        else:
            ud.write_bytes(user_data.encode() if isinstance(user_data, str) else user_data)

    def new_boot_id(self):
        self.boot_id = str(uuid.uuid4())
        self.boot_id_file.write_text(self.boot_id + "\n")

    def reboot(self):
        """A new kernel boot: new boot id, /run is empty again."""
        subprocess.run(["rm", "-rf", str(self.path("/run"))], check=True)
        self.new_boot_id()

    # -- running ---------------------------------------------------------
    def kiln(self, *args, check=True, timeout=120, env=None, input=None):
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e.pop("JOURNAL_STREAM", None)
        if env:
            e.update(env)
        cmd = [*VALGRIND, KILN, "--root", str(self.root), *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e, input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def run(self, stage="all", check=True, **kw):
        return self.kiln("run", "--stage", stage, check=check, **kw)

    # -- reading ---------------------------------------------------------
    def status(self) -> dict:
        return json.loads(self.path("/run/kiln/status.json").read_text())["v1"]

    def module(self, stage: str, name: str) -> dict:
        return self.status()[stage]["modules"].get(name)

    def instance_data(self, sensitive=True) -> dict:
        f = "instance-data-sensitive.json" if sensitive else "instance-data.json"
        return json.loads(self.path(f"/run/kiln/{f}").read_text())

    def snapshot(self, exclude=("proc",)) -> dict:
        """path -> (type, mode, content hash or link target) for the whole tree,
        leaving out the top-level directories named in exclude (and their contents)."""
        snap = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d not in exclude]
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                rel = os.path.relpath(p, self.root)
                if stat.S_ISLNK(st.st_mode):
                    snap[rel] = ("l", os.readlink(p))
                elif stat.S_ISDIR(st.st_mode):
                    snap[rel] = ("d", stat.S_IMODE(st.st_mode))
                else:
                    h = hashlib.sha256(Path(p).read_bytes()).hexdigest()
                    snap[rel] = ("f", stat.S_IMODE(st.st_mode), h, st.st_mtime_ns)
        return snap
