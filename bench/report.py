"""Statistics and the markdown the bench writes.

Why: the table is the bench's product.  It goes to stdout, to a results
file, and (full runs only) between two markers in docs/performance.md, so
the document's prose -- the analysis, written by people -- stays around a
table that a rerun replaces.
"""
import math
import os
import platform
import re
import subprocess
from pathlib import Path

BEGIN = "<!-- bench:results:begin (bench/run.sh rewrites this part) -->"
END = "<!-- bench:results:end -->"


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return float("nan")
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def p90(xs):
    """Nearest-rank 90th percentile."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(0.9 * len(xs)) - 1)] if xs else float("nan")


def ms(x):
    return "n/a" if x is None or x != x else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def mib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f}"


def row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header, rows):
    return "\n".join([row(header), row(["---"] * len(header))] + [row(r) for r in rows]) + "\n"


# ---- the machine ------------------------------------------------------------------------------------------------

def _first_line(path, prefix):
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _cmd(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"


def _os_name():
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "?"


def machine_info(source_dir):
    return {
        "cpu": _first_line("/proc/cpuinfo", "model name"),
        "nproc": os.cpu_count(),
        "memory": _first_line("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "os": _os_name(),
        "compiler": (_cmd("cc", "--version").splitlines() or ["?"])[0],
        "commit": _cmd("git", "-C", str(source_dir), "describe", "--always", "--dirty"),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def machine_section(info, fs, command, started, loadavg_after, binary=None):
    lines = [
        f"- Machine: {info['cpu']}, {info['nproc']} CPUs, {info['memory']} RAM; {info['os']}, "
        f"kernel {info['kernel']}; {info['compiler']}",
        f"- kiln: {binary or 'commit ' + info['commit'] + ', release build (bench/run.sh: `-DKILN_RELEASE=ON`)'}",
        f"- Scratch roots: {fs['root']}; their /run: {fs['run']}; data volume: {fs['volume']}",
        f"- Run: `{command}`, {started}; load average before {' '.join(info['loadavg'])}, "
        f"after {' '.join(loadavg_after)} (other work on the machine shows in wall times, least in CPU times)",
    ]
    return "\n".join(lines) + "\n"


# ---- docs/performance.md ----------------------------------------------------------------------------------------

def update_doc(doc, text):
    """Replaces the results between the markers of doc; the rest of the document is left alone."""
    content = Path(doc).read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(content):
        raise SystemExit(f"{doc}: no results markers ({BEGIN} ... {END}); not touching it")
    Path(doc).write_text(pattern.sub(lambda _: BEGIN + "\n\n" + text.rstrip("\n") + "\n\n" + END, content))
