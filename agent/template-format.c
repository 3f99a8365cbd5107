/* template-format.c — Python's printf-style formatting: `"%02d" % n` and `|format`.
 *
 * Config templates pad and format numbers ("%02d", "%.1f", "%x"), and
 * Jinja2 does it with Python's str.__mod__, so this is CPython's
 * PyUnicode_Format() for the conversions that matter: %s %r %d %i %u %x %X
 * %o %e %E %f %F %g %G %c %% with the flags "-+ #0", width and precision
 * ("*" taken from the arguments) and %(key)s with a dict.  Integers are
 * formatted here digit by digit (Python's "%#o" is "0o17", not C's "017");
 * floats go through snprintf with the same flags, which CPython's rules
 * reproduce for finite values.  Errors are Python's TypeError/ValueError
 * messages, positioned at the operator or filter.
 */
#include <math.h>
#include <stdio.h>

#include "template-internal.h"

typedef struct fspec {
        bool left, plus, space, alt, zero;
        int64_t width, prec; /* prec < 0: not given */
        char type;
} fspec;

typedef struct fargs {
        json_t *items; /* positional arguments (a tuple's items, or the single value) */
        size_t next;
        bool single;   /* items holds one non-tuple value */
        json_t *dict;  /* mapping for %(key)s, or NULL */
} fargs;

static int next_arg(tctx *c, const tnode *n, fargs *a, json_t **ret) {
        if (a->next >= json_array_size(a->items))
                return tctx_error(c, n, "not enough arguments for format string");
        *ret = json_array_get(a->items, a->next++);
        return 0;
}

/* Pads body (sign/prefix already split off) to the spec's width. */
static int pad(tbuf *out, const fspec *s, const char *prefix, const char *body, size_t body_len, size_t body_cps) {
        size_t plen = strlen(prefix), used = plen + body_cps;
        size_t fill = s->width > 0 && (uint64_t) s->width > used ? (size_t) s->width - used : 0;
        int r = 0;

        for (size_t i = 0; !s->left && !s->zero && i < fill && r >= 0; i++)
                r = tbuf_putc(out, ' ');
        if (r >= 0)
                r = tbuf_put(out, prefix, plen);
        for (size_t i = 0; !s->left && s->zero && i < fill && r >= 0; i++)
                r = tbuf_putc(out, '0');
        if (r >= 0)
                r = tbuf_put(out, body, body_len);
        for (size_t i = 0; s->left && i < fill && r >= 0; i++)
                r = tbuf_putc(out, ' ');
        return r;
}

static int format_str(tctx *c, tbuf *out, fspec *s, json_t *v) {
        _cleanup_tbuf_ tbuf b = { .max = c->max_output };
        int r = s->type == 's' ? tmpl_str(c, &b, v) : tmpl_repr(c, &b, v);
        size_t len = b.len, cps;

        if (r < 0)
                return r;
        cps = tmpl_utf8_count(b.data ? b.data : "", b.len);
        if (s->prec >= 0 && (uint64_t) s->prec < cps) {
                len = tmpl_utf8_offset(b.data, b.len, (size_t) s->prec);
                cps = (size_t) s->prec;
        }
        s->zero = false;
        return pad(out, s, "", b.data ? b.data : "", len, cps);
}

static int format_int(tctx *c, const tnode *n, tbuf *out, fspec *s, json_t *v) {
        char digits[80], prefix[8] = "", *w = prefix;
        int64_t i;
        uint64_t u;
        int nd = 0, base = s->type == 'x' || s->type == 'X' ? 16 : s->type == 'o' ? 8 : 10;

        if (json_is_real(v) && base == 10) {
                double d = trunc(json_real_value(v));
                if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
                        return tctx_error(c, n, "integer overflow (kiln's integers are 64-bit)");
                i = (int64_t) d;
        } else if (tmpl_is_intlike(v))
                i = tmpl_int_value(v);
        else
                return tctx_error(c, n, base == 10 ? "%%%c format: a real number is required, not %s" :
                                                     "%%%c format: an integer is required, not %s",
                                  s->type, tmpl_type_name(c, v));
        u = i < 0 ? 0 - (uint64_t) i : (uint64_t) i;
        do {
                int dg = (int) (u % base);
                digits[nd++] = (char) (dg < 10 ? '0' + dg : (s->type == 'X' ? 'A' : 'a') + dg - 10);
                u /= base;
        } while (u > 0);
        while (s->prec > nd && nd < 70)
                digits[nd++] = '0';
        if (i < 0 || s->plus || s->space)
                *w++ = i < 0 ? '-' : s->plus ? '+' : ' ';
        if (s->alt && base != 10) {
                *w++ = '0';
                *w++ = s->type == 'o' ? 'o' : s->type;
        }
        *w = 0;
        for (int k = 0; k < nd / 2; k++) {
                char t = digits[k];
                digits[k] = digits[nd - 1 - k];
                digits[nd - 1 - k] = t;
        }
        return pad(out, s, prefix, digits, nd, nd);
}

static int format_float(tctx *c, const tnode *n, tbuf *out, fspec *s, json_t *v) {
        char fmt[32], buf[512];
        int len;

        if (!tmpl_is_number(v))
                return tctx_error(c, n, "must be real number, not %s", tmpl_type_name(c, v));
        if (s->prec > 400)
                return tctx_error(c, n, "format precision too big for kiln (at most 400)");
        snprintf(fmt, sizeof fmt, "%%%s%s%s.%d%c", s->plus ? "+" : "", s->space ? " " : "", s->alt ? "#" : "",
                 s->prec < 0 ? 6 : (int) s->prec, s->type);
        len = snprintf(buf, sizeof buf, fmt, tmpl_num_value(v));
        if (len < 0 || (size_t) len >= sizeof buf)
                return tctx_error(c, n, "formatted number too long");
        /* the sign goes before zero padding */
        bool neg = buf[0] == '-' || buf[0] == '+' || buf[0] == ' ';
        char prefix[2] = { neg ? buf[0] : 0, 0 };
        return pad(out, s, prefix, buf + neg, len - neg, len - neg);
}

static int format_char(tctx *c, const tnode *n, tbuf *out, fspec *s, json_t *v) {
        char u[4];
        size_t len;

        if (json_is_string(v) && tmpl_utf8_count(jstr(v), jlen(v)) == 1)
                return pad(out, s, "", jstr(v), jlen(v), 1);
        if (!tmpl_is_intlike(v))
                return tctx_error(c, n, "%%c requires int or char");
        int64_t cp = tmpl_int_value(v);
        if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return tctx_error(c, n, "%%c arg not in range(0x110000)");
        len = tmpl_utf8_encode((uint32_t) cp, u);
        s->zero = false;
        return pad(out, s, "", u, len, 1);
}

/* "*" or digits; returns the new position. */
static int read_number(tctx *c, const tnode *n, fargs *a, const char *f, size_t len, size_t *i, int64_t *ret) {
        json_t *v = NULL;
        int r;

        if (*i < len && f[*i] == '*') {
                (*i)++;
                if ((r = next_arg(c, n, a, &v)) < 0)
                        return r;
                if (!tmpl_is_intlike(v))
                        return tctx_error(c, n, "* wants int");
                *ret = tmpl_int_value(v);
                return 0;
        }
        for (*ret = 0; *i < len && f[*i] >= '0' && f[*i] <= '9'; (*i)++)
                if (__builtin_mul_overflow(*ret, 10, ret) || __builtin_add_overflow(*ret, f[*i] - '0', ret))
                        return tctx_error(c, n, "width too big");
        return 0;
}

/* "(key)": the value from the mapping. */
static int read_key(tctx *c, const tnode *n, fargs *a, const char *f, size_t len, size_t *i, json_t **ret) {
        size_t start = ++(*i);
        int depth = 1;

        if (!a->dict)
                return tctx_error(c, n, "format requires a mapping");
        for (; *i < len && depth > 0; (*i)++)
                depth += f[*i] == '(' ? 1 : f[*i] == ')' ? -1 : 0;
        if (depth > 0)
                return tctx_error(c, n, "incomplete format key");
        *ret = json_object_getn(a->dict, f + start, *i - 1 - start);
        if (!*ret)
                return tctx_error(c, n, "format key '%.*s' is missing", (int) (*i - 1 - start), f + start);
        return 0;
}

static int read_spec(tctx *c, const tnode *n, fargs *a, const char *f, size_t len, size_t *i, fspec *s,
                     json_t **key_value) {
        int r;

        if (*i < len && f[*i] == '(' && (r = read_key(c, n, a, f, len, i, key_value)) < 0)
                return r;
        for (; *i < len && strchr("-+ #0", f[*i]); (*i)++) {
                s->left |= f[*i] == '-';
                s->plus |= f[*i] == '+';
                s->space |= f[*i] == ' ';
                s->alt |= f[*i] == '#';
                s->zero |= f[*i] == '0';
        }
        if ((r = read_number(c, n, a, f, len, i, &s->width)) < 0)
                return r;
        if (s->width < 0) {
                s->left = true;
                s->width = -s->width;
        }
        s->prec = -1;
        if (*i < len && f[*i] == '.') {
                (*i)++;
                if ((r = read_number(c, n, a, f, len, i, &s->prec)) < 0)
                        return r;
        }
        while (*i < len && strchr("hlL", f[*i]))
                (*i)++;
        if (*i >= len)
                return tctx_error(c, n, "incomplete format");
        if ((uint64_t) s->width > c->max_output)
                return tctx_error(c, n, "format width exceeds the output limit");
        s->type = f[(*i)++];
        return 0;
}

static int format_one(tctx *c, const tnode *n, tbuf *out, fargs *a, const char *f, size_t len, size_t *i) {
        fspec s = {};
        json_t *v = NULL;
        int r;

        if ((r = read_spec(c, n, a, f, len, i, &s, &v)) < 0)
                return r;
        if (s.type == '%' && !v)
                return tbuf_putc(out, '%');
        if (!v && (r = next_arg(c, n, a, &v)) < 0)
                return r;
        switch (s.type) {
        case 's':
        case 'r':
                return format_str(c, out, &s, v);
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
                s.type = s.type == 'i' || s.type == 'u' ? 'd' : s.type;
                return format_int(c, n, out, &s, v);
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
                return format_float(c, n, out, &s, v);
        case 'c':
                return format_char(c, n, out, &s, v);
        default:
                return tctx_error(c, n, "unsupported format character '%c' (0x%x) at index %zu", s.type,
                                  (unsigned char) s.type, *i - 1);
        }
}

/* Python's `fmt % args`: args is a tuple, a mapping (for %(key)s) or one value. */
int tmpl_percent_format(tctx *c, const tnode *n, json_t *fmt, json_t *args, tval *ret) {
        _cleanup_tbuf_ tbuf out = { .max = c->max_output };
        _cleanup_json_ json_t *single = NULL;
        fargs a = { .items = args, .dict = json_is_object(args) ? args : NULL };
        const char *f = jstr(fmt);
        size_t len = jlen(fmt);
        int r = 0;

        if (!tmpl_is_tuple(c, args)) {
                single = json_pack("[O]", args);
                if (!single)
                        return -ENOMEM;
                a.items = single;
                a.single = true;
        }
        c->work += len / 64;
        for (size_t i = 0; i < len && r >= 0;) {
                const char *pct = memchr(f + i, '%', len - i);
                size_t k = pct ? (size_t) (pct - f) : len;
                r = tbuf_put(&out, f + i, k - i);
                i = k + 1;
                if (r >= 0 && pct)
                        r = format_one(c, n, &out, &a, f, len, &i);
        }
        if (r == -E2BIG)
                return tctx_error(c, n, "string value exceeds the output limit of %zu bytes", c->max_output);
        if (r < 0)
                return r;
        if (a.next < json_array_size(a.items) && !a.dict)
                return tctx_error(c, n, "not all arguments converted during string formatting");
        return tctx_string(c, n, out.data, out.len, ret);
}
