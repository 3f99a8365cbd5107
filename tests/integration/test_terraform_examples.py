"""The Terraform examples (docs/terraform/) and the Packer template (packaging/packer/) against kiln.

Terraform and Packer cannot run here, so each claim the examples make is checked another honest way:

- the rendered user-data in docs/terraform/<role>/rendered/ is what docs/terraform/make-fixtures.py makes
  from the templates (no drift), and config/examples/<role>.user-data.yaml is the templatefile() form;
- `kiln validate --data <sample instance-data>` accepts every fixture, with no warning;
- a role boots (kiln run in a scratch root, the role's kiln.d baked in) from the cloudinit_config bytes as
  EC2 delivers them (AWS takes off the base64 of user_data_base64, kiln the gzip and the MIME), and every
  file it renders is the same as with the templatefile() form; the second part's SSH key is added;
- main.tf and kiln-cortex.pkr.hcl parse with HashiCorp's HCL2 parser (tests/tools/hcl2json, `npm ci` the
  first time), and what they declare agrees with the fixtures and the images: the cloudinit_config parts,
  the templatefile() variables, IMDSv2 and instance tags, the volume attachment's device and the kiln.d's,
  the AMI names Packer makes and Terraform looks for;
- the Packer provisioners are valid sh, install the .deb, bake the role, and end with
  `kiln clean --logs --machine-id`; their validation step, run against the baked layout, passes for every
  role and fails on a warning.
"""
import base64
import gzip
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from kilntest import KILN, SOURCE_DIR
from test_role_templates import ROLES, boot

TF = SOURCE_DIR / "docs/terraform"
EXAMPLES = SOURCE_DIR / "config/examples"
PACKER = SOURCE_DIR / "packaging/packer/kiln-cortex.pkr.hcl"
SAMPLE_DATA = TF / "instance-data.sample.json"
HCL_DIR = SOURCE_DIR / "tests/tools/hcl2json"
FORMS = ["user-data.yaml", "cloudinit.mime", "cloudinit.gz.b64"]
OPS_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIO7J0tJGrb2/X+rFhc5WR730C6YuWiNjh79kSptrRV7W"


def load_generator():
    spec = importlib.util.spec_from_file_location("make_fixtures", TF / "make-fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = load_generator()


def test_roles_are_the_same_everywhere():
    assert sorted(GEN.ROLE_VARS) == sorted(ROLES) == sorted(p.name for p in TF.iterdir() if (p / "main.tf").exists())


# ---- the renderer (tests/tools/tfrender.py) ---------------------------------------------------------

def test_templatefile_subset_and_its_refusals():
    tf = GEN  # make-fixtures.py imported tfrender from tests/tools
    t = sys.modules["tfrender"]
    v = {"a": "x<y>&\"z\"", "n": 3, "l": ["p", "q"], "ok": True}
    assert t.templatefile("${a}|$${a}|%%{ if }|${ n }|${ok}|$a|{{ a }}", v) == 'x<y>&"z"|${a}|%{ if }|3|true|$a|{{ a }}'
    assert t.templatefile("k: ${jsonencode(a)}\nl: ${jsonencode(l)}\n", v) == \
        'k: "x\\u003cy\\u003e\\u0026\\"z\\""\nl: ["p","q"]\n'
    for bad, why in (("${b}", "vars map does not contain key 'b'"), ("%{ if a }x%{ endif }", "directives"),
                     ("${upper(a)}", "unsupported interpolation"), ("${l}", "string required"),
                     ("${a", "unsupported interpolation")):
        with pytest.raises(t.TemplateError, match=re.escape(why)):
            t.templatefile(bad, v, name="t.tftpl")
    assert tf.templatefile is t.templatefile


# ---- the fixtures -----------------------------------------------------------------------------------

def test_fixtures_are_what_the_generator_makes():
    p = subprocess.run(["/usr/bin/python3", str(TF / "make-fixtures.py"), "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for role in ROLES:
        assert (EXAMPLES / f"{role}.user-data.yaml").read_bytes() == \
            (TF / role / "rendered/user-data.yaml").read_bytes()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("role", sorted(ROLES))
def test_kiln_validate_accepts_the_fixture(role, form):
    f = TF / role / "rendered" / form
    p = subprocess.run([KILN, "validate", "--data", str(SAMPLE_DATA), str(f)], capture_output=True, text=True)
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, f"{f}: valid", ""), p.stdout + p.stderr
    # without instance-data the jinja part can only be parsed, and kiln says so
    p = subprocess.run([KILN, "validate", str(f)], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"{f}: valid (1 warning)", p.stdout + p.stderr
    assert "jinja template checked for syntax only" in p.stderr


@pytest.mark.parametrize("role", sorted(ROLES))
def test_rendered_string_is_the_document(role):
    """`rendered` is base64 of gzip of the MIME document; the gzip header is Go's (no name, mtime 0, OS 255)."""
    d = TF / role / "rendered"
    gz = base64.b64decode((d / "cloudinit.gz.b64").read_bytes(), validate=True)
    assert gz[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    doc = gzip.decompress(gz)
    assert doc == (d / "cloudinit.mime").read_bytes()
    assert doc.startswith(b'Content-Type: multipart/mixed; boundary="MIMEBOUNDARY"\nMIME-Version: 1.0\r\n\r\n')
    # the role's part is the templatefile() form, byte for byte
    assert (d / "user-data.yaml").read_bytes() in doc
    assert len(gz) <= 16384, "EC2 takes at most 16 KiB of user-data"


def render_outputs(m, role):
    """path -> bytes of everything the role's config stage renders, and the host name."""
    entries = yaml.safe_load((EXAMPLES / f"{role}.kiln.yaml").read_text())["templates"]
    paths = [e["path"] for e in entries] + ["/etc/consul.d/kiln-agent.json", "/etc/hostname"]
    return {p: m.path(p).read_bytes() for p in paths}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_boots_from_cloudinit_config_as_from_templatefile(role, tmp_path):
    rendered = TF / role / "rendered"
    # user_data_base64: EC2 takes the base64 off and serves the gzip bytes
    served = base64.b64decode((rendered / "cloudinit.gz.b64").read_bytes())
    a = boot(tmp_path / "a", role, served)
    a.run()
    b = boot(tmp_path / "b", role, (rendered / "user-data.yaml").read_bytes())
    b.run()
    assert render_outputs(a, role) == render_outputs(b, role)
    assert a.path("/etc/hostname").read_text() == f"{role}-{ROLES[role]['id']}\n"
    # the ops part's key is added to the login user's keys, the instance's key pair stays
    keys = a.path("/root/.ssh/authorized_keys").read_text()
    assert OPS_KEY in keys and "test@kiln" in keys
    assert OPS_KEY not in b.path("/root/.ssh/authorized_keys").read_text()


# ---- main.tf and the Packer template through HashiCorp's HCL parser -----------------------------------

@pytest.fixture(scope="module")
def hcl():
    """{path relative to the source tree: the file's body as JSON} for every main.tf and the Packer file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed (Debian's nodejs and npm packages)"
    if not (HCL_DIR / "node_modules/@cdktf/hcl2json/package.json").exists():
        p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HCL_DIR, capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, f"npm ci failed:\n{p.stdout}\n{p.stderr}"
    files = [f"docs/terraform/{r}/main.tf" for r in sorted(ROLES)] + ["packaging/packer/kiln-cortex.pkr.hcl"]
    p = subprocess.run([node, str(HCL_DIR / "parse.js"), *files], cwd=SOURCE_DIR, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_hcl_parser_reports_syntax_errors(hcl, tmp_path):
    """The parser really parses: a broken file is refused with its position."""
    bad = tmp_path / "bad.tf"
    bad.write_text('resource "aws_instance" "x" {\n  ami = \n}\n')
    p = subprocess.run([shutil.which("node"), str(HCL_DIR / "parse.js"), str(bad)], capture_output=True, text=True)
    assert p.returncode == 1 and f"{bad}:2," in p.stderr, p.stderr


def one(blocks, name):
    assert name in blocks, (name, list(blocks))
    assert len(blocks[name]) == 1
    return blocks[name][0]


TEMPLATEFILE = '${templatefile("${path.module}/user-data.yaml.tftpl", local.user_data_vars)}'


@pytest.mark.parametrize("role", sorted(ROLES))
def test_main_tf_declares_what_the_fixtures_render(hcl, role):
    tf = hcl[f"docs/terraform/{role}/main.tf"]
    name = role.replace("-", "_")
    ci = one(tf["data"]["cloudinit_config"], name)
    assert (ci["gzip"], ci["base64_encode"]) == (True, True)
    want = []
    for p in GEN.parts(role):
        content = TEMPLATEFILE if "template" in p else '${file("${path.module}/%s")}' % p["file"]
        want.append({k: v for k, v in (("content_type", p["content_type"]), ("filename", p["filename"]),
                                       ("merge_type", p.get("merge_type")), ("content", content)) if v})
    assert ci["part"] == want
    assert all(p["template"] == "user-data.yaml.tftpl" for p in GEN.parts(role) if "template" in p)
    locals_ = one({"locals": tf["locals"]}, "locals")
    assert sorted(locals_["user_data_vars"]) == sorted(GEN.ROLE_VARS[role])

    inst = one(tf["resource"]["aws_instance"], name)
    assert inst["user_data_base64"] == \
        '${var.user_data_format == "cloudinit_config" ? data.cloudinit_config.%s.rendered : null}' % name
    assert inst["user_data"] == '${var.user_data_format == "templatefile" ? %s : null}' % TEMPLATEFILE[2:-1]
    md = inst["metadata_options"][0]
    assert (md["http_tokens"], md["instance_metadata_tags"]) == ("required", "enabled")
    # Consul's cloud auto-join looks for the tag the instances carry
    assert inst["tags"]["ConsulCluster"] == "${var.cluster}"
    assert "tag_key: ConsulCluster" in (TF / role / "user-data.yaml.tftpl").read_text()
    assert inst["ami"] == f"${{data.aws_ami.{name}.id}}"
    ami = one(tf["data"]["aws_ami"], name)
    assert ami["owners"] == ["self"] and ami["filter"][0]["values"] == [f"kiln-{role}-*"]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_volume_attachment_matches_the_image(hcl, role):
    """Terraform attaches the data volume under the name the role's kiln.d waits for."""
    tf = hcl[f"docs/terraform/{role}/main.tf"]
    volumes = yaml.safe_load((EXAMPLES / f"{role}.kiln.yaml").read_text()).get("volumes", [])
    attachments = tf["resource"].get("aws_volume_attachment", {})
    if not volumes:
        assert not attachments and "aws_ebs_volume" not in tf["resource"]
        return
    att = one(attachments, "data")
    assert att["device_name"] == "/dev/" + volumes[0]["device"]
    assert att["instance_id"].startswith("${aws_instance.%s" % role.replace("-", "_"))
    assert att["volume_id"].startswith("${aws_ebs_volume.data")


# ---- the Packer template ------------------------------------------------------------------------------

def packer_build(hcl):
    return one({"build": hcl["packaging/packer/kiln-cortex.pkr.hcl"]["build"]}, "build")


def test_packer_source_is_debian_12_with_imdsv2(hcl):
    pk = hcl["packaging/packer/kiln-cortex.pkr.hcl"]
    assert pk["packer"][0]["required_plugins"][0]["amazon"]["source"] == "github.com/hashicorp/amazon"
    src = one(pk["source"]["amazon-ebs"], "debian12")
    f = src["source_ami_filter"][0]
    assert f["owners"] == ["136693071363"] and f["filters"]["name"] == "debian-12-amd64-*" and f["most_recent"]
    assert src["metadata_options"][0]["http_tokens"] == "required" and src["imds_support"] == "v2.0"
    assert src["ssh_username"] == "admin" and src["ssh_clear_authorized_keys"] is True
    # docs/terraform/<role>/main.tf looks for kiln-<role>-*
    assert src["ami_name"].startswith("kiln-${var.role}-")
    assert packer_build(hcl)["sources"] == ["source.amazon-ebs.debian12"]
    roles = re.search(r"contains\(\[(.*?)\], var\.role\)", one(pk["variable"], "role")["validation"][0]["condition"])
    assert sorted(json.loads("[" + roles.group(1) + "]")) == sorted(ROLES)


def test_packer_uploads_then_provisions_then_cleans(hcl):
    text = PACKER.read_text()
    order = [m.group(1) for m in re.finditer(r'^  provisioner "(\w+)"', text, re.M)]
    assert order == ["file", "file", "file", "shell", "shell"]
    prov = packer_build(hcl)["provisioner"]
    assert [(f["source"], f["destination"]) for f in prov["file"]] == [
        ("${var.kiln_deb}", "/tmp/kiln.deb"),
        ("${local.source_dir}/config/examples/${var.role}.kiln.yaml", "/tmp/kiln-role.yaml"),
        ("${local.source_dir}/config/templates", "/tmp")]
    for role in ROLES:
        assert (EXAMPLES / f"{role}.kiln.yaml").exists()
    setup, last = (s["inline"] for s in prov["shell"])
    assert setup.index("touch /etc/kiln/kiln-disabled") < setup.index("apt-get install -y /tmp/kiln.deb")
    assert "install -m 0644 -o root -g root /tmp/kiln-role.yaml /etc/kiln/kiln.d/${var.role}.yaml" in setup
    assert "cp -r /tmp/templates /etc/kiln/templates" in setup
    assert setup[-3:] == ["check --image /etc/kiln/kiln.yaml", "check --image /etc/kiln/kiln.d/${var.role}.yaml",
                          "check"]
    assert "rm -f /etc/kiln/kiln-disabled" in last
    assert last[-1] == "kiln clean --logs --machine-id"


def shell_script(lines, role):
    """A provisioner's inline lines as Packer hands them to sh, with the template's interpolations filled in."""
    text = "\n".join(lines) + "\n"
    text = re.sub(r'\$\{length\(var\.role_packages\) > 0 \? "(.*)" : "true"\}', "true", text)
    text = text.replace("${var.role}", role)
    assert "${" not in text.replace("${var.role}", ""), text
    return text


@pytest.mark.parametrize("which", [0, 1])
def test_packer_shell_steps_are_valid_sh(hcl, which):
    script = shell_script(packer_build(hcl)["provisioner"]["shell"][which]["inline"], "cortex")
    p = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def baked_root(tmp_path, role):
    """/etc/kiln as the Packer template bakes it, and a `kiln` on PATH that reads it (--root)."""
    root = tmp_path / "root"
    (root / "etc/kiln/kiln.d").mkdir(parents=True)
    shutil.copy(SOURCE_DIR / "config/kiln.yaml", root / "etc/kiln/kiln.yaml")
    shutil.copy(EXAMPLES / f"{role}.kiln.yaml", root / f"etc/kiln/kiln.d/{role}.yaml")
    shutil.copytree(SOURCE_DIR / "config/templates", root / "etc/kiln/templates")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "kiln"
    wrapper.write_text(f'#!/bin/sh\nexec "{KILN}" --root "{root}" "$@"\n')
    wrapper.chmod(0o755)
    return root, bin_dir


def run_checks(hcl, role, root, bin_dir):
    setup = packer_build(hcl)["provisioner"]["shell"][0]["inline"]
    lines = setup[next(i for i, t in enumerate(setup) if t.startswith("check() {")):]
    script = shell_script(lines, role).replace("/tmp/kiln-validate.log", f"{root}/kiln-validate.log")
    script = script.replace(" /etc/kiln/", f" {root}/etc/kiln/")
    assert script.count(str(root)) == 5, script
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return subprocess.run(["sh", "-eu"], input=script, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_packer_validation_step_passes_for_every_role(hcl, role, tmp_path):
    root, bin_dir = baked_root(tmp_path, role)
    p = run_checks(hcl, role, root, bin_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count(": valid") == 3 and "this machine's config and user-data: valid" in p.stdout


def test_packer_validation_step_fails_on_a_warning(hcl, tmp_path):
    root, bin_dir = baked_root(tmp_path, "gateway")
    with open(root / "etc/kiln/kiln.d/gateway.yaml", "a") as f:
        f.write("templats: []\n")
    p = run_checks(hcl, "gateway", root, bin_dir)
    assert p.returncode != 0
    assert "templats: unknown key" in p.stderr, p.stderr
