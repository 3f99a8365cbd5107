#!/bin/bash
# build-deb.sh — build kiln's Debian package (dpkg-buildpackage -us -uc -b) into OUTDIR, then lintian it.
#
# Why a script: dpkg-buildpackage wants the packaging at debian/ in the top of the source tree, and writes its
# results into that tree's parent directory. kiln keeps its packaging under packaging/debian (beside the rpm
# spec and the Packer example) rather than a debian/ at the top, and the repository must stay clean. So the
# script copies the source — the files git knows of plus untracked, non-ignored ones, i.e. what you are
# working on without build directories — into a scratch tree, puts packaging/debian there as debian/, builds,
# and moves the .deb (and the dbgsym .deb, .buildinfo, .changes) to OUTDIR (build-lib.sh has the copy). A symlink
# debian -> packaging/debian at the top would do it too, but would build in the working tree (obj-*/ and
# debian/kiln/ left behind).
#
# Lintian runs on the result (KILN_LINTIAN=0 skips it): any error fails the build; warnings are printed. The
# overrides that are accepted, with their reasons, are in packaging/debian/kiln.lintian-overrides.
#
# Usage: packaging/build-deb.sh OUTDIR     prints the path of the .deb on stdout (logs on stderr); run as root or
#        as a user (Rules-Requires-Root: no: no fakeroot needed)
# Env: DEB_BUILD_OPTIONS (passed on; "nocheck" skips the unit tests of the build, parallel=N defaults to nproc),
#      KILN_LINTIAN=0 (no lintian).
set -euo pipefail

WORK=
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# shellcheck source=packaging/build-lib.sh
. "$SRC/packaging/build-lib.sh"

check_tools() {
        local c
        for c in dpkg-buildpackage dh cmake go-md2man tar; do
                command -v "$c" > /dev/null ||
                        die "missing $c: apt-get install dpkg-dev debhelper cmake go-md2man (scripts/setup.sh does)"
        done
        # the build dependencies themselves: dpkg-checkbuilddeps names what is missing
        (cd "$SRC/packaging" && dpkg-checkbuilddeps -B debian/control >&2) ||
                die "build dependencies missing (above): apt-get install them (scripts/setup.sh does)"
}

version() {
        dpkg-parsechangelog -l "$SRC/packaging/debian/changelog" -S Version
}

main() {
        [[ $# == 1 ]] || die "usage: $0 OUTDIR"
        local out tree ver deb f rc=0
        mkdir -p "$1"
        out=$(cd "$1" && pwd)
        check_tools
        ver=$(version)
        [[ $ver == "$(project_version)" ]] ||
                die "packaging/debian/changelog is at $ver, CMakeLists.txt at $(project_version): add a changelog entry"
        WORK=$(mktemp -d /tmp/kiln-deb.XXXXXX)
        trap 'rm -rf "$WORK"' EXIT
        tree=$WORK/kiln-$ver
        copy_sources "$tree"
        rm -rf "$tree/debian"
        cp -a "$SRC/packaging/debian" "$tree/debian"
        log "dpkg-buildpackage -us -uc -b in $tree (log: $out/kiln_${ver}_build.log)"
        [[ ${DEB_BUILD_OPTIONS:-} == *parallel=* ]] || export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} parallel=$(nproc)"
        (cd "$tree" && dpkg-buildpackage -us -uc -b) > "$out/kiln_${ver}_build.log" 2>&1 || {
                tail -n 40 "$out/kiln_${ver}_build.log" >&2
                die "dpkg-buildpackage failed (whole log: $out/kiln_${ver}_build.log)"
        }
        shopt -s nullglob
        for f in "$WORK"/*.deb "$WORK"/*.ddeb "$WORK"/*.buildinfo "$WORK"/*.changes; do
                mv -f "$f" "$out/"
        done
        deb=$(printf '%s\n' "$out"/kiln_"$ver"_*.deb | head -n1)
        [[ -f $deb ]] || die "no kiln_${ver}_*.deb was built"
        if [[ ${KILN_LINTIAN:-1} != 0 ]]; then
                log "lintian $(basename "$deb")"
                lintian --fail-on error --info "$deb" >&2 || rc=$?
                [[ $rc == 0 ]] || die "lintian reports errors in $deb (above)"
        fi
        echo "$deb"
}

main "$@"
