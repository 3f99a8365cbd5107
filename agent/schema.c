/* schema.c — see schema.h. */
#include <stdarg.h>
#include <stdio.h>

#include "schema.h"
#include "util.h"

/* cloud-config keys kiln knows of but does not implement: a precise warning
 * beats "unknown key" for people bringing existing user-data. */
static const char *const cloud_init_only_keys[] = {
        "packages",      "package_update", "package_upgrade", "apt",         "yum_repos", "users",
        "groups",        "chpasswd",       "ssh_pwauth",      "disk_setup",  "growpart",  "resize_rootfs",
        "ntp",           "timezone",       "locale",          "power_state", "phone_home", "final_message_cloud",
        "snap",          "ansible",        "puppet",          "chef",        "salt_minion", "ca_certs",
        "rsyslog",       "swap",           "keyboard",        "lxd",         "mcollective", "seed_random",
        "ssh_keys",      "ssh_deletekeys", "ssh_genkeytypes", "disable_root", "system_info", "cloud_init_modules",
        "cloud_config_modules", "cloud_final_modules", NULL,
};

const char *schema_type_name(unsigned types, char *buf, size_t size) {
        static const struct { unsigned bit; const char *name; } names[] = {
                { ST_STRING, "string" }, { ST_INTEGER, "integer" }, { ST_REAL, "number" },
                { ST_BOOLEAN, "boolean" }, { ST_OBJECT, "mapping" }, { ST_ARRAY, "list" }, { ST_NULL, "null" },
        };
        size_t n = 0;
        buf[0] = 0;
        if ((types & ST_NUMBER) == ST_NUMBER)
                types &= ~ST_INTEGER;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                if (!(types & names[i].bit))
                        continue;
                n += (size_t) snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? " or " : "", names[i].name);
        }
        return buf;
}

static unsigned json_kind(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING:
                return ST_STRING;
        case JSON_INTEGER:
                return ST_INTEGER;
        case JSON_REAL:
                return ST_REAL;
        case JSON_TRUE:
        case JSON_FALSE:
                return ST_BOOLEAN;
        case JSON_OBJECT:
                return ST_OBJECT;
        case JSON_ARRAY:
                return ST_ARRAY;
        default:
                return ST_NULL;
        }
}

static void vreport(diags *d, diag_level level, const srcmap *map, const char *file, const char *path, bool key,
                    const char *format, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        srcpos p = { 0 };
        bool found;

        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        found = map && (key ? srcmap_get_key(map, path, &p) : srcmap_get(map, path, &p)) && p.file;
        if (found)
                diags_add(d, level, p.file, p.line, p.column, path, "%s: %s", path, msg ? msg : "invalid");
        else
                diags_add(d, level, file, 0, 0, path, "%s", msg ? msg : "invalid");
}

void schema_report(diags *d, diag_level level, const srcmap *map, const char *file, const char *path,
                   const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        vreport(d, level, map, file, path, false, format, ap);
        va_end(ap);
}

void schema_report_key(diags *d, diag_level level, const srcmap *map, const char *file, const char *path,
                       const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        vreport(d, level, map, file, path, true, format, ap);
        va_end(ap);
}

/* Levenshtein distance, capped: suggestions only need "small". */
static unsigned edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        unsigned row[64];
        if (la >= 63 || lb >= 63)
                return 99;
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned prev = row[0];
                row[0] = (unsigned) i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cur = row[j];
                        unsigned sub = prev + (a[i - 1] != b[j - 1]);
                        row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), sub);
                        prev = cur;
                }
        }
        return row[lb];
}

static const char *suggest(const schema_key *keys, const char *name) {
        const char *best = NULL;
        unsigned best_d = 3;
        for (const schema_key *k = keys; k && k->name; k++) {
                unsigned dist = edit_distance(name, k->name);
                if (dist < best_d) {
                        best_d = dist;
                        best = k->name;
                }
        }
        return best;
}

static const schema_key *find_key(const schema_key *keys, const char *name) {
        for (const schema_key *k = keys; k && k->name; k++)
                if (streq(k->name, name))
                        return k;
        return NULL;
}

typedef struct vctx {
        const srcmap *map;
        const char *file;
        diags *d;
} vctx;

static void validate_value(vctx *c, const schema_key *k, json_t *v, const char *path);

static void unknown_key(vctx *c, const schema_key *props, const char *key, const char *path, bool top) {
        const char *s = suggest(props, key);
        if (top)
                for (const char *const *w = cloud_init_only_keys; *w; w++)
                        if (streq(*w, key)) {
                                schema_report_key(c->d, DIAG_WARNING, c->map, c->file, path,
                                                  "cloud-init key not supported by kiln (ignored)");
                                return;
                        }
        if (s)
                schema_report_key(c->d, DIAG_WARNING, c->map, c->file, path, "unknown key (did you mean '%s'?)", s);
        else
                schema_report_key(c->d, DIAG_WARNING, c->map, c->file, path, "unknown key (ignored)");
}

static void validate_object(vctx *c, const schema_key *k, json_t *v, const char *path, bool top) {
        const char *key;
        json_t *child;

        json_object_foreach(v, key, child) {
                _cleanup_free_ char *cp = keypath_key(path, key);
                if (!cp)
                        return;
                if (!k->props) {
                        if (k->values)
                                validate_value(c, k->values, child, cp);
                        continue;
                }
                const schema_key *ck = find_key(k->props, key);
                if (ck)
                        validate_value(c, ck, child, cp);
                else
                        unknown_key(c, k->props, key, cp, top);
        }
        for (const schema_key *ck = k->props; ck && ck->name; ck++)
                if (ck->required && !json_object_get(v, ck->name))
                        schema_report(c->d, DIAG_ERROR, c->map, c->file, isempty(path) ? "(top level)" : path,
                                      "missing required key '%s'", ck->name);
}

static void validate_value(vctx *c, const schema_key *k, json_t *v, const char *path) {
        unsigned kind = json_kind(v);
        char want[96], got[32];

        if (!(k->types & kind)) {
                schema_report(c->d, DIAG_ERROR, c->map, c->file, path, "expected %s, got %s",
                              schema_type_name(k->types, want, sizeof want), schema_type_name(kind, got, sizeof got));
                return;
        }
        if (kind == ST_STRING && k->enum_values) {
                const char *s = json_string_value(v);
                bool ok = false;
                char list[256] = "";
                size_t n = 0;
                for (const char *const *e = k->enum_values; *e; e++) {
                        ok = ok || streq(*e, s);
                        n += (size_t) snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s",
                                               n ? ", " : "", *e);
                }
                if (!ok)
                        schema_report(c->d, DIAG_ERROR, c->map, c->file, path, "'%s' is not one of: %s", s, list);
        } else if (kind == ST_OBJECT)
                validate_object(c, k, v, path, false);
        else if (kind == ST_ARRAY && k->items) {
                size_t i;
                json_t *item;
                json_array_foreach(v, i, item) {
                        _cleanup_free_ char *ip = keypath_index(path, i);
                        if (ip)
                                validate_value(c, k->items, item, ip);
                }
        }
}

int schema_validate(const schema_key *top, json_t *doc, const srcmap *map, const char *file, diags *d) {
        vctx c = { .map = map, .file = file, .d = d };
        schema_key root = { .name = "", .types = ST_OBJECT | ST_NULL, .props = top };
        size_t before = d->n_errors;

        if (json_is_null(doc))
                return 0;
        if (!json_is_object(doc)) {
                char got[32];
                schema_report(d, DIAG_ERROR, map, file, "", "the document must be a mapping of keys, got %s",
                              schema_type_name(json_kind(doc), got, sizeof got));
                return -EINVAL;
        }
        validate_object(&c, &root, doc, "", true);
        return d->n_errors > before ? -EINVAL : 0;
}

/* ---- secrets ---- */

static const schema_key *descend(const schema_key *k, const char **p) {
        const char *s = *p;
        if (*s == '[') {
                const char *e = strchr(s, ']');
                *p = e ? e + 1 : s + strlen(s);
                return k->items;
        }
        if (*s == '.')
                s++;
        size_t n = strcspn(s, ".[");
        *p = s + n;
        if (!k->props)
                return k->values;
        for (const schema_key *c = k->props; c->name; c++)
                if (strlen(c->name) == n && strncmp(c->name, s, n) == 0)
                        return c;
        return NULL;
}

bool schema_path_is_secret(const schema_key *top, const char *path) {
        schema_key root = { .name = "", .types = ST_OBJECT, .props = top };
        const schema_key *k = &root;
        const char *p = path;
        while (k && *p) {
                k = descend(k, &p);
                if (k && k->secret)
                        return true;
        }
        return false;
}

/* ---- documentation ---- */

static void print_keys(const schema_key *keys, const char *prefix, FILE *f) {
        char types[96];
        for (const schema_key *k = keys; k && k->name; k++) {
                _cleanup_free_ char *full = keypath_key(prefix, k->name);
                if (!full)
                        return;
                fprintf(f, "| `%s` | %s%s%s | %s", full, schema_type_name(k->types, types, sizeof types),
                        k->required ? ", required" : "", k->secret ? ", secret" : "",
                        k->description ? k->description : "");
                if (k->enum_values) {
                        fprintf(f, " One of:");
                        for (const char *const *e = k->enum_values; *e; e++)
                                fprintf(f, " `%s`", *e);
                        fprintf(f, ".");
                }
                fprintf(f, " |\n");
                if (k->props)
                        print_keys(k->props, full, f);
                if (k->values && k->values->props) {
                        _cleanup_free_ char *vp = keypath_key(full, "<name>");
                        if (vp)
                                print_keys(k->values->props, vp, f);
                }
                if (k->items && k->items->props) {
                        _cleanup_free_ char *ip = NULL;
                        if (asprintf(&ip, "%s[]", full) >= 0)
                                print_keys(k->items->props, ip, f);
                }
        }
}

void schema_print_markdown(const schema_key *top, FILE *f) {
        fprintf(f, "| key | type | meaning |\n|---|---|---|\n");
        print_keys(top, "", f);
}
