"""Docs that are generated must match the code they describe."""
import subprocess

from kilntest import KILN, SOURCE_DIR


def test_reference_is_current():
    table = subprocess.run([KILN, "validate", "--schema-markdown"], capture_output=True, text=True,
                           check=True).stdout
    doc = (SOURCE_DIR / "docs/reference.md").read_text()
    assert doc.endswith(table), "docs/reference.md is stale: run scripts/gen-reference.sh"


def test_readme_names_the_two_commands():
    readme = (SOURCE_DIR / "README.md").read_text()
    assert "scripts/demo.sh" in readme and "scripts/test.sh" in readme
    assert "scripts/test.sh" in (SOURCE_DIR / ".ci/run").read_text()
