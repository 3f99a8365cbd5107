/* util.c — see util.h. */
#include <stdio.h>
#include <time.h>

#include "macro.h"
#include "util.h"

static char *root_prefix; /* NULL for the live system, else without trailing '/' */

static usec_t timespec_usec(clockid_t clk) {
        struct timespec ts;
        clock_gettime(clk, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

usec_t now_usec(void) {
        return timespec_usec(CLOCK_REALTIME);
}

usec_t now_mono_usec(void) {
        return timespec_usec(CLOCK_MONOTONIC);
}

char *format_timestamp(usec_t t, char buf[static FORMAT_TIMESTAMP_MAX]) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&sec, &tm);
        snprintf(buf, FORMAT_TIMESTAMP_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned) (t % USEC_PER_SEC));
        return buf;
}

int root_set(const char *root) {
        char *n = NULL;

        if (root && !streq(root, "/")) {
                if (root[0] != '/')
                        return -EINVAL;
                n = strdup(root);
                if (!n)
                        return -ENOMEM;
                size_t l = strlen(n);
                while (l > 1 && n[l - 1] == '/')
                        n[--l] = 0;
        }
        free(root_prefix);
        root_prefix = n;
        return 0;
}

const char *root_get(void) {
        return root_prefix ? root_prefix : "/";
}

bool root_is_live(void) {
        return !root_prefix;
}

char *root_path(const char *abs_path) {
        char *r;
        if (!root_prefix)
                return strdup(abs_path);
        if (asprintf(&r, "%s%s%s", root_prefix, abs_path[0] == '/' ? "" : "/", abs_path) < 0)
                return NULL;
        return r;
}

char *path_join(const char *a, const char *b) {
        char *r;
        size_t la = strlen(a);
        bool slash = la > 0 && a[la - 1] == '/';
        while (*b == '/' && (slash || la == 0))
                b++;
        if (asprintf(&r, "%s%s%s", a, (slash || la == 0 || *b == '/') ? "" : "/", b) < 0)
                return NULL;
        return r;
}

bool path_is_safe_absolute(const char *p) {
        if (!p || p[0] != '/')
                return false;
        for (const char *s = p; *s; s++) {
                if (s[0] == '/' && s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == 0))
                        return false;
        }
        return true;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix) {
        size_t ls = strlen(s), lx = strlen(suffix);
        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

char *strstrip(char *s) {
        char *e;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                *--e = 0;
        return s;
}

size_t utf8_first_invalid(const void *data, size_t len) {
        const uint8_t *p = data;

        for (size_t i = 0; i < len;) {
                size_t n;
                uint32_t cp;

                if (p[i] < 0x80) {
                        i++;
                        continue;
                }
                if (p[i] >= 0xc2 && p[i] <= 0xdf)
                        n = 1, cp = p[i] & 0x1f;
                else if (p[i] >= 0xe0 && p[i] <= 0xef)
                        n = 2, cp = p[i] & 0x0f;
                else if (p[i] >= 0xf0 && p[i] <= 0xf4)
                        n = 3, cp = p[i] & 0x07;
                else
                        return i;
                if (n >= len - i)
                        return i;
                for (size_t k = 1; k <= n; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return i;
                        cp = cp << 6 | (p[i + k] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return i;
                i += n + 1;
        }
        return len;
}
