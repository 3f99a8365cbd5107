/* passwd.h — looking a user up in <root>/etc/passwd (and a group in
 * <root>/etc/group), by reading the file.
 *
 * Why not getpwnam(3): it asks the live machine's NSS (sssd, LDAP, the
 * host's own /etc/passwd), so under --root it would answer for the wrong
 * machine, and at boot it may block on a network directory.  kiln only
 * needs the local accounts an image was baked with, so it parses the file
 * itself: name:password:uid:gid:gecos:home:shell, one account a line.
 * NIS compat lines ("+", "-") and blank or '#' lines are skipped; a
 * malformed line is skipped unless it is the one asked for, which is then
 * an error rather than a guess.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "macro.h"

#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"
#define PASSWD_MAX (4U * 1024U * 1024U)

typedef struct passwd_entry {
        char *name;
        uid_t uid;
        gid_t gid;
        char *home;
        char *shell;
} passwd_entry;

/* Finds `name` in the text of a passwd file.  -ENOENT when absent,
 * -EBADMSG when its line is malformed (too few fields, a uid/gid that is
 * not a number, a home that is not an absolute path). */
int passwd_find(const char *text, const char *name, passwd_entry *ret);
/* passwd_find() on root_path("/etc/passwd"). */
int passwd_lookup(const char *name, passwd_entry *ret);
/* True for a name that can be a line's first field: non-empty, at most 32
 * bytes, no ':', whitespace or control characters, not starting with '-'
 * or '+' or '#'. */
bool passwd_name_is_valid(const char *name);
void passwd_entry_clear(passwd_entry *e);

/* The same for a group line, name:password:gid:members: -ENOENT when
 * absent, -EBADMSG when its line is malformed. */
int group_find(const char *text, const char *name, gid_t *ret_gid);
/* group_find() on root_path("/etc/group"). */
int group_lookup(const char *name, gid_t *ret_gid);

static inline void passwd_entry_clearp(passwd_entry *e) {
        passwd_entry_clear(e);
}
#define _cleanup_passwd_entry_ _cleanup_(passwd_entry_clearp)
