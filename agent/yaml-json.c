/* yaml-json.c — see yaml-json.h.
 *
 * libyaml's event API, not its document API: the document API resolves an
 * alias into a shared node, and turning that graph into a tree expands
 * aliases without limit ("billion laughs").  Walking events, we keep each
 * anchor's finished JSON value and its node count, deep-copy it at every
 * alias, and stop as soon as the expanded size passes max_nodes.
 */
#include <ctype.h>
#include <math.h>
#include <yaml.h>

#include "base64.h"
#include "log.h"
#include "util.h"
#include "yaml-json.h"

#define DEFAULT_MAX_NODES 100000
#define DEFAULT_MAX_DEPTH 64

typedef struct ystate {
        yaml_parser_t parser;
        const char *file;
        const char *text;
        size_t len;
        diags *d;
        srcmap *map;
        json_t *anchors; /* name → [value, node count] */
        size_t nodes;
        size_t max_nodes;
        unsigned depth, max_depth;
} ystate;

static void mark_error(ystate *s, const yaml_mark_t *m, const char *fmt, const char *arg) {
        diags_add(s->d, DIAG_ERROR, s->file, (unsigned) m->line + 1, (unsigned) m->column + 1, NULL, fmt, arg);
}

static void parser_error(ystate *s) {
        const yaml_parser_t *p = &s->parser;
        const yaml_mark_t *m = &p->problem_mark;
        const char *problem = p->problem ? p->problem : "invalid YAML";

        if (p->error == YAML_MEMORY_ERROR) {
                diag_error(s->d, s->file, 0, 0, "out of memory while parsing YAML");
                return;
        }
        if (m->index < s->len && s->text[m->index] == '\t') {
                diags_add(s->d, DIAG_ERROR, s->file, (unsigned) m->line + 1, (unsigned) m->column + 1, NULL,
                          "%s (a tab character: YAML indentation must use spaces)", problem);
                return;
        }
        if (p->context)
                diags_add(s->d, DIAG_ERROR, s->file, (unsigned) m->line + 1, (unsigned) m->column + 1, NULL,
                          "%s %s (line %zu)", problem, p->context, p->context_mark.line + 1);
        else
                diags_add(s->d, DIAG_ERROR, s->file, (unsigned) m->line + 1, (unsigned) m->column + 1, NULL, "%s",
                          problem);
}

static int next_event(ystate *s, yaml_event_t *e) {
        if (!yaml_parser_parse(&s->parser, e)) {
                parser_error(s);
                return -EINVAL;
        }
        return 0;
}

/* ---- scalar resolution (PyYAML SafeLoader's implicit resolvers) ---- */

static bool match_word(const char *v, const char *const *words) {
        for (; *words; words++)
                if (streq(v, *words))
                        return true;
        return false;
}

static const char *const null_words[] = { "~", "null", "Null", "NULL", "", NULL };
static const char *const true_words[] = { "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL };
static const char *const false_words[] = { "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL };

/* Copies v without '_' (PyYAML allows them as digit separators). */
static char *strip_underscores(const char *v) {
        char *o = malloc(strlen(v) + 1), *w = o;
        if (!o)
                return NULL;
        for (; *v; v++)
                if (*v != '_')
                        *w++ = *v;
        *w = 0;
        return o;
}

static bool all_in(const char *s, const char *set) {
        return *s && strspn(s, set) == strlen(s);
}

/* Sexagesimal "1:30:00" (each later group 0..59). Returns false when not of that shape. */
static bool parse_sexagesimal(const char *v, bool allow_fraction, double *ret) {
        double acc = 0;
        const char *p = v;
        bool first = true;

        if (!isdigit((unsigned char) *p) || *p == '0')
                return false;
        while (*p) {
                char *end;
                double part;
                if (!first && allow_fraction && !strchr(p, ':')) {
                        part = strtod(p, &end);
                        if (*end || part >= 60)
                                return false;
                } else {
                        unsigned long long n = strtoull(p, &end, 10);
                        if (end == p || (!first && (n > 59 || end - p > 2)))
                                return false;
                        part = (double) n;
                }
                acc = first ? part : acc * 60 + part;
                first = false;
                if (*end == 0)
                        break;
                if (*end != ':')
                        return false;
                p = end + 1;
        }
        *ret = acc;
        return !first && strchr(v, ':');
}

/* Returns 1 and an integer when v is a YAML 1.1 int, 0 when it is not, -ERANGE on overflow. */
static int resolve_int(const char *raw, json_t **ret) {
        _cleanup_free_ char *v = strip_underscores(raw);
        const char *p;
        bool neg = false;
        int base = 10;
        char *end;

        if (!v)
                return -ENOMEM;
        if (strchr(raw, '_') && (raw[0] == '_' || !strpbrk(raw, "0123456789")))
                return 0;
        p = v;
        if (*p == '-' || *p == '+')
                neg = *p++ == '-';
        if (startswith(p, "0b")) {
                base = 2, p += 2;
                if (!all_in(p, "01"))
                        return 0;
        } else if (startswith(p, "0x")) {
                base = 16, p += 2;
                if (!all_in(p, "0123456789abcdefABCDEF"))
                        return 0;
        } else if (p[0] == '0' && p[1]) {
                base = 8, p += 1;
                if (!all_in(p, "01234567"))
                        return 0;
        } else if (!all_in(p, "0123456789")) {
                double d;
                if (!strchr(p, ':') || !parse_sexagesimal(p, false, &d))
                        return 0;
                if (d > 9.2e18)
                        return -ERANGE;
                *ret = json_integer(neg ? -(json_int_t) d : (json_int_t) d);
                return *ret ? 1 : -ENOMEM;
        }
        errno = 0;
        unsigned long long n = strtoull(p, &end, base);
        if (errno == ERANGE || *end || n > (unsigned long long) INT64_MAX + (neg ? 1 : 0))
                return -ERANGE;
        *ret = json_integer(neg ? (json_int_t) (0 - n) : (json_int_t) n);
        return *ret ? 1 : -ENOMEM;
}

/* PyYAML float: needs a '.', optional exponent with a sign; or .inf/.nan; or sexagesimal with a fraction. */
static bool float_shape(const char *v) {
        const char *p = v;
        if (*p == '.') /* PyYAML: a leading-dot float takes no sign */
                return all_in(p + 1, "0123456789_") && isdigit((unsigned char) p[1]);
        if (*p == '-' || *p == '+')
                p++;
        if (!isdigit((unsigned char) *p))
                return false;
        while (isdigit((unsigned char) *p) || *p == '_')
                p++;
        if (*p != '.')
                return false;
        p++;
        while (isdigit((unsigned char) *p) || *p == '_')
                p++;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p != '-' && *p != '+')
                        return false;
                p++;
                if (!isdigit((unsigned char) *p))
                        return false;
                while (isdigit((unsigned char) *p))
                        p++;
        }
        return *p == 0;
}

static int resolve_float(const char *v, json_t **ret) {
        _cleanup_free_ char *clean = NULL;
        const char *p = (*v == '-' || *v == '+') ? v + 1 : v;
        double d;

        if (streq(p, ".inf") || streq(p, ".Inf") || streq(p, ".INF") || streq(v, ".nan") || streq(v, ".NaN") ||
            streq(v, ".NAN"))
                return -EDOM; /* JSON has no infinities or NaN */
        if (strchr(v, ':')) {
                if (!parse_sexagesimal(p, true, &d) || !strchr(v, '.'))
                        return 0;
                if (*v == '-')
                        d = -d;
        } else {
                if (!float_shape(v))
                        return 0;
                clean = strip_underscores(v);
                if (!clean)
                        return -ENOMEM;
                d = strtod(clean, NULL);
                if (!isfinite(d))
                        return -EDOM;
        }
        *ret = json_real(d);
        return *ret ? 1 : -ENOMEM;
}

int yaml_resolve_plain(const char *value, size_t len, json_t **ret) {
        _cleanup_free_ char *v = strndup(value, len);
        int r;

        if (!v)
                return -ENOMEM;
        if (match_word(v, null_words))
                *ret = json_null();
        else if (match_word(v, true_words))
                *ret = json_true();
        else if (match_word(v, false_words))
                *ret = json_false();
        else if (strpbrk(v, "0123456789") && (r = resolve_int(v, ret)) != 0)
                return r < 0 ? r : 0;
        else if (strpbrk(v, "0123456789.") && (r = resolve_float(v, ret)) != 0)
                return r < 0 ? r : 0;
        else
                *ret = json_stringn(value, len);
        return *ret ? 0 : -EINVAL;
}

/* ---- nodes ---- */

static int record_pos(ystate *s, const char *path, const yaml_mark_t *m) {
        if (!s->map)
                return 0;
        return srcmap_set(s->map, path, s->file, (unsigned) m->line + 1, (unsigned) m->column + 1);
}

static int count_node(ystate *s, const yaml_mark_t *m, size_t n) {
        s->nodes += n;
        if (s->nodes > s->max_nodes) {
                diags_add(s->d, DIAG_ERROR, s->file, (unsigned) m->line + 1, (unsigned) m->column + 1, NULL,
                          "document expands to more than %zu nodes (alias bomb?)", s->max_nodes);
                return -EINVAL;
        }
        return 0;
}

/* *ret is written only on success: the caller's tree holds it then. */
static int tagged_scalar(ystate *s, const yaml_event_t *e, json_t **ret) {
        const char *tag = (const char *) e->data.scalar.tag;
        const char *v = (const char *) e->data.scalar.value;
        size_t len = e->data.scalar.length;
        const char *t = startswith(tag, "tag:yaml.org,2002:") ? tag + 18 : NULL;
        _cleanup_json_ json_t *val = NULL;
        int r = 0;

        if (streq(tag, "!") || (t && streq(t, "str")) || (t && streq(t, "timestamp")))
                val = json_stringn(v, len);
        else if (t && (streq(t, "int") || streq(t, "float") || streq(t, "bool") || streq(t, "null"))) {
                r = yaml_resolve_plain(v, len, &val);
                if (r >= 0 && ((streq(t, "int") && !json_is_integer(val)) ||
                               (streq(t, "float") && !json_is_number(val)) ||
                               (streq(t, "bool") && !json_is_boolean(val)) || (streq(t, "null") && !json_is_null(val)))) {
                        mark_error(s, &e->start_mark, "value does not match its tag !!%s", t);
                        return -EINVAL;
                }
        } else if (t && streq(t, "binary")) {
                _cleanup_free_ void *bin = NULL;
                size_t n;
                r = base64_decode(v, len, &bin, &n);
                if (r >= 0 && !memchr(bin, 0, n)) /* NUL is refused here as in every other scalar */
                        val = json_stringn(bin, n);
                if (r < 0 || !val) {
                        mark_error(s, &e->start_mark, "%s",
                                   "!!binary value is not base64 of UTF-8 text without NUL; use write_files' "
                                   "encoding: b64 for binary content");
                        return -EINVAL;
                }
        } else {
                mark_error(s, &e->start_mark, "unsupported YAML tag %s", tag);
                return -EINVAL;
        }
        if (r == -ERANGE || r == -EDOM) {
                mark_error(s, &e->start_mark, "%s", r == -EDOM ? "number not representable in JSON (inf/nan)" : "integer out of 64-bit range");
                return -EINVAL;
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !val) {
                mark_error(s, &e->start_mark, "%s", "scalar is not valid UTF-8");
                return -EINVAL;
        }
        *ret = TAKE_PTR(val);
        return 0;
}

static int scalar_node(ystate *s, const yaml_event_t *e, json_t **ret) {
        const char *v = (const char *) e->data.scalar.value;
        size_t len = e->data.scalar.length;
        int r;

        if (memchr(v, 0, len)) {
                mark_error(s, &e->start_mark, "%s", "NUL character in a scalar");
                return -EINVAL;
        }
        if (e->data.scalar.tag && !streq((const char *) e->data.scalar.tag, "?"))
                return tagged_scalar(s, e, ret);
        if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
                *ret = json_stringn(v, len);
                if (!*ret) {
                        mark_error(s, &e->start_mark, "%s", "scalar is not valid UTF-8");
                        return -EINVAL;
                }
                return 0;
        }
        r = yaml_resolve_plain(v, len, ret);
        if (r == -ERANGE) {
                /* the value is not quoted back: it may be a secret, and diagnostics reach the journal */
                mark_error(s, &e->start_mark, "%s", "integer out of 64-bit range (quote it to keep it a string)");
                return -EINVAL;
        }
        if (r == -EDOM) {
                mark_error(s, &e->start_mark, "%s", "number not representable in JSON (quote it to keep it a string)");
                return -EINVAL;
        }
        if (r < 0) {
                mark_error(s, &e->start_mark, "%s", "scalar is not valid UTF-8");
                return -EINVAL;
        }
        return 0;
}

static int parse_node(ystate *s, yaml_event_t *e, const char *path, json_t **ret, size_t *ret_count);

static int alias_node(ystate *s, const yaml_event_t *e, json_t **ret, size_t *ret_count) {
        json_t *a = json_object_get(s->anchors, (const char *) e->data.alias.anchor);
        if (!a) {
                mark_error(s, &e->start_mark, "unknown alias *%s", (const char *) e->data.alias.anchor);
                return -EINVAL;
        }
        size_t n = (size_t) json_integer_value(json_array_get(a, 1));
        int r = count_node(s, &e->start_mark, n);
        if (r < 0)
                return r;
        *ret = json_deep_copy(json_array_get(a, 0));
        if (!*ret)
                return -ENOMEM;
        *ret_count = n;
        return 0;
}

static int remember_anchor(ystate *s, const yaml_char_t *anchor, json_t *v, size_t count) {
        if (!anchor)
                return 0;
        json_t *entry = json_pack("[OI]", v, (json_int_t) count);
        if (!entry || json_object_set_new(s->anchors, (const char *) anchor, entry) < 0)
                return -ENOMEM;
        return 0;
}

static int sequence_node(ystate *s, const char *path, json_t **ret, size_t *ret_count) {
        _cleanup_json_ json_t *arr = json_array();
        size_t count = 1;

        if (!arr)
                return -ENOMEM;
        for (size_t i = 0;; i++) {
                yaml_event_t e;
                int r = next_event(s, &e);
                if (r < 0)
                        return r;
                if (e.type == YAML_SEQUENCE_END_EVENT) {
                        yaml_event_delete(&e);
                        break;
                }
                _cleanup_free_ char *child = keypath_index(path, i);
                json_t *v = NULL;
                size_t n = 0;
                r = child ? parse_node(s, &e, child, &v, &n) : -ENOMEM;
                yaml_event_delete(&e);
                if (r < 0)
                        return r;
                if (json_array_append_new(arr, v) < 0)
                        return -ENOMEM;
                count += n;
        }
        *ret = TAKE_PTR(arr);
        *ret_count = count;
        return 0;
}

/* The YAML merge key "<<: *base" (or a list of them): keys not set explicitly are taken from the sources. */
static int apply_merge(ystate *s, json_t *obj, json_t *explicit_keys, json_t *src, const yaml_mark_t *m) {
        const char *k;
        json_t *v;

        if (json_is_array(src)) {
                size_t i;
                json_array_foreach(src, i, v) {
                        int r = apply_merge(s, obj, explicit_keys, v, m);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!json_is_object(src)) {
                mark_error(s, m, "%s", "the merge key << needs a mapping or a list of mappings");
                return -EINVAL;
        }
        json_object_foreach(src, k, v) {
                if (json_object_get(explicit_keys, k) || json_object_get(obj, k))
                        continue;
                if (json_object_set(obj, k, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int mapping_key(ystate *s, yaml_event_t *e, char **ret) {
        if (e->type == YAML_SCALAR_EVENT) {
                *ret = strndup((const char *) e->data.scalar.value, e->data.scalar.length);
                return *ret ? 0 : -ENOMEM;
        }
        if (e->type == YAML_ALIAS_EVENT) {
                json_t *a = json_array_get(json_object_get(s->anchors, (const char *) e->data.alias.anchor), 0);
                if (json_is_string(a)) {
                        *ret = strdup(json_string_value(a));
                        return *ret ? 0 : -ENOMEM;
                }
        }
        mark_error(s, &e->start_mark, "%s", "mapping keys must be plain scalars");
        return -EINVAL;
}

static int mapping_node(ystate *s, const char *path, json_t **ret, size_t *ret_count) {
        _cleanup_json_ json_t *obj = json_object(), *merges = json_array(), *explicit_keys = json_object();
        yaml_mark_t merge_mark = { 0 };
        size_t count = 1;

        if (!obj || !merges || !explicit_keys)
                return -ENOMEM;
        for (;;) {
                yaml_event_t ke, ve;
                _cleanup_free_ char *key = NULL, *child = NULL;
                json_t *v = NULL;
                size_t n = 0;
                int r = next_event(s, &ke);
                if (r < 0)
                        return r;
                if (ke.type == YAML_MAPPING_END_EVENT) {
                        yaml_event_delete(&ke);
                        break;
                }
                r = mapping_key(s, &ke, &key);
                yaml_mark_t km = ke.start_mark;
                bool is_merge = r >= 0 && ke.type == YAML_SCALAR_EVENT && streq(key, "<<") &&
                                ke.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                yaml_event_delete(&ke);
                if (r < 0)
                        return r;
                if (!is_merge && json_object_get(explicit_keys, key)) {
                        mark_error(s, &km, "duplicate key '%s'", key);
                        return -EINVAL;
                }
                child = keypath_key(path, key);
                if (!child)
                        return -ENOMEM;
                r = next_event(s, &ve);
                if (r < 0)
                        return r;
                r = parse_node(s, &ve, child, &v, &n);
                yaml_event_delete(&ve);
                if (r < 0)
                        return r;
                count += n;
                if (is_merge) {
                        merge_mark = km;
                        if (json_array_append_new(merges, v) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (json_object_set_new(explicit_keys, key, json_true()) < 0 || json_object_set_new(obj, key, v) < 0)
                        return -ENOMEM;
                if (s->map && srcmap_set_key(s->map, child, (unsigned) km.line + 1, (unsigned) km.column + 1) < 0)
                        return -ENOMEM;
        }
        if (json_array_size(merges) > 0) {
                int r = apply_merge(s, obj, explicit_keys, merges, &merge_mark);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(obj);
        *ret_count = count;
        return 0;
}

/* e is the node's first event; for collections parse_node consumes through the end event. */
static int parse_node(ystate *s, yaml_event_t *e, const char *path, json_t **ret, size_t *ret_count) {
        const yaml_char_t *anchor = NULL;
        size_t count = 1;
        int r;

        if (s->depth >= s->max_depth) {
                diags_add(s->d, DIAG_ERROR, s->file, (unsigned) e->start_mark.line + 1,
                          (unsigned) e->start_mark.column + 1, NULL, "nesting deeper than %u levels", s->max_depth);
                return -EINVAL;
        }
        r = record_pos(s, path, &e->start_mark);
        if (r < 0)
                return r;

        s->depth++;
        switch (e->type) {
        case YAML_SCALAR_EVENT:
                anchor = e->data.scalar.anchor;
                r = count_node(s, &e->start_mark, 1);
                if (r >= 0)
                        r = scalar_node(s, e, ret);
                break;
        case YAML_ALIAS_EVENT:
                r = alias_node(s, e, ret, &count);
                break;
        case YAML_SEQUENCE_START_EVENT:
                anchor = e->data.sequence_start.anchor;
                r = count_node(s, &e->start_mark, 1);
                if (r >= 0)
                        r = sequence_node(s, path, ret, &count);
                break;
        case YAML_MAPPING_START_EVENT:
                anchor = e->data.mapping_start.anchor;
                r = count_node(s, &e->start_mark, 1);
                if (r >= 0)
                        r = mapping_node(s, path, ret, &count);
                break;
        default:
                mark_error(s, &e->start_mark, "%s", "unexpected YAML event");
                r = -EINVAL;
        }
        s->depth--;
        if (r < 0)
                return r;
        r = remember_anchor(s, anchor, *ret, count);
        if (r < 0) {
                json_decref(*ret);
                return r;
        }
        *ret_count = count;
        return 0;
}

static int parse_stream(ystate *s, json_t **ret) {
        yaml_event_t e;
        json_t *doc = NULL;
        size_t n;
        int r;

        for (;;) {
                r = next_event(s, &e);
                if (r < 0)
                        goto fail;
                yaml_event_type_t t = e.type;
                if (t == YAML_STREAM_END_EVENT) {
                        yaml_event_delete(&e);
                        break;
                }
                if (t == YAML_DOCUMENT_START_EVENT && doc) {
                        mark_error(s, &e.start_mark, "%s", "more than one YAML document (only one is allowed)");
                        yaml_event_delete(&e);
                        r = -EINVAL;
                        goto fail;
                }
                if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT ||
                    t == YAML_ALIAS_EVENT) {
                        r = parse_node(s, &e, "", &doc, &n);
                        yaml_event_delete(&e);
                        if (r < 0)
                                goto fail;
                        continue;
                }
                yaml_event_delete(&e);
        }
        *ret = doc ? doc : json_null();
        return 0;
fail:
        json_decref(doc);
        return r;
}

int yaml_to_json(const char *text, size_t len, const char *file, const yaml_limits *limits, json_t **ret,
                 srcmap *ret_map, diags *d) {
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        ystate s = {
                .file = file,
                .text = text,
                .len = len,
                .d = d,
                .map = ret_map ? &map : NULL,
                .max_nodes = limits && limits->max_nodes ? limits->max_nodes : DEFAULT_MAX_NODES,
                .max_depth = limits && limits->max_depth ? limits->max_depth : DEFAULT_MAX_DEPTH,
        };
        json_t *doc = NULL;
        int r;

        if (!yaml_parser_initialize(&s.parser))
                return -ENOMEM;
        s.anchors = json_object();
        if (!s.anchors) {
                yaml_parser_delete(&s.parser);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&s.parser, (const unsigned char *) text, len);
        yaml_parser_set_encoding(&s.parser, YAML_UTF8_ENCODING);
        r = parse_stream(&s, &doc);
        yaml_parser_delete(&s.parser);
        json_decref(s.anchors);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        *ret = doc;
        if (ret_map) {
                srcmap_clear(ret_map);
                *ret_map = map;
                map = SRCMAP_INIT;
        }
        return 0;
}
