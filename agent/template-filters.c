/* template-filters.c — Jinja2's filters and tests, as Jinja 3.1 defines them.
 *
 * Each filter is written against jinja2/filters.py so corner cases match:
 * `sort` is stable and case-insensitive by default, `unique` keeps first
 * occurrences (1, 1.0 and True are the same key, like a Python set),
 * `indent` skips the first and blank lines, `int` accepts "42.7" and
 * "0x1F" with base=16, `round` rounds half to even on the decimal value,
 * `title` capitalizes after "-", whitespace and brackets.  b64encode and
 * b64decode are not Jinja builtins: they behave like Ansible's filters of
 * the same name (UTF-8 text in and out); the differential tests register
 * those definitions with Jinja2.
 *
 * The tables at the end map names to functions, flags and the Python
 * parameter names (so `sort(attribute='name')` binds at parse time).
 * Filters that return generators in Jinja (unique, map, select, reverse,
 * items) return lists here.
 */
#include <math.h>
#include <stdio.h>

#include "base64.h"
#include "template-internal.h"

/* ---------------------------------------------------------------- helpers */

static int buf_err(tctx *c, const tnode *n, int r) {
        if (r == -E2BIG)
                return tctx_error(c, n, "string value exceeds the output limit of %zu bytes", c->max_output);
        return r;
}

/* Python str(v) as a string value. */
static int str_value(tctx *c, const tnode *n, json_t *v, json_t **ret) {
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        _cleanup_tval_ tval t = {};
        int r;

        if (json_is_string(v)) {
                *ret = json_incref(v);
                return 0;
        }
        if ((r = tmpl_str(c, &b, v)) < 0)
                return buf_err(c, n, r);
        if ((r = tctx_string(c, n, b.data, b.len, &t)) < 0)
                return r;
        *ret = TAKE_PTR(t.j);
        return 0;
}

static int want_int(tctx *c, const tnode *n, const char *what, json_t *v, int64_t *ret) {
        if (!tmpl_is_intlike(v))
                return tctx_error(c, n, "%s must be an integer, not '%s'", what, tmpl_type_name(c, v));
        *ret = tmpl_int_value(v);
        return 0;
}

static bool arg_true(const tval *a) {
        return a->j && tmpl_truthy(a->j);
}

static int finish_buf(tctx *c, const tnode *n, tbuf *b, int r, tval *ret) {
        if (r < 0)
                return buf_err(c, n, r);
        return tctx_string(c, n, b->data, b->len, ret);
}

/* ------------------------------------------------------------ strings */

static int f_string(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        json_t *s = NULL;
        int r = str_value(c, n, in->j, &s);
        return r < 0 ? r : tval_set(ret, s);
}

static int f_case(tctx *c, const tnode *n, tval *in, bool upper, tval *ret) {
        _cleanup_json_ json_t *s = NULL;
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        int r;

        if ((r = str_value(c, n, in->j, &s)) < 0)
                return r;
        r = upper ? tmpl_uni_upper(&b, jstr(s), jlen(s)) : tmpl_uni_lower(&b, jstr(s), jlen(s), 0);
        return finish_buf(c, n, &b, r, ret);
}

static int f_upper(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        return f_case(c, n, in, true, ret);
}

static int f_lower(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        return f_case(c, n, in, false, ret);
}

/* Jinja's _word_beginning_split_re: [-\s({\[<] */
static bool title_sep(uint32_t cp) {
        return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || tmpl_uni_isspace(cp);
}

static int f_title(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *s = NULL;
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        int r;

        if ((r = str_value(c, n, in->j, &s)) < 0)
                return r;
        const char *str = jstr(s);
        size_t len = jlen(s);
        for (size_t i = 0; i < len && r >= 0;) {
                uint32_t cp, x;
                size_t first = tmpl_utf8_next(str + i, len - i, &cp), e = i + first;
                bool sep = title_sep(cp);
                while (e < len) {
                        size_t k = tmpl_utf8_next(str + e, len - e, &x);
                        if (title_sep(x) != sep)
                                break;
                        e += k;
                }
                /* item[0].upper() + item[1:].lower() */
                r = tmpl_uni_upper(&b, str + i, first);
                if (r >= 0)
                        r = tmpl_uni_lower(&b, str + i + first, e - i - first, 0);
                i = e;
        }
        return finish_buf(c, n, &b, r, ret);
}

static int f_capitalize(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *s = NULL;
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        uint32_t cp;
        int r;

        if ((r = str_value(c, n, in->j, &s)) < 0)
                return r;
        if (jlen(s) == 0)
                return tval_set(ret, json_incref(s));
        size_t first = tmpl_utf8_next(jstr(s), jlen(s), &cp);
        r = tmpl_uni_title_cp(&b, cp);
        if (r >= 0)
                r = tmpl_uni_lower(&b, jstr(s), jlen(s), first);
        return finish_buf(c, n, &b, r, ret);
}

static int f_center(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *s = NULL;
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        int64_t width = 80;
        int r;

        if ((r = str_value(c, n, in->j, &s)) < 0 || (args[0].j && (r = want_int(c, n, "width", args[0].j, &width)) < 0))
                return r;
        int64_t len = (int64_t) tmpl_utf8_count(jstr(s), jlen(s));
        if (len >= width)
                return tval_set(ret, json_incref(s));
        if ((uint64_t) width > c->max_output)
                return buf_err(c, n, -E2BIG);
        int64_t marg = width - len, left = marg / 2 + (marg & width & 1);
        for (int64_t i = 0; i < left && r >= 0; i++)
                r = tbuf_putc(&b, ' ');
        if (r >= 0)
                r = tbuf_put(&b, jstr(s), jlen(s));
        for (int64_t i = 0; i < marg - left && r >= 0; i++)
                r = tbuf_putc(&b, ' ');
        return finish_buf(c, n, &b, r, ret);
}

static int f_trim(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *s = NULL;
        int r = str_value(c, n, in->j, &s);
        if (r < 0)
                return r;
        json_t *chars = args[0].j && !json_is_null(args[0].j) ? args[0].j : NULL;
        return tmpl_strip(c, n, s, chars, true, true, ret);
}

static int f_replace(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *s = NULL, *old = NULL, *new = NULL;
        int64_t count = -1;
        int r;

        if (!args[0].j || !args[1].j)
                return tctx_error(c, n, "replace needs the old and the new string");
        if ((r = str_value(c, n, in->j, &s)) < 0 || (r = str_value(c, n, args[0].j, &old)) < 0 ||
            (r = str_value(c, n, args[1].j, &new)) < 0)
                return r;
        if (args[2].j && !json_is_null(args[2].j) && (r = want_int(c, n, "count", args[2].j, &count)) < 0)
                return r;
        return tmpl_replace(c, n, s, old, new, count, ret);
}

/* str.splitlines() (no keepends) into an array of strings. */
static int splitlines(const char *s, size_t len, json_t *out) {
        size_t i = 0, start = 0;
        uint32_t cp;

        while (i < len) {
                size_t k = tmpl_utf8_next(s + i, len - i, &cp);
                if (!tmpl_uni_islinebreak(cp)) {
                        i += k;
                        continue;
                }
                if (json_array_append_new(out, json_stringn_nocheck(s + start, i - start)) < 0)
                        return -ENOMEM;
                i += k;
                if (cp == '\r' && i < len && s[i] == '\n')
                        i++;
                start = i;
        }
        if (start < len && json_array_append_new(out, json_stringn_nocheck(s + start, len - start)) < 0)
                return -ENOMEM;
        return 0;
}

static int indention(tctx *c, const tnode *n, json_t *width, tbuf *ret) {
        if (!width)
                return tbuf_puts(ret, "    ");
        if (json_is_string(width))
                return tbuf_put(ret, jstr(width), jlen(width));
        if (!tmpl_is_intlike(width))
                return tctx_error(c, n, "indent width must be an integer or a string, not '%s'", tmpl_type_name(c, width));
        for (int64_t i = 0; i < tmpl_int_value(width); i++)
                if (tbuf_putc(ret, ' ') < 0)
                        return buf_err(c, n, -E2BIG);
        return 0;
}

static int f_indent(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_tbuf_ tbuf ind = { .max = c->max_output }, b = { .max = c->max_output }, s = {};
        _cleanup_json_ json_t *lines = json_array();
        bool blank = arg_true(&args[2]);
        size_t i;
        json_t *line;
        int r;

        if (!lines)
                return -ENOMEM;
        if (!json_is_string(in->j))
                return tctx_error(c, n, "indent expects a string, not '%s'", tmpl_type_name(c, in->j));
        if ((r = indention(c, n, args[0].j, &ind)) < 0 || (r = tbuf_put(&s, jstr(in->j), jlen(in->j))) < 0 ||
            (r = tbuf_putc(&s, '\n')) < 0 || (r = splitlines(s.data, s.len, lines)) < 0)
                return r;
        if ((r = tctx_charge(c, n, json_array_size(lines))) < 0)
                return r;
        if (arg_true(&args[1]))
                r = tbuf_put(&b, ind.data, ind.len);
        json_array_foreach(lines, i, line) {
                if (r < 0)
                        break;
                if (i > 0)
                        r = tbuf_putc(&b, '\n');
                if (r >= 0 && i > 0 && (blank || jlen(line) > 0))
                        r = tbuf_put(&b, ind.data, ind.len);
                if (r >= 0)
                        r = tbuf_put(&b, jstr(line), jlen(line));
        }
        return finish_buf(c, n, &b, r, ret);
}

static int f_b64encode(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *s = NULL;
        _cleanup_free_ char *enc = NULL;
        int r;

        if ((r = str_value(c, n, in->j, &s)) < 0)
                return r;
        if (jlen(s) > c->max_output / 4 * 3)
                return buf_err(c, n, -E2BIG);
        if ((r = base64_encode(jstr(s), jlen(s), &enc)) < 0)
                return r;
        return tctx_string(c, n, enc, strlen(enc), ret);
}

static int f_b64decode(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *s = NULL;
        _cleanup_free_ void *dec = NULL;
        size_t len;
        int r;

        if ((r = str_value(c, n, in->j, &s)) < 0)
                return r;
        if ((r = base64_decode(jstr(s), jlen(s), &dec, &len)) == -EBADMSG)
                return tctx_error(c, n, "b64decode: the value is not valid base64");
        if (r < 0)
                return r;
        if (tmpl_utf8_invalid_at(dec, len) < len)
                return tctx_error(c, n, "b64decode: the decoded bytes are not UTF-8 text");
        return tctx_string(c, n, dec, len, ret);
}

/* -------------------------------------------------------------- numbers */

/* Python's int(str, base): 0 ok, -EINVAL not a number, -ERANGE beyond 64 bits. */
static int parse_int(const char *s, size_t len, int64_t base, int64_t *ret) {
        size_t b = tmpl_uni_lspace(s, len), e = len - tmpl_uni_rspace(s, len);
        bool neg = false, digits = false, zeros_only = true;
        uint64_t v = 0;

        if (base != 0 && (base < 2 || base > 36))
                return -EINVAL;
        if (b < e && (s[b] == '+' || s[b] == '-'))
                neg = s[b++] == '-';
        if (e - b >= 2 && s[b] == '0') {
                char p = (char) (s[b + 1] | 0x20);
                int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
                if (pb && (base == 0 || base == pb)) {
                        base = pb;
                        b += 2;
                        if (b < e && s[b] == '_')
                                b++;
                }
        }
        bool base0 = base == 0;
        if (base0)
                base = 10;
        for (size_t i = b; i < e; i++) {
                char ch = (char) (s[i] | 0x20);
                int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 10 : 99;
                if (s[i] == '_' && digits && i + 1 < e && s[i + 1] != '_')
                        continue;
                if (d >= base)
                        return -EINVAL;
                digits = true;
                zeros_only &= d == 0;
                if (__builtin_mul_overflow(v, (uint64_t) base, &v) || __builtin_add_overflow(v, (uint64_t) d, &v))
                        return -ERANGE;
        }
        if (!digits || (base0 && s[b] == '0' && !zeros_only))
                return -EINVAL;
        if (v > (uint64_t) INT64_MAX + neg)
                return -ERANGE;
        *ret = neg ? (int64_t) (0 - v) : (int64_t) v;
        return 0;
}

/* (\d(_?\d)*) at s[i]: returns the end, or i when there's no digit. */
static size_t py_digits(const char *s, size_t i, size_t e) {
        size_t j = i;
        while (j < e && s[j] >= '0' && s[j] <= '9') {
                j++;
                if (j + 1 < e && s[j] == '_' && s[j + 1] >= '0' && s[j + 1] <= '9')
                        j++;
        }
        return j;
}

/* Python's float(str): 0 ok, -EINVAL otherwise (inf/nan are returned as such). */
static int parse_float(const char *s, size_t len, double *ret) {
        size_t b = tmpl_uni_lspace(s, len), e = len - tmpl_uni_rspace(s, len), i, j;
        char buf[64], *w = buf;

        if (b < e && (s[b] == '+' || s[b] == '-'))
                *w++ = s[b++];
        for (const char *const *k = (const char *const[]){ "infinity", "inf", "nan", NULL }; *k; k++)
                if (e - b == strlen(*k) && strncasecmp(s + b, *k, e - b) == 0) {
                        strcpy(w, *k);
                        *ret = strtod(buf, NULL);
                        return 0;
                }
        i = py_digits(s, b, e);
        j = i;
        if (j < e && s[j] == '.')
                j = py_digits(s, j + 1, e);
        if (j == b || (i == b && j == b + 1))
                return -EINVAL; /* no digits at all */
        if (j < e && (s[j] == 'e' || s[j] == 'E')) {
                size_t k = j + 1 + (j + 1 < e && (s[j + 1] == '+' || s[j + 1] == '-'));
                size_t m = py_digits(s, k, e);
                if (m == k)
                        return -EINVAL;
                j = m;
        }
        if (j != e || e - b >= sizeof buf - 2)
                return -EINVAL;
        for (size_t x = b; x < e; x++)
                if (s[x] != '_')
                        *w++ = s[x];
        *w = 0;
        *ret = strtod(buf, NULL);
        return 0;
}

static int int_of_double(tctx *c, const tnode *n, double d, tval *ret) {
        if (!isfinite(d))
                return tctx_error(c, n, "cannot convert float infinity to integer");
        d = trunc(d);
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
                return tctx_error(c, n, "integer overflow (kiln's integers are 64-bit)");
        return tval_set(ret, json_integer((int64_t) d));
}

static int f_int(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        json_t *v = in->j;
        int64_t base = 10, i;
        double d;
        int r;

        if (args[1].j) {
                if (!tmpl_is_intlike(args[1].j))
                        base = -1; /* int(s, 'x') is a TypeError: falls back to float() */
                else
                        base = tmpl_int_value(args[1].j);
        }
        if (tmpl_is_intlike(v))
                return tval_set(ret, json_integer(tmpl_int_value(v)));
        if (json_is_real(v))
                return int_of_double(c, n, json_real_value(v), ret);
        if (json_is_string(v)) {
                r = parse_int(jstr(v), jlen(v), base, &i);
                if (r == -ERANGE)
                        return tctx_error(c, n, "integer overflow (kiln's integers are 64-bit)");
                if (r == 0)
                        return tval_set(ret, json_integer(i));
                if (parse_float(jstr(v), jlen(v), &d) == 0 && !isnan(d))
                        return int_of_double(c, n, d, ret);
        }
        if (args[0].j)
                return tval_set(ret, json_incref(args[0].j));
        return tval_set(ret, json_integer(0));
}

static int f_float(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        json_t *v = in->j;
        double d;

        if (tmpl_is_number(v))
                return tval_set(ret, json_real(tmpl_num_value(v)));
        if (json_is_string(v) && parse_float(jstr(v), jlen(v), &d) == 0) {
                if (!isfinite(d))
                        return tctx_error(c, n, "float result out of range (kiln has no inf/nan)");
                return tval_set(ret, json_real(d));
        }
        if (args[0].j)
                return tval_set(ret, json_incref(args[0].j));
        return tval_set(ret, json_real(0.0));
}

static int f_abs(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        json_t *v = in->j;
        if (json_is_real(v))
                return tval_set(ret, json_real(fabs(json_real_value(v))));
        if (!tmpl_is_intlike(v))
                return tctx_error(c, n, "bad operand type for abs(): '%s'", tmpl_type_name(c, v));
        int64_t i = tmpl_int_value(v);
        if (i == INT64_MIN)
                return tctx_error(c, n, "integer overflow (kiln's integers are 64-bit)");
        return tval_set(ret, json_integer(i < 0 ? -i : i));
}

/* Python's round(x, ndigits) for a float: half-even on the exact value. */
static double round_float(double x, int64_t nd) {
        char buf[400];
        if (nd > 300 || !isfinite(x))
                return x;
        if (nd >= 0) {
                snprintf(buf, sizeof buf, "%.*f", (int) nd, x);
                return strtod(buf, NULL);
        }
        if (nd < -308)
                return copysign(0.0, x);
        double p = pow(10.0, (double) -nd);
        return nearbyint(x / p) * p;
}

static int round_int(tctx *c, const tnode *n, int64_t v, int64_t nd, tval *ret) {
        if (nd >= 0)
                return tval_set(ret, json_integer(v));
        if (nd < -18)
                return tval_set(ret, json_integer(0));
        int64_t p = 1;
        for (int64_t i = 0; i < -nd; i++)
                p *= 10;
        int64_t q = v / p, rem = v % p;
        if (rem < 0)
                rem += p, q--;
        if (rem * 2 > p || (rem * 2 == p && (q & 1)))
                q++;
        int64_t out;
        if (__builtin_mul_overflow(q, p, &out))
                return tctx_error(c, n, "integer overflow (kiln's integers are 64-bit)");
        return tval_set(ret, json_integer(out));
}

static int f_round(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        int64_t nd = 0;
        const char *method = "common";
        int r;

        if (args[0].j && (r = want_int(c, n, "precision", args[0].j, &nd)) < 0)
                return r;
        if (args[1].j) {
                if (!json_is_string(args[1].j))
                        return tctx_error(c, n, "method must be common, ceil or floor");
                method = jstr(args[1].j);
        }
        if (!streq(method, "common") && !streq(method, "ceil") && !streq(method, "floor"))
                return tctx_error(c, n, "method must be common, ceil or floor");
        if (!tmpl_is_number(in->j))
                return tctx_error(c, n, "type %s doesn't define __round__ method", tmpl_type_name(c, in->j));
        if (streq(method, "common")) {
                if (tmpl_is_intlike(in->j))
                        return round_int(c, n, tmpl_int_value(in->j), nd, ret);
                double d = round_float(json_real_value(in->j), nd);
                return isfinite(d) ? tval_set(ret, json_real(d)) : tctx_error(c, n, "rounding overflow");
        }
        double p = pow(10.0, (double) nd), x = tmpl_num_value(in->j) * p;
        double d = (streq(method, "ceil") ? ceil(x) : floor(x)) / p;
        if (!isfinite(d))
                return tctx_error(c, n, "float result out of range (kiln has no inf/nan)");
        return tval_set(ret, json_real(d));
}

/* ------------------------------------------------------------ sequences */

static int f_length(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        json_t *v = in->j;
        if (json_is_string(v)) {
                c->work += jlen(v) / 64;
                return tval_set(ret, json_integer((json_int_t) tmpl_utf8_count(jstr(v), jlen(v))));
        }
        if (json_is_array(v))
                return tval_set(ret, json_integer((json_int_t) json_array_size(v)));
        if (json_is_object(v))
                return tval_set(ret, json_integer((json_int_t) json_object_size(v)));
        return tctx_error(c, n, "object of type '%s' has no len()", tmpl_type_name(c, v));
}

static int f_list(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *a = NULL;
        int r;

        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        if (a == in->j)
                return tval_set(ret, tmpl_is_tuple(c, a) ? json_copy(a) : TAKE_PTR(a));
        return tval_set(ret, TAKE_PTR(a));
}

static int f_first_last(tctx *c, const tnode *n, tval *in, bool last, tval *ret) {
        _cleanup_json_ json_t *a = NULL;
        size_t len;
        int r;

        if (json_is_string(in->j)) {
                const char *s = jstr(in->j);
                len = jlen(in->j);
                if (len > 0) {
                        uint32_t cp;
                        size_t k = last ? tmpl_utf8_prev(s, len) : tmpl_utf8_next(s, len, &cp);
                        return tctx_string(c, n, last ? s + len - k : s, k, ret);
                }
        } else {
                if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                        return r;
                len = json_array_size(a);
                if (len > 0)
                        return tval_set(ret, json_incref(json_array_get(a, last ? len - 1 : 0)));
        }
        return tval_undefined(c, n, ret, "No %s item, sequence was empty.", last ? "last" : "first");
}

static int f_first(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        return f_first_last(c, n, in, false, ret);
}

static int f_last(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        return f_first_last(c, n, in, true, ret);
}

static int f_reverse(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *a = NULL, *out = json_array();
        _cleanup_tbuf_ tbuf b = {};
        int r = 0;

        if (!out)
                return -ENOMEM;
        if (json_is_string(in->j)) {
                const char *s = jstr(in->j);
                for (size_t e = jlen(in->j); e > 0 && r >= 0;) {
                        size_t k = tmpl_utf8_prev(s, e);
                        r = tbuf_put(&b, s + e - k, k);
                        e -= k;
                }
                return finish_buf(c, n, &b, r, ret);
        }
        if (!json_is_array(in->j) && !json_is_object(in->j))
                return tctx_error(c, n, "argument must be iterable");
        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        for (size_t i = json_array_size(a); i > 0; i--)
                if (json_array_append(out, json_array_get(a, i - 1)) < 0)
                        return -ENOMEM;
        return tval_set(ret, TAKE_PTR(out));
}

static int f_join(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *a = NULL, *sep = NULL;
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        size_t i;
        json_t *e;
        int r;

        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        if (args[0].j && (r = str_value(c, n, args[0].j, &sep)) < 0)
                return r;
        json_array_foreach(a, i, e) {
                _cleanup_tval_ tval item = {};
                if (i > 0 && sep && (r = tbuf_put(&b, jstr(sep), jlen(sep))) < 0)
                        return buf_err(c, n, r);
                if (args[1].j && !json_is_null(args[1].j)) {
                        _cleanup_json_ json_t *path = NULL;
                        if ((r = str_value(c, n, args[1].j, &path)) < 0 || (r = tmpl_attr_path(c, n, e, jstr(path), &item)) < 0)
                                return r;
                } else if ((r = tval_set(&item, json_incref(e))) < 0)
                        return r;
                if ((r = tmpl_str_tval(c, n, &b, &item)) < 0)
                        return r;
        }
        return tctx_string(c, n, b.data, b.len, ret);
}

static int f_tojson(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_tbuf_ tbuf b = { .max = c->max_output }, ind = {};
        json_t *indent = args[0].j;
        int r;

        if (indent && !json_is_null(indent)) {
                if (json_is_string(indent))
                        r = tbuf_put(&ind, jstr(indent), jlen(indent));
                else if (tmpl_is_intlike(indent)) {
                        r = 0;
                        for (int64_t i = 0; i < tmpl_int_value(indent) && i < 64 && r >= 0; i++)
                                r = tbuf_putc(&ind, ' ');
                } else
                        return tctx_error(c, n, "tojson: indent must be an integer or a string");
                if (r < 0 || (r = tbuf_putc(&ind, 0)) < 0)
                        return r;
        }
        r = tmpl_tojson(c, n, &b, in->j, ind.data, 0);
        return finish_buf(c, n, &b, r, ret);
}

static int f_items(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        if (!in->j)
                return tval_set(ret, json_array());
        if (!json_is_object(in->j))
                return tctx_error(c, n, "Can only get item pairs from a mapping.");
        return tmpl_dict_items(c, n, in->j, ret);
}

static int f_default(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        bool use = !in->j;
        int r;

        if (!use && args[1].j) {
                if ((r = tval_require(c, &args[1])) < 0)
                        return r;
                use = tmpl_truthy(args[1].j) && !tmpl_truthy(in->j);
        } else if (!use && args[1].why && (r = tval_require(c, &args[1])) < 0)
                return r;
        if (!use) {
                *ret = tval_take(in);
                return 0;
        }
        if (args[0].j || args[0].why) {
                *ret = tval_take(&args[0]);
                return 0;
        }
        return tctx_string(c, n, "", 0, ret);
}

/* ------------------------------------------------------- sorting, keys */

/* ignore_case(): strings lowered (new value), others as they are. */
static int fold_case(tctx *c, const tnode *n, tval *v, bool case_sensitive) {
        _cleanup_tbuf_ tbuf b = {};
        int r;

        if (case_sensitive || !v->j || !json_is_string(v->j))
                return 0;
        if ((r = tmpl_uni_lower(&b, jstr(v->j), jlen(v->j), 0)) < 0)
                return r;
        return tctx_string(c, n, b.data, b.len, v);
}

/* The sort key of item: the item, one attribute path, or a list of them ("a,b"). */
static int make_key(tctx *c, const tnode *n, json_t *item, json_t *attribute, bool cs, tval *ret) {
        int r;

        if (!attribute || json_is_null(attribute)) {
                if ((r = tval_set(ret, json_incref(item))) < 0)
                        return r;
                return fold_case(c, n, ret, cs);
        }
        if (tmpl_is_intlike(attribute)) {
                if ((r = tmpl_getitem(c, n, item, attribute, ret)) < 0)
                        return r;
                return fold_case(c, n, ret, cs);
        }
        if (!json_is_string(attribute))
                return tctx_error(c, n, "attribute must be a string or an integer");
        if (!strchr(jstr(attribute), ',')) {
                if ((r = tmpl_attr_path(c, n, item, jstr(attribute), ret)) < 0)
                        return r;
                return fold_case(c, n, ret, cs);
        }
        _cleanup_free_ char *paths = strdup(jstr(attribute));
        _cleanup_json_ json_t *keys = json_array();
        char *save = NULL;
        if (!paths || !keys)
                return -ENOMEM;
        for (char *p = strtok_r(paths, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                _cleanup_tval_ tval k = {};
                if ((r = tmpl_attr_path(c, n, item, p, &k)) < 0 || (r = fold_case(c, n, &k, cs)) < 0)
                        return r;
                if (!k.j) {
                        *ret = tval_take(&k);
                        return 0;
                }
                if (json_array_append(keys, k.j) < 0)
                        return -ENOMEM;
        }
        return tval_set(ret, TAKE_PTR(keys));
}

typedef struct sitem {
        json_t *item;
        tval key;
} sitem;

static int key_less(tctx *c, const tnode *n, tval *a, tval *b, bool *ret) {
        int r;
        if ((r = tval_require(c, a)) < 0 || (r = tval_require(c, b)) < 0)
                return r;
        if (tmpl_equal(c, a->j, b->j)) {
                *ret = false;
                return 0;
        }
        return tmpl_order(c, n, OP_LT, a->j, b->j, ret);
}

/* Stable bottom-up merge sort: takes from the right run only when strictly
 * less, so equal keys keep their order, as Python's sorted() does. */
static int merge_sort(tctx *c, const tnode *n, sitem *v, size_t len, bool reverse) {
        _cleanup_free_ sitem *tmp = malloc(MAX(len, (size_t) 1) * sizeof *tmp);
        int r;

        if (!tmp)
                return -ENOMEM;
        for (size_t w = 1; w < len; w *= 2) {
                if ((r = tctx_charge(c, n, len)) < 0)
                        return r;
                for (size_t lo = 0; lo < len; lo += 2 * w) {
                        size_t mid = MIN(lo + w, len), hi = MIN(lo + 2 * w, len), i = lo, j = mid, k = lo;
                        while (i < mid && j < hi) {
                                bool less;
                                r = reverse ? key_less(c, n, &v[i].key, &v[j].key, &less) :
                                              key_less(c, n, &v[j].key, &v[i].key, &less);
                                if (r < 0)
                                        return r;
                                tmp[k++] = less ? v[j++] : v[i++];
                        }
                        while (i < mid)
                                tmp[k++] = v[i++];
                        while (j < hi)
                                tmp[k++] = v[j++];
                }
                memcpy(v, tmp, len * sizeof *v);
        }
        return 0;
}

static void sitems_free(sitem *v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                tval_done(&v[i].key);
        free(v);
}

/* Sorts the items of `list` by key (pos: -1 the item, 0/1 its pair element). */
static int sort_list(tctx *c, const tnode *n, json_t *list, json_t *attribute, int pos, bool cs, bool reverse,
                     tval *ret) {
        size_t len = json_array_size(list);
        sitem *v = calloc(MAX(len, (size_t) 1), sizeof *v);
        _cleanup_json_ json_t *out = json_array();
        int r = 0;

        if (!v || !out) {
                free(v);
                return -ENOMEM;
        }
        for (size_t i = 0; i < len && r >= 0; i++) {
                v[i].item = json_array_get(list, i);
                json_t *k = pos < 0 ? v[i].item : json_array_get(v[i].item, pos);
                r = make_key(c, n, k, attribute, cs, &v[i].key);
        }
        if (r >= 0)
                r = merge_sort(c, n, v, len, reverse);
        for (size_t i = 0; i < len && r >= 0; i++)
                if (json_array_append(out, v[i].item) < 0)
                        r = -ENOMEM;
        sitems_free(v, len);
        if (r < 0)
                return r;
        return tval_set(ret, TAKE_PTR(out));
}

static int f_sort(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *a = NULL;
        int r;

        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        return sort_list(c, n, a, args[2].j, -1, arg_true(&args[1]), arg_true(&args[0]), ret);
}

static int f_dictsort(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_tval_ tval items = {};
        int pos = 0, r;

        if (args[1].j) {
                if (!json_is_string(args[1].j) || (!streq(jstr(args[1].j), "key") && !streq(jstr(args[1].j), "value")))
                        return tctx_error(c, n, "You can only sort by either \"key\" or \"value\"");
                pos = streq(jstr(args[1].j), "value");
        }
        if (!json_is_object(in->j))
                return tctx_error(c, n, "dictsort expects a mapping, not '%s'", tmpl_type_name(c, in->j));
        if ((r = tmpl_dict_items(c, n, in->j, &items)) < 0)
                return r;
        return sort_list(c, n, items.j, NULL, pos, arg_true(&args[0]), arg_true(&args[2]), ret);
}

/* A Python-hash-equal key for unique(): 1, 1.0 and True collide. */
static int hash_key(tctx *c, const tnode *n, json_t *v, tbuf *out) {
        char buf[32];
        int r;

        c->work++;
        if (json_is_string(v)) {
                if ((r = tbuf_printf(out, "s%zu:", jlen(v))) < 0)
                        return r;
                return tbuf_put(out, jstr(v), jlen(v));
        }
        if (tmpl_is_intlike(v))
                return tbuf_printf(out, "i%" JSON_INTEGER_FORMAT ";", (json_int_t) tmpl_int_value(v));
        if (json_is_real(v)) {
                double d = json_real_value(v);
                if (d == trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
                        return tbuf_printf(out, "i%" JSON_INTEGER_FORMAT ";", (json_int_t) d);
                tmpl_float_repr(d, buf);
                return tbuf_printf(out, "f%s;", buf);
        }
        if (json_is_null(v))
                return tbuf_puts(out, "n;");
        if (tmpl_is_tuple(c, v)) {
                size_t i;
                json_t *e;
                if ((r = tbuf_printf(out, "t%zu(", json_array_size(v))) < 0)
                        return r;
                json_array_foreach(v, i, e)
                        if ((r = hash_key(c, n, e, out)) < 0)
                                return r;
                return tbuf_putc(out, ')');
        }
        return tctx_error(c, n, "unhashable type: '%s'", tmpl_type_name(c, v));
}

static int f_unique(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *a = NULL, *out = json_array(), *seen = json_object();
        size_t i;
        json_t *e;
        int r;

        if (!out || !seen)
                return -ENOMEM;
        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        json_array_foreach(a, i, e) {
                _cleanup_tval_ tval key = {};
                _cleanup_tbuf_ tbuf h = {};
                if ((r = make_key(c, n, e, args[1].j, arg_true(&args[0]), &key)) < 0 || (r = tval_require(c, &key)) < 0 ||
                    (r = hash_key(c, n, key.j, &h)) < 0)
                        return r;
                if (json_object_getn(seen, h.data, h.len))
                        continue;
                if (json_object_setn_new(seen, h.data, h.len, json_true()) < 0 || json_array_append(out, e) < 0)
                        return -ENOMEM;
        }
        return tval_set(ret, TAKE_PTR(out));
}

static int f_minmax(tctx *c, const tnode *n, tval *in, tval *args, bool max, tval *ret) {
        _cleanup_json_ json_t *a = NULL;
        _cleanup_tval_ tval best = {};
        json_t *best_item = NULL, *e;
        size_t i;
        int r;

        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        if (json_array_size(a) == 0)
                return tval_undefined(c, n, ret, "No aggregated item, sequence was empty.");
        json_array_foreach(a, i, e) {
                _cleanup_tval_ tval key = {};
                bool better = i == 0;
                if ((r = make_key(c, n, e, args[1].j, arg_true(&args[0]), &key)) < 0)
                        return r;
                if (i > 0 && (r = (max ? key_less(c, n, &best, &key, &better) : key_less(c, n, &key, &best, &better))) < 0)
                        return r;
                if (better) {
                        tval_done(&best);
                        best = tval_take(&key);
                        best_item = e;
                }
        }
        return tval_set(ret, json_incref(best_item));
}

static int f_min(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        return f_minmax(c, n, in, args, false, ret);
}

static int f_max(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        return f_minmax(c, n, in, args, true, ret);
}

static int f_sum(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *a = NULL;
        _cleanup_tval_ tval acc = {};
        size_t i;
        json_t *e;
        int r;

        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        if (args[1].j && json_is_string(args[1].j))
                return tctx_error(c, n, "sum() can't sum strings [use ''.join(seq) instead]");
        if ((r = tval_set(&acc, args[1].j ? json_incref(args[1].j) : json_integer(0))) < 0)
                return r;
        json_array_foreach(a, i, e) {
                _cleanup_tval_ tval item = {}, next = {};
                if (args[0].j && !json_is_null(args[0].j)) {
                        if ((r = make_key(c, n, e, args[0].j, true, &item)) < 0 || (r = tval_require(c, &item)) < 0)
                                return r;
                } else if ((r = tval_set(&item, json_incref(e))) < 0)
                        return r;
                if ((r = tmpl_binop(c, n, OP_ADD, acc.j, item.j, &next)) < 0)
                        return r;
                tval_done(&acc);
                acc = tval_take(&next);
        }
        *ret = tval_take(&acc);
        return 0;
}

/* --------------------------------------------------- map, select, reject */

static int run_test(tctx *c, const tnode *n, json_t *name, json_t *arg, tval *v, bool *ret) {
        tval args[TMPL_MAX_PARAMS] = {};
        _cleanup_tval_ tval out = {};
        const tmpl_filter *t;
        int idx, r;

        if (!name || json_is_null(name))
                return tmpl_truthy_tval(c, v, ret);
        if (!json_is_string(name) || !(t = tmpl_find_test(jstr(name), &idx)))
                return tctx_error(c, n, "no test named '%s'", json_is_string(name) ? jstr(name) : "?");
        if (arg && !t->params[0])
                return tctx_error(c, n, "test '%s' takes no argument", t->name);
        if (!(t->flags & TF_UNDEF_INPUT) && (r = tval_require(c, v)) < 0)
                return r;
        args[0].j = json_incref(arg);
        r = t->fn(c, n, v, args, &out);
        tval_done(&args[0]);
        if (r < 0)
                return r;
        *ret = json_is_true(out.j);
        return 0;
}

static int select_common(tctx *c, const tnode *n, tval *in, tval *args, bool attr, bool reject, tval *ret) {
        _cleanup_json_ json_t *a = NULL, *out = json_array();
        size_t i;
        json_t *e;
        int r;

        if (!out)
                return -ENOMEM;
        if (attr && (!args[0].j || !json_is_string(args[0].j)))
                return tctx_error(c, n, "%s needs an attribute name", reject ? "rejectattr" : "selectattr");
        if (!tmpl_truthy(in->j)) /* Jinja: `if value:` before anything else */
                return tval_set(ret, TAKE_PTR(out));
        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        json_array_foreach(a, i, e) {
                _cleanup_tval_ tval v = {};
                bool keep;
                if (attr)
                        r = tmpl_attr_path(c, n, e, jstr(args[0].j), &v);
                else
                        r = tval_set(&v, json_incref(e));
                if (r < 0 || (r = run_test(c, n, args[attr].j, args[attr + 1].j, &v, &keep)) < 0)
                        return r;
                if (keep != reject && json_array_append(out, e) < 0)
                        return -ENOMEM;
        }
        return tval_set(ret, TAKE_PTR(out));
}

static int f_select(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        return select_common(c, n, in, args, false, false, ret);
}

static int f_reject(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        return select_common(c, n, in, args, false, true, ret);
}

static int f_selectattr(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        return select_common(c, n, in, args, true, false, ret);
}

static int f_rejectattr(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        return select_common(c, n, in, args, true, true, ret);
}

static int map_one(tctx *c, const tnode *n, json_t *e, tval *args, tval *ret) {
        tval none[TMPL_MAX_PARAMS] = {};
        _cleanup_tval_ tval v = {};
        const tmpl_filter *f;
        int idx, r;

        if (args[1].j) {
                if (!json_is_string(args[1].j) && !tmpl_is_intlike(args[1].j))
                        return tctx_error(c, n, "map: attribute must be a string");
                if ((r = make_key(c, n, e, args[1].j, true, ret)) < 0)
                        return r;
                if (!ret->j && args[2].j)
                        return tval_set(ret, json_incref(args[2].j));
                return tval_require(c, ret);
        }
        if (!args[0].j || !json_is_string(args[0].j) || !(f = tmpl_find_filter(jstr(args[0].j), &idx)))
                return tctx_error(c, n, "map needs a filter name or attribute=");
        if ((r = tval_set(&v, json_incref(e))) < 0)
                return r;
        r = f->fn(c, n, &v, none, ret);
        if (r >= 0)
                r = tval_require(c, ret);
        return r;
}

static int f_map(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *a = NULL, *out = json_array();
        size_t i;
        json_t *e;
        int r;

        if (!out)
                return -ENOMEM;
        if (!tmpl_truthy(in->j)) /* Jinja: `if value:` before anything else */
                return tval_set(ret, TAKE_PTR(out));
        if ((r = tmpl_iterate(c, n, in->j, &a)) < 0)
                return r;
        json_array_foreach(a, i, e) {
                _cleanup_tval_ tval v = {};
                if ((r = map_one(c, n, e, args, &v)) < 0)
                        return r;
                if (json_array_append(out, v.j) < 0)
                        return -ENOMEM;
        }
        return tval_set(ret, TAKE_PTR(out));
}

/* ------------------------------------------------------------------ tests */

static int t_bool(tval *ret, bool b) {
        return tval_set(ret, json_boolean(b));
}

#define TYPE_TEST(fname, expr)                                                           \
        static int fname(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {     \
                (void) c, (void) n, (void) args;                                         \
                json_t *v = in->j;                                                       \
                (void) v;                                                                \
                return t_bool(ret, (expr));                                              \
        }

TYPE_TEST(t_defined, v != NULL)
TYPE_TEST(t_undefined, v == NULL)
TYPE_TEST(t_none, v && json_is_null(v))
TYPE_TEST(t_boolean, v && json_is_boolean(v))
TYPE_TEST(t_true, v && json_is_true(v))
TYPE_TEST(t_false, v && json_is_false(v))
TYPE_TEST(t_integer, v && json_is_integer(v))
TYPE_TEST(t_float, v && json_is_real(v))
TYPE_TEST(t_number, v && tmpl_is_number(v))
TYPE_TEST(t_string, v && json_is_string(v))
TYPE_TEST(t_mapping, v && json_is_object(v))
TYPE_TEST(t_sequence, v && (json_is_string(v) || json_is_array(v) || json_is_object(v)))
TYPE_TEST(t_iterable, json_is_string(v) || json_is_array(v) || json_is_object(v))
TYPE_TEST(t_escaped, false)

static int t_sameas(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        json_t *o = args[0].j;
        if (!o || !(json_is_null(o) || json_is_boolean(o)))
                return tctx_error(c, n, "kiln supports 'sameas' only with none, true or false");
        return t_bool(ret, in->j && json_typeof(in->j) == json_typeof(o));
}

/* value % d == want, with Python's % */
static int mod_test(tctx *c, const tnode *n, json_t *v, json_t *d, int64_t want, tval *ret) {
        _cleanup_tval_ tval m = {};
        _cleanup_json_ json_t *w = json_integer(want);
        int r;

        if (!w)
                return -ENOMEM;
        if ((r = tmpl_binop(c, n, OP_MOD, v, d, &m)) < 0)
                return r;
        return t_bool(ret, tmpl_equal(c, m.j, w));
}

static int t_odd(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *two = json_integer(2);
        return two ? mod_test(c, n, in->j, two, 1, ret) : -ENOMEM;
}

static int t_even(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        _cleanup_json_ json_t *two = json_integer(2);
        return two ? mod_test(c, n, in->j, two, 0, ret) : -ENOMEM;
}

static int t_divisibleby(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        if (!args[0].j)
                return tctx_error(c, n, "divisibleby needs a number");
        return mod_test(c, n, in->j, args[0].j, 0, ret);
}

static int compare_test(tctx *c, const tnode *n, tval *in, tval *args, int op, tval *ret) {
        bool b;
        int r;
        if (!args[0].j)
                return tctx_error(c, n, "this test needs a value to compare with");
        if ((r = tmpl_compare(c, n, op, in->j, args[0].j, &b)) < 0)
                return r;
        return t_bool(ret, b);
}

#define COMPARE_TEST(fname, op)                                                      \
        static int fname(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) { \
                return compare_test(c, n, in, args, op, ret);                        \
        }

COMPARE_TEST(t_eq, OP_EQ)
COMPARE_TEST(t_ne, OP_NE)
COMPARE_TEST(t_lt, OP_LT)
COMPARE_TEST(t_le, OP_LTEQ)
COMPARE_TEST(t_gt, OP_GT)
COMPARE_TEST(t_ge, OP_GTEQ)
COMPARE_TEST(t_in, OP_IN)

/* str.islower()/isupper(), from the case tables (see docs for the approximation). */
static int case_test(tctx *c, const tnode *n, tval *in, bool lower, tval *ret) {
        _cleanup_json_ json_t *s = NULL;
        _cleanup_tbuf_ tbuf u = {}, l = {};
        int r;

        if ((r = str_value(c, n, in->j, &s)) < 0 || (r = tmpl_uni_upper(&u, jstr(s), jlen(s))) < 0 ||
            (r = tmpl_uni_lower(&l, jstr(s), jlen(s), 0)) < 0)
                return r;
        bool cased = u.len != l.len || memcmp(u.data ? u.data : "", l.data ? l.data : "", u.len) != 0;
        tbuf *same = lower ? &l : &u;
        return t_bool(ret, cased && same->len == jlen(s) && memcmp(same->data, jstr(s), jlen(s)) == 0);
}

static int t_lower(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        return case_test(c, n, in, true, ret);
}

static int t_upper(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        (void) args;
        return case_test(c, n, in, false, ret);
}

/* `fmt|format(a, b)` is `fmt % (a, b)`. */
static int f_format(tctx *c, const tnode *n, tval *in, tval *args, tval *ret) {
        _cleanup_json_ json_t *s = NULL, *tuple = json_array();
        int r;

        if (!tuple)
                return -ENOMEM;
        if ((r = str_value(c, n, in->j, &s)) < 0)
                return r;
        for (size_t i = 0; i < TMPL_MAX_PARAMS && args[i].j; i++)
                if (json_array_append(tuple, args[i].j) < 0)
                        return -ENOMEM;
        if ((r = tmpl_mark_tuple(c, tuple)) < 0)
                return r;
        return tmpl_percent_format(c, n, s, tuple, ret);
}

/* ----------------------------------------------------------------- tables */

static const tmpl_filter filters[] = {
        { "abs", f_abs, 0, {} },
        { "b64decode", f_b64decode, 0, {} },
        { "b64encode", f_b64encode, 0, {} },
        { "capitalize", f_capitalize, 0, {} },
        { "center", f_center, 0, { "width" } },
        { "count", f_length, 0, {} },
        { "d", f_default, TF_UNDEF_INPUT | TF_UNDEF_ARGS, { "default_value", "boolean" } },
        { "default", f_default, TF_UNDEF_INPUT | TF_UNDEF_ARGS, { "default_value", "boolean" } },
        { "dictsort", f_dictsort, 0, { "case_sensitive", "by", "reverse" } },
        { "first", f_first, 0, {} },
        { "float", f_float, 0, { "default" } },
        { "format", f_format, 0, { "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8" } },
        { "indent", f_indent, 0, { "width", "first", "blank" } },
        { "int", f_int, 0, { "default", "base" } },
        { "items", f_items, TF_UNDEF_INPUT, {} },
        { "join", f_join, 0, { "d", "attribute" } },
        { "last", f_last, 0, {} },
        { "length", f_length, 0, {} },
        { "list", f_list, 0, {} },
        { "lower", f_lower, 0, {} },
        { "map", f_map, 0, { "filter", "*attribute", "*default" } },
        { "max", f_max, 0, { "case_sensitive", "attribute" } },
        { "min", f_min, 0, { "case_sensitive", "attribute" } },
        { "reject", f_reject, 0, { "test", "arg" } },
        { "rejectattr", f_rejectattr, 0, { "attribute", "test", "arg" } },
        { "replace", f_replace, 0, { "old", "new", "count" } },
        { "reverse", f_reverse, 0, {} },
        { "round", f_round, 0, { "precision", "method" } },
        { "select", f_select, 0, { "test", "arg" } },
        { "selectattr", f_selectattr, 0, { "attribute", "test", "arg" } },
        { "sort", f_sort, 0, { "reverse", "case_sensitive", "attribute" } },
        { "string", f_string, 0, {} },
        { "sum", f_sum, 0, { "attribute", "start" } },
        { "title", f_title, 0, {} },
        { "tojson", f_tojson, 0, { "indent" } },
        { "trim", f_trim, 0, { "chars" } },
        { "unique", f_unique, 0, { "case_sensitive", "attribute" } },
        { "upper", f_upper, 0, {} },
};

static const tmpl_filter tests[] = {
        { "!=", t_ne, 0, { "other" } },
        { "<", t_lt, 0, { "other" } },
        { "<=", t_le, 0, { "other" } },
        { "==", t_eq, 0, { "other" } },
        { ">", t_gt, 0, { "other" } },
        { ">=", t_ge, 0, { "other" } },
        { "boolean", t_boolean, TF_UNDEF_INPUT, {} },
        { "defined", t_defined, TF_UNDEF_INPUT, {} },
        { "divisibleby", t_divisibleby, 0, { "num" } },
        { "eq", t_eq, 0, { "other" } },
        { "equalto", t_eq, 0, { "other" } },
        { "escaped", t_escaped, TF_UNDEF_INPUT, {} },
        { "even", t_even, 0, {} },
        { "false", t_false, TF_UNDEF_INPUT, {} },
        { "float", t_float, TF_UNDEF_INPUT, {} },
        { "ge", t_ge, 0, { "other" } },
        { "greaterthan", t_gt, 0, { "other" } },
        { "gt", t_gt, 0, { "other" } },
        { "in", t_in, 0, { "seq" } },
        { "integer", t_integer, TF_UNDEF_INPUT, {} },
        { "iterable", t_iterable, 0, {} },
        { "le", t_le, 0, { "other" } },
        { "lessthan", t_lt, 0, { "other" } },
        { "lower", t_lower, 0, {} },
        { "lt", t_lt, 0, { "other" } },
        { "mapping", t_mapping, TF_UNDEF_INPUT, {} },
        { "ne", t_ne, 0, { "other" } },
        { "none", t_none, TF_UNDEF_INPUT, {} },
        { "number", t_number, TF_UNDEF_INPUT, {} },
        { "odd", t_odd, 0, {} },
        { "sameas", t_sameas, TF_UNDEF_INPUT, { "other" } },
        { "sequence", t_sequence, TF_UNDEF_INPUT, {} },
        { "string", t_string, TF_UNDEF_INPUT, {} },
        { "true", t_true, TF_UNDEF_INPUT, {} },
        { "undefined", t_undefined, TF_UNDEF_INPUT, {} },
        { "upper", t_upper, 0, {} },
};

static const tmpl_filter *find(const tmpl_filter *table, size_t n, const char *name, int *ret_index) {
        for (size_t i = 0; i < n; i++)
                if (streq(table[i].name, name)) {
                        if (ret_index)
                                *ret_index = (int) i;
                        return &table[i];
                }
        return NULL;
}

const tmpl_filter *tmpl_find_filter(const char *name, int *ret_index) {
        return find(filters, ELEMENTSOF(filters), name, ret_index);
}

const tmpl_filter *tmpl_find_test(const char *name, int *ret_index) {
        return find(tests, ELEMENTSOF(tests), name, ret_index);
}

const tmpl_filter *tmpl_filter_at(int index) {
        return &filters[index];
}

const tmpl_filter *tmpl_test_at(int index) {
        return &tests[index];
}

bool tmpl_filter_is_unsupported(const char *name) {
        static const char *const jinja[] = { "attr", "batch", "e", "escape", "filesizeformat", "forceescape",
                                             "groupby", "pprint", "random", "safe", "slice",
                                             "striptags", "truncate", "urlencode", "urlize", "wordcount",
                                             "wordwrap", "xmlattr" };
        for (size_t i = 0; i < ELEMENTSOF(jinja); i++)
                if (streq(jinja[i], name))
                        return true;
        return false;
}
