/* accounts.c — see accounts.h.  One line finder serves both files and both
 * keys (a name in field 0, or a uid in field 2). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include "accounts.h"
#include "fileio.h"
#include "util.h"

#define ACCOUNT_NAME_MAX 32
#define PASSWD_FIELDS 7
#define GROUP_FIELDS 4

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

static char *span_dup(span s) {
        return strndup(s.p, s.n);
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

/* The fields of the first line of text whose field key_field equals key.
 * -ENOENT when no line matches (lines too malformed to split are skipped,
 * unless they start with "key:" and the key is the name), -EBADMSG when
 * the matching line is malformed. */
static int find_fields(const char *text, unsigned n_fields, unsigned key_field, const char *key, span *f) {
        size_t len = strlen(text), klen = strlen(key);

        for (const char *line = text; line < text + len;) {
                const char *eol = memchr(line, '\n', (size_t) (text + len - line));
                size_t l = eol ? (size_t) (eol - line) : (size_t) (text + len - line);
                const char *cur = line;
                line += l + (eol ? 1 : 0);
                if (l == 0 || strchr("#+-", cur[0]))
                        continue;
                if (split(cur, l, f, n_fields) < 0) {
                        if (key_field == 0 && l > klen && strneq(cur, key, klen) && cur[klen] == ':')
                                return -EBADMSG;
                        continue;
                }
                if (span_eq(f[key_field], key))
                        return 0;
        }
        return -ENOENT;
}

static int read_db(const char *file, char **ret) {
        _cleanup_free_ char *path = root_path(file);
        return path ? read_full_file(path, ACCOUNTS_FILE_MAX, ret, NULL) : -ENOMEM;
}

/* ---- users ---- */

bool passwd_name_is_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > ACCOUNT_NAME_MAX || strchr("#+-", name[0]))
                return false;
        for (const char *c = name; *c; c++)
                if (*c == ':' || (unsigned char) *c <= ' ' || *c == 0x7f)
                        return false;
        return true;
}

void passwd_entry_clear(passwd_entry *e) {
        free(e->name);
        free(e->home);
        free(e->shell);
        *e = (passwd_entry){};
}

static int entry_from_fields(const span *f, passwd_entry *ret) {
        unsigned uid, gid;
        if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0)
                return -EBADMSG;
        passwd_entry e = { .name = span_dup(f[0]), .uid = uid, .gid = gid, .home = span_dup(f[5]),
                           .shell = span_dup(f[6]) };
        if (!e.name || !e.home || !e.shell) {
                passwd_entry_clear(&e);
                return -ENOMEM;
        }
        if (!path_is_safe_absolute(e.home)) {
                passwd_entry_clear(&e);
                return -EBADMSG;
        }
        *ret = e;
        return 0;
}

int passwd_find(const char *text, const char *name, passwd_entry *ret) {
        span f[PASSWD_FIELDS];
        if (!passwd_name_is_valid(name))
                return -EINVAL;
        int r = find_fields(text, PASSWD_FIELDS, 0, name, f);
        return r < 0 ? r : entry_from_fields(f, ret);
}

int passwd_lookup(const char *name, passwd_entry *ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_db(PASSWD_FILE, &text);
        return r < 0 ? r : passwd_find(text, name, ret);
}

/* ---- groups ---- */

int group_find(const char *text, const char *name, gid_t *ret_gid) {
        span f[GROUP_FIELDS];
        unsigned gid;
        if (!passwd_name_is_valid(name))
                return -EINVAL;
        int r = find_fields(text, GROUP_FIELDS, 0, name, f);
        if (r < 0)
                return r;
        if (parse_id(f[2], &gid) < 0)
                return -EBADMSG;
        *ret_gid = (gid_t) gid;
        return 0;
}

int group_lookup(const char *name, gid_t *ret_gid) {
        _cleanup_free_ char *text = NULL;
        int r = read_db(GROUP_FILE, &text);
        return r < 0 ? r : group_find(text, name, ret_gid);
}

/* ---- owners ---- */

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

/* The uid and primary gid of the passwd line whose key_field (0: name,
 * 2: uid) is key. */
static int lookup_user_ids(unsigned key_field, const char *key, unsigned *ret_uid, unsigned *ret_gid) {
        _cleanup_free_ char *text = NULL;
        span f[PASSWD_FIELDS];
        int r = read_db(PASSWD_FILE, &text);
        if (r < 0)
                return r;
        r = find_fields(text, PASSWD_FIELDS, key_field, key, f);
        if (r < 0)
                return r;
        if (parse_id(f[2], ret_uid) < 0 || parse_id(f[3], ret_gid) < 0)
                return -EBADMSG;
        return 0;
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
                        r = lookup_user_ids(2, user, &again, &gid);
                        if (r == -ENOENT)
                                return fail(ret_error, "uid %s has no line in %s to take its primary group from; "
                                            "give the group too (\"%s:GROUP\")", user, PASSWD_FILE, user);
                        if (r < 0)
                                return lookup_failed(r, ret_error, "uid", user, PASSWD_FILE);
                }
        } else {
                if (!passwd_name_is_valid(user))
                        return fail(ret_error, "'%s' is not a user name", user);
                r = lookup_user_ids(0, user, &uid, &gid);
                if (r < 0)
                        return lookup_failed(r, ret_error, "user", user, PASSWD_FILE);
        }
        *ret_uid = (uid_t) uid;
        *ret_gid = (gid_t) gid;
        return 0;
}

int accounts_resolve_group(const char *group, gid_t *ret_gid, char **ret_error) {
        unsigned gid;
        int r;

        if (is_number(group)) {
                if (parse_id((span){ group, strlen(group) }, &gid) < 0)
                        return fail(ret_error, "gid %s is out of range", group);
        } else {
                if (!passwd_name_is_valid(group))
                        return fail(ret_error, "'%s' is not a group name", group);
                r = group_lookup(group, ret_gid);
                if (r < 0)
                        return lookup_failed(r, ret_error, "group", group, GROUP_FILE);
                return 0;
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
                r = accounts_resolve_group(group, &gid, ret_error);
                if (r < 0)
                        return r;
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* ---- modes ---- */

int mode_from_json(json_t *v, mode_t *ret) {
        long long m;
        if (json_is_integer(v))
                m = json_integer_value(v); /* YAML 0644 is already 420 */
        else if (json_is_string(v)) {
                const char *s = json_string_value(v);
                size_t n = strlen(s);
                if (n == 0 || n > 5 || strspn(s, "01234567") != n)
                        return -EINVAL;
                m = strtoll(s, NULL, 8);
        } else
                return -EINVAL;
        if (m < 0 || m > 07777)
                return -EINVAL;
        *ret = (mode_t) m;
        return 0;
}

/* After YAML only the value is left: 0644 arrives as 420 (meant), 644 as
 * 644 (= 01204, never meant).  So a decimal made of octal digits is refused
 * when, taken as a mode, it has bits above 0777 (644, 640, 600, 755, 700 …),
 * or is 400, 440, 444 or 500 (0620, 0670, 0674, 0764: modes nobody means,
 * where 0400 … 0500 are common).  420, 416 (YAML 0644, 0640) pass. */
bool mode_is_lost_octal(json_t *v) {
        char buf[32];
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 100)
                return false;
        snprintf(buf, sizeof buf, "%lld", (long long) n);
        if (strspn(buf, "01234567") != strlen(buf))
                return false;
        return n > 0777 || n == 400 || n == 440 || n == 444 || n == 500;
}
