# build-lib.sh — what build-deb.sh and build-rpm.sh share (sourced, not run).
#
# Both package builds start from a copy of the source tree, not from the working tree itself: the package tools
# write into the tree they build (debian/, obj-*/, BUILD/) and the repository must stay clean. The copy holds
# what git knows of plus untracked files that are not ignored — what you are working on, without build
# directories — or, outside a git checkout (a tarball), everything but build*/ directories.
# Needs SRC (the repository's top directory) set by the caller.

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# NUL-separated paths relative to $SRC.
list_sources() {
        if git -C "$SRC" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
                git -C "$SRC" ls-files -z --cached --others --exclude-standard |
                while IFS= read -r -d '' f; do
                        [[ -e $SRC/$f || -L $SRC/$f ]] && printf '%s\0' "$f"
                done
        else
                (cd "$SRC" && find . -path './build*' -prune -o \( -type f -o -type l \) -print0)
        fi
}

# copy_sources DEST: the source files into DEST (created).
copy_sources() {
        mkdir -p "$1"
        list_sources | tar -C "$SRC" --null -cf - -T - | tar -C "$1" -xf -
}

# The version CMakeLists.txt gives the project: the packages' versions must agree with it.
project_version() {
        sed -n 's/^project(kiln VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt"
}
