/* hosts-file.c — see hosts-file.h. */
#include <stdbool.h>
#include <stdio.h>

#include "hosts-file.h"
#include "util.h"

/* cloud-init's templates/hosts.debian.tmpl, with kiln's note on what it keeps. */
#define HOSTS_DEFAULT_HEAD                                                                 \
        "# Written by kiln (manage_etc_hosts: true): kiln keeps the 127.0.1.1 line\n"     \
        "# up to date with the machine's names; the other lines are yours and are kept.\n"
#define HOSTS_DEFAULT_TAIL                                           \
        "127.0.0.1 localhost\n"                                      \
        "\n"                                                         \
        "# The following lines are desirable for IPv6 capable hosts\n" \
        "::1 localhost ip6-localhost ip6-loopback\n"                 \
        "ff02::1 ip6-allnodes\n"                                     \
        "ff02::2 ip6-allrouters\n"
#define HOSTS_LOCALHOST_HEAD "# Added by kiln (manage_etc_hosts: localhost).\n"

typedef struct span {
        const char *p;
        size_t n;
} span;

#define MAX_FIELDS 64

/* The fields of one line before any '#' comment. */
static size_t line_fields(span line, span f[static MAX_FIELDS]) {
        size_t k = 0, i = 0;
        while (i < line.n && line.p[i] != '#' && k < MAX_FIELDS) {
                while (i < line.n && (line.p[i] == ' ' || line.p[i] == '\t'))
                        i++;
                size_t s = i;
                while (i < line.n && line.p[i] != ' ' && line.p[i] != '\t' && line.p[i] != '#')
                        i++;
                if (i > s)
                        f[k++] = (span){ line.p + s, i - s };
        }
        return k;
}

static bool span_is(span s, const char *str) {
        return strlen(str) == s.n && memcmp(s.p, str, s.n) == 0;
}

static bool is_self_line(span line) {
        span f[MAX_FIELDS];
        return line_fields(line, f) >= 1 && span_is(f[0], HOSTS_SELF_ADDRESS);
}

/* cloud-init's test: the line's canonical name is fqdn and hostname is one of its aliases. */
static bool self_line_names(span line, const char *fqdn, const char *hostname) {
        span f[MAX_FIELDS];
        size_t k = line_fields(line, f);
        if (k < 2 || !span_is(f[0], HOSTS_SELF_ADDRESS) || !span_is(f[1], fqdn))
                return false;
        if (streq(fqdn, hostname))
                return true;
        for (size_t i = 2; i < k; i++)
                if (span_is(f[i], hostname))
                        return true;
        return false;
}

static size_t split_lines(const char *text, span **ret) {
        size_t n = 0;
        for (const char *p = text; *p; p = strchrnul(p, '\n'), p += *p ? 1 : 0)
                n++;
        span *v = calloc(n + 1, sizeof(span));
        if (!v)
                return SIZE_MAX;
        n = 0;
        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n');
                v[n++] = (span){ p, (size_t) (eol - p) };
                p = *eol ? eol + 1 : eol;
        }
        *ret = v;
        return n;
}

/* Where the new line goes: before the first 127.0.1.1 line (managed, which
 * then replaces it), after the last one (localhost), else before the first
 * entry, else at the end. */
static size_t insert_at(const span *lines, size_t n, hosts_mode mode) {
        size_t first_self = SIZE_MAX, last_self = SIZE_MAX, first_entry = SIZE_MAX;
        span f[MAX_FIELDS];
        for (size_t i = 0; i < n; i++) {
                if (is_self_line(lines[i])) {
                        first_self = MIN(first_self, i);
                        last_self = i;
                }
                if (first_entry == SIZE_MAX && line_fields(lines[i], f) > 0)
                        first_entry = i;
        }
        if (mode == HOSTS_LOCALHOST && last_self != SIZE_MAX)
                return last_self + 1;
        if (first_self != SIZE_MAX)
                return first_self;
        return first_entry != SIZE_MAX ? first_entry : n;
}

static int rebuild(const span *lines, size_t n, hosts_mode mode, const char *self_line, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, at = insert_at(lines, n, mode);
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i <= n; i++) {
                if (i == at)
                        fprintf(f, "%s\n", self_line);
                if (i == n)
                        break;
                if (mode == HOSTS_MANAGED && is_self_line(lines[i]))
                        continue;
                fprintf(f, "%.*s\n", (int) lines[i].n, lines[i].p);
        }
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int fresh_file(hosts_mode mode, const char *self_line, char **ret) {
        int r = mode == HOSTS_MANAGED ? asprintf(ret, HOSTS_DEFAULT_HEAD "%s\n" HOSTS_DEFAULT_TAIL, self_line)
                                      : asprintf(ret, HOSTS_LOCALHOST_HEAD "%s\n", self_line);
        return r < 0 ? -ENOMEM : 0;
}

static bool up_to_date(const span *lines, size_t n, hosts_mode mode, const char *fqdn, const char *hostname,
                       const char *self_line) {
        size_t self = 0, match = 0;
        for (size_t i = 0; i < n; i++) {
                if (!is_self_line(lines[i]))
                        continue;
                self++;
                if (mode == HOSTS_LOCALHOST ? self_line_names(lines[i], fqdn, hostname)
                                            : span_is(lines[i], self_line))
                        match++;
        }
        return mode == HOSTS_LOCALHOST ? match > 0 : self == 1 && match == 1;
}

int hosts_file_update(const char *existing, hosts_mode mode, const char *fqdn, const char *hostname, char **ret) {
        _cleanup_free_ char *self_line = NULL;
        _cleanup_free_ span *lines = NULL;

        if (mode == HOSTS_UNMANAGED)
                return (*ret = strdup(existing ? existing : "")) ? 0 : -ENOMEM;
        if (asprintf(&self_line, HOSTS_SELF_ADDRESS " %s%s%s", fqdn, streq(fqdn, hostname) ? "" : " ",
                     streq(fqdn, hostname) ? "" : hostname) < 0)
                return -ENOMEM;
        if (!existing)
                return fresh_file(mode, self_line, ret);
        size_t n = split_lines(existing, &lines);
        if (n == SIZE_MAX)
                return -ENOMEM;
        if (up_to_date(lines, n, mode, fqdn, hostname, self_line))
                return (*ret = strdup(existing)) ? 0 : -ENOMEM;
        return rebuild(lines, n, mode, self_line, ret);
}
