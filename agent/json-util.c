/* json-util.c — see json-util.h. */
#include <stdlib.h>

#include "fileio.h"
#include "json-util.h"
#include "macro.h"

#define JSON_FILE_MAX (16 * 1024 * 1024)

/* Splits the next component off *p: a key (returned in key) or an index. */
static int next_component(const char **p, char *key, size_t keysz, long *ret_index) {
        const char *s = *p;
        if (*s == '.')
                s++;
        if (*s == '[') {
                char *end;
                long idx = strtol(s + 1, &end, 10);
                if (end == s + 1 || *end != ']' || idx < 0)
                        return -EINVAL;
                *ret_index = idx;
                *p = end + 1;
                return 1;
        }
        size_t n = strcspn(s, ".[");
        if (n == 0 || n >= keysz)
                return -EINVAL;
        memcpy(key, s, n);
        key[n] = 0;
        *p = s + n;
        return 0;
}

json_t *json_get_path(json_t *root, const char *path) {
        char key[256];
        const char *p = path;
        json_t *v = root;

        while (v && *p) {
                long idx;
                int r = next_component(&p, key, sizeof key, &idx);
                if (r < 0)
                        return NULL;
                v = r == 1 ? json_array_get(v, (size_t) idx) : json_object_get(v, key);
        }
        return v;
}

int json_set_path_new(json_t *root, const char *path, json_t *v) {
        char key[256];
        const char *p = path;
        json_t *cur = root;

        for (;;) {
                long idx;
                int r = next_component(&p, key, sizeof key, &idx);
                if (r != 0 || !json_is_object(cur)) {
                        json_decref(v);
                        return -EINVAL;
                }
                if (*p == 0)
                        return json_object_set_new(cur, key, v) < 0 ? -ENOMEM : 0;
                json_t *next = json_object_get(cur, key);
                if (!next) {
                        next = json_object();
                        if (!next || json_object_set_new(cur, key, next) < 0) {
                                json_decref(v);
                                return -ENOMEM;
                        }
                }
                cur = next;
        }
}

const char *json_get_string(json_t *obj, const char *key, const char *def) {
        json_t *v = json_object_get(obj, key);
        return json_is_string(v) ? json_string_value(v) : def;
}

bool json_get_bool(json_t *obj, const char *key, bool def) {
        json_t *v = json_object_get(obj, key);
        return json_is_boolean(v) ? json_is_true(v) : def;
}

long long json_get_int(json_t *obj, const char *key, long long def) {
        json_t *v = json_object_get(obj, key);
        return json_is_integer(v) ? json_integer_value(v) : def;
}

double json_get_number(json_t *obj, const char *key, double def) {
        json_t *v = json_object_get(obj, key);
        return json_is_number(v) ? json_number_value(v) : def;
}

char *json_dump_pretty(const json_t *v) {
        char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        if (!s)
                return NULL;
        size_t n = strlen(s);
        char *r = realloc(s, n + 2);
        if (!r) {
                free(s);
                return NULL;
        }
        r[n] = '\n';
        r[n + 1] = 0;
        return r;
}

int json_read_file(const char *path, json_t **ret) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        json_error_t err;
        int r = read_full_file(path, JSON_FILE_MAX, &text, &len);
        if (r < 0)
                return r;
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &err);
        if (!v)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int json_write(const char *path, const json_t *v, unsigned mode, bool no_sync) {
        _cleanup_free_ char *s = json_dump_pretty(v);
        write_opts o = WRITE_OPTS_DEFAULT;
        if (!s)
                return -ENOMEM;
        o.mode = mode;
        o.no_sync = no_sync;
        return write_file_atomic(path, s, strlen(s), &o);
}

int json_write_file_atomic(const char *path, const json_t *v, unsigned mode) {
        return json_write(path, v, mode, false);
}

int json_write_file_no_sync(const char *path, const json_t *v, unsigned mode) {
        return json_write(path, v, mode, true);
}
