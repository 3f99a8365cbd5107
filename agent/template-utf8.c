/* template-utf8.c — byte buffers, UTF-8 walking and Python's Unicode rules for the template engine.
 *
 * Jinja2 works on Python str: lengths, slices and `loop` over a string count
 * code points, and upper/lower/title follow Python's full case mappings
 * ("ß"|upper is "SS", "ΟΔΟΣ"|lower ends in final sigma "ς").  Templates and
 * jansson strings are valid UTF-8 (checked on parse and by jansson), so the
 * walkers here assume validity and only tmpl_utf8_invalid_at() checks.  The
 * tables come from template-unicode.c, generated from Python itself.
 */
#include <stdarg.h>
#include <stdio.h>

#include "template-internal.h"

/* ---------------------------------------------------------------- buffers */

int tbuf_put(tbuf *b, const void *p, size_t n) {
        if (n == 0)
                return 0;
        if (b->max > 0 && (b->len + n > b->max || b->len + n < b->len))
                return -E2BIG;
        if (b->len + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n + 1);
                char *d = realloc(b->data, MAX(cap, (size_t) 64));
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = MAX(cap, (size_t) 64);
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

int tbuf_printf(tbuf *b, const char *fmt, ...) {
        char small[128];
        _cleanup_free_ char *big = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof small, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n < sizeof small)
                return tbuf_put(b, small, n);
        va_start(ap, fmt);
        n = vasprintf(&big, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return tbuf_put(b, big, n);
}

char *tbuf_steal(tbuf *b, size_t *ret_len) {
        char *r;

        if (!b->data) {
                r = strdup("");
                if (!r)
                        return NULL;
        } else {
                r = b->data;
                r[b->len] = 0;
        }
        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        b->len = b->cap = 0;
        return r;
}

void tbuf_done(tbuf *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ UTF-8 */

size_t tmpl_utf8_next(const char *s, size_t len, uint32_t *ret_cp) {
        const unsigned char *u = (const unsigned char *) s;
        size_t n = u[0] < 0x80 ? 1 : u[0] < 0xE0 ? 2 : u[0] < 0xF0 ? 3 : 4;
        uint32_t cp;

        if (n > len)
                n = len; /* can't happen with valid input; stay in bounds anyway */
        if (n == 1)
                cp = u[0];
        else if (n == 2)
                cp = (u[0] & 0x1F) << 6 | (u[1] & 0x3F);
        else if (n == 3)
                cp = (u[0] & 0x0F) << 12 | (u[1] & 0x3F) << 6 | (u[2] & 0x3F);
        else
                cp = (uint32_t) (u[0] & 0x07) << 18 | (u[1] & 0x3F) << 12 | (u[2] & 0x3F) << 6 | (u[3] & 0x3F);
        *ret_cp = cp;
        return n;
}

size_t tmpl_utf8_prev(const char *s, size_t len) {
        size_t n = 1;
        while (n < len && n < 4 && (((unsigned char) s[len - n]) & 0xC0) == 0x80)
                n++;
        return n;
}

size_t tmpl_utf8_encode(uint32_t cp, char out[4]) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xC0 | cp >> 6);
                out[1] = (char) (0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xE0 | cp >> 12);
                out[1] = (char) (0x80 | (cp >> 6 & 0x3F));
                out[2] = (char) (0x80 | (cp & 0x3F));
                return 3;
        }
        out[0] = (char) (0xF0 | cp >> 18);
        out[1] = (char) (0x80 | (cp >> 12 & 0x3F));
        out[2] = (char) (0x80 | (cp >> 6 & 0x3F));
        out[3] = (char) (0x80 | (cp & 0x3F));
        return 4;
}

int tbuf_put_cp(tbuf *b, uint32_t cp) {
        char u[4];
        return tbuf_put(b, u, tmpl_utf8_encode(cp, u));
}

/* Length of the valid sequence at u[0..len), or 0. */
static size_t utf8_valid_seq(const unsigned char *u, size_t len) {
        size_t n;
        uint32_t cp, min;

        if (u[0] < 0x80)
                return 1;
        if (u[0] >= 0xC2 && u[0] <= 0xDF)
                n = 2, min = 0x80, cp = u[0] & 0x1F;
        else if (u[0] >= 0xE0 && u[0] <= 0xEF)
                n = 3, min = 0x800, cp = u[0] & 0x0F;
        else if (u[0] >= 0xF0 && u[0] <= 0xF4)
                n = 4, min = 0x10000, cp = u[0] & 0x07;
        else
                return 0;
        if (n > len)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((u[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (u[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

size_t tmpl_utf8_invalid_at(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *) s;
        size_t i = 0;

        while (i < len) {
                size_t n = utf8_valid_seq(u + i, len - i);
                if (n == 0)
                        return i;
                i += n;
        }
        return len;
}

size_t tmpl_utf8_count(const char *s, size_t len) {
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                if ((((unsigned char) s[i]) & 0xC0) != 0x80)
                        n++;
        return n;
}

size_t tmpl_utf8_offset(const char *s, size_t len, size_t idx) {
        size_t i = 0;
        uint32_t cp;

        while (idx > 0 && i < len) {
                i += tmpl_utf8_next(s + i, len - i, &cp);
                idx--;
        }
        return i;
}

/* ---------------------------------------------------------------- tables */

static bool in_ranges(const tmpl_range *r, size_t n, uint32_t cp) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cp < r[mid].lo)
                        hi = mid;
                else if (cp > r[mid].hi)
                        lo = mid + 1;
                else
                        return true;
        }
        return false;
}

/* The mapping of cp into to[] (up to 3 code points); 0 when cp maps to itself. */
static size_t case_map(const tmpl_case_table *t, uint32_t cp, uint32_t to[3]) {
        size_t lo = 0, hi = t->n_multi;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cp < t->multi[mid].cp)
                        hi = mid;
                else if (cp > t->multi[mid].cp)
                        lo = mid + 1;
                else {
                        size_t n = 0;
                        for (; n < 3 && t->multi[mid].to[n]; n++)
                                to[n] = t->multi[mid].to[n];
                        return n;
                }
        }
        /* the last run starting at or before cp is the only one that can hold it */
        lo = 0;
        hi = t->n_runs;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (t->runs[mid].first <= cp)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == 0)
                return 0;
        const tmpl_case_run *r = &t->runs[lo - 1];
        uint32_t k = (cp - r->first) / r->stride;
        if ((cp - r->first) % r->stride != 0 || k >= r->count)
                return 0;
        to[0] = (uint32_t) ((int32_t) cp + r->delta);
        return 1;
}

bool tmpl_uni_isspace(uint32_t cp) {
        if (cp < 0x80)
                return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
        return in_ranges(tmpl_space_ranges, tmpl_space_ranges_len, cp);
}

bool tmpl_uni_isprintable(uint32_t cp) {
        if (cp < 0x80)
                return cp >= 0x20 && cp < 0x7F;
        return !in_ranges(tmpl_nonprintable_ranges, tmpl_nonprintable_ranges_len, cp);
}

bool tmpl_uni_islinebreak(uint32_t cp) {
        return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
               cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

static int put_mapped(tbuf *out, const tmpl_case_table *t, uint32_t cp) {
        uint32_t to[3];
        size_t n = case_map(t, cp, to);
        int r;

        if (n == 0)
                return tbuf_put_cp(out, cp);
        for (size_t i = 0; i < n; i++) {
                r = tbuf_put_cp(out, to[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int tmpl_uni_upper(tbuf *out, const char *s, size_t len) {
        size_t i = 0;
        uint32_t cp;
        int r;

        while (i < len) {
                i += tmpl_utf8_next(s + i, len - i, &cp);
                if (cp < 0x80)
                        r = tbuf_putc(out, (char) (cp >= 'a' && cp <= 'z' ? cp - 32 : cp));
                else
                        r = put_mapped(out, &tmpl_upper_map, cp);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_cased(uint32_t cp) {
        return in_ranges(tmpl_cased_ranges, tmpl_cased_ranges_len, cp);
}

static bool is_case_ignorable(uint32_t cp) {
        return in_ranges(tmpl_case_ignorable_ranges, tmpl_case_ignorable_ranges_len, cp);
}

/* CPython's handle_capital_sigma(): Σ at position `at` lowers to ς when a
 * cased letter precedes it and none follows (skipping case-ignorables). */
static bool final_sigma(const char *s, size_t len, size_t at, size_t after) {
        size_t j = at;
        uint32_t cp = 0;
        bool before = false;

        while (j > 0) {
                size_t n = tmpl_utf8_prev(s, j);
                tmpl_utf8_next(s + j - n, n, &cp);
                j -= n;
                if (!is_case_ignorable(cp)) {
                        before = is_cased(cp);
                        break;
                }
        }
        if (!before)
                return false;
        for (j = after; j < len;) {
                j += tmpl_utf8_next(s + j, len - j, &cp);
                if (!is_case_ignorable(cp))
                        return !is_cased(cp);
        }
        return true;
}

int tmpl_uni_lower(tbuf *out, const char *s, size_t len, size_t start) {
        size_t i = start;
        uint32_t cp;
        int r;

        while (i < len) {
                size_t at = i;
                i += tmpl_utf8_next(s + i, len - i, &cp);
                if (cp < 0x80)
                        r = tbuf_putc(out, (char) (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
                else if (cp == 0x03A3)
                        r = tbuf_put_cp(out, final_sigma(s, len, at, i) ? 0x03C2 : 0x03C3);
                else
                        r = put_mapped(out, &tmpl_lower_map, cp);
                if (r < 0)
                        return r;
        }
        return 0;
}

int tmpl_uni_title_cp(tbuf *out, uint32_t cp) {
        uint32_t to[3];
        if (case_map(&tmpl_title_map, cp, to) > 0)
                return put_mapped(out, &tmpl_title_map, cp);
        char u[4];
        size_t n = tmpl_utf8_encode(cp, u);
        return tmpl_uni_upper(out, u, n);
}

size_t tmpl_uni_lspace(const char *s, size_t len) {
        size_t i = 0;
        uint32_t cp;

        while (i < len) {
                size_t n = tmpl_utf8_next(s + i, len - i, &cp);
                if (!tmpl_uni_isspace(cp))
                        break;
                i += n;
        }
        return i;
}

size_t tmpl_uni_rspace(const char *s, size_t len) {
        size_t e = len;
        uint32_t cp;

        while (e > 0) {
                size_t n = tmpl_utf8_prev(s, e);
                tmpl_utf8_next(s + e - n, n, &cp);
                if (!tmpl_uni_isspace(cp))
                        break;
                e -= n;
        }
        return len - e;
}
