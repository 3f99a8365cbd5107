/* template-value.c — Python's view of jansson values: str(), repr(), ==, <, truth, tojson.
 *
 * Jinja2 prints values with Python's str(), so byte-identical output means
 * reproducing CPython's formatting: None/True/False, the shortest repr of a
 * float ("1.0", "1e+20", "0.30000000000000004"), lists and dicts printed
 * with repr() of their items (quotes chosen like Python, escapes of
 * non-printable characters), tuples in parentheses.  JSON has no tuples, so
 * arrays the engine builds as tuples (`(a, b)`, `d.items()`, `dictsort`) are
 * remembered in a per-render pointer set that holds a reference to each
 * (so the address can't be reused while it is marked).
 *
 * Comparisons follow Python too: 1 == 1.0 == True, a list never equals a
 * tuple, ordering between unrelated types is a TypeError reported at the
 * operator.  tojson is Jinja's htmlsafe_json_dumps: json.dumps(sort_keys=True)
 * with ASCII escapes and <, >, &, ' written as \u003c and friends.
 */
#include <math.h>
#include <stdio.h>

#include "template-internal.h"

void tval_done(tval *v) {
        json_decref(v->j);
        free(v->why);
        *v = (tval){};
}

int tval_set(tval *v, json_t *j) {
        tval_done(v);
        if (!j)
                return -ENOMEM;
        v->j = j;
        return 0;
}

/* ------------------------------------------------------------ tuple marks */

static size_t ptr_hash(const void *p, size_t cap) {
        uint64_t h = (uint64_t) (uintptr_t) p;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return (size_t) h & (cap - 1);
}

static bool ptrset_has(const tptrset *s, const json_t *v) {
        if (s->cap == 0)
                return false;
        for (size_t i = ptr_hash(v, s->cap);; i = (i + 1) & (s->cap - 1)) {
                if (!s->v[i])
                        return false;
                if (s->v[i] == v)
                        return true;
        }
}

static int ptrset_grow(tptrset *s) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        json_t **v = calloc(cap, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
                if (!s->v[i])
                        continue;
                size_t k = ptr_hash(s->v[i], cap);
                while (v[k])
                        k = (k + 1) & (cap - 1);
                v[k] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
        return 0;
}

int tmpl_mark_tuple(tctx *c, json_t *v) {
        tptrset *s = &c->tuples;
        if (ptrset_has(s, v))
                return 0;
        if ((s->n + 1) * 2 > s->cap && ptrset_grow(s) < 0)
                return -ENOMEM;
        size_t k = ptr_hash(v, s->cap);
        while (s->v[k])
                k = (k + 1) & (s->cap - 1);
        s->v[k] = json_incref(v);
        s->n++;
        return 0;
}

bool tmpl_is_tuple(tctx *c, json_t *v) {
        return json_is_array(v) && ptrset_has(&c->tuples, v);
}

void tptrset_done(tptrset *s) {
        for (size_t i = 0; i < s->cap; i++)
                json_decref(s->v[i]);
        free(s->v);
        *s = (tptrset){};
}

/* ----------------------------------------------------------------- types */

const char *tmpl_type_name(tctx *c, json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "dict";
        case JSON_ARRAY:
                return tmpl_is_tuple(c, v) ? "tuple" : "list";
        case JSON_STRING:
                return "str";
        case JSON_INTEGER:
                return "int";
        case JSON_REAL:
                return "float";
        case JSON_TRUE:
        case JSON_FALSE:
                return "bool";
        case JSON_NULL:
                return "NoneType";
        }
        return "object";
}

bool tmpl_is_intlike(json_t *v) {
        return json_is_integer(v) || json_is_boolean(v);
}

bool tmpl_is_number(json_t *v) {
        return json_is_number(v) || json_is_boolean(v);
}

int64_t tmpl_int_value(json_t *v) {
        return json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
}

double tmpl_num_value(json_t *v) {
        return json_is_real(v) ? json_real_value(v) : (double) tmpl_int_value(v);
}

/* --------------------------------------------------------------- str/repr */

/* Shortest digits that read back as d (what Python's repr() picks): the
 * correctly rounded %.Ne with the smallest N that round-trips.  Writes the
 * digits without trailing zeros and returns the decimal exponent. */
static int shortest_digits(double d, char digits[static 24], int *ret_nd) {
        char tmp[40];
        int nd = 0;

        for (int prec = 0; prec < 17; prec++) {
                snprintf(tmp, sizeof tmp, "%.*e", prec, fabs(d));
                if (strtod(tmp, NULL) == fabs(d))
                        break;
        }
        const char *s = tmp;
        for (; *s != 'e'; s++)
                if (*s != '.')
                        digits[nd++] = *s;
        while (nd > 1 && digits[nd - 1] == '0')
                nd--;
        *ret_nd = nd;
        return atoi(s + 1);
}

/* d.ddde+XX, as Python writes exponents (at least two digits). */
static void format_exponent(char *w, const char *digits, int nd, int exp) {
        *w++ = digits[0];
        if (nd > 1) {
                *w++ = '.';
                memcpy(w, digits + 1, nd - 1);
                w += nd - 1;
        }
        snprintf(w, 8, "e%c%02d", exp < 0 ? '-' : '+', abs(exp) % 1000);
}

/* Digits with the decimal point decpt places in, always with a fraction. */
static void format_fixed(char *w, const char *digits, int nd, int decpt) {
        if (decpt <= 0) {
                w += sprintf(w, "0.");
                for (int i = 0; i < -decpt; i++)
                        *w++ = '0';
                memcpy(w, digits, nd);
                w += nd;
        } else if (decpt >= nd) {
                memcpy(w, digits, nd);
                w += nd;
                for (int i = nd; i < decpt; i++)
                        *w++ = '0';
                w += sprintf(w, ".0");
        } else {
                memcpy(w, digits, decpt);
                w += decpt;
                *w++ = '.';
                memcpy(w, digits + decpt, nd - decpt);
                w += nd - decpt;
        }
        *w = 0;
}

/* Python's float.__repr__ (and str()). */
void tmpl_float_repr(double d, char buf[static 32]) {
        char digits[24];
        int nd, exp;

        if (isnan(d) || isinf(d)) {
                strcpy(buf, isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
                return;
        }
        if (d == 0) {
                strcpy(buf, signbit(d) ? "-0.0" : "0.0");
                return;
        }
        exp = shortest_digits(d, digits, &nd);
        if (d < 0)
                *buf++ = '-';
        if (exp + 1 > 16 || exp + 1 < -3)
                format_exponent(buf, digits, nd, exp);
        else
                format_fixed(buf, digits, nd, exp + 1);
}

static int repr_cp(tbuf *out, uint32_t cp, char quote) {
        if (cp == (uint32_t) quote || cp == '\\')
                return tbuf_printf(out, "\\%c", (char) cp);
        if (cp == '\t')
                return tbuf_puts(out, "\\t");
        if (cp == '\n')
                return tbuf_puts(out, "\\n");
        if (cp == '\r')
                return tbuf_puts(out, "\\r");
        if (cp < 0x20 || cp == 0x7F)
                return tbuf_printf(out, "\\x%02x", cp);
        if (cp < 0x7F || tmpl_uni_isprintable(cp))
                return tbuf_put_cp(out, cp);
        if (cp <= 0xFF)
                return tbuf_printf(out, "\\x%02x", cp);
        if (cp <= 0xFFFF)
                return tbuf_printf(out, "\\u%04x", cp);
        return tbuf_printf(out, "\\U%08x", cp);
}

/* CPython's unicode_repr(). */
static int repr_string(tbuf *out, const char *s, size_t len) {
        char quote = memchr(s, '\'', len) && !memchr(s, '"', len) ? '"' : '\'';
        uint32_t cp;
        int r;

        if ((r = tbuf_putc(out, quote)) < 0)
                return r;
        for (size_t i = 0; i < len;) {
                i += tmpl_utf8_next(s + i, len - i, &cp);
                if ((r = repr_cp(out, cp, quote)) < 0)
                        return r;
        }
        return tbuf_putc(out, quote);
}

static int repr_array(tctx *c, tbuf *out, json_t *v) {
        bool tuple = tmpl_is_tuple(c, v);
        size_t i;
        json_t *e;
        int r;

        if ((r = tbuf_putc(out, tuple ? '(' : '[')) < 0)
                return r;
        json_array_foreach(v, i, e) {
                if ((i > 0 && (r = tbuf_puts(out, ", ")) < 0) || (r = tmpl_repr(c, out, e)) < 0)
                        return r;
        }
        if (tuple && json_array_size(v) == 1 && (r = tbuf_putc(out, ',')) < 0)
                return r;
        return tbuf_putc(out, tuple ? ')' : ']');
}

static int repr_object(tctx *c, tbuf *out, json_t *v) {
        const char *k;
        json_t *e;
        bool first = true;
        int r;

        if ((r = tbuf_putc(out, '{')) < 0)
                return r;
        json_object_foreach(v, k, e) {
                if ((!first && (r = tbuf_puts(out, ", ")) < 0) ||
                    (r = repr_string(out, k, json_object_iter_key_len(json_object_key_to_iter(k)))) < 0 ||
                    (r = tbuf_puts(out, ": ")) < 0 || (r = tmpl_repr(c, out, e)) < 0)
                        return r;
                first = false;
        }
        return tbuf_putc(out, '}');
}

int tmpl_repr(tctx *c, tbuf *out, json_t *v) {
        if (json_is_string(v))
                return repr_string(out, jstr(v), jlen(v));
        return tmpl_str(c, out, v);
}

int tmpl_str(tctx *c, tbuf *out, json_t *v) {
        char buf[32];

        c->work += 1 + (json_is_string(v) ? jlen(v) / 64 : 0);
        switch (json_typeof(v)) {
        case JSON_STRING:
                return tbuf_put(out, jstr(v), jlen(v));
        case JSON_INTEGER:
                return tbuf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        case JSON_REAL:
                tmpl_float_repr(json_real_value(v), buf);
                return tbuf_puts(out, buf);
        case JSON_TRUE:
                return tbuf_puts(out, "True");
        case JSON_FALSE:
                return tbuf_puts(out, "False");
        case JSON_NULL:
                return tbuf_puts(out, "None");
        case JSON_ARRAY:
                return repr_array(c, out, v);
        case JSON_OBJECT:
                return repr_object(c, out, v);
        }
        return -EINVAL;
}

/* ------------------------------------------------------------ comparisons */

bool tmpl_truthy(json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING:
                return jlen(v) > 0;
        case JSON_INTEGER:
                return json_integer_value(v) != 0;
        case JSON_REAL:
                return json_real_value(v) != 0;
        case JSON_TRUE:
                return true;
        case JSON_ARRAY:
                return json_array_size(v) > 0;
        case JSON_OBJECT:
                return json_object_size(v) > 0;
        default:
                return false;
        }
}

/* Exact comparison of an int with a double, like Python's: -1, 0, 1, or 2 (NaN).
 * (Converting either side would round: 2**53 + 1 != 2.0**53.) */
static int cmp_int_double(int64_t i, double d) {
        if (isnan(d))
                return 2;
        if (d >= 9223372036854775808.0)
                return -1;
        if (d < -9223372036854775808.0)
                return 1;
        double t = trunc(d);
        int64_t ti = (int64_t) t;
        if (i != ti)
                return i < ti ? -1 : 1;
        return d > t ? -1 : d < t ? 1 : 0;
}

/* Numbers: -1, 0, 1, or 2 when unordered (NaN). */
static int cmp_numbers(json_t *a, json_t *b) {
        if (tmpl_is_intlike(a) && tmpl_is_intlike(b)) {
                int64_t x = tmpl_int_value(a), y = tmpl_int_value(b);
                return x < y ? -1 : x > y;
        }
        if (tmpl_is_intlike(a))
                return cmp_int_double(tmpl_int_value(a), json_real_value(b));
        if (tmpl_is_intlike(b)) {
                int r = cmp_int_double(tmpl_int_value(b), json_real_value(a));
                return r == 2 ? 2 : -r;
        }
        double x = json_real_value(a), y = json_real_value(b);
        if (isnan(x) || isnan(y))
                return 2;
        return x < y ? -1 : x > y;
}

static int cmp_strings(json_t *a, json_t *b) {
        size_t la = jlen(a), lb = jlen(b);
        int r = memcmp(jstr(a), jstr(b), MIN(la, lb));
        if (r != 0)
                return r < 0 ? -1 : 1;
        return la < lb ? -1 : la > lb;
}

bool tmpl_equal(tctx *c, json_t *a, json_t *b) {
        c->work++; /* charged at the next tctx_charge(): deep comparisons cost */
        if (a == b)
                return true;
        if (tmpl_is_number(a) && tmpl_is_number(b))
                return cmp_numbers(a, b) == 0;
        if (json_typeof(a) != json_typeof(b))
                return false;
        switch (json_typeof(a)) {
        case JSON_STRING:
                return cmp_strings(a, b) == 0;
        case JSON_NULL:
                return true;
        case JSON_ARRAY: {
                size_t n = json_array_size(a);
                if (n != json_array_size(b) || tmpl_is_tuple(c, a) != tmpl_is_tuple(c, b))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (!tmpl_equal(c, json_array_get(a, i), json_array_get(b, i)))
                                return false;
                return true;
        }
        case JSON_OBJECT: {
                const char *k;
                json_t *e;
                if (json_object_size(a) != json_object_size(b))
                        return false;
                json_object_foreach(a, k, e) {
                        json_t *o = json_object_getn(b, k, json_object_iter_key_len(json_object_key_to_iter(k)));
                        if (!o || !tmpl_equal(c, e, o))
                                return false;
                }
                return true;
        }
        default:
                return false;
        }
}

/* Three-way Python ordering: -1, 0, 1, or 2 (unordered); <0 errno on TypeError. */
static int order3(tctx *c, const tnode *n, top op, json_t *a, json_t *b, int *ret) {
        c->work++;
        if (tmpl_is_number(a) && tmpl_is_number(b)) {
                *ret = cmp_numbers(a, b);
                return 0;
        }
        if (json_is_string(a) && json_is_string(b)) {
                *ret = cmp_strings(a, b);
                return 0;
        }
        if (json_is_array(a) && json_is_array(b) && tmpl_is_tuple(c, a) == tmpl_is_tuple(c, b)) {
                size_t na = json_array_size(a), nb = json_array_size(b);
                for (size_t i = 0; i < MIN(na, nb); i++) {
                        json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
                        if (!tmpl_equal(c, x, y))
                                return order3(c, n, op, x, y, ret);
                }
                *ret = na < nb ? -1 : na > nb;
                return 0;
        }
        return tctx_error(c, n, "'%s' not supported between instances of '%s' and '%s'", tmpl_op_str(op),
                          tmpl_type_name(c, a), tmpl_type_name(c, b));
}

int tmpl_order(tctx *c, const tnode *n, top op, json_t *a, json_t *b, bool *ret) {
        int r, o = 2;

        if ((r = order3(c, n, op, a, b, &o)) < 0)
                return r;
        if (o == 2)
                *ret = false;
        else if (op == OP_LT)
                *ret = o < 0;
        else if (op == OP_LTEQ)
                *ret = o <= 0;
        else if (op == OP_GT)
                *ret = o > 0;
        else
                *ret = o >= 0;
        return 0;
}

/* ------------------------------------------------------------------ tojson */

static int json_escape(tbuf *out, const char *s, size_t len) {
        uint32_t cp;
        int r;

        if ((r = tbuf_putc(out, '"')) < 0)
                return r;
        for (size_t i = 0; i < len;) {
                i += tmpl_utf8_next(s + i, len - i, &cp);
                const char *e = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : cp == '\n' ? "\\n" : cp == '\r' ? "\\r" :
                                cp == '\t' ? "\\t" : cp == '\b' ? "\\b" : cp == '\f' ? "\\f" : NULL;
                if (e)
                        r = tbuf_puts(out, e);
                else if (cp >= 0x10000)
                        r = tbuf_printf(out, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
                                        0xDC00 + ((cp - 0x10000) & 0x3FF));
                else if (cp < 0x20 || cp >= 0x7F || cp == '<' || cp == '>' || cp == '&' || cp == '\'')
                        r = tbuf_printf(out, "\\u%04x", cp);
                else
                        r = tbuf_putc(out, (char) cp);
                if (r < 0)
                        return r;
        }
        return tbuf_putc(out, '"');
}

static int json_newline(tbuf *out, const char *indent, int depth) {
        int r = tbuf_putc(out, '\n');
        for (int i = 0; r >= 0 && i < depth; i++)
                r = tbuf_puts(out, indent);
        return r;
}

static int cmp_keys(const void *x, const void *y) {
        const char *a = *(const char *const *) x, *b = *(const char *const *) y;
        size_t la = json_object_iter_key_len(json_object_key_to_iter(a));
        size_t lb = json_object_iter_key_len(json_object_key_to_iter(b));
        int r = memcmp(a, b, MIN(la, lb));
        return r != 0 ? r : la < lb ? -1 : la > lb;
}

static int tojson_object(tctx *c, const tnode *n, tbuf *out, json_t *v, const char *indent, int depth) {
        size_t nk = json_object_size(v), i = 0;
        _cleanup_free_ const char **keys = calloc(MAX(nk, (size_t) 1), sizeof *keys);
        const char *k;
        json_t *e;
        int r;

        if (!keys)
                return -ENOMEM;
        if (nk == 0)
                return tbuf_puts(out, "{}");
        json_object_foreach(v, k, e)
                keys[i++] = k;
        qsort(keys, nk, sizeof *keys, cmp_keys);
        if ((r = tbuf_putc(out, '{')) < 0)
                return r;
        for (i = 0; i < nk; i++) {
                size_t kl = json_object_iter_key_len(json_object_key_to_iter(keys[i]));
                if ((i > 0 && (r = tbuf_puts(out, indent ? "," : ", ")) < 0) ||
                    (indent && (r = json_newline(out, indent, depth + 1)) < 0) ||
                    (r = json_escape(out, keys[i], kl)) < 0 || (r = tbuf_puts(out, ": ")) < 0 ||
                    (r = tmpl_tojson(c, n, out, json_object_getn(v, keys[i], kl), indent, depth + 1)) < 0)
                        return r;
        }
        if (indent && (r = json_newline(out, indent, depth)) < 0)
                return r;
        return tbuf_putc(out, '}');
}

static int tojson_array(tctx *c, const tnode *n, tbuf *out, json_t *v, const char *indent, int depth) {
        size_t i;
        json_t *e;
        int r;

        if (json_array_size(v) == 0)
                return tbuf_puts(out, "[]");
        if ((r = tbuf_putc(out, '[')) < 0)
                return r;
        json_array_foreach(v, i, e) {
                if ((i > 0 && (r = tbuf_puts(out, indent ? "," : ", ")) < 0) ||
                    (indent && (r = json_newline(out, indent, depth + 1)) < 0) ||
                    (r = tmpl_tojson(c, n, out, e, indent, depth + 1)) < 0)
                        return r;
        }
        if (indent && (r = json_newline(out, indent, depth)) < 0)
                return r;
        return tbuf_putc(out, ']');
}

int tmpl_tojson(tctx *c, const tnode *n, tbuf *out, json_t *v, const char *indent, int depth) {
        char buf[32];
        double d;

        c->work++;
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return tojson_object(c, n, out, v, indent, depth);
        case JSON_ARRAY:
                return tojson_array(c, n, out, v, indent, depth);
        case JSON_STRING:
                return json_escape(out, jstr(v), jlen(v));
        case JSON_REAL:
                d = json_real_value(v);
                if (isnan(d))
                        return tbuf_puts(out, "NaN");
                if (isinf(d))
                        return tbuf_puts(out, d < 0 ? "-Infinity" : "Infinity");
                tmpl_float_repr(d, buf);
                return tbuf_puts(out, buf);
        case JSON_INTEGER:
                return tbuf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        case JSON_TRUE:
                return tbuf_puts(out, "true");
        case JSON_FALSE:
                return tbuf_puts(out, "false");
        case JSON_NULL:
                return tbuf_puts(out, "null");
        }
        return -EINVAL;
}
