/* srcmap.c — see srcmap.h.
 *
 * A map holds one entry per node of every YAML document kiln reads (a
 * user-data with a thousand write_files entries has some ten thousand), is
 * filled once, copied when layers merge, and read only when something is
 * wrong.  So it is an open-addressing hash table of small entries, each one
 * allocation holding its path; file names are interned per map (a map
 * sees a handful of files).  It used to be a jansson object of 5-element
 * arrays: eight allocations and a formatted path per node, a fifth of the
 * CPU of a stage that reads a large user-data (docs/performance.md).
 */
#include <stdint.h>

#include "macro.h"
#include "srcmap.h"
#include "util.h"

typedef struct entry {
        uint32_t hash;
        unsigned line, column, key_line, key_column;
        const char *file; /* interned in the table, or NULL */
        char path[];
} entry;

struct srcmap_table {
        entry **slots;
        size_t cap, n; /* cap: a power of two; n <= cap / 2 */
        char **files;
        size_t n_files;
};

static uint32_t hash_path(const char *p) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        return h;
}

static srcmap_table *table(srcmap *m) {
        if (!m->t)
                m->t = calloc(1, sizeof *m->t);
        return m->t;
}

/* The slot holding path, or the empty slot where it would go. */
static entry **slot(const srcmap_table *t, const char *path, uint32_t h) {
        for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
                entry *e = t->slots[i];
                if (!e || (e->hash == h && streq(e->path, path)))
                        return &t->slots[i];
        }
}

static int grow(srcmap_table *t) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        entry **old = t->slots, **slots = calloc(cap, sizeof *slots);
        size_t old_cap = t->cap;

        if (!slots)
                return -ENOMEM;
        t->slots = slots;
        t->cap = cap;
        for (size_t i = 0; i < old_cap; i++)
                if (old[i])
                        *slot(t, old[i]->path, old[i]->hash) = old[i];
        free(old);
        return 0;
}

static const char *intern(srcmap_table *t, const char *file) {
        if (!file)
                return NULL;
        for (size_t i = 0; i < t->n_files; i++)
                if (streq(t->files[i], file))
                        return t->files[i];
        char **f = realloc(t->files, (t->n_files + 1) * sizeof *f);
        if (!f)
                return NULL;
        t->files = f;
        f[t->n_files] = strdup(file);
        return f[t->n_files] ? f[t->n_files++] : NULL;
}

/* Sets path's entry (a new one, or replacing the old one whole). */
static int put(srcmap *m, const char *path, const char *file, unsigned line, unsigned column, unsigned key_line,
               unsigned key_column) {
        srcmap_table *t = table(m);
        size_t len = strlen(path);
        uint32_t h = hash_path(path);

        if (!t || ((t->n + 1) * 2 > t->cap && grow(t) < 0))
                return -ENOMEM;
        const char *f = intern(t, file);
        if (file && !f)
                return -ENOMEM;
        entry *e = malloc(sizeof *e + len + 1);
        if (!e)
                return -ENOMEM;
        *e = (entry){ .hash = h, .line = line, .column = column, .key_line = key_line, .key_column = key_column,
                      .file = f };
        memcpy(e->path, path, len + 1);
        entry **s = slot(t, path, h);
        if (*s)
                free(*s);
        else
                t->n++;
        *s = e;
        return 0;
}

int srcmap_set(srcmap *m, const char *path, const char *file, unsigned line, unsigned column) {
        return put(m, path, file, line, column, 0, 0);
}

static entry *find(const srcmap *m, const char *path) {
        if (!m->t || m->t->n == 0)
                return NULL;
        return *slot(m->t, path, hash_path(path));
}

int srcmap_set_key(srcmap *m, const char *path, unsigned line, unsigned column) {
        entry *e = find(m, path);
        if (e) {
                e->key_line = line;
                e->key_column = column;
        }
        return 0;
}

static bool lookup(const srcmap *m, const char *path, bool key, srcpos *ret) {
        entry *e = find(m, path);
        if (!e)
                return false;
        bool k = key && e->key_line > 0;
        ret->file = e->file;
        ret->line = k ? e->key_line : e->line;
        ret->column = k ? e->key_column : e->column;
        return true;
}

static bool get(const srcmap *m, const char *path, bool key, srcpos *ret) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return false;
        for (;;) {
                if (lookup(m, p, key, ret))
                        return true;
                char *cut = strrchr(p, '.'), *br = strrchr(p, '[');
                if (br && (!cut || br > cut))
                        cut = br;
                if (!cut)
                        return lookup(m, "", key, ret);
                *cut = 0;
                key = false; /* an ancestor's value position is the better fallback */
        }
}

bool srcmap_get(const srcmap *m, const char *path, srcpos *ret) {
        return get(m, path, false, ret);
}

bool srcmap_get_key(const srcmap *m, const char *path, srcpos *ret) {
        return get(m, path, true, ret);
}

static bool has_path_prefix(const char *path, const char *prefix, size_t n) {
        if (strncmp(path, prefix, n) != 0)
                return false;
        return n == 0 || path[n] == 0 || path[n] == '.' || path[n] == '[';
}

int srcmap_copy_prefix(srcmap *dst, const srcmap *src, const char *src_prefix, const char *dst_prefix) {
        size_t sl = strlen(src_prefix), dl = strlen(dst_prefix);
        _cleanup_free_ char *np = NULL;
        size_t np_cap = 0;

        if (!src->t)
                return 0;
        for (size_t i = 0; i < src->t->cap; i++) {
                const entry *e = src->t->slots[i];
                if (!e || !has_path_prefix(e->path, src_prefix, sl))
                        continue;
                const char *rest = e->path + sl;
                if (dl == 0 && rest[0] == '.')
                        rest++;
                size_t need = dl + strlen(rest) + 1;
                if (need > np_cap) {
                        char *b = realloc(np, need * 2);
                        if (!b)
                                return -ENOMEM;
                        np = b;
                        np_cap = need * 2;
                }
                memcpy(np, dst_prefix, dl);
                strcpy(np + dl, rest);
                if (put(dst, np, e->file, e->line, e->column, e->key_line, e->key_column) < 0)
                        return -ENOMEM;
        }
        return 0;
}

void srcmap_clear(srcmap *m) {
        srcmap_table *t = m->t;
        if (!t)
                return;
        for (size_t i = 0; i < t->cap; i++)
                free(t->slots[i]);
        free(t->slots);
        for (size_t i = 0; i < t->n_files; i++)
                free(t->files[i]);
        free(t->files);
        free(t);
        m->t = NULL;
}

/* parent + sep + what (what_len bytes) + close, without printf. */
static char *join(const char *parent, char sep, const char *what, size_t what_len, const char *close) {
        size_t pl = parent ? strlen(parent) : 0, cl = strlen(close);
        char *r = malloc(pl + 1 + what_len + cl + 1), *o = r;
        if (!r)
                return NULL;
        if (pl > 0)
                memcpy(o, parent, pl);
        o += pl;
        if (sep)
                *o++ = sep;
        memcpy(o, what, what_len);
        o += what_len;
        memcpy(o, close, cl + 1);
        return r;
}

char *keypath_key(const char *parent, const char *key) {
        return join(parent, isempty(parent) ? 0 : '.', key, strlen(key), "");
}

char *keypath_index(const char *parent, size_t index) {
        char digits[24], *d = digits + sizeof digits;
        do
                *--d = (char) ('0' + index % 10);
        while ((index /= 10) > 0);
        return join(parent, '[', d, (size_t) (digits + sizeof digits - d), "]");
}
