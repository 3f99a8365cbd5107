/* template-lexer.c — template source → tokens, following Jinja2's lexer rule for rule.
 *
 * Byte-identical output depends on getting the boring parts exactly right,
 * so this mirrors jinja2/lexer.py (3.1) rather than inventing a grammar:
 *   - newlines (\r\n, \r, \n) are normalized to \n over the whole source and
 *     one trailing newline is dropped (keep_trailing_newline=False, unless
 *     the caller asks for Jinja's keep_trailing_newline=True);
 *   - data runs to the first "{{", "{%" or "{#"; a "-" after the opening
 *     strips the whitespace before the tag (Python's rstrip(): Unicode
 *     whitespace), a "-" before the closing strips the whitespace after it;
 *     "+" is accepted and, with trim_blocks/lstrip_blocks off, changes nothing;
 *   - inside a tag, the closing "}}"/"%}" only counts when brackets balance;
 *   - numbers, names, strings and operators use Jinja's regular expressions
 *     (floats before integers, "1_000", "0x1F", Python string escapes);
 *   - "{% raw %}...{% endraw %}" is data, found by the lexer like Jinja does.
 * Each token carries line:col (col counts code points) for diagnostics.
 */
#include <math.h>

#include "template-internal.h"

#define MAX_BRACKETS 128

typedef struct lexer {
        const char *s;
        size_t len, pos;
        unsigned line, col;
        const char *name;
        diags *d;
        ttoks *out;
        char bal[MAX_BRACKETS];
        size_t n_bal;
} lexer;

static const char *const op_strings[_OP_MAX] = {
        [OP_ADD] = "+", [OP_SUB] = "-", [OP_DIV] = "/", [OP_FLOORDIV] = "//", [OP_MUL] = "*",
        [OP_MOD] = "%", [OP_POW] = "**", [OP_TILDE] = "~", [OP_LBRACKET] = "[", [OP_RBRACKET] = "]",
        [OP_LPAREN] = "(", [OP_RPAREN] = ")", [OP_LBRACE] = "{", [OP_RBRACE] = "}", [OP_EQ] = "==",
        [OP_NE] = "!=", [OP_GT] = ">", [OP_GTEQ] = ">=", [OP_LT] = "<", [OP_LTEQ] = "<=", [OP_ASSIGN] = "=",
        [OP_DOT] = ".", [OP_COLON] = ":", [OP_PIPE] = "|", [OP_COMMA] = ",", [OP_SEMICOLON] = ";",
        [OP_IN] = "in", [OP_NOTIN] = "not in",
};

const char *tmpl_op_str(top op) {
        return op < _OP_MAX ? op_strings[op] : "?";
}

void ttoks_done(ttoks *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].str);
        free(t->v);
        free(t->src);
        *t = (ttoks){};
}

static int lex_error(lexer *lx, unsigned line, unsigned col, const char *fmt, ...) _printf_(4, 5);
static int lex_error(lexer *lx, unsigned line, unsigned col, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        diag_error(lx->d, lx->name, line, col, "%s", msg ? msg : "syntax error");
        return -EINVAL;
}

/* Moves pos forward n bytes, keeping line:col current. */
static void advance(lexer *lx, size_t n) {
        for (size_t e = lx->pos + n; lx->pos < e; lx->pos++) {
                unsigned char c = lx->s[lx->pos];
                if (c == '\n') {
                        lx->line++;
                        lx->col = 1;
                } else if ((c & 0xC0) != 0x80)
                        lx->col++;
        }
}

static bool at(const lexer *lx, size_t p, const char *lit) {
        size_t n = strlen(lit);
        return p + n <= lx->len && memcmp(lx->s + p, lit, n) == 0;
}

static size_t skip_space(const lexer *lx, size_t p) {
        return p + tmpl_uni_lspace(lx->s + p, lx->len - p);
}

static int push(lexer *lx, ttok t) {
        if (lx->out->n == lx->out->cap) {
                size_t cap = MAX(lx->out->cap * 2, (size_t) 64);
                ttok *v = reallocarray(lx->out->v, cap, sizeof *v);
                if (!v) {
                        free(t.str);
                        return -ENOMEM;
                }
                lx->out->v = v;
                lx->out->cap = cap;
        }
        lx->out->v[lx->out->n++] = t;
        return 0;
}

static int push_simple(lexer *lx, ttok_kind kind, top op, size_t len) {
        return push(lx, (ttok){ .kind = kind, .op = op, .line = lx->line, .col = lx->col, .text = lx->s + lx->pos,
                                .len = len });
}

static int push_data(lexer *lx, size_t len) {
        if (len == 0)
                return 0;
        return push_simple(lx, TT_DATA, 0, len);
}

/* -------------------------------------------------------- numbers, names */

static bool isdig(char c) {
        return c >= '0' && c <= '9';
}

static bool isbasedigit(char c, int base) {
        if (base == 16)
                return isdig(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        return c >= '0' && c < '0' + base;
}

/* (\d+_)*\d+ starting at p (a digit): returns its end. */
static size_t digit_run(const lexer *lx, size_t p) {
        while (p < lx->len && isdig(lx->s[p]))
                p++;
        while (p + 1 < lx->len && lx->s[p] == '_' && isdig(lx->s[p + 1])) {
                p++;
                while (p < lx->len && isdig(lx->s[p]))
                        p++;
        }
        return p;
}

/* Jinja's float_re at pos; returns the end or 0 when it doesn't match. */
static size_t match_float(const lexer *lx) {
        size_t p = lx->pos, q, frac;

        if (p > 0 && lx->s[p - 1] == '.')
                return 0;
        q = digit_run(lx, p);
        frac = q;
        if (q + 1 < lx->len && lx->s[q] == '.' && isdig(lx->s[q + 1]))
                frac = digit_run(lx, q + 1);
        if (frac < lx->len && (lx->s[frac] == 'e' || lx->s[frac] == 'E')) {
                size_t e = frac + 1;
                if (e < lx->len && (lx->s[e] == '+' || lx->s[e] == '-'))
                        e++;
                if (e < lx->len && isdig(lx->s[e]))
                        return digit_run(lx, e);
        }
        return frac > q ? frac : 0;
}

/* Jinja's integer_re at pos; returns the end and the base. */
static size_t match_integer(const lexer *lx, int *ret_base) {
        size_t p = lx->pos;
        const char *s = lx->s;
        char c1 = p + 1 < lx->len ? (char) (s[p + 1] | 0x20) : 0;
        int base = c1 == 'b' ? 2 : c1 == 'o' ? 8 : c1 == 'x' ? 16 : 0;

        if (s[p] == '0' && base) {
                size_t q = p + 2, n = 0;
                for (;;) {
                        size_t r = q < lx->len && s[q] == '_' ? q + 1 : q;
                        if (r >= lx->len || !isbasedigit(s[r], base))
                                break;
                        q = r + 1;
                        n++;
                }
                if (n > 0) {
                        *ret_base = base;
                        return q;
                }
        }
        *ret_base = 10;
        char want = s[p] == '0' ? '0' : 0;
        size_t q = p + 1;
        for (;;) {
                size_t r = q < lx->len && s[q] == '_' ? q + 1 : q;
                if (r >= lx->len || !(want ? s[r] == '0' : isdig(s[r])))
                        break;
                q = r + 1;
        }
        return q;
}

/* Copies text without '_' (for strtod/strtoll). */
static char *strip_underscores(const char *s, size_t n) {
        char *r = malloc(n + 1), *w = r;
        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (s[i] != '_')
                        *w++ = s[i];
        *w = 0;
        return r;
}

static int lex_number(lexer *lx) {
        size_t end = match_float(lx);
        ttok t = { .line = lx->line, .col = lx->col, .text = lx->s + lx->pos };
        int base;

        if (end > 0) {
                _cleanup_free_ char *c = strip_underscores(lx->s + lx->pos, end - lx->pos);
                if (!c)
                        return -ENOMEM;
                t.kind = TT_FLOAT;
                t.f = strtod(c, NULL);
        } else {
                end = match_integer(lx, &base);
                _cleanup_free_ char *c = strip_underscores(lx->s + lx->pos, end - lx->pos);
                if (!c)
                        return -ENOMEM;
                errno = 0;
                t.kind = TT_INTEGER;
                t.i = strtoll(c + (base == 10 ? 0 : 2), NULL, base);
                if (errno == ERANGE)
                        return lex_error(lx, t.line, t.col, "integer literal too large (kiln's integers are 64-bit)");
        }
        t.len = end - lx->pos;
        advance(lx, t.len);
        return push(lx, t);
}

static bool isname0(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool isname(char c) {
        return isname0(c) || isdig(c);
}

static int lex_name(lexer *lx) {
        size_t e = lx->pos + 1;
        while (e < lx->len && isname(lx->s[e]))
                e++;
        int r = push_simple(lx, TT_NAME, 0, e - lx->pos);
        if (r < 0)
                return r;
        advance(lx, e - lx->pos);
        return 0;
}

/* --------------------------------------------------------------- strings */

static int hexval(char c) {
        if (isdig(c))
                return c - '0';
        c = (char) (c | 0x20);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* \xhh, \uhhhh, \Uhhhhhhhh: exactly n hex digits. */
static int read_hex(const char *s, size_t len, size_t n, uint32_t *ret) {
        uint32_t v = 0;
        if (len < n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int h = hexval(s[i]);
                if (h < 0)
                        return -EINVAL;
                v = v << 4 | (uint32_t) h;
        }
        *ret = v;
        return 0;
}

/* One escape after a backslash (Python's "unicode-escape" codec, applied
 * after "backslashreplace" like Jinja does); returns bytes consumed or -EINVAL
 * with *ret_msg set. */
static int decode_escape(tbuf *b, const char *s, size_t len, const char **ret_msg) {
        static const char simple_from[] = "\\'\"abfnrtv";
        static const char simple_to[] = "\\'\"\a\b\f\n\r\t\v";
        const char *p = memchr(simple_from, s[0], sizeof simple_from - 1);
        uint32_t cp = 0;
        size_t n;
        int r;

        if (p && s[0])
                return tbuf_putc(b, simple_to[p - simple_from]) < 0 ? -ENOMEM : 1;
        if (s[0] == '\n')
                return 1;
        if (s[0] >= '0' && s[0] <= '7') {
                for (n = 0; n < 3 && n < len && s[n] >= '0' && s[n] <= '7'; n++)
                        cp = cp * 8 + (uint32_t) (s[n] - '0');
                return tbuf_put_cp(b, cp) < 0 ? -ENOMEM : (int) n;
        }
        if (s[0] == 'x' || s[0] == 'u' || s[0] == 'U') {
                n = s[0] == 'x' ? 2 : s[0] == 'u' ? 4 : 8;
                if (read_hex(s + 1, len - 1, n, &cp) < 0) {
                        *ret_msg = s[0] == 'x' ? "truncated \\xXX escape" :
                                   s[0] == 'u' ? "truncated \\uXXXX escape" : "truncated \\UXXXXXXXX escape";
                        return -EINVAL;
                }
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                        *ret_msg = "escape is not a valid Unicode scalar value";
                        return -EINVAL;
                }
                return tbuf_put_cp(b, cp) < 0 ? -ENOMEM : (int) n + 1;
        }
        if (s[0] == 'N') {
                *ret_msg = "\\N{...} escapes are not supported";
                return -EINVAL;
        }
        if ((unsigned char) s[0] >= 0x80) {
                /* backslashreplace turned the character into \xhh / \uhhhh / \Uhhhhhhhh,
                 * whose backslash the user's backslash then escaped. */
                n = tmpl_utf8_next(s, len, &cp);
                r = tbuf_printf(b, cp < 0x100 ? "\\x%02x" : cp < 0x10000 ? "\\u%04x" : "\\U%08x", cp);
                return r < 0 ? -ENOMEM : (int) n;
        }
        if (tbuf_putc(b, '\\') < 0 || tbuf_putc(b, s[0]) < 0)
                return -ENOMEM;
        return 1;
}

static int lex_string(lexer *lx) {
        char q = lx->s[lx->pos];
        size_t e = lx->pos + 1;
        _cleanup_tbuf_ tbuf b = {};
        const char *msg = NULL;
        int r;

        while (e < lx->len && lx->s[e] != q)
                e += lx->s[e] == '\\' ? 2 : 1;
        if (e >= lx->len)
                return lex_error(lx, lx->line, lx->col, "unterminated string literal");
        for (size_t i = lx->pos + 1; i < e;) {
                const char *bs = memchr(lx->s + i, '\\', e - i);
                size_t n = bs ? (size_t) (bs - (lx->s + i)) : e - i;
                if (tbuf_put(&b, lx->s + i, n) < 0)
                        return -ENOMEM;
                i += n;
                if (i >= e)
                        break;
                r = decode_escape(&b, lx->s + i + 1, e - i - 1, &msg);
                if (r == -EINVAL)
                        return lex_error(lx, lx->line, lx->col, "%s", msg);
                if (r < 0)
                        return r;
                i += 1 + (size_t) r;
        }
        ttok t = { .kind = TT_STRING, .line = lx->line, .col = lx->col, .text = lx->s + lx->pos,
                   .len = e + 1 - lx->pos };
        t.str_len = b.len;
        t.str = tbuf_steal(&b, NULL);
        if (!t.str)
                return -ENOMEM;
        advance(lx, t.len);
        return push(lx, t);
}

/* ------------------------------------------------------------- operators */

static int balance(lexer *lx, top op) {
        static const char open[] = { [OP_LBRACKET] = ']', [OP_LPAREN] = ')', [OP_LBRACE] = '}' };
        const char *s = tmpl_op_str(op);

        if (op == OP_LBRACKET || op == OP_LPAREN || op == OP_LBRACE) {
                if (lx->n_bal >= MAX_BRACKETS)
                        return lex_error(lx, lx->line, lx->col, "brackets nested too deeply");
                lx->bal[lx->n_bal++] = open[op];
        } else if (op == OP_RBRACKET || op == OP_RPAREN || op == OP_RBRACE) {
                if (lx->n_bal == 0)
                        return lex_error(lx, lx->line, lx->col, "unexpected '%s'", s);
                if (lx->bal[lx->n_bal - 1] != s[0])
                        return lex_error(lx, lx->line, lx->col, "unexpected '%s', expected '%c'", s,
                                         lx->bal[lx->n_bal - 1]);
                lx->n_bal--;
        }
        return 0;
}

static int lex_operator(lexer *lx) {
        top best = _OP_MAX;
        size_t best_len = 0;
        int r;

        for (top op = 0; op < OP_IN; op++) {
                size_t n = strlen(op_strings[op]);
                if (n > best_len && at(lx, lx->pos, op_strings[op])) {
                        best = op;
                        best_len = n;
                }
        }
        if (best == _OP_MAX) {
                uint32_t cp;
                tmpl_utf8_next(lx->s + lx->pos, lx->len - lx->pos, &cp);
                if (cp < 0x80 && cp >= 0x20)
                        return lex_error(lx, lx->line, lx->col, "unexpected character '%c'", (char) cp);
                return lex_error(lx, lx->line, lx->col, "unexpected character U+%04X", cp);
        }
        r = balance(lx, best);
        if (r < 0)
                return r;
        r = push_simple(lx, TT_OP, best, best_len);
        if (r < 0)
                return r;
        advance(lx, best_len);
        return 0;
}

/* ------------------------------------------------------------------ tags */

/* The end of a block/variable tag at pos (brackets balanced): its length
 * including whitespace it strips after itself, or 0. */
static size_t match_tag_end(const lexer *lx, bool block) {
        const char *close = block ? "%}" : "}}";
        size_t p = lx->pos;

        if (block && lx->s[p] == '+' && at(lx, p + 1, close))
                return 3;
        if (lx->s[p] == '-' && at(lx, p + 1, close))
                return skip_space(lx, p + 3) - p;
        if (at(lx, p, close))
                return 2;
        return 0;
}

static int lex_tag(lexer *lx, bool block) {
        int r = 0;

        while (lx->pos < lx->len) {
                char c = lx->s[lx->pos];
                size_t end = lx->n_bal == 0 ? match_tag_end(lx, block) : 0;
                if (end > 0) {
                        r = push_simple(lx, block ? TT_BLOCK_END : TT_VAR_END, 0, end);
                        if (r < 0)
                                return r;
                        advance(lx, end);
                        return 0;
                }
                size_t sp = tmpl_uni_lspace(lx->s + lx->pos, lx->len - lx->pos);
                if (sp > 0)
                        advance(lx, sp);
                else if (isdig(c))
                        r = lex_number(lx);
                else if (isname0(c))
                        r = lex_name(lx);
                else if (c == '\'' || c == '"')
                        r = lex_string(lx);
                else
                        r = lex_operator(lx);
                if (sp == 0 && r < 0)
                        return r;
        }
        return 0; /* end of template inside a tag: the parser reports it */
}

/* "{% raw %}" at p (sign already known): returns the tag length or 0. */
static size_t match_raw_begin(const lexer *lx, size_t p) {
        size_t q = p + 2;
        if (q < lx->len && (lx->s[q] == '-' || lx->s[q] == '+'))
                q++;
        q = skip_space(lx, q);
        if (!at(lx, q, "raw"))
                return 0;
        q = skip_space(lx, q + 3);
        if (at(lx, q, "-%}"))
                return skip_space(lx, q + 3) - p;
        if (at(lx, q, "%}"))
                return q + 2 - p;
        return 0;
}

/* "{% endraw %}" at p: its length (with stripped whitespace after it), 0 if none. */
static size_t match_raw_end(const lexer *lx, size_t p, bool *ret_strip_before) {
        size_t q = p + 2;
        *ret_strip_before = false;
        if (q < lx->len && (lx->s[q] == '-' || lx->s[q] == '+')) {
                *ret_strip_before = lx->s[q] == '-';
                q++;
        }
        q = skip_space(lx, q);
        if (!at(lx, q, "endraw"))
                return 0;
        q = skip_space(lx, q + 6);
        if (at(lx, q, "+%}"))
                return q + 3 - p;
        if (at(lx, q, "-%}"))
                return skip_space(lx, q + 3) - p;
        if (at(lx, q, "%}"))
                return q + 2 - p;
        return 0;
}

static int lex_raw(lexer *lx, size_t begin_len) {
        unsigned line = lx->line, col = lx->col;
        size_t end_len = 0, p;
        bool strip = false;

        advance(lx, begin_len);
        for (p = lx->pos; p + 1 < lx->len; p++)
                if (lx->s[p] == '{' && lx->s[p + 1] == '%' && (end_len = match_raw_end(lx, p, &strip)) > 0)
                        break;
        if (end_len == 0)
                return lex_error(lx, line, col, "missing end of raw directive");
        size_t n = p - lx->pos;
        if (strip)
                n -= tmpl_uni_rspace(lx->s + lx->pos, n);
        int r = push_data(lx, n);
        if (r < 0)
                return r;
        advance(lx, p + end_len - lx->pos);
        return 0;
}

static int lex_comment(lexer *lx, unsigned line, unsigned col) {

        for (size_t p = lx->pos; p + 1 < lx->len; p++) {
                if ((lx->s[p] == '+' || lx->s[p] == '-') && at(lx, p + 1, "#}")) {
                        size_t e = lx->s[p] == '-' ? skip_space(lx, p + 3) : p + 3;
                        advance(lx, e - lx->pos);
                        return 0;
                }
                if (at(lx, p, "#}")) {
                        advance(lx, p + 2 - lx->pos);
                        return 0;
                }
        }
        return lex_error(lx, line, col, "missing end of comment tag");
}

/* Next "{{", "{%" or "{#" at or after p, or len. */
static size_t find_tag(const lexer *lx, size_t p) {
        for (;;) {
                const char *b = memchr(lx->s + p, '{', lx->len - p);
                if (!b)
                        return lx->len;
                p = b - lx->s;
                if (p + 1 < lx->len && (b[1] == '{' || b[1] == '%' || b[1] == '#'))
                        return p;
                p++;
        }
}

/* Data up to the tag at `tag`, stripped when the tag starts with "-". */
static int lex_data_before(lexer *lx, size_t tag) {
        size_t n = tag - lx->pos;
        char sign = tag + 2 < lx->len ? lx->s[tag + 2] : 0;
        int r;

        if (sign == '-')
                n -= tmpl_uni_rspace(lx->s + lx->pos, n);
        r = push_data(lx, n);
        if (r < 0)
                return r;
        advance(lx, tag - lx->pos);
        return 0;
}

static int lex_root(lexer *lx) {
        int r;

        while (lx->pos < lx->len) {
                size_t tag = find_tag(lx, lx->pos);
                if (tag == lx->len) {
                        r = push_data(lx, lx->len - lx->pos);
                        if (r < 0)
                                return r;
                        advance(lx, lx->len - lx->pos);
                        return 0;
                }
                r = lex_data_before(lx, tag);
                if (r < 0)
                        return r;
                char kind = lx->s[tag + 1];
                size_t open = 2 + (tag + 2 < lx->len && (lx->s[tag + 2] == '-' || lx->s[tag + 2] == '+'));
                size_t raw = kind == '%' ? match_raw_begin(lx, tag) : 0;
                if (raw > 0)
                        r = lex_raw(lx, raw);
                else if (kind == '#') {
                        unsigned line = lx->line, col = lx->col;
                        advance(lx, open);
                        r = lex_comment(lx, line, col);
                } else {
                        r = push_simple(lx, kind == '%' ? TT_BLOCK_BEGIN : TT_VAR_BEGIN, 0, open);
                        if (r >= 0) {
                                advance(lx, open);
                                r = lex_tag(lx, kind == '%');
                        }
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* \r\n and \r become \n; one trailing newline goes unless kept (Jinja's tokeniter). */
static char *normalize_newlines(const char *text, size_t len, bool keep_trailing_newline, size_t *ret_len) {
        char *r = malloc(len + 1), *w = r;
        if (!r)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                if (text[i] == '\r') {
                        *w++ = '\n';
                        if (i + 1 < len && text[i + 1] == '\n')
                                i++;
                } else
                        *w++ = text[i];
        }
        if (!keep_trailing_newline && w > r && w[-1] == '\n')
                w--;
        *w = 0;
        *ret_len = w - r;
        return r;
}

/* line:col of byte offset off in s. */
static void position_of(const char *s, size_t off, unsigned *ret_line, unsigned *ret_col) {
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
                if (s[i] == '\n')
                        line++, col = 1;
                else if ((((unsigned char) s[i]) & 0xC0) != 0x80)
                        col++;
        }
        *ret_line = line;
        *ret_col = col;
}

int tmpl_lex(const char *text, size_t len, const char *name, bool keep_trailing_newline, ttoks *ret, diags *d) {
        _cleanup_(ttoks_done) ttoks toks = {};
        lexer lx = { .name = name, .d = d, .out = &toks, .line = 1, .col = 1 };
        size_t bad;
        int r;

        toks.src = normalize_newlines(text, len, keep_trailing_newline, &toks.src_len);
        if (!toks.src)
                return -ENOMEM;
        lx.s = toks.src;
        lx.len = toks.src_len;
        bad = tmpl_utf8_invalid_at(lx.s, lx.len);
        if (bad < lx.len) {
                unsigned line, col;
                position_of(lx.s, bad, &line, &col);
                return lex_error(&lx, line, col, "template is not valid UTF-8");
        }
        r = lex_root(&lx);
        if (r < 0)
                return r;
        r = push_simple(&lx, TT_EOF, 0, 0);
        if (r < 0)
                return r;
        *ret = toks;
        toks = (ttoks){};
        return 0;
}
