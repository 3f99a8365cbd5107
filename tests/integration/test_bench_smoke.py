"""The benchmark keeps working (issue 10): `bench/run.sh --smoke`.

Benchmarks are not tests: nothing here looks at a time, a size or a memory
figure.  These tests only prove that the one command still builds what it
needs, boots W1 and W2 against the emulators (every boot is checked by the
bench itself: exit codes, status errors, rendered files, the mount) and
produces its table -- so that the full run, which nobody runs on every
commit, does not rot.

  * the binary under test ($KILN_BINARY: the dev build, or the ASan build in
    scripts/test.sh's second pass, which then sees the bench's workloads);
  * the release build from scratch, as `bench/run.sh` makes it (start-up
    only, to keep the test short).
"""
import json
import os
import subprocess
from pathlib import Path

from kilntest import KILN, SOURCE_DIR

RUN = SOURCE_DIR / "bench" / "run.sh"


def run_bench(tmp_path, *args):
    out, raw = tmp_path / "results.md", tmp_path / "results.json"
    p = subprocess.run([str(RUN), "--smoke", "--out", str(out), "--json", str(raw), "--workdir", str(tmp_path),
                        "--build-dir", str(tmp_path / "build-release"), *args],
                       capture_output=True, text=True, timeout=800)
    assert p.returncode == 0, f"bench/run.sh exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return out.read_text(), json.loads(raw.read_text())


def test_smoke_with_the_binary_under_test(tmp_path):
    text, raw = run_bench(tmp_path, "--kiln", KILN)
    assert "### Targets" in text
    assert "**first boot, all stages**" in text and "**reboot, all stages**" in text
    assert "1 templates" in text and "1 KiB user-data" in text
    assert "`kiln version`" in text
    first = raw["w1"]["first"]
    assert first and all(set(b["stages"]) == {"local", "network", "config", "final"} for b in first)
    assert all(b["imds_requests"] > 0 for b in first)
    # the bench left nothing behind: no scratch root, nothing mounted below the work directory
    assert not list(tmp_path.glob("kiln-bench-*"))
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()


def test_smoke_builds_the_release_binary(tmp_path):
    text, raw = run_bench(tmp_path, "--only", "startup")
    assert (tmp_path / "build-release" / "kiln").exists()
    assert "stripped binary" in text and "`kiln version`" in text
    assert raw["startup"]["version"]
