"""`cmake --install` lays out what the .deb and .rpm ship (packaging/ builds both from it).

Why a test of its own: the packages are made by debhelper and rpmbuild from this very install step, so a
file missing here is a file missing on every image. The tree is checked from the outside, as a package
would carry it: the binary, the four units in systemd's unit directory, the image config at /etc/kiln
(where the binary reads it, whatever the prefix), the example templates and role examples under
share/kiln, the man page made by go-md2man, the docs. The installed image config must pass
`kiln validate --image`, and every template a role example names must be installed.
"""
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from kilntest import KILN, SOURCE_DIR

BUILD_DIR = Path(KILN).resolve().parent
UNITS = ["kiln-local.service", "kiln-network.service", "kiln-config.service", "kiln-final.service"]


def project_version():
    return re.search(r"project\(kiln VERSION ([0-9.]+)", (SOURCE_DIR / "CMakeLists.txt").read_text()).group(1)


def unit_dir():
    p = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"], capture_output=True,
                       text=True)
    return p.stdout.strip() or "/lib/systemd/system"


def install(destdir, prefix="/usr"):
    assert (BUILD_DIR / "CMakeCache.txt").is_file(), f"{BUILD_DIR} is not kiln's build directory"
    p = subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", prefix],
                       env=dict(os.environ, DESTDIR=str(destdir)), capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return Path(destdir)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return install(tmp_path_factory.mktemp("destdir"))


def rel(tree, path):
    return tree / path.lstrip("/")


def mode(path):
    return stat.S_IMODE(path.lstat().st_mode)


def test_binary(tree):
    kiln = tree / "usr/bin/kiln"
    assert kiln.is_file() and mode(kiln) == 0o755
    out = subprocess.run([str(kiln), "version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "kiln " + project_version()


def test_units_in_systemd_unit_dir(tree):
    d = rel(tree, unit_dir())
    for name in UNITS:
        unit = d / name
        assert unit.is_file(), f"{name} not in {unit_dir()}"
        assert mode(unit) == 0o644
        assert unit.read_text() == (SOURCE_DIR / "units" / name).read_text()
        # the units call the binary where the /usr prefix puts it
        assert "ExecStart=/usr/bin/kiln run --stage " in unit.read_text()


def test_image_config_is_at_etc_kiln_and_valid(tree):
    conf = tree / "etc/kiln/kiln.yaml"
    assert conf.is_file() and mode(conf) == 0o644
    assert conf.read_text() == (SOURCE_DIR / "config/kiln.yaml").read_text()
    p = subprocess.run([KILN, "validate", "--image", str(conf)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_templates_and_examples(tree):
    share = tree / "usr/share/kiln"
    src_templates = sorted(p.relative_to(SOURCE_DIR / "config/templates")
                           for p in (SOURCE_DIR / "config/templates").rglob("*") if p.is_file())
    assert src_templates, "no templates in config/templates"
    for t in src_templates:
        assert (share / "templates" / t).is_file(), t
    examples = sorted(p.name for p in (SOURCE_DIR / "config/examples").iterdir())
    assert sorted(p.name for p in (share / "examples").iterdir()) == examples
    # every template a role's kiln.d example names is shipped (relative sources are under templates/)
    for ex in (share / "examples").glob("*.yaml"):
        for source in re.findall(r"^\s*-?\s*source:\s*(\S+)", ex.read_text(), re.M):
            if not source.startswith("/"):
                assert (share / "templates" / source).is_file(), f"{ex.name} names {source}, not installed"


def test_man_page(tree):
    if not (BUILD_DIR / "kiln.1").exists():
        cache = (BUILD_DIR / "CMakeCache.txt").read_text()
        pytest.fail("the build made no man page (go-md2man missing?); CMakeCache: "
                    + ";".join(line for line in cache.splitlines() if "MD2MAN" in line or "KILN_MAN" in line))
    man = tree / "usr/share/man/man1/kiln.1"
    text = man.read_text()
    assert text.lstrip().startswith(".nh") or text.lstrip().startswith(".TH")
    assert '.TH kiln 1' in text and ".SH SYNOPSIS" in text and ".SH COMMANDS" in text
    # man renders it without warnings (what lintian checks too)
    p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(man)], capture_output=True,
                       text=True, env=dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80"))
    assert p.returncode == 0 and p.stderr == "", p.stderr


def test_docs(tree):
    doc = tree / "usr/share/doc/kiln"
    assert (doc / "README.md").is_file()
    for name in ("volumes.md", "consul.md", "templates.md", "reference.md"):
        assert (doc / name).is_file(), name
    assert not (doc / "kiln.1.md").exists()          # it is the man page
    link = doc / "examples"                          # kiln.yaml's comment points here
    assert link.is_symlink() and os.readlink(link) == "../../kiln/examples"
    assert (link / "cortex.kiln.yaml").is_file()


def test_nothing_unexpected(tree):
    top = sorted(str(p.relative_to(tree)) for p in tree.iterdir())
    assert top == sorted({"etc", "usr", unit_dir().strip("/").split("/")[0]})
    assert sorted(p.name for p in (tree / "usr").iterdir()) == ["bin", "share"]
    assert sorted(p.name for p in (tree / "etc").iterdir()) == ["kiln"]


def test_other_prefix_keeps_etc_kiln(tmp_path):
    """The binary reads /etc/kiln whatever the prefix, so /usr/local installs the config there too."""
    tree = install(tmp_path, prefix="/usr/local")
    assert (tree / "usr/local/bin/kiln").is_file()
    assert (tree / "etc/kiln/kiln.yaml").is_file()
    assert not (tree / "usr/local/etc").exists()
    assert (tree / "usr/local/share/kiln/templates").is_dir()


def configure(tmp_path, *args):
    return subprocess.run(["cmake", "-S", str(SOURCE_DIR), "-B", str(tmp_path / "b"), "-DKILN_TESTS=OFF", *args],
                          capture_output=True, text=True)


def test_man_on_without_go_md2man_is_a_clear_error(tmp_path):
    p = configure(tmp_path, "-DKILN_MAN=ON", "-DKILN_GO_MD2MAN=/nonexistent/go-md2man")
    assert p.returncode != 0
    err = " ".join(p.stderr.split())
    assert "go-md2man not found" in err and "apt-get install go-md2man" in err and "-DKILN_MAN=OFF" in err


def test_man_auto_without_go_md2man_still_configures(tmp_path):
    p = configure(tmp_path, "-DKILN_GO_MD2MAN=/nonexistent/go-md2man")
    assert p.returncode == 0, p.stderr
    assert "go-md2man not found" in " ".join(p.stderr.split())
    assert "kiln.1" not in (tmp_path / "b/cmake_install.cmake").read_text()
