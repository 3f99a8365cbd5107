#!/usr/bin/python3
"""Random differential fuzzing of kiln's template engine against Jinja2.

Why: the hand-written corpus (tests/jinja) covers what we thought of; random
templates built from the supported grammar (and then damaged a little) find
the corners we didn't.  Each template is rendered by Jinja2 and by
tmpl-render; a crash or sanitizer report is always a bug, and a different
output or error/no-error outcome is printed for a human to judge (a few are
documented differences, see docs/templates.md).  Not run by ctest.

    /usr/bin/python3 tests/tools/tmpl-fuzz.py SEED COUNT [DRIVER]
    (use an ASan build's driver: build-asan/tests/tools/tmpl-render)
"""
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
import test_jinja_diff as T  # noqa: E402  (reuses its Jinja2 environment)

ATOMS = ["x", "xs", "d", "s", "n", "f", "none", "true", "1", "0", "-1", "2.5", '"a"', "'b c'", "[]", "[1, 2]",
         '{"k": 1}', "(1,)", "d.k", "xs[0]", "xs[1:]", "s[::-1]", "nope", "d.nope", "range(3)|list", "loop.index",
         '"%s-%d" % (s, n)', "loop.cycle(1, 2)"]
OPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">=", "and", "or", "in", "not in"]
FILTERS = ["upper", "lower", "title", "length", "first", "last", "list", "sort", "unique|list", 'join(",")',
           "default(5)", "int", "float", "string", "trim", "tojson", "reverse|list", "indent(2)",
           'replace("a","b")', "b64encode", "abs", "round(1)", "sum", "min", "max", "dictsort", "items|list",
           "capitalize", "center(5)", "format(1)", 'map("upper")|list', 'select("odd")|list']
TESTS = ["defined", "none", "string", "number", "odd", "even", "iterable", "mapping", "divisibleby 2", "in xs"]
DATA = json.dumps({"x": 3, "xs": [3, 1, 2], "d": {"k": "v"}, "s": "abc", "n": 5, "f": 1.5})


def expr(rnd, depth=0):
    r = rnd.random()
    if depth > 3 or r < 0.3:
        return rnd.choice(ATOMS)
    if r < 0.5:
        return f"{expr(rnd, depth + 1)} {rnd.choice(OPS)} {expr(rnd, depth + 1)}"
    if r < 0.65:
        return f"{expr(rnd, depth + 1)}|{rnd.choice(FILTERS)}"
    if r < 0.75:
        return f"{expr(rnd, depth + 1)} is {rnd.choice(['', 'not '])}{rnd.choice(TESTS)}"
    if r < 0.85:
        return f"({expr(rnd, depth + 1)})"
    if r < 0.92:
        return f"{expr(rnd, depth + 1)} if {expr(rnd, depth + 1)} else {expr(rnd, depth + 1)}"
    return "not " + expr(rnd, depth + 1)


def stmt(rnd, depth=0):
    r = rnd.random()
    ws = rnd.choice(["", "", "-", "+"])
    if depth > 2 or r < 0.35:
        return rnd.choice(["text ", "\n", "  ", "é", "{{%s %s %s}}" % (ws, expr(rnd), ws.replace("+", ""))])
    if r < 0.5:
        return "{%% if %s %%}%s{%% else %%}%s{%% endif %%}" % (expr(rnd), body(rnd, depth + 1), body(rnd, depth + 1))
    if r < 0.65:
        return "{%% for i in %s %%}%s{%% else %%}%s{%% endfor %%}" % (expr(rnd), body(rnd, depth + 1),
                                                                   body(rnd, depth + 1))
    if r < 0.75:
        return "{%% set x = %s %%}" % expr(rnd)
    if r < 0.8:
        return "{# c #}"
    if r < 0.85:
        return "{%% filter upper %%}%s{%% endfilter %%}" % body(rnd, depth + 1)
    if r < 0.9:
        return "{%% with x = %s %%}%s{%% endwith %%}" % (expr(rnd), body(rnd, depth + 1))
    return "{% raw %}{{ x }}{% endraw %}"


def body(rnd, depth=0):
    return "".join(stmt(rnd, depth) for _ in range(rnd.randint(0, 3)))


def damage(rnd, t):
    if rnd.random() < 0.3 and t:
        i = rnd.randrange(len(t))
        t = t[:i] + rnd.choice(["{", "}", "%", "(", ")", '"', "|", "-", "", ".", ",", " "]) + t[i + 1:]
    return t


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    driver = sys.argv[3] if len(sys.argv) > 3 else T.DRIVER
    rnd = random.Random(seed)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        tpath, dpath = os.path.join(tmp, "t.j2"), os.path.join(tmp, "d.json")
        pathlib.Path(dpath).write_text(DATA)
        for _ in range(count):
            t = damage(rnd, body(rnd))
            want, jerr = T.render_jinja({"template": t, "data": DATA, "files": {}}, None)
            pathlib.Path(tpath).write_bytes(t.encode())
            p = subprocess.run([driver, tpath, dpath], capture_output=True, timeout=60)
            err = p.stderr.decode("utf-8", "replace")
            if p.returncode not in (0, 1) or "Sanitizer" in err:
                print("CRASH", repr(t), err[:2000])
                bad += 1
                continue
            got = p.stdout if p.returncode == 0 else None
            if (jerr is None) != (got is not None) or (got is not None and got != want):
                bad += 1
                print("DIFF ", repr(t))
                print("   jinja", repr(want) if jerr is None else jerr[:150])
                print("   kiln ", repr(got) if got is not None else err.strip()[:200])
    print(f"{count} templates, {bad} to look at")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
