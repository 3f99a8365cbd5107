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

/* Splits one line (modified in place) into exactly `want` fields. */
static int split_fields(char *line, char **f, size_t want) {
        size_t n = 0;
        f[n++] = line;
        for (char *c = line; *c; c++)
                if (*c == ':') {
                        if (n == want)
                                return -EBADMSG;
                        *c = 0;
                        f[n++] = c + 1;
                }
        return n == want ? 0 : -EBADMSG;
}

static int parse_entry(char *line, passwd_entry *ret) {
        char *f[7];
        unsigned uid, gid;

        if (split_fields(line, f, 7) < 0 || parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0 ||
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

/* The line of the file's text whose first field is name (malloc'd), -ENOENT without one. */
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

int group_find(const char *text, const char *name, gid_t *ret_gid) {
        _cleanup_free_ char *line = NULL;
        char *f[4];
        unsigned gid;
        int r = find_line(text, name, &line);

        if (r < 0)
                return r;
        if (split_fields(line, f, 4) < 0 || parse_id(f[2], &gid) < 0)
                return -EBADMSG;
        *ret_gid = gid;
        return 0;
}

static int read_account_file(const char *abs_path, char **ret) {
        _cleanup_free_ char *path = root_path(abs_path);
        return path ? read_full_file(path, PASSWD_MAX, ret, NULL) : -ENOMEM;
}

int passwd_lookup(const char *name, passwd_entry *ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_account_file(PASSWD_FILE, &text);
        return r < 0 ? r : passwd_find(text, name, ret);
}

int group_lookup(const char *name, gid_t *ret_gid) {
        _cleanup_free_ char *text = NULL;
        int r = read_account_file(GROUP_FILE, &text);
        return r < 0 ? r : group_find(text, name, ret_gid);
}
