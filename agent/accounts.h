/* accounts.h — "user[:group]" owners resolved in the image's own account
 * files, <root>/etc/passwd and <root>/etc/group.
 *
 * Why not getpwnam(3)/getgrnam(3): they ask the live machine's NSS (sssd,
 * LDAP, the host's own files), so under --root they would answer for the
 * wrong machine, and at boot they may block on a network directory.  The
 * owners kiln sets (a data volume's mountpoint) are the local accounts an
 * image was baked with, so reading the two files is both right and enough.
 *
 * Lines are name:x:id:…; blank, '#' and NIS compat ("+", "-") lines are
 * skipped.  The line asked for must be well formed: a malformed one is an
 * error, not a guess.
 */
#pragma once

#include <sys/types.h>

#define ACCOUNTS_PASSWD "/etc/passwd"
#define ACCOUNTS_GROUP "/etc/group"

/* Resolves an owner spec: "user", "user:group", or numeric ids in either
 * place ("1000", "1000:1000", "cortex:1000").  Without a group the user's
 * primary group is taken (a bare numeric uid then needs its passwd line).
 * Returns 0, or -EINVAL with a message for the user in *ret_error
 * (malloc'd): unknown user or group, a malformed spec or line; another
 * negative errno when a file can't be read (no message). */
int accounts_resolve_owner(const char *spec, uid_t *ret_uid, gid_t *ret_gid, char **ret_error);
