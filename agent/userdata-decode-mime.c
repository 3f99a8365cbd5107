/* userdata-decode-mime.c — see userdata-decode-mime.h.
 *
 * The parser works on spans of the caller's buffer and copies out only the
 * few header values it keeps, so a document is never duplicated per layer.
 * Header parsing is deliberately lenient where Python's email module (which
 * cloud-init uses) is lenient — a line that is not a header ends the header
 * block and starts the body — and strict where leniency would hide a mistake:
 * a malformed Content-Type, a multipart without a boundary, a body without its
 * closing delimiter, undecodable base64 or quoted-printable are errors.
 */
#include <ctype.h>
#include <strings.h>

#include "base64.h"
#include "userdata-decode-mime.h"
#include "util.h"

typedef struct header {
        const char *name;
        size_t name_len;
        const char *value; /* raw: may span folded lines */
        size_t value_len;
} header;

void mime_entity_done(mime_entity *e) {
        free(e->content_type);
        free(e->boundary);
        free(e->charset);
        free(e->filename);
        free(e->merge_type);
        free(e->transfer_encoding);
        *e = (mime_entity){ 0 };
}

/* Length of the line at data[pos..] without its LF or CRLF; *next is where
 * the following line starts (len at the end). */
static size_t line_at(const char *data, size_t len, size_t pos, size_t *next) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t) (nl - data) : len;

        *next = nl ? end + 1 : len;
        if (end > pos && data[end - 1] == '\r')
                end--;
        return end - pos;
}

/* RFC 5322 field name: printable ASCII except ':', then ':'.  0 if the line
 * is not a header line. */
static size_t header_name_len(const char *line, size_t n) {
        size_t i = 0;

        while (i < n && line[i] > ' ' && line[i] < 127 && line[i] != ':')
                i++;
        return i < n && line[i] == ':' ? i : 0;
}

/* Reads the header line (with its folded continuation lines) at *pos.  At the
 * end of the header block returns false with *pos at the start of the body:
 * after an empty line, at a line that is not a header, or at the end. */
static bool header_next(const char *data, size_t len, size_t *pos, header *h) {
        size_t next, n = line_at(data, len, *pos, &next), end, name_len;

        if (n == 0) {
                *pos = next;
                return false;
        }
        name_len = header_name_len(data + *pos, n);
        if (name_len == 0)
                return false;
        end = *pos + n;
        while (next < len && (data[next] == ' ' || data[next] == '\t')) {
                size_t following, cont = line_at(data, len, next, &following);
                end = next + cont;
                next = following;
        }
        *h = (header){
                .name = data + *pos,
                .name_len = name_len,
                .value = data + *pos + name_len + 1,
                .value_len = end - (*pos + name_len + 1),
        };
        *pos = next;
        return true;
}

static bool header_is(const header *h, const char *name) {
        return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* The header's value unfolded (line ends removed) and trimmed; NULL on OOM. */
static char *header_value(const header *h) {
        char *s = malloc(h->value_len + 1), *w = s;

        if (!s)
                return NULL;
        for (size_t i = 0; i < h->value_len; i++)
                if (h->value[i] != '\r' && h->value[i] != '\n')
                        *w++ = h->value[i];
        *w = 0;
        w = strstrip(s);
        memmove(s, w, strlen(w) + 1);
        return s;
}

bool mime_looks_like(const char *data, size_t len) {
        size_t pos = 0;
        header h;

        while (header_next(data, len, &pos, &h))
                if (header_is(&h, "content-type") || header_is(&h, "mime-version"))
                        return true;
        return false;
}

static const char *skip_wsp(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static char *ascii_lowercase(char *s) {
        for (char *p = s; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return s;
}

/* A parameter value: a quoted-string (backslash escapes undone) or a run of
 * characters up to ';' or blank.  Advances *pp past it. */
static int param_value(const char **pp, char **ret) {
        const char *p = *pp;
        _cleanup_free_ char *out = malloc(strlen(p) + 1);
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                        if (*p == '\\' && p[1])
                                p++;
                        out[n++] = *p;
                }
                if (*p != '"')
                        return -EBADMSG;
                p++;
        } else
                while (*p && *p != ';' && *p != ' ' && *p != '\t')
                        out[n++] = *p++;
        out[n] = 0;
        *pp = p;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Finds parameter `name` (case-insensitive) in "token; a=b; c="d"".  0 with
 * *ret when found, -ENOENT when absent, -EBADMSG when the list is malformed. */
static int header_param(const char *v, const char *name, char **ret) {
        const char *p = v + strcspn(v, ";");

        for (;;) {
                _cleanup_free_ char *value = NULL;
                const char *pname;
                size_t n;
                int r;

                p = skip_wsp(p);
                if (!*p)
                        return -ENOENT;
                if (*p != ';')
                        return -EBADMSG;
                p = skip_wsp(p + 1);
                if (!*p || *p == ';')
                        continue;
                pname = p;
                n = strcspn(p, "= \t;");
                p = skip_wsp(p + n);
                if (n == 0 || *p != '=')
                        return -EBADMSG;
                p = skip_wsp(p + 1);
                r = param_value(&p, &value);
                if (r < 0)
                        return r;
                if (n == strlen(name) && strncasecmp(pname, name, n) == 0) {
                        *ret = TAKE_PTR(value);
                        return 0;
                }
        }
}

static int malformed(diags *d, const char *origin, const char *header_name, const char *value) {
        diag_error(d, origin, 0, 0, "malformed %s header '%s'", header_name, value);
        return -EBADMSG;
}

/* "text/plain; charset=..." → lowercase "text/plain" and the parameters kept. */
static int parse_content_type(mime_entity *e, const char *v, const char *origin, diags *d) {
        size_t n = strcspn(v, "; \t");
        _cleanup_free_ char *type = strndup(v, n);
        const char *slash;
        int r;

        if (!type)
                return -ENOMEM;
        slash = strchr(type, '/');
        if (!slash || slash == type || !slash[1] || strchr(slash + 1, '/'))
                return malformed(d, origin, "Content-Type", v);
        r = header_param(v, "boundary", &e->boundary);
        if (r >= 0 || r == -ENOENT)
                r = header_param(v, "charset", &e->charset);
        if (r == -EBADMSG)
                return malformed(d, origin, "Content-Type", v);
        if (r < 0 && r != -ENOENT)
                return r;
        if (e->charset)
                ascii_lowercase(e->charset);
        e->content_type = ascii_lowercase(TAKE_PTR(type));
        return 0;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* RFC 2231 "charset'language'percent-encoded" (UTF-8 or ASCII only). */
static int decode_rfc2231(const char *v, char **ret) {
        const char *q1 = strchr(v, '\''), *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
        _cleanup_free_ char *out = NULL;
        size_t n = 0;

        if (!q2)
                return -EBADMSG;
        if (q1 != v && strncasecmp(v, "utf-8'", 6) != 0 && strncasecmp(v, "us-ascii'", 9) != 0)
                return -EBADMSG;
        out = malloc(strlen(q2));
        if (!out)
                return -ENOMEM;
        for (const char *p = q2 + 1; *p; p++) {
                if (*p == '%') {
                        int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
                        if (lo < 0)
                                return -EBADMSG;
                        out[n++] = (char) (hi << 4 | lo);
                        p += 2;
                } else
                        out[n++] = *p;
        }
        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static int parse_disposition(mime_entity *e, const char *v, const char *origin, diags *d) {
        _cleanup_free_ char *encoded = NULL;
        int r = header_param(v, "filename", &e->filename);

        if (r == -ENOENT) {
                r = header_param(v, "filename*", &encoded);
                if (r >= 0)
                        r = decode_rfc2231(encoded, &e->filename);
        }
        if (r == -EBADMSG)
                return malformed(d, origin, "Content-Disposition", v);
        return r == -ENOENT ? 0 : r;
}

/* Keeps the first occurrence of a simple header in *field (NULL if empty). */
static int set_simple(char **field, char *value, bool lowercase) {
        if (*field || !value[0]) {
                free(value);
                return 0;
        }
        *field = lowercase ? ascii_lowercase(value) : value;
        return 0;
}

static int entity_set(mime_entity *e, const header *h, const char *origin, diags *d) {
        _cleanup_free_ char *v = header_value(h);

        if (!v)
                return -ENOMEM;
        if (header_is(h, "content-type"))
                return e->content_type ? 0 : parse_content_type(e, v, origin, d);
        if (header_is(h, "content-disposition"))
                return e->filename ? 0 : parse_disposition(e, v, origin, d);
        if (header_is(h, "content-transfer-encoding"))
                return set_simple(&e->transfer_encoding, TAKE_PTR(v), true);
        if (header_is(h, "x-merge-type") || header_is(h, "merge-type"))
                return set_simple(&e->merge_type, TAKE_PTR(v), false);
        return 0;
}

int mime_parse_entity(const char *data, size_t len, const char *origin, diags *d, mime_entity *ret) {
        _cleanup_(mime_entity_done) mime_entity e = { 0 };
        size_t pos = 0;
        header h;
        int r;

        while (header_next(data, len, &pos, &h)) {
                r = entity_set(&e, &h, origin, d);
                if (r < 0)
                        return r;
        }
        e.body_offset = pos;
        *ret = e;
        e = (mime_entity){ 0 };
        return 0;
}

/* "--boundary" or "--boundary--", then optional blanks, and nothing else. */
static bool is_delimiter(const char *line, size_t n, const char *b, size_t blen, bool *ret_close) {
        size_t i = 2 + blen;
        bool close = false;

        if (n < i || line[0] != '-' || line[1] != '-' || memcmp(line + 2, b, blen) != 0)
                return false;
        if (n - i >= 2 && line[i] == '-' && line[i + 1] == '-') {
                close = true;
                i += 2;
        }
        for (; i < n; i++)
                if (line[i] != ' ' && line[i] != '\t')
                        return false;
        *ret_close = close;
        return true;
}

/* A part ends before the line break that precedes the next delimiter: that
 * CRLF (or LF) belongs to the delimiter (RFC 2046 5.1.1). */
static size_t part_end(const char *body, size_t start, size_t delimiter) {
        size_t e = delimiter;

        if (e > start)
                e--;
        if (e > start && body[e - 1] == '\r')
                e--;
        return e;
}

typedef struct splitter {
        mime_span *v;
        size_t n;
        size_t max;
        const char *boundary;
        const char *origin;
        diags *d;
} splitter;

static void splitter_done(splitter *s) {
        free(s->v);
}

static int add_span(splitter *s, size_t offset, size_t len) {
        mime_span *n;

        if (s->n >= s->max) {
                diag_error(s->d, s->origin, 0, 0, "more than %zu MIME parts (the limit)", s->max);
                return -E2BIG;
        }
        n = realloc(s->v, (s->n + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        s->v = n;
        s->v[s->n++] = (mime_span){ .offset = offset, .len = len };
        return 0;
}

static int split_unterminated(splitter *s, bool in_part) {
        if (!in_part) {
                diag_error(s->d, s->origin, 0, 0, "multipart body has no part: the boundary '%s' never starts a line",
                           s->boundary);
                return -EBADMSG;
        }
        diag_error(s->d, s->origin, 0, 0, "MIME part %zu has no closing boundary '%s' (the data ends without '--%s--')",
                   s->n + 1, s->boundary, s->boundary);
        return -EBADMSG;
}

int mime_split(const char *body, size_t len, const char *boundary, size_t max_parts, const char *origin, diags *d,
               mime_span **ret, size_t *ret_n) {
        _cleanup_(splitter_done) splitter s = { .max = max_parts, .boundary = boundary, .origin = origin, .d = d };
        size_t blen = strlen(boundary), pos = 0, start = 0;
        bool in_part = false, close = false;
        int r = 0;

        while (pos < len && !close) {
                size_t next, n = line_at(body, len, pos, &next);
                if (is_delimiter(body + pos, n, boundary, blen, &close)) {
                        if (in_part)
                                r = add_span(&s, start, part_end(body, start, pos) - start);
                        if (r < 0)
                                return r;
                        in_part = true;
                        start = next;
                }
                pos = next;
        }
        if (!close)
                return split_unterminated(&s, in_part);
        if (s.n == 0) {
                diag_error(d, origin, 0, 0, "multipart body has no part: it starts with the closing boundary '--%s--'",
                           boundary);
                return -EBADMSG;
        }
        *ret_n = s.n;
        *ret = TAKE_PTR(s.v);
        return 0;
}

char *ud_memdup(const void *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        memcpy(s, p, n);
        s[n] = 0;
        return s;
}

static bool is_base64_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

const char *ud_base64_problem(const char *p, size_t len, size_t *where) {
        size_t n = 0, pad = 0, first_pad = 0;

        for (size_t i = 0; i < len; i++) {
                if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')
                        continue;
                if (p[i] == '=') {
                        first_pad = pad++ == 0 ? i : first_pad;
                        continue;
                }
                *where = i;
                if (!is_base64_char(p[i]))
                        return "a character that is not base64";
                if (pad > 0) {
                        *where = first_pad;
                        return "'=' padding before the end";
                }
                n++;
        }
        *where = len;
        if (n % 4 == 1 || (n + pad) % 4 != 0 || pad > 2)
                return "the text ends inside a 4-character group (truncated?)";
        return NULL;
}

static bool at_line_end(const char *p, size_t len, size_t i) {
        return i == len || p[i] == '\n' || (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n');
}

static size_t skip_blanks(const char *p, size_t len, size_t i) {
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
                i++;
        return i;
}

/* One "=..." sequence at p[i]: a soft line break (nothing out) or =XX (one
 * byte out).  Returns the index after it, or len + 1 when it is invalid. */
static size_t qp_escape(const char *p, size_t len, size_t i, char *out, size_t *n) {
        size_t j = skip_blanks(p, len, i + 1);
        int hi, lo;

        if (at_line_end(p, len, j))
                return j == len ? len : j + (p[j] == '\r' ? 2 : 1);
        hi = i + 1 < len ? hex_value(p[i + 1]) : -1;
        lo = hi >= 0 && i + 2 < len ? hex_value(p[i + 2]) : -1;
        if (lo < 0)
                return len + 1;
        out[(*n)++] = (char) (hi << 4 | lo);
        return i + 3;
}

/* RFC 2045 6.7: =XX escapes (either case), "=" at a line end is a soft line
 * break, blanks at the end of a line were added in transport and go. */
static int qp_decode(const char *p, size_t len, char **ret, size_t *ret_len, size_t *bad_offset) {
        _cleanup_free_ char *out = malloc(len + 1);
        size_t n = 0, i = 0;

        if (!out)
                return -ENOMEM;
        while (i < len) {
                if (p[i] == ' ' || p[i] == '\t') {
                        size_t j = skip_blanks(p, len, i);
                        if (!at_line_end(p, len, j))
                                memcpy(out + n, p + i, j - i), n += j - i;
                        i = j;
                } else if (p[i] == '=') {
                        size_t j = qp_escape(p, len, i, out, &n);
                        if (j > len) {
                                *bad_offset = i;
                                return -EBADMSG;
                        }
                        i = j;
                } else
                        out[n++] = p[i++];
        }
        out[n] = 0;
        *ret_len = n;
        *ret = TAKE_PTR(out);
        return 0;
}

static int decode_base64_body(const char *data, size_t len, const char *origin, diags *d, char **ret,
                              size_t *ret_len) {
        void *out = NULL;
        size_t n = 0, where = 0;
        const char *problem;
        int r = base64_decode(data, len, &out, &n);

        if (r == -EBADMSG) {
                problem = ud_base64_problem(data, len, &where);
                if (problem && where < len)
                        diag_error(d, origin, 0, 0,
                                   "body is not valid base64 (Content-Transfer-Encoding: base64): %s (0x%02x) at "
                                   "byte %zu of the body", problem, (unsigned) (unsigned char) data[where], where);
                else
                        diag_error(d, origin, 0, 0,
                                   "body is not valid base64 (Content-Transfer-Encoding: base64): %s at byte %zu of "
                                   "the body", problem ? problem : "undecodable", where);
        }
        if (r < 0)
                return r;
        *ret = out;
        *ret_len = n;
        return 0;
}

int mime_transfer_decode(const char *encoding, const char *data, size_t len, const char *origin, diags *d, char **ret,
                         size_t *ret_len) {
        size_t bad = 0;
        int r;

        if (!encoding || streq(encoding, "7bit") || streq(encoding, "8bit") || streq(encoding, "binary")) {
                char *s = ud_memdup(data, len);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                *ret_len = len;
                return 0;
        }
        if (streq(encoding, "base64"))
                return decode_base64_body(data, len, origin, d, ret, ret_len);
        if (!streq(encoding, "quoted-printable")) {
                diag_error(d, origin, 0, 0,
                           "unsupported Content-Transfer-Encoding '%s' (kiln decodes base64, quoted-printable, "
                           "7bit, 8bit and binary)", encoding);
                return -EBADMSG;
        }
        r = qp_decode(data, len, ret, ret_len, &bad);
        if (r == -EBADMSG)
                diag_error(d, origin, 0, 0, "invalid quoted-printable escape at byte %zu of the body", bad);
        return r;
}
