"""The .deb and the .rpm build, carry what an image needs, and never start kiln where they are installed.

Why: Packer installs the package into a running builder; if a maintainer script started a kiln unit there,
kiln would configure the builder itself (format disks, register it with Consul) and bake that into the image.
So beyond "it builds", the tests read the maintainer scripts and scriptlets and refuse any start, stop or
restart; and they check the files (binary, units, the conffile, templates, examples, man page) and the
dependencies on the tools kiln runs (mkfs.ext4/e2label/resize2fs, mkfs.xfs/xfs_admin/xfs_growfs, systemctl).

Both builds run the real scripts (packaging/build-deb.sh with lintian, packaging/build-rpm.sh with Debian's
rpmbuild --nodeps); they take about a minute together, so ctest labels this file `packaging`
(scripts/test.sh runs it once, not again in the sanitizer build). The .deb is built with its unit tests on
(dh_auto_test), as a distribution build would.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from kilntest import SOURCE_DIR

UNITS = ["kiln-config.service", "kiln-final.service", "kiln-local.service", "kiln-network.service"]
RUNTIME_TOOLS = ["e2fsprogs", "xfsprogs", "systemd"]
SHARED_LIBS = ["libblkid1", "libc6", "libcurl4", "libjansson4", "libmount1", "libsystemd0", "libyaml-0-2", "zlib1g"]
AMAZON_BUILD_REQUIRES = ["libyaml-devel", "libcurl-devel", "jansson-devel", "systemd-devel", "libblkid-devel",
                         "libmount-devel", "zlib-devel", "xfsprogs-devel", "cmake", "gcc"]
# What must be in either package (paths as installed; the unit directory differs).
COMMON_FILES = ["/usr/bin/kiln", "/etc/kiln/kiln.yaml", "/usr/share/kiln/templates/cortex/cortex.yaml.j2",
                "/usr/share/kiln/templates/prometheus/prometheus.yml.j2", "/usr/share/kiln/examples/cortex.kiln.yaml",
                "/usr/share/doc/kiln/README.md", "/usr/share/doc/kiln/examples"]
STARTS = re.compile(r"deb-systemd-invoke\s+(start|restart|stop|try-restart)|systemctl\s+[^\n]*\b(start|restart|stop|"
                    r"try-restart|reload-or-restart)\b|--now\b|invoke-rc\.d")


def code(script):
    """A shell script without its comment lines (they may name what the code avoids)."""
    return "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))


def project_version():
    return re.search(r"project\(kiln VERSION ([0-9.]+)", (SOURCE_DIR / "CMakeLists.txt").read_text()).group(1)


def run(argv, **kw):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{argv} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    env = {k: v for k, v in os.environ.items() if k != "DEB_BUILD_OPTIONS"}
    p = run([SOURCE_DIR / "packaging/build-deb.sh", out], env=env)
    path = Path(p.stdout.strip().splitlines()[-1])
    assert path.is_file(), p.stderr
    return path


@pytest.fixture(scope="module")
def rpm(tmp_path_factory):
    out = tmp_path_factory.mktemp("rpm")
    p = run([SOURCE_DIR / "packaging/build-rpm.sh", out])
    path = Path(p.stdout.strip().splitlines()[-1])
    assert path.is_file(), p.stderr
    return path


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field]).stdout.strip()


def deb_files(deb):
    out = run(["dpkg-deb", "-c", deb]).stdout
    return {line.split(None, 5)[5].split(" -> ")[0].lstrip(".").rstrip("/") for line in out.splitlines()}


# ------------------------------------------------------------------------------------------------ .deb

def test_deb_name_and_version(deb):
    assert deb.name == f"kiln_{project_version()}_amd64.deb"
    assert deb_field(deb, "Version") == project_version()
    assert deb_field(deb, "Package") == "kiln"


def test_deb_files(deb):
    files = deb_files(deb)
    for f in COMMON_FILES + ["/usr/share/man/man1/kiln.1.gz"] + [f"/lib/systemd/system/{u}" for u in UNITS]:
        assert f in files, f
    assert not any(f.startswith("/usr/local") for f in files)


def test_deb_depends(deb):
    depends = [d.strip().split()[0] for d in deb_field(deb, "Depends").split(",")]
    for pkg in RUNTIME_TOOLS + SHARED_LIBS:
        assert pkg in depends, f"{pkg} not in Depends: {depends}"


def test_deb_conffile(deb, tmp_path):
    run(["dpkg-deb", "-e", deb, tmp_path / "ctl"])
    assert (tmp_path / "ctl/conffiles").read_text().split() == ["/etc/kiln/kiln.yaml"]


def test_deb_units_enabled_never_started(deb, tmp_path):
    run(["dpkg-deb", "-e", deb, tmp_path / "ctl"])
    ctl = tmp_path / "ctl"
    postinst = (ctl / "postinst").read_text()
    for unit in UNITS:
        assert f"deb-systemd-helper enable '{unit}'" in postinst, unit
    # no script may start, stop or restart a unit: not on install, upgrade or removal
    for script in ("preinst", "postinst", "prerm", "postrm"):
        if (ctl / script).exists():
            text = (ctl / script).read_text()
            assert not STARTS.search(code(text)), f"{script} starts/stops units:\n{text}"
    assert not (ctl / "prerm").exists() and not (ctl / "preinst").exists()


def test_deb_lintian_has_no_errors_or_warnings(deb):
    p = subprocess.run(["lintian", "-EvIL", "+pedantic", str(deb)], capture_output=True, text=True)
    tags = [line for line in p.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    assert p.returncode == 0 and not tags, "\n".join(tags) + p.stderr


def test_deb_man_page_and_binary(deb, tmp_path):
    run(["dpkg-deb", "-x", deb, tmp_path])
    man = subprocess.run(["zcat", tmp_path / "usr/share/man/man1/kiln.1.gz"], capture_output=True, text=True).stdout
    assert ".TH kiln 1" in man
    assert run([tmp_path / "usr/bin/kiln", "version"]).stdout.strip() == f"kiln {project_version()}"
    assert (tmp_path / "usr/share/doc/kiln/examples/cortex.kiln.yaml").is_file()   # relative link resolves


# ------------------------------------------------------------------------------------------------ .rpm

def test_rpm_name_and_files(rpm):
    assert rpm.name == f"kiln-{project_version()}-1.x86_64.rpm"
    files = set(run(["rpm", "-qpl", rpm]).stdout.split())
    for f in COMMON_FILES + ["/usr/share/man/man1/kiln.1"] + [f"/usr/lib/systemd/system/{u}" for u in UNITS]:
        assert f in files, f
    assert run(["rpm", "-qpc", rpm]).stdout.split() == ["/etc/kiln/kiln.yaml"]


def test_rpm_requires(rpm):
    requires = run(["rpm", "-qp", "--requires", rpm]).stdout.split("\n")
    for pkg in RUNTIME_TOOLS + ["util-linux"]:
        assert pkg in requires, pkg
    assert any(r.startswith("libjansson.so.4") for r in requires)
    # the libraries kiln dlopen()s (agent/dlib.h) are required by name: rpm's scan of the ELF can't see them
    for soname in ("libcurl.so.4", "libsystemd.so.0", "libblkid.so.1", "libmount.so.1"):
        assert any(r.startswith(soname) for r in requires), soname


def test_rpm_units_enabled_by_preset_never_started(rpm, tmp_path):
    scripts = run(["rpm", "-qp", "--scripts", rpm]).stdout
    assert "systemctl --no-reload preset" in scripts or "systemd-update-helper install-system-units" in scripts
    assert not STARTS.search(code(scripts)), scripts
    with open(rpm, "rb") as f:                       # rpm2archive (Debian's rpm) writes a .tar.gz
        tgz = subprocess.run(["rpm2archive", "-"], stdin=f, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-xzf", "-", "-C", str(tmp_path)], input=tgz, check=True)
    preset = (tmp_path / "usr/lib/systemd/system-preset/50-kiln.preset").read_text().split("\n")
    assert sorted(line.split()[1] for line in preset if line.startswith("enable ")) == UNITS


def test_spec_build_requires_amazon_names():
    spec = (SOURCE_DIR / "packaging/rpm/kiln.spec").read_text()
    names = {m.split()[0] for m in re.findall(r"^BuildRequires:\s*(.+)$", spec, re.M)}
    for pkg in AMAZON_BUILD_REQUIRES:
        assert pkg in names, pkg
    assert re.search(r"^Version:\s*" + re.escape(project_version()) + r"$", spec, re.M)


def test_changelog_matches_project_version():
    first = (SOURCE_DIR / "packaging/debian/changelog").read_text().splitlines()[0]
    assert first.startswith(f"kiln ({project_version()}) ")
