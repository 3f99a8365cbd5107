#!/usr/bin/python3
"""Renders the Terraform examples' user-data: the exact bytes each role's
main.tf hands EC2, for the example variable values below.

Why generated: the fixtures must be what Terraform produces (cloudinit_config's
bare-LF first line and CRLF after it, sorted Go-canonical part headers, the
templatefile() substitutions), Terraform cannot run here, and hand-edited
copies drift.  So the templates in <role>/ are rendered by tests/tools/tfrender.py
(Terraform's cloudinit_config renderer and templatefile() subset, shared
with the user-data vectors) and the results are committed;
tests/integration/test_terraform_examples.py runs this script with --check
(no drift), feeds every fixture to `kiln validate --data`, boots each role
with them, and checks that the parts listed here are the parts main.tf
declares.

Written per role, in <role>/rendered/:
  user-data.yaml    the templatefile() variant: user_data = templatefile(...)
                    (also config/examples/<role>.user-data.yaml, the role's example)
  cloudinit.mime    data "cloudinit_config" before gzip and base64
  cloudinit.gz.b64  its `rendered` attribute (gzip + base64, the defaults),
                    what user_data_base64 takes.  The gzip framing is Go's;
                    the deflate bytes are zlib's, not Go's (see tfrender.py):
                    the decompressed document is Terraform's, byte for byte.

    /usr/bin/python3 docs/terraform/make-fixtures.py           # write
    /usr/bin/python3 docs/terraform/make-fixtures.py --check   # exit 1 if anything differs
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "tools"))
from tfrender import check_cloudinit_mime, cloudinit_mime, cloudinit_rendered, templatefile  # noqa: E402

MERGE = "list(append)+dict(recurse_array)+str()"

# Example values of the variables each role's templatefile() call passes
# (local.user_data_vars in <role>/main.tf).  The gossip key is an example:
# base64 of 32 bytes, as `consul keygen` makes; never use it.
CLUSTER = "metrics-eu"
GOSSIP_KEY = "Y29uc3VsLWdvc3NpcC1rZXktZXhhbXBsZS0wMDAwMDA="
ROLE_VARS = {
    "consul-server": {"cluster": CLUSTER, "consul_gossip_key": GOSSIP_KEY},
    "cortex": {"cluster": CLUSTER, "consul_gossip_key": GOSSIP_KEY, "blocks_bucket": "metrics-eu-cortex-blocks"},
    "gateway": {"cluster": CLUSTER, "consul_gossip_key": GOSSIP_KEY,
                "cortex_node_ips": ["10.0.1.21", "10.0.2.21", "10.0.3.21"]},
    "monitoring": {"cluster": CLUSTER, "consul_gossip_key": GOSSIP_KEY, "gateway_url": "http://10.0.1.50"},
}


def parts(role):
    """The part blocks of data "cloudinit_config" "<role>" in <role>/main.tf, in order.
    template: rendered with templatefile(); file: read with file()."""
    return [
        {"content_type": "text/jinja2", "filename": f"{role}.yaml", "template": "user-data.yaml.tftpl"},
        {"content_type": "text/cloud-config", "filename": "ops.yaml", "file": "../common/ops.yaml",
         "merge_type": MERGE},
    ]


def read(rel):
    with open(os.path.join(HERE, rel), encoding="utf-8") as f:
        return f.read()


def content(role, part):
    if "template" in part:
        rel = f"{role}/{part['template']}"
        return templatefile(read(rel), ROLE_VARS[role], name=rel)
    return read(os.path.normpath(f"{role}/{part['file']}"))


def render_all():
    """{path relative to the source tree: bytes} of every fixture."""
    out = {}
    for role in sorted(ROLE_VARS):
        rendered = [dict(p, content=content(role, p)) for p in parts(role)]
        plain = rendered[0]["content"].encode("utf-8")
        out[f"docs/terraform/{role}/rendered/user-data.yaml"] = plain
        out[f"config/examples/{role}.user-data.yaml"] = plain
        out[f"docs/terraform/{role}/rendered/cloudinit.mime"] = cloudinit_mime(rendered)
        out[f"docs/terraform/{role}/rendered/cloudinit.gz.b64"] = cloudinit_rendered(rendered)
    return out


def main(argv):
    check_cloudinit_mime()
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(f"usage: {argv[0]} [--check]", file=sys.stderr)
        return 64
    stale = []
    for rel, data in render_all().items():
        path = os.path.join(SOURCE, rel)
        try:
            with open(path, "rb") as f:
                same = f.read() == data
        except FileNotFoundError:
            same = False
        if same:
            continue
        stale.append(rel)
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
    if check and stale:
        print("stale (run docs/terraform/make-fixtures.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
