/* template-methods.c — the Python methods and globals templates may call.
 *
 * Jinja2 lets a template call any Python method; real templates use a
 * handful: `d.items()` (the documented way to loop over a dict),
 * `d.get(k, default)`, `s.split(',')`, `s.startswith('x')`, `s.strip()`,
 * `range(n)`.  Those are implemented with Python's exact semantics; any
 * other method of str/list/dict is refused with a clear error rather than
 * half-emulated, and an attribute access that names a method without calling
 * it is an error too (Jinja would print "<built-in method ...>").
 *
 * Results Python gives as views or iterators (dict.items(), range()) are
 * plain lists here; they print differently (docs/templates.md).
 */
#include "template-internal.h"

static const char *const dict_methods[] = { "clear", "copy", "fromkeys", "get", "items", "keys",
                                            "pop", "popitem", "setdefault", "update", "values", NULL };
static const char *const list_methods[] = { "append", "clear", "copy", "count", "extend", "index",
                                            "insert", "pop", "remove", "reverse", "sort", NULL };
static const char *const str_methods[] = {
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
        "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
        "lstrip", "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
        "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
        "title", "translate", "upper", "zfill", NULL
};

static bool in_list(const char *const *l, const char *name) {
        for (; *l; l++)
                if (streq(*l, name))
                        return true;
        return false;
}

bool tmpl_has_method(json_t *obj, const char *name) {
        if (json_is_object(obj))
                return in_list(dict_methods, name);
        if (json_is_array(obj))
                return in_list(list_methods, name);
        if (json_is_string(obj))
                return in_list(str_methods, name);
        return false;
}

/* ---------------------------------------------------------------- strings */

static bool in_chars(json_t *chars, uint32_t cp) {
        const char *s = jstr(chars);
        size_t len = jlen(chars);
        uint32_t x;

        for (size_t i = 0; i < len;) {
                i += tmpl_utf8_next(s + i, len - i, &x);
                if (x == cp)
                        return true;
        }
        return false;
}

static bool strip_cp(json_t *chars, uint32_t cp) {
        return chars ? in_chars(chars, cp) : tmpl_uni_isspace(cp);
}

int tmpl_strip(tctx *c, const tnode *n, json_t *s, json_t *chars, bool left, bool right, tval *ret) {
        const char *str = jstr(s);
        size_t b = 0, e = jlen(s);
        uint32_t cp;

        if (chars && !json_is_string(chars))
                return tctx_error(c, n, "strip arg must be None or str");
        c->work += e / 64 + (chars ? e / 64 * jlen(chars) : 0);
        while (left && b < e) {
                size_t k = tmpl_utf8_next(str + b, e - b, &cp);
                if (!strip_cp(chars, cp))
                        break;
                b += k;
        }
        while (right && e > b) {
                size_t k = tmpl_utf8_prev(str + b, e - b);
                tmpl_utf8_next(str + e - k, k, &cp);
                if (!strip_cp(chars, cp))
                        break;
                e -= k;
        }
        return tctx_string(c, n, str + b, e - b, ret);
}

static int replace_empty(tctx *c, const tnode *n, json_t *s, json_t *new, int64_t count, tbuf *b) {
        const char *str = jstr(s);
        size_t len = jlen(s);
        uint32_t cp;
        int r;

        for (size_t i = 0;;) {
                if (count != 0 && (r = tbuf_put(b, jstr(new), jlen(new))) < 0)
                        return r;
                if (count > 0)
                        count--;
                if (i >= len)
                        return 0;
                size_t k = tmpl_utf8_next(str + i, len - i, &cp);
                if ((r = tbuf_put(b, str + i, k)) < 0 || (r = tctx_charge(c, n, 1)) < 0)
                        return r;
                i += k;
        }
}

/* Python's str.replace(old, new, count); count < 0: all. */
int tmpl_replace(tctx *c, const tnode *n, json_t *s, json_t *old, json_t *new, int64_t count, tval *ret) {
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        const char *str = jstr(s), *o = jstr(old);
        size_t len = jlen(s), olen = jlen(old), i = 0;
        int r;

        c->work += len / 64;
        if (olen == 0)
                r = replace_empty(c, n, s, new, count, &b);
        else {
                r = 0;
                while (r >= 0 && count != 0) {
                        const char *hit = memmem(str + i, len - i, o, olen);
                        if (!hit)
                                break;
                        r = tbuf_put(&b, str + i, hit - (str + i));
                        if (r >= 0)
                                r = tbuf_put(&b, jstr(new), jlen(new));
                        i = hit - str + olen;
                        if (count > 0)
                                count--;
                }
                if (r >= 0)
                        r = tbuf_put(&b, str + i, len - i);
        }
        if (r == -E2BIG)
                return tctx_error(c, n, "string value exceeds the output limit of %zu bytes", c->max_output);
        if (r < 0)
                return r;
        return tctx_string(c, n, b.data, b.len, ret);
}

/* --------------------------------------------------------------- arguments */

/* Call arguments evaluated and bound to params (like the filter tables). */
typedef struct call_args {
        tval v[TMPL_MAX_PARAMS];
        size_t n; /* how many were given */
} call_args;

static void call_args_done(call_args *a) {
        for (size_t i = 0; i < TMPL_MAX_PARAMS; i++)
                tval_done(&a->v[i]);
}

static int bind_call(tctx *c, const tnode *n, const char *what, const char *const *params, size_t min,
                     call_args *a) {
        size_t np = 0;
        int r;

        while (np < TMPL_MAX_PARAMS && params[np])
                np++;
        if (n->list.n > np || n->list.n + n->kw.n < min)
                return tctx_error(c, n, "%s takes %zu to %zu arguments (%zu given)", what, min, np, n->list.n + n->kw.n);
        for (size_t i = 0; i < n->list.n; i++)
                if ((r = tmpl_eval_defined(c, n->list.v[i], &a->v[i])) < 0)
                        return r;
        for (size_t k = 0; k < n->kw.n; k++) {
                const tnode *kw = n->kw.v[k];
                size_t i = 0;
                while (i < np && !streq(params[i], kw->name))
                        i++;
                if (i == np || a->v[i].j)
                        return tctx_error(c, kw, "%s got an unexpected keyword argument '%s'", what, kw->name);
                if ((r = tmpl_eval_defined(c, kw->a, &a->v[i])) < 0)
                        return r;
        }
        a->n = n->list.n + n->kw.n;
        return 0;
}

static int need_string(tctx *c, const tnode *n, const char *what, json_t *v) {
        if (v && !json_is_string(v))
                return tctx_error(c, n, "%s: expected a string, got '%s'", what, tmpl_type_name(c, v));
        return 0;
}

/* ------------------------------------------------------------ str methods */

static int str_split_ws(tctx *c, const tnode *n, json_t *s, int64_t maxsplit, json_t *out) {
        const char *str = jstr(s);
        size_t len = jlen(s), i = 0;

        for (;;) {
                i += tmpl_uni_lspace(str + i, len - i);
                if (i >= len)
                        return 0;
                size_t e = i;
                if (maxsplit == 0)
                        e = len - tmpl_uni_rspace(str + i, len - i);
                else
                        while (e < len) {
                                uint32_t cp;
                                size_t k = tmpl_utf8_next(str + e, len - e, &cp);
                                if (tmpl_uni_isspace(cp))
                                        break;
                                e += k;
                        }
                if (json_array_append_new(out, json_stringn_nocheck(str + i, e - i)) < 0 || tctx_charge(c, n, 1) < 0)
                        return -ENOMEM;
                if (maxsplit > 0)
                        maxsplit--;
                i = e;
        }
}

static int str_split_sep(tctx *c, const tnode *n, json_t *s, json_t *sep, int64_t maxsplit, json_t *out) {
        const char *str = jstr(s);
        size_t len = jlen(s), i = 0;

        if (jlen(sep) == 0)
                return tctx_error(c, n, "empty separator");
        for (;;) {
                const char *hit = maxsplit != 0 ? memmem(str + i, len - i, jstr(sep), jlen(sep)) : NULL;
                size_t e = hit ? (size_t) (hit - str) : len;
                if (json_array_append_new(out, json_stringn_nocheck(str + i, e - i)) < 0 || tctx_charge(c, n, 1) < 0)
                        return -ENOMEM;
                if (!hit)
                        return 0;
                i = e + jlen(sep);
                if (maxsplit > 0)
                        maxsplit--;
        }
}

static int m_split(tctx *c, const tnode *n, json_t *s, call_args *a, tval *ret) {
        _cleanup_json_ json_t *out = json_array();
        json_t *sep = a->v[0].j && !json_is_null(a->v[0].j) ? a->v[0].j : NULL;
        int64_t maxsplit = -1;
        int r;

        if (!out)
                return -ENOMEM;
        c->work += jlen(s) / 64;
        if ((r = need_string(c, n, "split", sep)) < 0)
                return r;
        if (a->v[1].j) {
                if (!tmpl_is_intlike(a->v[1].j))
                        return tctx_error(c, n, "split: maxsplit must be an integer");
                maxsplit = tmpl_int_value(a->v[1].j);
        }
        r = sep ? str_split_sep(c, n, s, sep, maxsplit, out) : str_split_ws(c, n, s, maxsplit, out);
        if (r < 0)
                return r;
        return tval_set(ret, TAKE_PTR(out));
}

static int m_affix(tctx *c, const tnode *n, json_t *s, json_t *x, bool start, bool *ret) {
        if (json_is_array(x) && tmpl_is_tuple(c, x)) {
                size_t i;
                json_t *e;
                *ret = false;
                json_array_foreach(x, i, e) {
                        int r = m_affix(c, n, s, e, start, ret);
                        if (r < 0 || *ret)
                                return r;
                }
                return 0;
        }
        if (!json_is_string(x))
                return tctx_error(c, n, "%s first arg must be str or a tuple of str, not %s",
                                  start ? "startswith" : "endswith", tmpl_type_name(c, x));
        size_t sl = jlen(s), xl = jlen(x);
        *ret = xl <= sl && memcmp(start ? jstr(s) : jstr(s) + sl - xl, jstr(x), xl) == 0;
        return 0;
}

static int m_join(tctx *c, const tnode *n, json_t *sep, json_t *items, tval *ret) {
        _cleanup_json_ json_t *list = NULL;
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        size_t i;
        json_t *e;
        int r;

        if ((r = tmpl_iterate(c, n, items, &list)) < 0)
                return r;
        json_array_foreach(list, i, e) {
                if (!json_is_string(e))
                        return tctx_error(c, n, "sequence item %zu: expected str instance, %s found", i,
                                          tmpl_type_name(c, e));
                if ((i > 0 && (r = tbuf_put(&b, jstr(sep), jlen(sep))) < 0) || (r = tbuf_put(&b, jstr(e), jlen(e))) < 0)
                        return r == -E2BIG ? tctx_error(c, n, "string value exceeds the output limit") : r;
        }
        return tctx_string(c, n, b.data, b.len, ret);
}

static int m_case(tctx *c, const tnode *n, json_t *s, bool upper, tval *ret) {
        _cleanup_tbuf_ tbuf b = {};
        int r = upper ? tmpl_uni_upper(&b, jstr(s), jlen(s)) : tmpl_uni_lower(&b, jstr(s), jlen(s), 0);
        if (r < 0)
                return r;
        return tctx_string(c, n, b.data, b.len, ret);
}

static int call_str(tctx *c, const tnode *n, json_t *s, const char *name, tval *ret) {
        static const char *const p_none[] = { NULL }, *const p_chars[] = { "chars", NULL },
                                 *const p_one[] = { "x", NULL }, *const p_split[] = { "sep", "maxsplit", NULL },
                                 *const p_replace[] = { "old", "new", "count", NULL };
        _cleanup_(call_args_done) call_args a = {};
        bool b;
        int r;

        if (streq(name, "upper") || streq(name, "lower")) {
                if ((r = bind_call(c, n, name, p_none, 0, &a)) < 0)
                        return r;
                return m_case(c, n, s, name[0] == 'u', ret);
        }
        if (streq(name, "strip") || streq(name, "lstrip") || streq(name, "rstrip")) {
                if ((r = bind_call(c, n, name, p_chars, 0, &a)) < 0)
                        return r;
                json_t *chars = a.v[0].j && !json_is_null(a.v[0].j) ? a.v[0].j : NULL;
                return tmpl_strip(c, n, s, chars, name[0] != 'r', name[0] != 'l', ret);
        }
        if (streq(name, "startswith") || streq(name, "endswith")) {
                if ((r = bind_call(c, n, name, p_one, 1, &a)) < 0 || (r = m_affix(c, n, s, a.v[0].j, name[0] == 's', &b)) < 0)
                        return r;
                return tval_set(ret, json_boolean(b));
        }
        if (streq(name, "split")) {
                if ((r = bind_call(c, n, name, p_split, 0, &a)) < 0)
                        return r;
                return m_split(c, n, s, &a, ret);
        }
        if (streq(name, "replace")) {
                if ((r = bind_call(c, n, name, p_replace, 2, &a)) < 0 || (r = need_string(c, n, name, a.v[0].j)) < 0 ||
                    (r = need_string(c, n, name, a.v[1].j)) < 0)
                        return r;
                if (a.v[2].j && !tmpl_is_intlike(a.v[2].j))
                        return tctx_error(c, n, "replace: count must be an integer");
                return tmpl_replace(c, n, s, a.v[0].j, a.v[1].j, a.v[2].j ? tmpl_int_value(a.v[2].j) : -1, ret);
        }
        if (streq(name, "join")) {
                if ((r = bind_call(c, n, name, p_one, 1, &a)) < 0)
                        return r;
                return m_join(c, n, s, a.v[0].j, ret);
        }
        return 1; /* not ours */
}

/* ----------------------------------------------------------- dict methods */

static int m_items(tctx *c, const tnode *n, json_t *d, int which, tval *ret);

int tmpl_dict_items(tctx *c, const tnode *n, json_t *d, tval *ret) {
        return m_items(c, n, d, 0, ret);
}

static int m_items(tctx *c, const tnode *n, json_t *d, int which, tval *ret) {
        _cleanup_json_ json_t *out = json_array();
        const char *k;
        json_t *v;
        int r;

        if (!out)
                return -ENOMEM;
        if ((r = tctx_charge(c, n, json_object_size(d))) < 0)
                return r;
        json_object_foreach(d, k, v) {
                json_t *key = json_stringn_nocheck(k, json_object_iter_key_len(json_object_key_to_iter(k)));
                json_t *e = which == 0 ? json_pack("[oO]", key, v) : which == 1 ? key : json_incref(v);
                if (which == 2)
                        json_decref(key);
                if (!e || json_array_append_new(out, e) < 0 || (which == 0 && tmpl_mark_tuple(c, e) < 0))
                        return -ENOMEM;
        }
        return tval_set(ret, TAKE_PTR(out));
}

static int call_dict(tctx *c, const tnode *n, json_t *d, const char *name, tval *ret) {
        static const char *const p_none[] = { NULL }, *const p_get[] = { "key", "default", NULL };
        _cleanup_(call_args_done) call_args a = {};
        int r;

        if (streq(name, "items") || streq(name, "keys") || streq(name, "values")) {
                if ((r = bind_call(c, n, name, p_none, 0, &a)) < 0)
                        return r;
                return m_items(c, n, d, name[0] == 'i' ? 0 : name[0] == 'k' ? 1 : 2, ret);
        }
        if (streq(name, "get")) {
                if ((r = bind_call(c, n, name, p_get, 1, &a)) < 0)
                        return r;
                json_t *key = a.v[0].j, *v = NULL;
                if (json_is_array(key) || json_is_object(key))
                        return tctx_error(c, n, "unhashable type: '%s'", tmpl_type_name(c, key));
                if (json_is_string(key))
                        v = json_object_getn(d, jstr(key), jlen(key));
                if (!v)
                        v = a.v[1].j ? a.v[1].j : json_null();
                return tval_set(ret, json_incref(v));
        }
        return 1;
}

/* ----------------------------------------------------------------- globals */

static int g_range(tctx *c, const tnode *n, tval *ret) {
        static const char *const params[] = { "a", "b", "step", NULL };
        _cleanup_(call_args_done) call_args a = {};
        _cleanup_json_ json_t *out = json_array();
        int64_t start = 0, stop, step = 1, count;
        int r;

        if (!out)
                return -ENOMEM;
        if (n->kw.n > 0)
                return tctx_error(c, n, "range() takes no keyword arguments");
        if ((r = bind_call(c, n, "range", params, 1, &a)) < 0)
                return r;
        for (size_t i = 0; i < a.n; i++)
                if (!tmpl_is_intlike(a.v[i].j))
                        return tctx_error(c, n, "'%s' object cannot be interpreted as an integer",
                                          tmpl_type_name(c, a.v[i].j));
        stop = tmpl_int_value(a.v[0].j);
        if (a.n >= 2) {
                start = stop;
                stop = tmpl_int_value(a.v[1].j);
        }
        if (a.n == 3 && (step = tmpl_int_value(a.v[2].j)) == 0)
                return tctx_error(c, n, "range() arg 3 must not be zero");
        count = step > 0 ? (stop > start ? (int64_t) (((uint64_t) stop - start - 1) / step + 1) : 0) :
                           (start > stop ? (int64_t) (((uint64_t) start - stop - 1) / (uint64_t) (-step) + 1) : 0);
        if (count < 0 || (uint64_t) count > c->max_work)
                return tctx_charge(c, n, c->max_work + 1);
        if ((r = tctx_charge(c, n, count)) < 0)
                return r;
        for (int64_t i = 0, v = start; i < count; i++, v += step)
                if (json_array_append_new(out, json_integer(v)) < 0)
                        return -ENOMEM;
        return tval_set(ret, TAKE_PTR(out));
}

static int g_dict(tctx *c, const tnode *n, tval *ret) {
        _cleanup_json_ json_t *o = json_object();
        int r;

        if (!o)
                return -ENOMEM;
        if (n->list.n > 0)
                return tctx_error(c, n, "kiln's dict() takes keyword arguments only");
        for (size_t k = 0; k < n->kw.n; k++) {
                _cleanup_tval_ tval v = {};
                if ((r = tmpl_eval_defined(c, n->kw.v[k]->a, &v)) < 0)
                        return r;
                if (json_object_set(o, n->kw.v[k]->name, v.j) < 0)
                        return -ENOMEM;
        }
        return tval_set(ret, TAKE_PTR(o));
}

/* loop.cycle(a, b, ...): the argument at loop.index0 modulo their count.
 * `loop` is a dict here, recognised by its integer index0. */
static int loop_cycle(tctx *c, const tnode *n, json_t *loop, tval *ret) {
        _cleanup_tval_ tval v = {};
        json_t *i0 = json_object_get(loop, "index0");
        int r;

        if (!json_is_integer(i0) || json_object_get(loop, "cycle"))
                return 1;
        if (n->kw.n > 0)
                return tctx_error(c, n, "loop.cycle() takes no keyword arguments");
        if (n->list.n == 0)
                return tctx_error(c, n, "no items for cycling given");
        if ((r = tmpl_eval_defined(c, n->list.v[json_integer_value(i0) % n->list.n], &v)) < 0)
                return r;
        *ret = tval_take(&v);
        return 0;
}

static int call_global(tctx *c, const tnode *n, tval *ret) {
        const char *name = n->a->name;
        _cleanup_tval_ tval v = {};
        int r;

        if ((r = tmpl_eval(c, n->a, &v)) < 0)
                return r;
        if (v.j)
                return tctx_error(c, n, "'%s' object is not callable", tmpl_type_name(c, v.j));
        if (streq(name, "range"))
                return g_range(c, n, ret);
        if (streq(name, "dict"))
                return g_dict(c, n, ret);
        if (streq(name, "namespace") || streq(name, "cycler") || streq(name, "joiner") || streq(name, "lipsum"))
                return tctx_error(c, n, "global '%s' is not supported by kiln", name);
        return tval_require(c, &v);
}

int tmpl_eval_call(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval obj = {}, callee = {};
        int r = 1;

        if (n->a->kind == TN_NAME)
                return call_global(c, n, ret);
        if (n->a->kind == TN_GETATTR) {
                const char *name = n->a->name;
                if ((r = tmpl_eval_defined(c, n->a->a, &obj)) < 0)
                        return r;
                if (json_is_string(obj.j))
                        r = call_str(c, n, obj.j, name, ret);
                else if (json_is_object(obj.j) && tmpl_has_method(obj.j, name))
                        r = call_dict(c, n, obj.j, name, ret);
                else if (json_is_object(obj.j) && streq(name, "cycle"))
                        r = loop_cycle(c, n, obj.j, ret);
                if (r <= 0)
                        return r;
                if (tmpl_has_method(obj.j, name))
                        return tctx_error(c, n->a, "method '%s' of '%s' is not supported by kiln", name,
                                          tmpl_type_name(c, obj.j));
        }
        if ((r = tmpl_eval_defined(c, n->a, &callee)) < 0)
                return r;
        return tctx_error(c, n, "'%s' object is not callable", tmpl_type_name(c, callee.j));
}
