/* accounts.c — see accounts.h. */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "accounts.h"
#include "fileio.h"
#include "macro.h"
#include "util.h"

#define ACCOUNTS_FILE_MAX (4U * 1024U * 1024U)
#define ACCOUNT_NAME_MAX 32
#define FIELDS_MAX 7 /* passwd has 7, group 4 */

typedef struct span {
        const char *p;
        size_t n;
} span;

/* A decimal id below (unsigned) -1, which means "no id" to chown(2). */
static int parse_id(span s, unsigned *ret) {
        unsigned long long v = 0;

        if (s.n == 0 || s.n > 10)
                return -EBADMSG;
        for (size_t i = 0; i < s.n; i++) {
                if (s.p[i] < '0' || s.p[i] > '9')
                        return -EBADMSG;
                v = v * 10 + (unsigned) (s.p[i] - '0');
        }
        if (v >= UINT_MAX)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

static bool span_eq(span s, const char *str) {
        return strlen(str) == s.n && strneq(s.p, str, s.n);
}

/* Splits [line, line+len) at ':' into exactly n fields. */
static int split(const char *line, size_t len, span *f, unsigned n) {
        unsigned k = 0;
        size_t start = 0;

        for (size_t i = 0; i <= len; i++) {
                if (i < len && line[i] != ':')
                        continue;
                if (k == n)
                        return -EBADMSG;
                f[k++] = (span){ line + start, i - start };
                start = i + 1;
        }
        return k == n ? 0 : -EBADMSG;
}

/* The first line of file whose field key_field equals key: its field 2 (the
 * id) and, when ret_gid is given, field 3.  -ENOENT when no line matches
 * (lines too malformed to split are skipped, unless they start with
 * "key:"), -EBADMSG when the matching line is malformed. */
static int lookup(const char *file, unsigned n_fields, unsigned key_field, const char *key, unsigned *ret_id,
                  unsigned *ret_gid) {
        _cleanup_free_ char *path = root_path(file), *text = NULL;
        size_t len = 0, klen = strlen(key);
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, ACCOUNTS_FILE_MAX, &text, &len);
        if (r < 0)
                return r;
        for (const char *line = text; line < text + len;) {
                const char *eol = memchr(line, '\n', (size_t) (text + len - line));
                size_t l = eol ? (size_t) (eol - line) : (size_t) (text + len - line);
                span f[FIELDS_MAX];
                const char *cur = line;
                line += l + (eol ? 1 : 0);
                if (l == 0 || strchr("#+-", cur[0]))
                        continue;
                if (split(cur, l, f, n_fields) < 0) {
                        if (key_field == 0 && l > klen && strneq(cur, key, klen) && cur[klen] == ':')
                                return -EBADMSG;
                        continue;
                }
                if (!span_eq(f[key_field], key))
                        continue;
                unsigned id, gid = 0;
                if (parse_id(f[2], &id) < 0 || (ret_gid && parse_id(f[3], &gid) < 0))
                        return -EBADMSG;
                *ret_id = id;
                if (ret_gid)
                        *ret_gid = gid;
                return 0;
        }
        return -ENOENT;
}

static bool name_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > ACCOUNT_NAME_MAX || strchr("#+-", s[0]))
                return false;
        for (const char *c = s; *c; c++)
                if (*c == ':' || (unsigned char) *c <= ' ' || *c == 0x7f)
                        return false;
        return true;
}

static bool is_number(const char *s) {
        return s[0] && strspn(s, "0123456789") == strlen(s);
}

/* -EINVAL with the message in *ret_error (or -ENOMEM). */
static int fail(char **ret_error, const char *format, ...) _printf_(2, 3);
static int fail(char **ret_error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(ret_error, format, ap);
        va_end(ap);
        return r < 0 ? -ENOMEM : -EINVAL;
}

/* Turns a lookup's -ENOENT/-EBADMSG into a message naming what and where. */
static int lookup_failed(int r, char **ret_error, const char *what, const char *name, const char *file) {
        if (r == -ENOENT)
                return fail(ret_error, "%s '%s' not found in %s", what, name, file);
        if (r == -EBADMSG)
                return fail(ret_error, "the line of %s '%s' in %s is malformed", what, name, file);
        return r;
}

static int resolve_user(const char *user, bool need_gid, uid_t *ret_uid, gid_t *ret_gid, char **ret_error) {
        unsigned uid = 0, gid = 0;
        int r;

        if (is_number(user)) {
                r = parse_id((span){ user, strlen(user) }, &uid);
                if (r < 0)
                        return fail(ret_error, "uid %s is out of range", user);
                if (need_gid) {
                        unsigned again;
                        r = lookup(ACCOUNTS_PASSWD, 7, 2, user, &again, &gid);
                        if (r == -ENOENT)
                                return fail(ret_error, "uid %s has no line in %s to take its primary group from; "
                                            "give the group too (\"%s:GROUP\")", user, ACCOUNTS_PASSWD, user);
                        if (r < 0)
                                return lookup_failed(r, ret_error, "uid", user, ACCOUNTS_PASSWD);
                }
        } else {
                if (!name_ok(user))
                        return fail(ret_error, "'%s' is not a user name", user);
                r = lookup(ACCOUNTS_PASSWD, 7, 0, user, &uid, &gid);
                if (r < 0)
                        return lookup_failed(r, ret_error, "user", user, ACCOUNTS_PASSWD);
        }
        *ret_uid = (uid_t) uid;
        *ret_gid = (gid_t) gid;
        return 0;
}

static int resolve_group(const char *group, gid_t *ret_gid, char **ret_error) {
        unsigned gid;
        int r;

        if (is_number(group)) {
                if (parse_id((span){ group, strlen(group) }, &gid) < 0)
                        return fail(ret_error, "gid %s is out of range", group);
        } else {
                if (!name_ok(group))
                        return fail(ret_error, "'%s' is not a group name", group);
                r = lookup(ACCOUNTS_GROUP, 4, 0, group, &gid, NULL);
                if (r < 0)
                        return lookup_failed(r, ret_error, "group", group, ACCOUNTS_GROUP);
        }
        *ret_gid = (gid_t) gid;
        return 0;
}

int accounts_resolve_owner(const char *spec, uid_t *ret_uid, gid_t *ret_gid, char **ret_error) {
        _cleanup_free_ char *user = strdup(spec ? spec : "");
        uid_t uid = 0;
        gid_t gid = 0;
        int r;

        if (!user)
                return -ENOMEM;
        char *group = strchr(user, ':');
        if (group)
                *group++ = 0;
        if (isempty(user) || (group && isempty(group)))
                return fail(ret_error, "owner '%s' is not \"user\" or \"user:group\"", spec ? spec : "");
        r = resolve_user(user, !group, &uid, &gid, ret_error);
        if (r < 0)
                return r;
        if (group) {
                r = resolve_group(group, &gid, ret_error);
                if (r < 0)
                        return r;
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}
