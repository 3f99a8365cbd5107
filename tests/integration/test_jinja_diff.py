"""Differential tests: kiln's template engine against the real Jinja2.

Why: kiln promises that a template renders byte for byte what Jinja2 3.1
renders (with StrictUndefined, autoescape off, keep_trailing_newline,
trim_blocks and lstrip_blocks off).  Rather than trusting hand-written
expectations, every case in tests/jinja/*.cases is rendered by Debian's
python3-jinja2 and by the engine (through tests/tools/tmpl-render, or
$KILN_TMPL_RENDER) with the same data, and the two must agree byte for byte,
or must both fail.  Cases marked "---- error" must fail on both sides, so a
case can't silently stop testing an error path.

Corpus format (one file holds many cases):

    #### case name | options          options: nl (template ends with a newline),
    template lines...                           crlf / cr (line endings)
    ---- data
    {"json": "object"}                  (default: the file's "#### @data" section, else {})
    ---- file partials/x.j2             (an include, relative to the template directory)
    file lines...
    ---- error                          (both sides must fail)

Section bodies are the lines between markers joined with "\\n" (no final
newline unless the "nl" option is given).
"""

import base64
import json
import os
import pathlib
import shlex
import subprocess

import jinja2
import pytest

SOURCE = pathlib.Path(os.environ.get("KILN_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
CORPUS = SOURCE / "tests" / "jinja"
# Every case runs twice: through the engine's bare driver with the engine's
# defaults, against Jinja2's defaults (keep_trailing_newline=False), and
# through the real `kiln render`, which renders as the templates module does
# (keep_trailing_newline=True, Ansible's choice for config files), against
# Jinja2 with that option.
KILN = os.environ.get("KILN_BINARY", str(SOURCE / "build" / "kiln"))
DRIVER = os.environ.get("KILN_TMPL_RENDER", str(SOURCE / "build" / "tests" / "tools" / "tmpl-render"))
MODES = {"engine": False, "render": True}  # mode -> keep_trailing_newline
# e.g. KILN_TMPL_WRAPPER="valgrind -q --leak-check=full --error-exitcode=99" to check memory on every case
WRAPPER = shlex.split(os.environ.get("KILN_TMPL_WRAPPER", ""))


def parse_cases(path):
    """Yields dicts: name, template, data, files, error, options."""
    lines = path.read_text(encoding="utf-8").split("\n")
    cases, cur, section, buf = [], None, None, []
    default_data = "{}"

    def flush():
        nonlocal buf
        if cur is None:
            return
        text = "\n".join(buf)
        if section == "template":
            cur["template"] = text
        elif section == "data":
            cur["data"] = text
        elif section and section.startswith("file "):
            cur["files"][section[5:].strip()] = text
        buf = []

    for line in lines:
        if line.startswith("#### "):
            flush()
            head, _, opts = line[5:].partition(" | ")
            cur = {"name": f"{path.stem}: {head.strip()}", "template": "", "data": None, "files": {},
                   "error": False, "options": opts.split()}
            cases.append(cur)
            section, buf = "template", []
        elif line.startswith("---- ") and cur is not None:
            flush()
            section = line[5:].strip()
            if section == "error":
                cur["error"] = True
        else:
            buf.append(line)
    flush()
    out = []
    for c in cases:
        if c["name"].endswith(": @data"):
            default_data = c["data"] or "{}"
            continue
        if c["data"] is None:
            c["data"] = default_data
        t = c["template"]
        if "nl" in c["options"]:
            t += "\n"
        if "crlf" in c["options"]:
            t = t.replace("\n", "\r\n")
        elif "cr" in c["options"]:
            t = t.replace("\n", "\r")
        c["template"] = t
        out.append(c)
    return out


def all_cases():
    cases = []
    for path in sorted(CORPUS.glob("*.cases")):
        cases.extend(parse_cases(path))
    return cases


CASES = all_cases()


def b64encode(value):
    # Ansible's b64encode: str() of the value, UTF-8, standard alphabet.
    return base64.b64encode(str(value).encode("utf-8")).decode("ascii")


def b64decode(value):
    # Ansible's b64decode, strict: whitespace ignored, anything else must be base64, result UTF-8 text.
    return base64.b64decode("".join(str(value).split()), validate=True).decode("utf-8")


def render_jinja(case, incdir, keep_trailing_newline=False):
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=keep_trailing_newline,
        trim_blocks=False,
        lstrip_blocks=False,
        loader=jinja2.FileSystemLoader(str(incdir)),  # as kiln render: the template's directory
    )
    env.filters["b64encode"] = b64encode
    env.filters["b64decode"] = b64decode
    try:
        out = env.from_string(case["template"]).render(**json.loads(case["data"]))
        return out.encode("utf-8"), None
    except Exception as e:  # any failure counts: syntax, undefined, type errors, encoding
        return None, f"{type(e).__name__}: {e}"


def render_kiln(case, tmp, mode="render"):
    """`kiln render TEMPLATE --data FILE` (or the engine's driver): the
    template sits in its include directory."""
    incdir = tmp / "templates"
    incdir.mkdir(exist_ok=True)
    tpath = incdir / "__case__.j2"
    dpath = tmp / "data.json"
    tpath.write_bytes(case["template"].encode("utf-8"))
    dpath.write_text(case["data"], encoding="utf-8")
    args = WRAPPER + ([DRIVER, str(tpath), str(dpath), str(incdir)] if mode == "engine"
                      else [KILN, "render", str(tpath), "--data", str(dpath)])
    p = subprocess.run(args, capture_output=True, timeout=300)
    err = p.stderr.decode("utf-8", "replace")
    # 1 is "template error"; anything else (a crash, a sanitizer or valgrind
    # report) fails the case even when Jinja2 fails too.
    assert p.returncode in (0, 1), f"renderer exited {p.returncode}:\n{err}"
    assert "Sanitizer" not in err, err
    if p.returncode == 0:
        return p.stdout, None
    return None, err


def write_files(case, tmp):
    incdir = tmp / "templates"
    incdir.mkdir()
    for name, text in case["files"].items():
        f = incdir / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(text.encode("utf-8"))
    return incdir


def test_corpus_is_large_enough():
    assert len(CASES) >= 150, f"only {len(CASES)} differential cases"
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"


def test_driver_exists():
    assert os.access(DRIVER, os.X_OK), f"{DRIVER} not built"
    assert os.access(KILN, os.X_OK), f"{KILN} not built"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_same_as_jinja(case, mode, tmp_path):
    incdir = write_files(case, tmp_path)
    want, jerr = render_jinja(case, incdir, MODES[mode])
    got, kerr = render_kiln(case, tmp_path, mode)
    if case["error"]:
        assert jerr is not None, f"Jinja2 rendered a case marked as an error: {want!r}"
    if jerr is not None or kerr is not None:
        assert jerr is not None, f"kiln failed where Jinja2 rendered {want!r}:\n{kerr}"
        assert kerr is not None, f"kiln rendered {got!r} where Jinja2 failed with {jerr}"
        assert kerr.strip(), "kiln failed without a diagnostic"
        return
    assert got == want


def test_benchmark_template_same_as_jinja(tmp_path):
    """The ~1 MiB benchmark output (tests/tools/bench.j2) matches Jinja2 too."""
    tools = SOURCE / "tests" / "tools"
    case = {"template": (tools / "bench.j2").read_text(encoding="utf-8"), "files": {},
            "data": (tools / "bench.json").read_text(encoding="utf-8")}
    want, jerr = render_jinja(case, None, True)
    got, kerr = render_kiln(case, tmp_path)
    assert jerr is None and kerr is None, (jerr, kerr)
    assert len(want) > 1_000_000
    assert got == want
