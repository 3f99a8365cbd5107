/* template-eval.c — expressions → values, with Python's operator semantics.
 *
 * Jinja2 compiles expressions to Python, so `7 // -2` is -4, `7 % -3` is -2,
 * `1 / 2` is 0.5, `'ab' * 2` is 'abab', `[1] + [2]` works and `'a' + 1` is
 * a TypeError.  This file reproduces those rules on jansson values, with
 * two honest limits: integers are 64-bit (overflow is an error, not a
 * bignum) and floats must stay finite (jansson can't hold inf/nan).
 *
 * Undefined values follow StrictUndefined: looking a name up that doesn't
 * exist yields an undefined tval, and any use of it other than `is defined`,
 * `|default` and friends is an error reported where the name was written.
 * Attribute and item access mirror Environment.getattr/getitem: a missing
 * key is undefined (so `x.y|default(1)` works), a Python method name used
 * without calling it is an error.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "template-internal.h"

/* ------------------------------------------------------------ diagnostics */

static char *vformat(const char *fmt, va_list ap) {
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                return NULL;
        return msg;
}

int tctx_error(tctx *c, const tnode *n, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = vformat(fmt, ap);
        va_end(ap);
        diag_error(c->d, c->t->name, n ? n->line : 0, n ? n->col : 0, "%s", msg ? msg : "template error");
        return -EINVAL;
}

int tctx_charge(tctx *c, const tnode *n, uint64_t units) {
        c->work += units;
        if (c->work <= c->max_work)
                return 0;
        return tctx_error(c, n, "template exceeds its work limit (%" PRIu64 " units): a loop or filter over too much data?",
                          c->max_work);
}

int tval_undefined(tctx *c, const tnode *n, tval *ret, const char *fmt, ...) {
        va_list ap;
        char *msg;

        va_start(ap, fmt);
        msg = vformat(fmt, ap);
        va_end(ap);
        if (!msg)
                return -ENOMEM;
        tval_done(ret);
        ret->why = msg;
        ret->where = c->t->name;
        ret->line = n ? n->line : 0;
        ret->col = n ? n->col : 0;
        return 0;
}

int tval_require(tctx *c, const tval *v) {
        if (v->j)
                return 0;
        diag_error(c->d, v->where, v->line, v->col, "%s", v->why ? v->why : "undefined value");
        return -EINVAL;
}

int tval_copy(const tval *v, tval *ret) {
        tval_done(ret);
        *ret = *v;
        json_incref(v->j);
        if (v->why && !(ret->why = strdup(v->why))) {
                *ret = (tval){};
                return -ENOMEM;
        }
        return 0;
}

int tctx_string(tctx *c, const tnode *n, const char *s, size_t len, tval *ret) {
        int r;
        if (len > c->max_output)
                return tctx_error(c, n, "string value exceeds the output limit of %zu bytes", c->max_output);
        if ((r = tctx_charge(c, n, len / 64)) < 0)
                return r;
        return tval_set(ret, json_stringn_nocheck(s ? s : "", len));
}

/* Maps a tbuf error to a diagnostic (-E2BIG: over the limit). */
static int buf_error(tctx *c, const tnode *n, int r) {
        if (r == -E2BIG)
                return tctx_error(c, n, "string value exceeds the output limit of %zu bytes", c->max_output);
        return r;
}

int tmpl_eval_defined(tctx *c, const tnode *n, tval *ret) {
        int r = tmpl_eval(c, n, ret);
        if (r >= 0 && (r = tval_require(c, ret)) < 0)
                tval_done(ret);
        return r;
}

/* -------------------------------------------------------- names, getattr */

static int eval_name(tctx *c, const tnode *n, tval *ret) {
        bool crossed = false, isolated = false;

        for (tframe *f = c->frame; f && !isolated; f = f->up) {
                for (size_t i = f->n; i-- > 0;)
                        if (streq(f->v[i].name, n->name) && !(crossed && streq(n->name, "loop")))
                                return tval_copy(&f->v[i].v, ret);
                isolated = f->isolated;
                if (f->include_boundary)
                        crossed = true;
        }
        /* `include ... without context` sees none of the render's variables */
        json_t *v = c->vars && !isolated ? json_object_get(c->vars, n->name) : NULL;
        if (v)
                return tval_set(ret, json_incref(v));
        return tval_undefined(c, n, ret, "'%s' is undefined", n->name);
}

/* Jinja's object_type_repr(). */
static const char *object_desc(tctx *c, json_t *obj) {
        return json_is_null(obj) ? "None" : tmpl_type_name(c, obj);
}

static int no_attribute(tctx *c, const tnode *n, json_t *obj, const char *name, tval *ret) {
        if (tmpl_has_method(obj, name))
                return tctx_error(c, n, "'%s' is a method of '%s'; kiln only allows calling it (%s(...)), or use ['%s']",
                                  name, tmpl_type_name(c, obj), name, name);
        if (json_is_null(obj))
                return tval_undefined(c, n, ret, "'None' has no attribute '%s'", name);
        return tval_undefined(c, n, ret, "'%s object' has no attribute '%s'", object_desc(c, obj), name);
}

static int getattr_value(tctx *c, const tnode *n, json_t *obj, const char *name, tval *ret) {
        json_t *v;

        /* Python attributes win over keys (d.items is the method). */
        if (json_is_object(obj) && !tmpl_has_method(obj, name) && (v = json_object_get(obj, name)))
                return tval_set(ret, json_incref(v));
        return no_attribute(c, n, obj, name, ret);
}

static int no_element(tctx *c, const tnode *n, json_t *obj, json_t *key, tval *ret) {
        _cleanup_tbuf_ tbuf b = {};
        int r = tmpl_repr(c, &b, key);
        if (r < 0)
                return r;
        return tval_undefined(c, n, ret, "'%s object' has no element %.*s", object_desc(c, obj), (int) MIN(b.len, (size_t) 80),
                              b.data ? b.data : "");
}

/* Python index (negative counts from the end) into n items, or -1. */
static int64_t python_index(json_t *key, size_t n) {
        int64_t i = tmpl_int_value(key);
        if (i < 0)
                i += (int64_t) n;
        return i < 0 || (uint64_t) i >= n ? -1 : i;
}

static int string_char(tctx *c, const tnode *n, json_t *s, int64_t idx, tval *ret) {
        size_t off = tmpl_utf8_offset(jstr(s), jlen(s), (size_t) idx);
        c->work += off / 64;
        uint32_t cp;
        size_t len = tmpl_utf8_next(jstr(s) + off, jlen(s) - off, &cp);
        return tctx_string(c, n, jstr(s) + off, len, ret);
}

int tmpl_getitem(tctx *c, const tnode *n, json_t *obj, json_t *key, tval *ret) {
        json_t *v;
        int64_t i;

        if (json_is_object(obj) && json_is_string(key)) {
                v = json_object_getn(obj, jstr(key), jlen(key));
                if (v)
                        return tval_set(ret, json_incref(v));
        }
        if (json_is_string(key) && strlen(jstr(key)) == jlen(key))
                return no_attribute(c, n, obj, jstr(key), ret);
        if (json_is_array(obj) && tmpl_is_intlike(key) && (i = python_index(key, json_array_size(obj))) >= 0)
                return tval_set(ret, json_incref(json_array_get(obj, i)));
        if (json_is_string(obj))
                c->work += jlen(obj) / 64;
        if (json_is_string(obj) && tmpl_is_intlike(key) &&
            (i = python_index(key, tmpl_utf8_count(jstr(obj), jlen(obj)))) >= 0)
                return string_char(c, n, obj, i, ret);
        return no_element(c, n, obj, key, ret);
}

int tmpl_attr_path(tctx *c, const tnode *n, json_t *item, const char *path, tval *ret) {
        _cleanup_tval_ tval cur = {};
        const char *p = path;
        int r;

        if ((r = tval_set(&cur, json_incref(item))) < 0)
                return r;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t) (dot - p) : strlen(p);
                bool digits = len > 0 && strspn(p, "0123456789") >= len;
                _cleanup_json_ json_t *key = digits ? json_integer(strtoll(p, NULL, 10)) : json_stringn(p, len);
                _cleanup_tval_ tval next = {};
                if (!key)
                        return -ENOMEM;
                if ((r = tval_require(c, &cur)) < 0 || (r = tmpl_getitem(c, n, cur.j, key, &next)) < 0)
                        return r;
                tval_done(&cur);
                cur = tval_take(&next);
                if (!dot)
                        break;
                p = dot + 1;
        }
        *ret = tval_take(&cur);
        return 0;
}

/* ----------------------------------------------------------------- slices */

typedef struct slice {
        int64_t start, step, count;
} slice;

static bool slice_part(json_t *v, int64_t *ret) {
        if (!v || json_is_null(v))
                return false;
        *ret = tmpl_int_value(v);
        return true;
}

/* CPython's PySlice_AdjustIndices() for a sequence of n items. */
static slice slice_indices(json_t *start, json_t *stop, json_t *step, size_t n) {
        int64_t len = (int64_t) n, b, e, st = 1;
        slice s;

        slice_part(step, &st);
        if (!slice_part(start, &b))
                b = st < 0 ? len - 1 : 0;
        else if (b < 0)
                b = MAX(b + len, st < 0 ? (int64_t) -1 : 0);
        else if (b >= len)
                b = st < 0 ? len - 1 : len;
        if (!slice_part(stop, &e))
                e = st < 0 ? -1 : len;
        else if (e < 0)
                e = MAX(e + len, st < 0 ? (int64_t) -1 : 0);
        else if (e >= len)
                e = st < 0 ? len - 1 : len;
        s.start = b;
        s.step = st;
        if (st > 0)
                s.count = e > b ? (e - b - 1) / st + 1 : 0;
        else
                s.count = b > e ? (b - e - 1) / (-st) + 1 : 0;
        return s;
}

static int slice_string(tctx *c, const tnode *n, json_t *obj, slice s, tval *ret) {
        const char *str = jstr(obj);
        size_t len = jlen(obj), ncp = tmpl_utf8_count(str, len);
        _cleanup_free_ size_t *offs = malloc((ncp + 1) * sizeof *offs);
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        int r;

        if (!offs)
                return -ENOMEM;
        if ((r = tctx_charge(c, n, len / 64)) < 0)
                return r;
        for (size_t i = 0, k = 0; k <= ncp; k++) {
                uint32_t cp;
                offs[k] = i;
                if (i < len)
                        i += tmpl_utf8_next(str + i, len - i, &cp);
        }
        for (int64_t k = 0, i = s.start; k < s.count; k++, i += s.step)
                if ((r = tbuf_put(&b, str + offs[i], offs[i + 1] - offs[i])) < 0)
                        return buf_error(c, n, r);
        return tctx_string(c, n, b.data, b.len, ret);
}

static int slice_array(tctx *c, const tnode *n, json_t *obj, slice s, tval *ret) {
        _cleanup_json_ json_t *a = json_array();
        int r;

        if (!a)
                return -ENOMEM;
        if ((r = tctx_charge(c, n, (uint64_t) s.count)) < 0)
                return r;
        for (int64_t k = 0, i = s.start; k < s.count; k++, i += s.step)
                if (json_array_append(a, json_array_get(obj, i)) < 0)
                        return -ENOMEM;
        if (tmpl_is_tuple(c, obj) && (r = tmpl_mark_tuple(c, a)) < 0)
                return r;
        return tval_set(ret, TAKE_PTR(a));
}

static bool slice_arg_ok(json_t *v) {
        return !v || json_is_null(v) || tmpl_is_intlike(v);
}

static int eval_slice(tctx *c, const tnode *n, json_t *obj, const tnode *sl, tval *ret) {
        _cleanup_tval_ tval start = {}, stop = {}, step = {};
        int r;

        if ((sl->a && (r = tmpl_eval_defined(c, sl->a, &start)) < 0) ||
            (sl->b && (r = tmpl_eval_defined(c, sl->b, &stop)) < 0) ||
            (sl->c && (r = tmpl_eval_defined(c, sl->c, &step)) < 0))
                return r;
        if (slice_arg_ok(step.j) && step.j && tmpl_is_intlike(step.j) && tmpl_int_value(step.j) == 0)
                return tctx_error(c, sl, "slice step cannot be zero");
        /* Python raises TypeError, which Jinja's getitem turns into undefined. */
        if (!slice_arg_ok(start.j) || !slice_arg_ok(stop.j) || !slice_arg_ok(step.j) ||
            !(json_is_string(obj) || json_is_array(obj)))
                return tval_undefined(c, n, ret, "'%s object' can't be sliced that way", object_desc(c, obj));
        if (json_is_string(obj)) {
                size_t ncp = tmpl_utf8_count(jstr(obj), jlen(obj));
                return slice_string(c, n, obj, slice_indices(start.j, stop.j, step.j, ncp), ret);
        }
        return slice_array(c, n, obj, slice_indices(start.j, stop.j, step.j, json_array_size(obj)), ret);
}

static int eval_getitem(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval obj = {}, key = {};
        int r;

        if ((r = tmpl_eval_defined(c, n->a, &obj)) < 0)
                return r;
        if (n->b->kind == TN_SLICE)
                return eval_slice(c, n, obj.j, n->b, ret);
        if ((r = tmpl_eval_defined(c, n->b, &key)) < 0)
                return r;
        return tmpl_getitem(c, n, obj.j, key.j, ret);
}

static int eval_getattr(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval obj = {};
        int r;

        if ((r = tmpl_eval_defined(c, n->a, &obj)) < 0)
                return r;
        return getattr_value(c, n, obj.j, n->name, ret);
}

/* ------------------------------------------------------------- arithmetic */

static int type_error(tctx *c, const tnode *n, top op, json_t *a, json_t *b) {
        return tctx_error(c, n, "unsupported operand type(s) for %s: '%s' and '%s'", tmpl_op_str(op),
                          tmpl_type_name(c, a), tmpl_type_name(c, b));
}

static int real_result(tctx *c, const tnode *n, double d, tval *ret) {
        if (!isfinite(d))
                return tctx_error(c, n, "float result out of range (kiln has no inf/nan)");
        return tval_set(ret, json_real(d));
}

static int int_result(tctx *c, const tnode *n, bool overflow, int64_t v, tval *ret) {
        if (overflow)
                return tctx_error(c, n, "integer overflow (kiln's integers are 64-bit)");
        return tval_set(ret, json_integer(v));
}

static int int_pow(tctx *c, const tnode *n, int64_t x, int64_t y, tval *ret) {
        int64_t acc = 1;
        bool ovf = false;

        if (y < 0) {
                if (x == 0)
                        return tctx_error(c, n, "0.0 cannot be raised to a negative power");
                return real_result(c, n, pow((double) x, (double) y), ret);
        }
        for (; y > 0 && !ovf; y >>= 1) {
                if (y & 1)
                        ovf |= __builtin_mul_overflow(acc, x, &acc);
                if (y > 1)
                        ovf |= __builtin_mul_overflow(x, x, &x);
        }
        return int_result(c, n, ovf, acc, ret);
}

static int int_op(tctx *c, const tnode *n, top op, int64_t x, int64_t y, tval *ret) {
        int64_t v = 0;
        bool ovf;

        switch (op) {
        case OP_ADD:
                ovf = __builtin_add_overflow(x, y, &v);
                return int_result(c, n, ovf, v, ret);
        case OP_SUB:
                ovf = __builtin_sub_overflow(x, y, &v);
                return int_result(c, n, ovf, v, ret);
        case OP_MUL:
                ovf = __builtin_mul_overflow(x, y, &v);
                return int_result(c, n, ovf, v, ret);
        case OP_DIV:
                if (y == 0)
                        return tctx_error(c, n, "division by zero");
                return real_result(c, n, (double) x / (double) y, ret);
        case OP_FLOORDIV:
        case OP_MOD:
                if (y == 0)
                        return tctx_error(c, n, "integer division or modulo by zero");
                if (y == -1)
                        return op == OP_MOD ? int_result(c, n, false, 0, ret) :
                                              int_result(c, n, x == INT64_MIN, x == INT64_MIN ? 0 : -x, ret);
                v = op == OP_MOD ? x % y : x / y;
                if (x % y != 0 && ((x < 0) != (y < 0)))
                        v = op == OP_MOD ? v + y : v - 1;
                return int_result(c, n, false, v, ret);
        case OP_POW:
                return int_pow(c, n, x, y, ret);
        default:
                return -EINVAL;
        }
}

/* CPython's float_divmod(). */
static void float_divmod(double vx, double wx, double *ret_div, double *ret_mod) {
        double mod = fmod(vx, wx), div = (vx - mod) / wx, floordiv;

        if (mod != 0) {
                if ((wx < 0) != (mod < 0)) {
                        mod += wx;
                        div -= 1.0;
                }
        } else
                mod = copysign(0.0, wx);
        if (div != 0) {
                floordiv = floor(div);
                if (div - floordiv > 0.5)
                        floordiv += 1.0;
        } else
                floordiv = copysign(0.0, vx / wx);
        *ret_div = floordiv;
        *ret_mod = mod;
}

static int float_op(tctx *c, const tnode *n, top op, double x, double y, tval *ret) {
        double d, m;

        switch (op) {
        case OP_ADD:
                return real_result(c, n, x + y, ret);
        case OP_SUB:
                return real_result(c, n, x - y, ret);
        case OP_MUL:
                return real_result(c, n, x * y, ret);
        case OP_DIV:
                if (y == 0)
                        return tctx_error(c, n, "float division by zero");
                return real_result(c, n, x / y, ret);
        case OP_FLOORDIV:
        case OP_MOD:
                if (y == 0)
                        return tctx_error(c, n, "float floor division or modulo by zero");
                float_divmod(x, y, &d, &m);
                return real_result(c, n, op == OP_MOD ? m : d, ret);
        case OP_POW:
                if (x == 0 && y < 0)
                        return tctx_error(c, n, "0.0 cannot be raised to a negative power");
                if (x < 0 && y != floor(y))
                        return tctx_error(c, n, "negative number raised to a fractional power (complex results are not supported)");
                return real_result(c, n, pow(x, y), ret);
        default:
                return -EINVAL;
        }
}

static int repeat_string(tctx *c, const tnode *n, json_t *s, int64_t times, tval *ret) {
        size_t len = jlen(s);
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        int r;

        if (times <= 0 || len == 0)
                return tctx_string(c, n, "", 0, ret);
        if ((uint64_t) times > c->max_output / len)
                return buf_error(c, n, -E2BIG);
        for (int64_t i = 0; i < times; i++)
                if ((r = tbuf_put(&b, jstr(s), len)) < 0)
                        return buf_error(c, n, r);
        return tctx_string(c, n, b.data, b.len, ret);
}

static int repeat_array(tctx *c, const tnode *n, json_t *a, int64_t times, tval *ret) {
        _cleanup_json_ json_t *out = json_array();
        size_t len = json_array_size(a);
        int r;

        if (!out)
                return -ENOMEM;
        if (times > 0 && len > 0 && (r = tctx_charge(c, n, (uint64_t) times * len)) < 0)
                return r;
        for (int64_t i = 0; i < times; i++)
                if (json_array_extend(out, a) < 0)
                        return -ENOMEM;
        if (tmpl_is_tuple(c, a) && (r = tmpl_mark_tuple(c, out)) < 0)
                return r;
        return tval_set(ret, TAKE_PTR(out));
}

static int concat_arrays(tctx *c, const tnode *n, json_t *a, json_t *b, tval *ret) {
        _cleanup_json_ json_t *out = json_array();
        int r;

        if (!out)
                return -ENOMEM;
        if ((r = tctx_charge(c, n, json_array_size(a) + json_array_size(b))) < 0)
                return r;
        if (json_array_extend(out, a) < 0 || json_array_extend(out, b) < 0)
                return -ENOMEM;
        if (tmpl_is_tuple(c, a) && (r = tmpl_mark_tuple(c, out)) < 0)
                return r;
        return tval_set(ret, TAKE_PTR(out));
}

static int concat_strings(tctx *c, const tnode *n, json_t *a, json_t *b, tval *ret) {
        _cleanup_tbuf_ tbuf buf = { .max = c->max_output };
        int r;
        if ((r = tbuf_put(&buf, jstr(a), jlen(a))) < 0 || (r = tbuf_put(&buf, jstr(b), jlen(b))) < 0)
                return buf_error(c, n, r);
        return tctx_string(c, n, buf.data, buf.len, ret);
}

static bool is_sequence(json_t *v) {
        return json_is_string(v) || json_is_array(v);
}

int tmpl_binop(tctx *c, const tnode *n, top op, json_t *a, json_t *b, tval *ret) {
        if (tmpl_is_number(a) && tmpl_is_number(b)) {
                if (tmpl_is_intlike(a) && tmpl_is_intlike(b))
                        return int_op(c, n, op, tmpl_int_value(a), tmpl_int_value(b), ret);
                return float_op(c, n, op, tmpl_num_value(a), tmpl_num_value(b), ret);
        }
        if (op == OP_ADD && json_is_string(a) && json_is_string(b))
                return concat_strings(c, n, a, b, ret);
        if (op == OP_ADD && json_is_array(a) && json_is_array(b) && tmpl_is_tuple(c, a) == tmpl_is_tuple(c, b))
                return concat_arrays(c, n, a, b, ret);
        if (op == OP_MUL && (is_sequence(a) && tmpl_is_intlike(b)))
                return json_is_string(a) ? repeat_string(c, n, a, tmpl_int_value(b), ret) :
                                           repeat_array(c, n, a, tmpl_int_value(b), ret);
        if (op == OP_MUL && (is_sequence(b) && tmpl_is_intlike(a)))
                return tmpl_binop(c, n, op, b, a, ret);
        if (op == OP_MOD && json_is_string(a))
                return tmpl_percent_format(c, n, a, b, ret);
        return type_error(c, n, op, a, b);
}

static int eval_binop(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval a = {}, b = {};
        int r;

        if ((r = tmpl_eval_defined(c, n->a, &a)) < 0 || (r = tmpl_eval_defined(c, n->b, &b)) < 0)
                return r;
        return tmpl_binop(c, n, n->op, a.j, b.j, ret);
}

static int eval_unary(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval v = {};
        int r;

        if ((r = tmpl_eval_defined(c, n->a, &v)) < 0)
                return r;
        if (!tmpl_is_number(v.j))
                return tctx_error(c, n, "bad operand type for unary %s: '%s'", n->kind == TN_NEG ? "-" : "+",
                                  tmpl_type_name(c, v.j));
        if (json_is_real(v.j))
                return real_result(c, n, n->kind == TN_NEG ? -json_real_value(v.j) : json_real_value(v.j), ret);
        int64_t i = tmpl_int_value(v.j);
        if (n->kind == TN_POS)
                return int_result(c, n, false, i, ret);
        return int_result(c, n, i == INT64_MIN, i == INT64_MIN ? 0 : -i, ret);
}

/* ------------------------------------------------------------ comparisons */

static int contains(tctx *c, const tnode *n, json_t *hay, json_t *needle, bool *ret) {
        if (json_is_string(hay)) {
                c->work += jlen(hay) / 64;
                if (!json_is_string(needle))
                        return tctx_error(c, n, "'in <string>' requires string as left operand, not %s",
                                          tmpl_type_name(c, needle));
                *ret = jlen(needle) == 0 || memmem(jstr(hay), jlen(hay), jstr(needle), jlen(needle));
                return 0;
        }
        if (json_is_array(hay)) {
                size_t i;
                json_t *e;
                *ret = false;
                json_array_foreach(hay, i, e)
                        if (tmpl_equal(c, needle, e)) {
                                *ret = true;
                                break;
                        }
                return tctx_charge(c, n, json_array_size(hay));
        }
        if (json_is_object(hay)) {
                if (json_is_array(needle) || json_is_object(needle))
                        return tctx_error(c, n, "unhashable type: '%s'", tmpl_type_name(c, needle));
                *ret = json_is_string(needle) && json_object_getn(hay, jstr(needle), jlen(needle));
                return 0;
        }
        return tctx_error(c, n, "argument of type '%s' is not iterable", tmpl_type_name(c, hay));
}

int tmpl_compare(tctx *c, const tnode *n, int op, json_t *a, json_t *b, bool *ret) {
        int r;

        switch (op) {
        case OP_EQ:
                *ret = tmpl_equal(c, a, b);
                return 0;
        case OP_NE:
                *ret = !tmpl_equal(c, a, b);
                return 0;
        case OP_IN:
        case OP_NOTIN:
                if ((r = contains(c, n, b, a, ret)) < 0)
                        return r;
                if (op == OP_NOTIN)
                        *ret = !*ret;
                return 0;
        default:
                return tmpl_order(c, n, op, a, b, ret);
        }
}

static int eval_compare(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval left = {};
        bool ok = true;
        int r;

        if ((r = tmpl_eval_defined(c, n->list.v[0], &left)) < 0)
                return r;
        for (size_t i = 1; i < n->list.n && ok; i++) {
                _cleanup_tval_ tval right = {};
                const tnode *at = n->list.v[i];
                if ((r = tmpl_eval_defined(c, at, &right)) < 0 || (r = tmpl_compare(c, n, n->ops[i - 1], left.j, right.j, &ok)) < 0)
                        return r;
                tval_done(&left);
                left = tval_take(&right);
        }
        return tval_set(ret, json_boolean(ok));
}

/* Python truthiness; undefined is an error unless lenient (then false). */
int tmpl_truthy_tval(tctx *c, const tval *v, bool *ret) {
        if (!v->j && v->lenient) {
                *ret = false;
                return 0;
        }
        int r = tval_require(c, v);
        if (r < 0)
                return r;
        *ret = tmpl_truthy(v->j);
        return 0;
}

static int eval_logic(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval left = {};
        bool t;
        int r;

        if ((r = tmpl_eval(c, n->a, &left)) < 0 || (r = tmpl_truthy_tval(c, &left, &t)) < 0)
                return r;
        if (n->kind == TN_NOT)
                return tval_set(ret, json_boolean(!t));
        if ((n->kind == TN_AND && !t) || (n->kind == TN_OR && t)) {
                *ret = tval_take(&left);
                return 0;
        }
        return tmpl_eval(c, n->b, ret);
}

static int eval_cond(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval test = {};
        bool t;
        int r;

        if ((r = tmpl_eval(c, n->a, &test)) < 0 || (r = tmpl_truthy_tval(c, &test, &t)) < 0)
                return r;
        if (t)
                return tmpl_eval(c, n->b, ret);
        if (n->c)
                return tmpl_eval(c, n->c, ret);
        /* Jinja uses plain Undefined here, even with StrictUndefined. */
        r = tval_undefined(c, n, ret,
                           "the inline if-expression on line %u evaluated to false and no else section was defined",
                           n->line);
        ret->lenient = true;
        return r;
}

int tmpl_str_tval(tctx *c, const tnode *n, tbuf *out, const tval *v) {
        int r;
        if (!v->j && v->lenient)
                return 0;
        if ((r = tval_require(c, v)) < 0)
                return r;
        return buf_error(c, n, tmpl_str(c, out, v->j));
}

static int eval_concat(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        int r;

        for (size_t i = 0; i < n->list.n; i++) {
                _cleanup_tval_ tval v = {};
                if ((r = tmpl_eval(c, n->list.v[i], &v)) < 0 || (r = tmpl_str_tval(c, n, &b, &v)) < 0)
                        return r;
        }
        return tctx_string(c, n, b.data, b.len, ret);
}

/* -------------------------------------------------------------- literals */

static int eval_list(tctx *c, const tnode *n, tval *ret) {
        _cleanup_json_ json_t *a = json_array();
        int r;

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n->list.n; i++) {
                _cleanup_tval_ tval v = {};
                if ((r = tmpl_eval_defined(c, n->list.v[i], &v)) < 0)
                        return r;
                if (json_array_append(a, v.j) < 0)
                        return -ENOMEM;
        }
        if (n->kind == TN_TUPLE && (r = tmpl_mark_tuple(c, a)) < 0)
                return r;
        return tval_set(ret, TAKE_PTR(a));
}

static int eval_dict(tctx *c, const tnode *n, tval *ret) {
        _cleanup_json_ json_t *o = json_object();
        int r;

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < n->list.n; i++) {
                _cleanup_tval_ tval k = {}, v = {};
                if ((r = tmpl_eval_defined(c, n->list.v[i], &k)) < 0 || (r = tmpl_eval_defined(c, n->kw.v[i], &v)) < 0)
                        return r;
                if (!json_is_string(k.j))
                        return tctx_error(c, n->list.v[i], "dict keys must be strings in kiln (JSON), not '%s'",
                                          tmpl_type_name(c, k.j));
                if (json_object_setn(o, jstr(k.j), jlen(k.j), v.j) < 0)
                        return -ENOMEM;
        }
        return tval_set(ret, TAKE_PTR(o));
}

/* --------------------------------------------------------- filters, tests */

static int eval_params(tctx *c, const tnode *n, const tmpl_filter *f, tval args[TMPL_MAX_PARAMS]) {
        int r;

        for (size_t i = 0; i < n->list.n; i++) {
                if (!n->list.v[i])
                        continue;
                if ((r = tmpl_eval(c, n->list.v[i], &args[i])) < 0)
                        return r;
                if (!(f->flags & TF_UNDEF_ARGS) && (r = tval_require(c, &args[i])) < 0)
                        return r;
        }
        return 0;
}

static void params_done(tval args[TMPL_MAX_PARAMS]) {
        for (size_t i = 0; i < TMPL_MAX_PARAMS; i++)
                tval_done(&args[i]);
}

static int apply(tctx *c, const tnode *n, const tmpl_filter *f, tval *in, tval *ret) {
        tval args[TMPL_MAX_PARAMS] = {};
        int r;

        if (!(f->flags & TF_UNDEF_INPUT) && (r = tval_require(c, in)) < 0)
                return r;
        if ((r = eval_params(c, n, f, args)) >= 0 && (r = tctx_charge(c, n, 1)) >= 0) {
                _cleanup_tval_ tval out = {};
                r = f->fn(c, n, in, args, &out);
                if (r >= 0) {
                        tval_done(ret);
                        *ret = tval_take(&out);
                }
        }
        params_done(args);
        return r;
}

int tmpl_eval_filter(tctx *c, const tnode *n, tval *seed, tval *ret) {
        _cleanup_tval_ tval in = {};
        int r = 0;

        if (n->op < 0)
                return tctx_error(c, n, "no filter named '%s'", n->name);

        if (!n->a)
                in = tval_take(seed);
        else if (seed && n->a->kind == TN_FILTER)
                r = tmpl_eval_filter(c, n->a, seed, &in);
        else
                r = tmpl_eval(c, n->a, &in);
        if (n->a && r < 0)
                return r;
        return apply(c, n, tmpl_filter_at(n->op), &in, ret);
}

static int eval_test(tctx *c, const tnode *n, tval *ret) {
        _cleanup_tval_ tval in = {};
        int r;

        if (n->op < 0)
                return tctx_error(c, n, "no test named '%s'", n->name);

        if ((r = tmpl_eval(c, n->a, &in)) < 0)
                return r;
        return apply(c, n, tmpl_test_at(n->op), &in, ret);
}

/* ---------------------------------------------------------------- dispatch */

int tmpl_eval(tctx *c, const tnode *n, tval *ret) {
        int r = tctx_charge(c, n, 1);
        if (r < 0)
                return r;
        switch (n->kind) {
        case TN_CONST:
                return tval_set(ret, json_incref(n->value));
        case TN_NAME:
                return eval_name(c, n, ret);
        case TN_GETATTR:
                return eval_getattr(c, n, ret);
        case TN_GETITEM:
                return eval_getitem(c, n, ret);
        case TN_LIST:
        case TN_TUPLE:
                return eval_list(c, n, ret);
        case TN_DICT:
                return eval_dict(c, n, ret);
        case TN_BINOP:
                return eval_binop(c, n, ret);
        case TN_CONCAT:
                return eval_concat(c, n, ret);
        case TN_COMPARE:
                return eval_compare(c, n, ret);
        case TN_AND:
        case TN_OR:
        case TN_NOT:
                return eval_logic(c, n, ret);
        case TN_NEG:
        case TN_POS:
                return eval_unary(c, n, ret);
        case TN_COND:
                return eval_cond(c, n, ret);
        case TN_FILTER:
                return tmpl_eval_filter(c, n, NULL, ret);
        case TN_TEST:
                return eval_test(c, n, ret);
        case TN_CALL:
                return tmpl_eval_call(c, n, ret);
        default:
                return tctx_error(c, n, "internal error: not an expression");
        }
}

int tmpl_iterate(tctx *c, const tnode *n, json_t *v, json_t **ret) {
        _cleanup_json_ json_t *a = NULL;
        int r;

        if (json_is_array(v)) {
                *ret = json_incref(v);
                return 0;
        }
        if (!json_is_object(v) && !json_is_string(v))
                return tctx_error(c, n, "'%s' object is not iterable", tmpl_type_name(c, v));
        if (!(a = json_array()))
                return -ENOMEM;
        if (json_is_object(v)) {
                const char *k;
                json_t *e;
                json_object_foreach(v, k, e) {
                        if (json_array_append_new(a, json_stringn_nocheck(k, json_object_iter_key_len(
                                                                                    json_object_key_to_iter(k)))) < 0)
                                return -ENOMEM;
                }
        } else {
                const char *s = jstr(v);
                size_t len = jlen(v);
                uint32_t cp;
                for (size_t i = 0; i < len;) {
                        size_t k = tmpl_utf8_next(s + i, len - i, &cp);
                        if (json_array_append_new(a, json_stringn_nocheck(s + i, k)) < 0)
                                return -ENOMEM;
                        i += k;
                }
        }
        if ((r = tctx_charge(c, n, json_array_size(a))) < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}
