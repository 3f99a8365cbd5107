#!/bin/bash
# build-rpm.sh — build kiln's rpm (packaging/rpm/kiln.spec) with rpmbuild into OUTDIR.
#
# Why it is shaped this way: the spec is written for Amazon Linux style systems (their BuildRequires names,
# their unit and preset directories), but CI and developers run Debian. Debian's rpm package has a working
# rpmbuild, so the spec is built here for real — compiled, installed into the buildroot by `cmake --install`,
# %files checked against it — with --nodeps, because its BuildRequires (libyaml-devel, jansson-devel, …) are
# names of Amazon Linux packages that Debian's dpkg database knows nothing about; the Debian equivalents are
# what scripts/setup.sh installs. What this cannot check is the resolution of those names on Amazon Linux
# itself. The tarball rpmbuild wants as Source0 is made from a copy of the source tree (build-lib.sh).
#
# Usage: packaging/build-rpm.sh OUTDIR     prints the path of the binary rpm on stdout (logs on stderr)
set -euo pipefail

WORK=
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPEC=$SRC/packaging/rpm/kiln.spec

# shellcheck source=packaging/build-lib.sh
. "$SRC/packaging/build-lib.sh"

main() {
        [[ $# == 1 ]] || die "usage: $0 OUTDIR"
        local out ver top rpm
        mkdir -p "$1"
        out=$(cd "$1" && pwd)
        for c in rpmbuild cmake go-md2man tar; do
                command -v "$c" > /dev/null || die "missing $c: apt-get install rpm cmake go-md2man (scripts/setup.sh does)"
        done
        ver=$(rpmspec -q --srpm --qf '%{version}' "$SPEC")
        [[ $ver == "$(project_version)" ]] ||
                die "kiln.spec is at version $ver, CMakeLists.txt at $(project_version): update the spec"
        WORK=$(mktemp -d /tmp/kiln-rpm.XXXXXX)
        trap 'rm -rf "$WORK"' EXIT
        top=$WORK/rpmbuild
        mkdir -p "$top"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}
        copy_sources "$WORK/kiln-$ver"
        tar -C "$WORK" -czf "$top/SOURCES/kiln-$ver.tar.gz" "kiln-$ver"
        cp "$SPEC" "$top/SPECS/"
        log "rpmbuild --nodeps -bb kiln.spec (log: $out/kiln-${ver}_rpmbuild.log)"
        rpmbuild --nodeps -bb --define "_topdir $top" --define "_smp_mflags -j$(nproc)" \
                "$top/SPECS/kiln.spec" > "$out/kiln-${ver}_rpmbuild.log" 2>&1 || {
                tail -n 40 "$out/kiln-${ver}_rpmbuild.log" >&2
                die "rpmbuild failed (whole log: $out/kiln-${ver}_rpmbuild.log)"
        }
        find "$top/RPMS" -name '*.rpm' -exec mv -f {} "$out/" \;
        rpm=$(printf '%s\n' "$out"/kiln-"$ver"-*.rpm | grep -v -- '-debug' | head -n1)
        [[ -f $rpm ]] || die "no kiln-$ver-*.rpm was built"
        echo "$rpm"
}

main "$@"
