"""User-data through the binary: every decoding vector via `kiln validate`,
Terraform's cloudinit_config output via `kiln run`, and the merge rules
between parts (cloud-init's default replaces; X-Merge-Type appends)."""
import base64
import gzip
import json

import pytest

from kilntest import SOURCE_DIR

VECTORS = SOURCE_DIR / "tests/data/userdata"
EXPECTED = json.loads((VECTORS / "expected.json").read_text())
GOOD = sorted(k for k, v in EXPECTED.items() if not k.startswith("bad-")
              and not any(p["content_type"] == "text/jinja2" for p in v.get("parts", [])))
BAD = sorted(k for k in EXPECTED if k.startswith("bad-"))


@pytest.mark.parametrize("name", GOOD)
def test_validate_accepts(machine, name):
    p = machine.kiln("validate", str(VECTORS / name), check=False)
    assert p.returncode == 0, p.stderr
    assert "error" not in p.stderr


@pytest.mark.parametrize("name", BAD)
def test_validate_rejects_with_one_clear_error(machine, name):
    path = VECTORS / name
    p = machine.kiln("validate", str(path), check=False)
    assert p.returncode == 1
    errors = [line for line in p.stderr.splitlines() if ": error: " in line]
    assert len(errors) == EXPECTED[name]["errors"], p.stderr
    # the decoder's message, with "user-data" replaced by the file validated
    want = EXPECTED[name]["message"]
    assert want.replace("user-data", str(path), 1) in p.stderr


def mime(parts, boundary="MIMEBOUNDARY"):
    """cloudinit_config's exact bytes (see shared reference): bare LF first line, CRLF after."""
    out = f'Content-Type: multipart/mixed; boundary="{boundary}"\nMIME-Version: 1.0\r\n\r\n'
    for content, ctype, merge in parts:
        out += f"--{boundary}\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: {ctype}\r\nMime-Version: 1.0\r\n"
        if merge:
            out += f"X-Merge-Type: {merge}\r\n"
        out += f"\r\n{content}\r\n"
    return out + f"--{boundary}--\r\n"


def terraform(parts):
    return base64.b64encode(gzip.compress(mime(parts).encode(), mtime=0))


def log(machine):
    p = machine.path("out.log")
    return p.read_text().splitlines() if p.exists() else []


A = "#cloud-config\nruncmd:\n  - echo a >> \"$KILN_ROOT/out.log\"\n"
B = "#cloud-config\nruncmd:\n  - echo b >> \"$KILN_ROOT/out.log\"\n"


def test_run_terraform_gzip_base64(machine):
    machine.use_seed(user_data=terraform([(A, "text/cloud-config", None)]))
    machine.run()
    assert log(machine) == ["a"]
    # the raw bytes are kept for later stages and `kiln validate` on the host
    assert machine.path("/var/lib/kiln/instance/user-data.txt").read_bytes().startswith(b"H4sI")
    assert oct(machine.path("/var/lib/kiln/instance/user-data.txt").stat().st_mode & 0o777) == "0o600"


def test_parts_replace_by_default_with_a_warning(machine):
    machine.use_seed(user_data=mime([(A, "text/cloud-config", None), (B, "text/cloud-config", None)]))
    p = machine.run()
    assert log(machine) == ["b"]
    assert "replaces 'runcmd' from an earlier part" in p.stderr


def test_parts_append_with_merge_type(machine):
    merge = "list(append)+dict(recurse_array)+str()"
    machine.use_seed(user_data=terraform([(A, "text/cloud-config", merge), (B, "text/cloud-config", merge)]))
    p = machine.run()
    assert log(machine) == ["a", "b"]
    assert "replaces" not in p.stderr


def test_merge_how_in_the_part_wins(machine):
    b = B + "merge_how:\n  - name: list\n    settings: [append]\n  - name: dict\n    settings: [no_replace, recurse_list]\n"
    machine.use_seed(user_data=mime([(A, "text/cloud-config", None), (b, "text/cloud-config", "dict(replace)")]))
    machine.run()
    assert log(machine) == ["a", "b"]


def test_error_in_second_part_names_the_part(machine):
    bad = "#cloud-config\nruncmd: {not: a list}\n"
    machine.use_seed(user_data=mime([(A, "text/cloud-config", None), (bad, "text/plain", None)]))
    p = machine.run(check=False)
    assert p.returncode == 1
    assert "user-data[part 2]:2:9: error: runcmd: expected list, got mapping" in p.stderr
    assert log(machine) == []


def test_refused_part_changes_nothing(machine):
    machine.use_seed(user_data=mime([(A, "text/cloud-config", None), ("#cloud-boothook\necho x\n", "text/plain", None)]))
    p = machine.run(check=False)
    assert p.returncode == 1 and "boothook" in p.stderr
    assert log(machine) == []


YAML_ERRORS = [
    ("#cloud-config\nruncmd: [ls\n", ":3:1: error: "),
    ("#cloud-config\nruncmd:\n\t- ls\n", ":3:1: error: "),
    ("#cloud-config\nruncmd: [a]\nruncmd: [b]\n", ":3:1: error: duplicate key 'runcmd'"),
    ("#cloud-config\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
     "alias bomb"),
    ("#cloud-config\nruncmd: 99999999999999999999999\n", ":2:9: error: integer out of 64-bit range (quote it"),
]


@pytest.mark.parametrize("text,message", YAML_ERRORS, ids=["syntax", "tab", "duplicate", "alias-bomb", "int-range"])
def test_yaml_errors_one_clear_error_nothing_changed(machine, tmp_path, text, message):
    f = tmp_path / "ud.yaml"
    f.write_text(text)
    v = machine.kiln("validate", str(f), check=False)
    assert v.returncode == 1
    errors = [line for line in v.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, v.stderr
    assert message in errors[0]
    if "\t" in text:
        assert "tab" in errors[0]
    # the run: a command that would leave a mark, before the broken part
    ud = text.replace("#cloud-config\n", "#cloud-config\nbootcmd: ['touch \"$KILN_ROOT/ran\"']\n", 1)
    machine.use_seed(user_data=ud)
    before = machine.snapshot(exclude=("proc", "run", "var"))
    p = machine.run(check=False)
    assert p.returncode == 1 and "user-data:" in p.stderr and ": error: " in p.stderr
    assert not machine.path("ran").exists()
    assert machine.snapshot(exclude=("proc", "run", "var")) == before


def test_replacement_warning_text(machine):
    machine.use_seed(user_data=mime([(A, "text/cloud-config", None), (B, "text/cloud-config", None)]))
    p = machine.run()
    assert ("user-data[part 2]: warning: replaces 'runcmd' from an earlier part (cloud-init's default merge); "
            "to combine them give this part X-Merge-Type: list(append)+dict(recurse_array)+str()") in p.stderr
