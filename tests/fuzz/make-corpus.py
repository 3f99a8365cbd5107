#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets from the project's own test vectors.

Why generated: the seeds must follow the test vectors (tests/data/userdata,
tests/data/nvme, tests/jinja, the IMDS emulator's data, the docs' examples),
and a script says where each came from.  Seeds are small files a fuzzer
starts from; what a run finds stays in the build tree.  Files named
regress-* are not generated: they are inputs that once found a bug, kept as
regression tests (each target replays its whole corpus under ctest), and
this script never touches them.

    /usr/bin/python3 tests/fuzz/make-corpus.py        (deterministic; standard library only)
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
MAX_SEED = 8192  # bytes; larger vectors are cut out rather than truncated

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from test_jinja_diff import parse_cases  # noqa: E402  (the corpus format has one parser)


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def clean(target):
    d = CORPUS / target
    if d.is_dir():
        for f in d.iterdir():
            if not f.name.startswith("regress-"):
                f.unlink()


def doc_blocks(lang):
    """Fenced code blocks of the given language from docs/*.md."""
    for md in sorted((ROOT / "docs").glob("*.md")):
        for i, m in enumerate(re.finditer(r"```" + lang + r"\n(.*?)```", md.read_text(), re.S)):
            yield f"{md.stem}-{i:02d}", m.group(1)


YAML_EDGES = {
    "anchors": "base: &b {a: 1, b: [x, y]}\nother: *b\nlist: [*b, *b]\n",
    "merge-key": "base: &b {a: 1}\nmore:\n  <<: *b\n  c: 2\nmulti:\n  <<: [*b, {d: 4}]\n",
    "alias-bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    "scalars": "a: yes\nb: Off\nc: 0644\nd: 0x1F\ne: 1:30\nf: 1.5e+3\ng: .inf\nh: -.NaN\ni: ~\nj: 0b101\n"
               "k: 190:20:30\nl: 9223372036854775808\nm: 2026-11-01\nn: '0644'\n",
    "tags": "a: !!str 12\nb: !!int '12'\nc: !!binary aGVsbG8=\nd: !!float 1\ne: !!bool yes\nf: !!null ''\n"
            "g: !custom x\n",
    "block-scalars": "lit: |\n  one\n   two\n\nfold: >-\n  a\n  b\nkeep: |+\n  x\n\nind: |2\n   y\n",
    "flow": "{a: [1, 2, {b: c}], 'd e': \"f\\u00e9\\x41\", ? complex : key}\n",
    "multi-doc": "a: 1\n---\nb: 2\n...\n",
    "duplicate": "a: 1\na: 2\n",
    "tab": "a:\n\tb: 1\n",
    "deep": "a: " + "[" * 40 + "]" * 40 + "\n",
    "unicode": "\ufeffname: \"caf\\u00e9 \\U0001F600\"\nkey\u00e9: v\n",
    "crlf": "#cloud-config\r\nhostname: web-1\r\nruncmd:\r\n  - [echo, hi]\r\n",
    "directives": "%YAML 1.1\n%TAG ! tag:example.com,2000:\n---\na: !foo 1\n",
    "null-key": "? \n: v\n~: w\n",
    "complex-key": "? [a, b]\n: v\n? {c: d}\n: w\n",
}

CONFIG_EDGES = {
    "write-files": "#cloud-config\nwrite_files:\n  - path: /etc/app.conf\n    content: aGVsbG8K\n    encoding: b64\n"
                   "    owner: root:root\n    permissions: '0640'\n  - path: /etc/late\n    defer: true\n    append: true\n",
    "hostbasics": "#cloud-config\nhostname: web-1\nfqdn: web-1.example.com\nprefer_fqdn_over_hostname: true\n"
                  "manage_etc_hosts: localhost\nssh_authorized_keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA x@y\n",
    "commands": "#cloud-config\nbootcmd:\n  - echo boot\n  - [sh, -c, 'echo $1', x]\nruncmd:\n  - [ls, -l, /]\n",
    "volumes": "#cloud-config\nvolumes:\n  - volume_id: vol-0123456789abcdef0\n    device: sdf\n    label: DATA\n"
               "    filesystem: xfs\n    mountpoint: /var/lib/cortex\n    owner: cortex\n    mode: '0750'\n"
               "    required_by: [cortex.service]\n",
    "fs-setup": "#cloud-config\nfs_setup:\n  - device: /dev/sdb\n    filesystem: ext4\n    label: x\n"
                "mounts:\n  - [/dev/sdb, /data, ext4, 'defaults,nofail', '0', '2']\n",
    "kiln-keys": "kiln:\n  disable_modules: [runcmd]\nvars: {role: cortex, n: 3}\nsecret_vars: {token: s3cr3t}\n"
                 "merge_how: [{name: list, settings: [append]}, {name: dict, settings: [recurse_array]}]\n",
    "datasource": "datasource:\n  name: ec2\n  ec2:\n    metadata_urls: ['http://169.254.169.254']\n    timeout: 2\n"
                  "    max_wait: 120\n    token_ttl: 21600\n    tags: true\n",
    "unknown-key": "#cloud-config\nhostnme: typo\npackages: [x]\nwrite_files: 3\n",
    "json": '{"hostname": "web-1", "write_files": [{"path": "/x", "content": "y"}], "vars": {"a": [1, 2]}}',
}

IMDS_LISTINGS = {
    "tags": "Name\nRole\nConsulCluster\naws:autoscaling:groupName\n",
    "bdm": "ami\nebs1\nebs2\nroot\n",
    "tree": "ami-id\nblock-device-mapping/\nhostname\niam/\nplacement/\npublic-keys/\ntags/\n",
    "crlf": "a\r\nb/\r\n\r\nc",
    "bad-dotdot": "a\n..\nb\n",
    "bad-slash": "a/b\n",
    "escape": "key with space\ncaf\u00e9\n100%\n?q#f\n",
}

IMDS_URLS = ["http://169.254.169.254", "http://[fd00:ec2::254]/", "http://127.0.0.1:8080", "http://imds.local:80/",
             "https://169.254.169.254", "http://user@host/", "http://[::1]:65536", "http://h/path"]


def userdata():
    src = ROOT / "tests" / "data" / "userdata"
    for f in sorted(src.iterdir()):
        if f.suffix in (".py", ".json", ".md"):
            continue
        put("userdata", f.name, f.read_bytes())
    put("userdata", "cortex-node.user-data", (ROOT / "tests/emulators/data/cortex-node.user-data").read_bytes())
    put("userdata", "demo.yaml", (ROOT / "demo/user-data.yaml").read_bytes())


def yaml():
    for name, text in YAML_EDGES.items():
        put("yaml", name + ".yaml", text)
    for name, text in doc_blocks("yaml"):
        put("yaml", "doc-" + name + ".yaml", text)
    put("yaml", "demo.yaml", (ROOT / "demo/user-data.yaml").read_bytes())


def schema():
    for name, text in CONFIG_EDGES.items():
        put("schema", name + ".yaml", text)
    for name, text in doc_blocks("yaml"):
        put("schema", "doc-" + name + ".yaml", text)
    put("schema", "demo.yaml", (ROOT / "demo/user-data.yaml").read_bytes())


def template():
    for cases in sorted((ROOT / "tests" / "jinja").glob("*.cases")):
        for i, c in enumerate(parse_cases(cases)):
            put("template", f"{cases.stem}-{i:03d}.j2", c["template"])
    for name, text in doc_blocks("jinja"):
        put("template", "doc-" + name + ".j2", text)
    for f in sorted((ROOT / "config" / "templates").rglob("*")):
        if f.is_file():
            put("template", "role-" + "-".join(f.relative_to(ROOT / "config" / "templates").parts), f.read_bytes())
    put("template", "include.j2", '{% include "header.j2" %}{% include "sub/loop.j2" %}')
    put("template", "include-escape.j2", '{% include "../fuzz-common.h" %}')
    put("template", "include-self.j2", '{% include "self.j2" %}')


def imds():
    data = json.loads((ROOT / "tests/emulators/data/cortex-node.json").read_text())
    doc = data["dynamic"]["instance-identity"]["document"]
    put("imds", "identity-document.json", json.dumps(doc, indent=2))
    md = data["meta-data"]
    put("imds", "meta-data.json", json.dumps(md, sort_keys=True))
    put("imds", "meta-data-shapes.json", json.dumps({
        "instance-id": "i-1", "public-keys": {"0": {"openssh-key": "ssh-ed25519 AAAA k"}},
        "placement": {"availability-zone": "us-east-1a"}, "tags": {"instance": {"Name": "x"}},
        "iam": {"security-credentials": "secret"}, "identity-credentials": {"ec2": {"x": 1}}}))
    put("imds", "settings.json", json.dumps({"metadata_urls": IMDS_URLS[:3], "timeout": 1.5, "max_wait": 10,
                                             "token_ttl": 60, "imdsv1_fallback": True}))
    for name, text in IMDS_LISTINGS.items():
        put("imds", "listing-" + name, text)
    for i, u in enumerate(IMDS_URLS):
        put("imds", f"url-{i}", u)


def nvme():
    for f in sorted((ROOT / "tests" / "data" / "nvme").glob("*.bin")):
        put("nvme", f.name, f.read_bytes())
    for s in ("vol-0123456789abcdef0", "VOL0123456789ABCDEF0", "/dev/xvdba", "sda1", "/dev/../sdf"):
        put("nvme", "name-" + re.sub(r"[^a-z0-9]", "_", s.lower()), s)


CONSUL_ANSWERS = {
    "acl-not-found": ("0b5c2f1e-77aa-4d3e-9f00-1234567890ab", "ACL not found"),
    "permission": ("0b5c2f1e-77aa-4d3e-9f00-1234567890ab",
                   "Permission denied: token with AccessorID 'x' lacks permission 'service:write' on \"cortex\"\n"),
    "echoed-token": ("s3cr3t-token", "rpc error: token s3cr3t-token\r\nnot valid (s3cr3t-token)"),
    "bad-check": ("", "Invalid check: TTL must be > 0 for TTL checks"),
    "long": ("tok-1234", "x" * 396 + "tok-1234" + "y" * 50),
}


def consul():
    for name, text in doc_blocks("yaml"):
        if "consul:" in text:
            put("consul", "doc-" + name + ".yaml", text)
    for f in sorted((ROOT / "config" / "examples").glob("*.yaml")):
        if "consul:" in f.read_text():
            put("consul", "example-" + f.name, f.read_bytes())
    for name, (token, body) in CONSUL_ANSWERS.items():
        put("consul", "answer-" + name, "A" + token + "\n" + body)


def main():
    for target, fn in (("userdata", userdata), ("yaml", yaml), ("schema", schema), ("template", template),
                       ("imds", imds), ("nvme", nvme), ("consul", consul)):
        clean(target)
        fn()
        n = len(list((CORPUS / target).iterdir()))
        print(f"{target}: {n} files")


if __name__ == "__main__":
    main()
