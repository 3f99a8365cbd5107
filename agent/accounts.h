/* accounts.h — users, groups and ownership from the image's own account
 * files, <root>/etc/passwd and <root>/etc/group, and the mode syntax config
 * uses.  The one place kiln reads those files.
 *
 * Why not getpwnam(3)/getgrnam(3): they ask the live machine's NSS (sssd,
 * LDAP, the host's own files), so under --root they would answer for the
 * wrong machine, and at boot they may block on a network directory.  The
 * accounts kiln deals with (the default user's SSH keys, a file's or a data
 * volume's owner) are the local accounts an image was baked with, so
 * reading the two files is both right and enough.
 *
 * Lines are name:x:id:…; blank, '#' and NIS compat ("+", "-") lines are
 * skipped.  The line asked for must be well formed: a malformed one is an
 * error (-EBADMSG), not a guess.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "macro.h"

#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"
#define ACCOUNTS_FILE_MAX (4U * 1024U * 1024U)

typedef struct passwd_entry {
        char *name;
        uid_t uid;
        gid_t gid;
        char *home;
        char *shell;
} passwd_entry;

/* Finds `name` in the text of a passwd file.  -ENOENT when absent,
 * -EBADMSG when its line is malformed (too few fields, a uid/gid that is
 * not a number, a home that is not an absolute path), -EINVAL for a name
 * that can't be one. */
int passwd_find(const char *text, const char *name, passwd_entry *ret);
/* passwd_find() on root_path("/etc/passwd"). */
int passwd_lookup(const char *name, passwd_entry *ret);
/* True for a name that can be a line's first field: non-empty, at most 32
 * bytes, no ':', whitespace or control characters, not starting with '-'
 * or '+' or '#'. */
bool passwd_name_is_valid(const char *name);
void passwd_entry_clear(passwd_entry *e);
static inline void passwd_entry_clearp(passwd_entry *e) {
        passwd_entry_clear(e);
}
#define _cleanup_passwd_entry_ _cleanup_(passwd_entry_clearp)

/* A group's gid in the text of a group file / in root_path("/etc/group").
 * -ENOENT when absent, -EBADMSG when its line is malformed, -EINVAL for a
 * name that can't be one. */
int group_find(const char *text, const char *name, gid_t *ret_gid);
int group_lookup(const char *name, gid_t *ret_gid);

/* Resolves an owner spec: "user", "user:group", or numeric ids in either
 * place ("1000", "1000:1000", "cortex:1000").  Without a group the user's
 * primary group is taken (a bare numeric uid then needs its passwd line).
 * Returns 0, or -EINVAL with a message for the user in *ret_error
 * (malloc'd): unknown user or group, a malformed spec or line; another
 * negative errno when a file can't be read (no message). */
int accounts_resolve_owner(const char *spec, uid_t *ret_uid, gid_t *ret_gid, char **ret_error);
/* Resolves a group by name or numeric id, with the same errors. */
int accounts_resolve_group(const char *group, gid_t *ret_gid, char **ret_error);

/* A file mode as config writes it: an integer (YAML's 0644 is already
 * 420) or an octal string "0644"/"644"; 0..07777.  -EINVAL otherwise. */
int mode_from_json(json_t *v, mode_t *ret);
/* True for an integer that is almost surely a mode written without its
 * leading 0 (644, 755, 400: YAML reads them as decimal, so mode_from_json()
 * would take 644 as 01204), false for what YAML octal gives (0644 is 420).
 * Callers refuse it. */
bool mode_is_lost_octal(json_t *v);
