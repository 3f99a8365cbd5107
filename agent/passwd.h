/* passwd.h — users and groups from <root>/etc/passwd and group, by reading
 * the files; plus the owner and mode syntax config uses.
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
#include <jansson.h>
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

/* A group's gid from the text of a group file / from root_path("/etc/group"). */
int group_find(const char *text, const char *name, gid_t *ret);
int group_lookup(const char *name, gid_t *ret);

/* Ownership as config writes it (cloud-init's `owner`): "user", "user:group",
 * ":group", names or numeric ids, resolved against <root>/etc/passwd and
 * group.  An unset part is (uid_t)/(gid_t) -1 ("leave as is"). -ENOENT for
 * an unknown name, -EINVAL for an empty spec. */
int owner_parse(const char *spec, uid_t *ret_uid, gid_t *ret_gid);
/* A file mode as config writes it: an integer (YAML's 0644 is already
 * 420) or an octal string "0644"/"644"; 0..07777. */
int mode_from_json(json_t *v, mode_t *ret);

static inline void passwd_entry_clearp(passwd_entry *e) {
        passwd_entry_clear(e);
}
#define _cleanup_passwd_entry_ _cleanup_(passwd_entry_clearp)
