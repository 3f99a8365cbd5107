/* srcmap.c — see srcmap.h. */
#include <stdio.h>

#include "macro.h"
#include "srcmap.h"
#include "util.h"

int srcmap_set(srcmap *m, const char *path, const char *file, unsigned line, unsigned column) {
        if (!m->map) {
                m->map = json_object();
                if (!m->map)
                        return -ENOMEM;
        }
        json_t *v = json_pack("[s?IIII]", file, (json_int_t) line, (json_int_t) column, (json_int_t) 0, (json_int_t) 0);
        if (!v || json_object_set_new(m->map, path, v) < 0)
                return -ENOMEM;
        return 0;
}

int srcmap_set_key(srcmap *m, const char *path, unsigned line, unsigned column) {
        json_t *v = m->map ? json_object_get(m->map, path) : NULL;
        if (!v)
                return 0;
        if (json_array_set_new(v, 3, json_integer(line)) < 0 || json_array_set_new(v, 4, json_integer(column)) < 0)
                return -ENOMEM;
        return 0;
}

static bool lookup(const srcmap *m, const char *path, bool key, srcpos *ret) {
        json_t *v = m->map ? json_object_get(m->map, path) : NULL;
        if (!v)
                return false;
        int at = key && json_integer_value(json_array_get(v, 3)) > 0 ? 3 : 1;
        ret->file = json_string_value(json_array_get(v, 0));
        ret->line = (unsigned) json_integer_value(json_array_get(v, at));
        ret->column = (unsigned) json_integer_value(json_array_get(v, at + 1));
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

static bool m_set_copy(srcmap *dst, const char *path, json_t *entry) {
        if (!dst->map && !(dst->map = json_object()))
                return false;
        return json_object_set_new(dst->map, path, json_copy(entry)) == 0;
}

static bool has_path_prefix(const char *path, const char *prefix) {
        size_t n = strlen(prefix);
        if (strncmp(path, prefix, n) != 0)
                return false;
        return n == 0 || path[n] == 0 || path[n] == '.' || path[n] == '[';
}

int srcmap_copy_prefix(srcmap *dst, const srcmap *src, const char *src_prefix, const char *dst_prefix) {
        const char *k;
        json_t *v;
        size_t sl = strlen(src_prefix);

        if (!src->map)
                return 0;
        json_object_foreach(src->map, k, v) {
                _cleanup_free_ char *np = NULL;
                if (!has_path_prefix(k, src_prefix))
                        continue;
                const char *rest = k + sl;
                if (isempty(dst_prefix) && rest[0] == '.')
                        rest++;
                if (asprintf(&np, "%s%s", dst_prefix, rest) < 0)
                        return -ENOMEM;
                if (!m_set_copy(dst, np, v))
                        return -ENOMEM;
        }
        return 0;
}

void srcmap_clear(srcmap *m) {
        json_decref(m->map);
        m->map = NULL;
}

char *keypath_key(const char *parent, const char *key) {
        char *r;
        if (isempty(parent))
                return strdup(key);
        if (asprintf(&r, "%s.%s", parent, key) < 0)
                return NULL;
        return r;
}

char *keypath_index(const char *parent, size_t index) {
        char *r;
        if (asprintf(&r, "%s[%zu]", parent ? parent : "", index) < 0)
                return NULL;
        return r;
}
