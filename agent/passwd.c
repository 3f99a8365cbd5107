/* passwd.c — see passwd.h. */
#include <limits.h>
#include <stdbool.h>

#include "fileio.h"
#include "passwd.h"
#include "util.h"

#define PASSWD_NAME_MAX 32

bool passwd_name_is_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > PASSWD_NAME_MAX || name[0] == '-' || name[0] == '+' || name[0] == '#')
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

/* A uid or gid: decimal digits only, below (uid_t) -1, which means "none". */
static int parse_id(const char *s, unsigned *ret) {
        char *end;
        if (!s[0] || s[0] < '0' || s[0] > '9')
                return -EBADMSG;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || *end || v >= UINT_MAX)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

/* Splits one line (modified in place) into its seven fields. */
static int split_fields(char *line, char *f[static 7]) {
        size_t n = 0;
        f[n++] = line;
        for (char *c = line; *c; c++)
                if (*c == ':') {
                        if (n == 7)
                                return -EBADMSG;
                        *c = 0;
                        f[n++] = c + 1;
                }
        return n == 7 ? 0 : -EBADMSG;
}

static int parse_entry(char *line, passwd_entry *ret) {
        char *f[7];
        unsigned uid, gid;

        if (split_fields(line, f) < 0 || parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0 ||
            !path_is_safe_absolute(f[5]))
                return -EBADMSG;
        passwd_entry e = { .name = strdup(f[0]), .uid = uid, .gid = gid, .home = strdup(f[5]), .shell = strdup(f[6]) };
        if (!e.name || !e.home || !e.shell) {
                passwd_entry_clear(&e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}

/* The line of a passwd-format file (passwd, group) whose first field is name. */
static int find_line(const char *text, const char *name, char **ret) {
        size_t nl = strlen(name);

        if (!passwd_name_is_valid(name))
                return -EINVAL;
        for (const char *p = text; p && *p;) {
                const char *eol = strchrnul(p, '\n');
                if ((size_t) (eol - p) > nl && strneq(p, name, nl) && p[nl] == ':') {
                        *ret = strndup(p, (size_t) (eol - p));
                        return *ret ? 0 : -ENOMEM;
                }
                p = *eol ? eol + 1 : eol;
        }
        return -ENOENT;
}

int passwd_find(const char *text, const char *name, passwd_entry *ret) {
        _cleanup_free_ char *line = NULL;
        int r = find_line(text, name, &line);
        return r < 0 ? r : parse_entry(line, ret);
}

/* group: name:password:gid:members */
int group_find(const char *text, const char *name, gid_t *ret) {
        _cleanup_free_ char *line = NULL;
        unsigned gid;
        char *f[4];
        int r = find_line(text, name, &line);
        if (r < 0)
                return r;
        f[0] = line;
        for (int i = 1; i < 4; i++) {
                f[i] = f[i - 1] ? strchr(f[i - 1], ':') : NULL;
                if (f[i])
                        *f[i]++ = 0;
        }
        if (!f[3] || parse_id(f[2], &gid) < 0)
                return -EBADMSG;
        *ret = (gid_t) gid;
        return 0;
}

static int read_db(const char *file, char **ret) {
        _cleanup_free_ char *path = root_path(file);
        return path ? read_full_file(path, PASSWD_MAX, ret, NULL) : -ENOMEM;
}

int passwd_lookup(const char *name, passwd_entry *ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_db(PASSWD_FILE, &text);
        return r < 0 ? r : passwd_find(text, name, ret);
}

int group_lookup(const char *name, gid_t *ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_db(GROUP_FILE, &text);
        return r < 0 ? r : group_find(text, name, ret);
}

/* A name or a number; numbers are taken as ids without a lookup. */
static int resolve_user(const char *s, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_passwd_entry_ passwd_entry e = {};
        unsigned id;
        if (parse_id(s, &id) == 0) {
                *ret_uid = (uid_t) id;
                return 0;
        }
        int r = passwd_lookup(s, &e);
        if (r < 0)
                return r;
        *ret_uid = e.uid;
        if (ret_gid)
                *ret_gid = e.gid;
        return 0;
}

int owner_parse(const char *spec, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *copy = strdup(spec);
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        unsigned id;
        int r;

        if (!copy)
                return -ENOMEM;
        char *colon = strchr(copy, ':');
        if (colon)
                *colon++ = 0;
        if (*copy && (r = resolve_user(copy, &uid, NULL)) < 0)
                return r;
        if (colon && *colon) {
                if (parse_id(colon, &id) == 0)
                        gid = (gid_t) id;
                else if ((r = group_lookup(colon, &gid)) < 0)
                        return r;
        }
        if (uid == (uid_t) -1 && gid == (gid_t) -1)
                return -EINVAL;
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

int mode_from_json(json_t *v, mode_t *ret) {
        long long m;
        if (json_is_integer(v))
                m = json_integer_value(v); /* YAML 0644 is already 420 */
        else if (json_is_string(v)) {
                const char *s = json_string_value(v);
                char *end;
                if (!*s || strspn(s, "01234567") != strlen(s))
                        return -EINVAL;
                errno = 0;
                m = strtoll(s, &end, 8);
                if (errno)
                        return -EINVAL;
        } else
                return -EINVAL;
        if (m < 0 || m > 07777)
                return -EINVAL;
        *ret = (mode_t) m;
        return 0;
}
