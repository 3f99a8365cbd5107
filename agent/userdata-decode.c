/* userdata-decode.c — see userdata-decode.h.
 *
 * One recursive walk, decode_blob(), looks at a buffer and peels one layer:
 *
 *   gzip magic bytes        → inflate (bounded by what is left of the budget)
 *   a leading MIME header   → parse the entity; multipart → each part
 *   base64 text             → decode, but only if what comes out is
 *                             recognisable (gzip, MIME, a known first line,
 *                             or base64 again): plain text that merely
 *                             happens to be made of base64 letters stays text
 *   anything else           → a leaf: classify, check, and emit one part
 *
 * so any stacking (base64 of base64 of gzip of MIME with a gzip'd part …)
 * decodes, up to max_depth layers.  Parts are appended to a context that is
 * handed to the caller only when the whole walk succeeded, which is what
 * makes "ret is written only on success" true without any undo logic.
 *
 * Classification follows cloud-init: a part declared text/plain (Terraform's
 * default), text/x-shellscript, or a type kiln does not know is re-classified
 * from its first line; a known declared type is believed.  Parts kiln refuses
 * (boothooks, #include URLs, part handlers …) fail the decode with a message
 * saying why, rather than being skipped: silently ignored user-data is the
 * cloud-init surprise kiln exists to avoid.  A failing part does not stop the
 * walk over its sibling parts, so one run reports every refused or broken
 * part; structural and limit errors stop at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <strings.h>

#include "base64.h"
#include "gzip.h"
#include "userdata-decode-mime.h"
#include "userdata-decode.h"
#include "util.h"

#define UTF8_BOM "\xef\xbb\xbf"
#define EXCERPT_MAX 40

typedef struct ud_type {
        const char *prefix;    /* first-line prefix (lowercase) or NULL: only as a MIME Content-Type */
        const char *type;      /* the MIME type */
        const char *canonical; /* what kiln hands out; NULL when refused */
        const char *refusal;   /* why kiln refuses it */
} ud_type;

static const ud_type types[] = {
        { "#cloud-config", UD_TYPE_CLOUD_CONFIG, UD_TYPE_CLOUD_CONFIG, NULL },
        { "#!", UD_TYPE_SHELLSCRIPT, UD_TYPE_SHELLSCRIPT, NULL },
        { "## template: jinja", UD_TYPE_JINJA2, UD_TYPE_JINJA2, NULL },
        { NULL, "text/x-shellscript-per-instance", UD_TYPE_SHELLSCRIPT, NULL },
        { "#cloud-boothook", "text/cloud-boothook", NULL,
          "kiln does not run boothooks: cloud-init runs them on every boot, early and unordered, before anything "
          "is validated or recorded; use bootcmd in a #cloud-config part, or a #! script part (run once per "
          "instance in the final stage)" },
        { "#include", "text/x-include-url", NULL,
          "kiln does not fetch #include URLs: boot would depend on an unauthenticated download that cannot be "
          "validated before changes are made; put the content into the user-data itself (another part)" },
        { "#include-once", "text/x-include-once-url", NULL,
          "kiln does not fetch #include-once URLs: boot would depend on an unauthenticated download that cannot "
          "be validated before changes are made; put the content into the user-data itself (another part)" },
        { "#part-handler", "text/part-handler", NULL,
          "kiln does not load part handlers (Python plug-ins for cloud-init)" },
        { "#upstart-job", "text/upstart-job", NULL,
          "Upstart jobs are not supported; use write_files with a systemd unit, or a #! script part" },
        { "#cloud-config-archive", "text/cloud-config-archive", NULL,
          "#cloud-config-archive is not supported; send several parts as MIME multipart (Terraform's "
          "cloudinit_config) instead" },
        { "#cloud-config-jsonp", "text/cloud-config-jsonp", NULL,
          "#cloud-config-jsonp (JSON patch) is not supported; use several #cloud-config parts with X-Merge-Type" },
        { NULL, "text/x-shellscript-per-boot", NULL,
          "per-boot scripts are not supported: kiln runs user scripts (text/x-shellscript) once per instance; "
          "use bootcmd for work on every boot" },
        { NULL, "text/x-shellscript-per-once", NULL,
          "run-once scripts are not supported: kiln runs user scripts (text/x-shellscript) once per instance" },
};

/* Content types that mean "this body is gzip'd" (cloud-init's list). */
static const char *const gzip_types[] = {
        "application/gzip",      "application/gzip-compressed", "application/gzipped",
        "application/x-compress", "application/x-compressed",   "application/x-gunzip",
        "application/x-gzip",    "application/x-gzip-compressed",
};

static const char *const utf8_charsets[] = { "utf-8", "utf8", "us-ascii", "ascii" };

typedef struct ud_ctx {
        ud_limits lim;
        ud_parts out;
        size_t total; /* bytes of part bodies in out */
        diags *d;
} ud_ctx;

/* What is known about a buffer from the layers around it. */
typedef struct ud_meta {
        const char *origin;
        const char *content_type; /* declared by MIME headers, or NULL */
        const char *charset;
        const char *filename;
        const char *merge_type;
        bool in_part; /* a MIME body part, not the whole user-data */
} ud_meta;

static int decode_blob(ud_ctx *c, const char *data, size_t len, const ud_meta *m, unsigned depth);

static bool in_list(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(s, list[i]))
                        return true;
        return false;
}

static const ud_type *type_lookup(const char *type) {
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (streq(types[i].type, type))
                        return &types[i];
        return NULL;
}

static bool is_gzip_type(const char *type) {
        return type && in_list(type, gzip_types, ELEMENTSOF(gzip_types));
}

static bool is_blank_char(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Start of the text proper: after a UTF-8 BOM and leading blanks. */
static size_t text_start(const char *data, size_t len) {
        size_t i = len >= 3 && memcmp(data, UTF8_BOM, 3) == 0 ? 3 : 0;

        while (i < len && is_blank_char(data[i]))
                i++;
        return i;
}

const char *userdata_classify(const char *data, size_t len) {
        size_t start = text_start(data, len), best_len = 0;
        const char *best = NULL;

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                const char *p = types[i].prefix;
                size_t n = p ? strlen(p) : 0;
                if (n > best_len && len - start >= n && strncasecmp(data + start, p, n) == 0) {
                        best = types[i].type;
                        best_len = n;
                }
        }
        return best;
}

/* 1-based line and byte column of offset off. */
static void position_of(const char *data, size_t off, unsigned *line, unsigned *col) {
        size_t l = 1, line_start = 0;

        for (size_t i = 0; i < off; i++)
                if (data[i] == '\n')
                        l++, line_start = i + 1;
        *line = (unsigned) MIN(l, (size_t) UINT32_MAX);
        *col = (unsigned) MIN(off - line_start + 1, (size_t) UINT32_MAX);
}

static bool is_key_char(char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
               ch == '-' || ch == '.';
}

/* What the first line starts with, for messages, without echoing values:
 * user-data may carry secrets, and diagnostics end up in the journal.  A
 * '#' line (a mistyped directive, the usual mistake) is shown, shortened and
 * with control bytes as '?'; of any other line only a leading "key:", and
 * nothing ("...") when it has none. */
static void first_line_excerpt(const char *data, size_t len, char buf[static EXCERPT_MAX + 8]) {
        size_t start = text_start(data, len), n = 0, i = start;
        bool directive = i < len && data[i] == '#';

        for (; i < len && data[i] != '\n' && data[i] != '\r' && n < EXCERPT_MAX; i++) {
                if (!directive && !is_key_char(data[i]))
                        break;
                buf[n++] = (unsigned char) data[i] < 0x20 || data[i] == 0x7f ? '?' : data[i];
        }
        if (!directive && (i >= len || data[i] != ':'))
                n = 0; /* a bare word could be a password: show nothing */
        else if (!directive)
                buf[n++] = ':';
        if (n == 0)
                strcpy(buf, "...");
        else
                strcpy(buf + n, i < len && data[i] != '\n' && data[i] != '\r' ? " ..." : "");
}

static int error_at(ud_ctx *c, const ud_meta *m, const char *data, size_t off, int r, const char *what) {
        unsigned line, col;

        position_of(data, off, &line, &col);
        diag_error(c->d, m->origin, line, col, "%s", what);
        return r;
}

/* Text parts must be UTF-8 without NUL bytes: everything downstream (YAML,
 * templates, scripts written to disk, the journal) assumes it. */
static int check_text(ud_ctx *c, const char *data, size_t len, const ud_meta *m) {
        _cleanup_free_ char *msg = NULL;
        const char *nul = memchr(data, 0, len);
        size_t bad = utf8_first_invalid(data, len);

        if (m->charset && !in_list(m->charset, utf8_charsets, ELEMENTSOF(utf8_charsets))) {
                diag_error(c->d, m->origin, 0, 0, "charset '%s' is not supported: kiln reads text parts as UTF-8",
                           m->charset);
                return -EOPNOTSUPP;
        }
        if (nul && (size_t) (nul - data) < bad) {
                if (asprintf(&msg, "NUL byte at byte %zu: text parts must not contain NUL", (size_t) (nul - data)) < 0)
                        return -ENOMEM;
                return error_at(c, m, data, (size_t) (nul - data), -EBADMSG, msg);
        }
        if (bad == len)
                return 0;
        if (asprintf(&msg, "invalid UTF-8 at byte %zu (0x%02x): text parts must be UTF-8", bad,
                     (unsigned) (uint8_t) data[bad]) < 0)
                return -ENOMEM;
        return error_at(c, m, data, bad, -EBADMSG, msg);
}

static int add_part(ud_ctx *c, const char *type, const char *data, size_t len, const ud_meta *m) {
        ud_part p = { 0 }, *v;

        if (len >= 3 && memcmp(data, UTF8_BOM, 3) == 0)
                data += 3, len -= 3;
        if (len > c->lim.max_decoded - c->total) {
                diag_error(c->d, m->origin, 0, 0, "decoded user-data exceeds %zu bytes (the limit)",
                           c->lim.max_decoded);
                return -EFBIG;
        }
        if (c->out.n >= c->lim.max_parts) {
                diag_error(c->d, m->origin, 0, 0, "more than %zu user-data parts (the limit)", c->lim.max_parts);
                return -E2BIG;
        }
        v = realloc(c->out.v, (c->out.n + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        c->out.v = v;
        p.content_type = strdup(type);
        p.filename = strdup_or_null(m->filename);
        p.merge_type = strdup_or_null(m->merge_type);
        p.origin = strdup(m->origin);
        p.data = ud_memdup(data, len);
        p.len = len;
        c->out.v[c->out.n++] = p;
        if (!p.content_type || (m->filename && !p.filename) || (m->merge_type && !p.merge_type) || !p.origin ||
            !p.data)
                return -ENOMEM; /* the part is freed with the context */
        c->total += len;
        return 0;
}

/* The type a leaf gets: a declared type kiln knows is believed (except
 * text/x-shellscript, which cloud-init re-checks too); text/plain, a missing
 * or an unknown type is decided by the first line.  NULL: undecidable. */
static const char *resolve_type(const char *declared, const char *data, size_t len) {
        const char *t;

        if (declared && type_lookup(declared) && !streq(declared, UD_TYPE_SHELLSCRIPT))
                return declared;
        t = userdata_classify(data, len);
        if (t)
                return t;
        return declared && streq(declared, UD_TYPE_SHELLSCRIPT) ? declared : NULL;
}

/* No space or tab, long enough, nearly all base64 letters: meant as base64. */
static bool looks_meant_as_base64(const char *data, size_t len) {
        size_t letters = 0, total = 0;

        for (size_t i = 0; i < len; i++) {
                char ch = data[i];
                if (ch == ' ' || ch == '\t')
                        return false;
                if (ch == '\r' || ch == '\n')
                        continue;
                total++;
                letters += (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                           ch == '+' || ch == '/' || ch == '=';
        }
        return total >= 16 && letters * 10 >= total * 9;
}

static int unrecognised_base64(ud_ctx *c, const char *data, size_t len, const ud_meta *m) {
        size_t where = 0;
        const char *problem = ud_base64_problem(data, len, &where);

        if (problem && where < len)
                diag_error(c->d, m->origin, 0, 0, "looks like base64 but is not valid base64: %s (0x%02x) at byte %zu",
                           problem, (unsigned) (uint8_t) data[where], where);
        else if (problem)
                diag_error(c->d, m->origin, 0, 0, "looks like base64 but is not valid base64: %s at byte %zu", problem,
                           where);
        else
                diag_error(c->d, m->origin, 0, 0,
                           "base64-decoded user-data is not a format kiln knows: neither gzip nor MIME nor text "
                           "starting with '#cloud-config', '#!' or '## template: jinja'");
        return -EBADMSG;
}

static int unrecognised(ud_ctx *c, const char *data, size_t len, const ud_meta *m) {
        char excerpt[EXCERPT_MAX + 8];
        unsigned line, col;

        if (!m->content_type && looks_meant_as_base64(data, len))
                return unrecognised_base64(c, data, len, m);
        first_line_excerpt(data, len, excerpt);
        position_of(data, text_start(data, len), &line, &col);
        if (m->content_type)
                diag_error(c->d, m->origin, line, col,
                           "Content-Type '%s' is not a type kiln handles, and the first line does not say what the "
                           "part is ('#cloud-config', '#!' or '## template: jinja'); found '%s'",
                           m->content_type, excerpt);
        else
                diag_error(c->d, m->origin, line, col,
                           "cannot tell what this user-data is: the first line must be '#cloud-config', '#!...' (a "
                           "script) or '## template: jinja', or the data MIME multipart, gzip or base64; found '%s'",
                           excerpt);
        return -EBADMSG;
}

static int decode_leaf(ud_ctx *c, const char *data, size_t len, const ud_meta *m) {
        const char *type = resolve_type(m->content_type, data, len);
        const ud_type *t = type ? type_lookup(type) : NULL;
        unsigned line = 0, col = 0;
        int r;

        if (!t)
                return unrecognised(c, data, len, m);
        if (t->refusal) {
                if (!m->content_type || !streq(m->content_type, t->type))
                        position_of(data, text_start(data, len), &line, &col);
                diag_error(c->d, m->origin, line, col, "refused %s part: %s", t->type, t->refusal);
                return -EOPNOTSUPP;
        }
        r = check_text(c, data, len, m);
        if (r < 0)
                return r;
        return add_part(c, t->canonical, data, len, m);
}

static int decode_gzip(ud_ctx *c, const char *data, size_t len, const ud_meta *m, unsigned depth) {
        _cleanup_free_ void *out = NULL;
        size_t budget = c->lim.max_decoded - c->total, n = 0;
        ud_meta inner = *m;
        gzip_error e = { 0 };
        int r = gzip_decompress_full(data, len, budget, &out, &n, &e);

        if (r == -EFBIG)
                diag_error(c->d, m->origin, 0, 0,
                           "gzip data expands to more than %zu bytes; decoded user-data is limited to %zu bytes "
                           "(a compression bomb?)", budget, c->lim.max_decoded);
        else if (r == -EBADMSG && e.truncated)
                diag_error(c->d, m->origin, 0, 0, "gzip stream truncated after %zu bytes", len);
        else if (r == -EBADMSG)
                diag_error(c->d, m->origin, 0, 0, "corrupt gzip data at byte %zu of %zu: %s", e.in_offset, len,
                           e.reason);
        if (r < 0)
                return r;
        /* As in cloud-init, a gzip'd body is re-classified unless its
         * declared type is one kiln knows. */
        if (m->content_type && !type_lookup(m->content_type))
                inner.content_type = NULL;
        return decode_blob(c, out, n, &inner, depth + 1);
}

/* Whether bytes are worth taking as the result of a base64 layer. */
static bool recognisable(const char *data, size_t len, unsigned depth_left) {
        _cleanup_free_ void *inner = NULL;
        size_t n = 0;

        if (gzip_looks_like(data, len) || mime_looks_like(data, len) || userdata_classify(data, len))
                return true;
        /* Out of depth: let the decoder go on and report -ELOOP. */
        if (depth_left == 0 || !base64_looks_like(data, len))
                return depth_left == 0 && base64_looks_like(data, len);
        if (base64_decode(data, len, &inner, &n) < 0)
                return false;
        return recognisable(inner, n, depth_left - 1);
}

/* 1 when data was a base64 layer and has been decoded, 0 when it is to be
 * taken as text, < 0 on error. */
static int try_base64(ud_ctx *c, const char *data, size_t len, const ud_meta *m, unsigned depth) {
        _cleanup_free_ void *out = NULL;
        size_t n = 0;
        int r;

        if (!base64_looks_like(data, len))
                return 0;
        r = base64_decode(data, len, &out, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !recognisable(out, n, c->lim.max_depth - depth))
                return 0;
        r = decode_blob(c, out, n, m, depth + 1);
        return r < 0 ? r : 1;
}

static int check_depth(ud_ctx *c, const ud_meta *m, unsigned depth) {
        if (depth <= c->lim.max_depth)
                return 0;
        diag_error(c->d, m->origin, 0, 0, "user-data nests more than %u layers of encoding (base64, gzip, MIME)",
                   c->lim.max_depth);
        return -ELOOP;
}

static int decode_entity(ud_ctx *c, const char *data, size_t len, const ud_meta *m, unsigned depth);

static int decode_blob(ud_ctx *c, const char *data, size_t len, const ud_meta *m, unsigned depth) {
        bool sniff = !m->content_type || !type_lookup(m->content_type);
        int r = check_depth(c, m, depth);

        if (r < 0)
                return r;
        if (text_start(data, len) == len) {
                if (m->in_part)
                        diag_warning(c->d, m->origin, 0, 0, "empty part ignored");
                return 0;
        }
        if (gzip_looks_like(data, len))
                return decode_gzip(c, data, len, m, depth);
        if (is_gzip_type(m->content_type)) {
                diag_error(c->d, m->origin, 0, 0, "declared %s, but the body is not gzip data", m->content_type);
                return -EBADMSG;
        }
        if (sniff && mime_looks_like(data, len))
                return decode_entity(c, data, len, m, depth + 1);
        r = sniff ? try_base64(c, data, len, m, depth) : 0;
        if (r != 0)
                return r < 0 ? r : 0;
        return decode_leaf(c, data, len, m);
}

/* "user-data[part 2: setup.sh]": the filename shortened and with control
 * bytes shown as '?', since it is untrusted and ends up in logs. */
static char *part_origin(const char *parent, size_t index, const char *filename) {
        char name[64 + 4];
        size_t n = 0;
        char *s = NULL;

        if (!filename)
                return asprintf(&s, "%s[part %zu]", parent, index) < 0 ? NULL : s;
        for (; filename[n] && n < 64; n++)
                name[n] = (unsigned char) filename[n] < 0x20 || filename[n] == 0x7f ? '?' : filename[n];
        strcpy(name + n, filename[n] ? "..." : "");
        return asprintf(&s, "%s[part %zu: %s]", parent, index, name) < 0 ? NULL : s;
}

static int decode_part(ud_ctx *c, const char *data, size_t len, const char *parent, size_t index, unsigned depth);

static int decode_multipart(ud_ctx *c, const mime_entity *e, const char *body, size_t len, const ud_meta *m,
                            unsigned depth) {
        _cleanup_free_ mime_span *spans = NULL;
        size_t n = 0;
        int r, first = 0;

        if (isempty(e->boundary)) {
                diag_error(c->d, m->origin, 0, 0, "Content-Type %s has no boundary parameter", e->content_type);
                return -EBADMSG;
        }
        r = mime_split(body, len, e->boundary, c->lim.max_parts, m->origin, c->d, &spans, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = decode_part(c, body + spans[i].offset, spans[i].len, m->origin, i + 1, depth + 1);
                if (r < 0 && first == 0)
                        first = r;
                /* A broken or refused part does not stop its siblings from
                 * being checked; anything else (limits, OOM) does. */
                if (r < 0 && r != -EBADMSG && r != -EOPNOTSUPP)
                        return r;
        }
        return first;
}

/* The body of a MIME entity whose headers are in e; depth is the entity's. */
static int decode_entity_body(ud_ctx *c, const mime_entity *e, const char *body, size_t len, const ud_meta *m,
                              unsigned depth) {
        _cleanup_free_ char *decoded = NULL;
        ud_meta inner;
        size_t n = 0;
        int r;

        if (e->content_type && startswith(e->content_type, "multipart/"))
                return decode_multipart(c, e, body, len, m, depth);
        r = mime_transfer_decode(e->transfer_encoding, body, len, m->origin, c->d, &decoded, &n);
        if (r < 0)
                return r;
        inner = (ud_meta){
                .origin = m->origin,
                .content_type = e->content_type,
                .charset = e->charset,
                .filename = e->filename ? e->filename : m->filename,
                .merge_type = e->merge_type ? e->merge_type : m->merge_type,
                .in_part = m->in_part,
        };
        return decode_blob(c, decoded, n, &inner, depth);
}

static int decode_entity(ud_ctx *c, const char *data, size_t len, const ud_meta *m, unsigned depth) {
        _cleanup_(mime_entity_done) mime_entity e = { 0 };
        int r = check_depth(c, m, depth);

        if (r >= 0)
                r = mime_parse_entity(data, len, m->origin, c->d, &e);
        if (r < 0)
                return r;
        return decode_entity_body(c, &e, data + e.body_offset, len - e.body_offset, m, depth);
}

static int decode_part(ud_ctx *c, const char *data, size_t len, const char *parent, size_t index, unsigned depth) {
        _cleanup_(mime_entity_done) mime_entity e = { 0 };
        _cleanup_free_ char *origin = part_origin(parent, index, NULL);
        ud_meta m = { .in_part = true };
        int r;

        if (!origin)
                return -ENOMEM;
        m.origin = origin;
        r = check_depth(c, &m, depth);
        if (r >= 0)
                r = mime_parse_entity(data, len, origin, c->d, &e);
        if (r < 0)
                return r;
        if (e.filename) {
                free(origin);
                origin = part_origin(parent, index, e.filename);
                if (!origin)
                        return -ENOMEM;
                m.origin = origin;
        }
        return decode_entity_body(c, &e, data + e.body_offset, len - e.body_offset, &m, depth);
}

void ud_parts_free(ud_parts *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->v[i].content_type);
                free(p->v[i].filename);
                free(p->v[i].merge_type);
                free(p->v[i].origin);
                free(p->v[i].data);
        }
        free(p->v);
        *p = (ud_parts){ 0 };
}

static void ctx_done(ud_ctx *c) {
        ud_parts_free(&c->out);
}

static ud_limits limits_or_default(const ud_limits *lim) {
        ud_limits l = lim ? *lim : (ud_limits){ 0 };

        if (l.max_decoded == 0)
                l.max_decoded = UD_DEFAULT_MAX_DECODED;
        if (l.max_parts == 0)
                l.max_parts = UD_DEFAULT_MAX_PARTS;
        if (l.max_depth == 0)
                l.max_depth = UD_DEFAULT_MAX_DEPTH;
        l.max_depth = MIN(l.max_depth, UD_MAX_DEPTH_CAP);
        return l;
}

static int decode_top(ud_ctx *c, const char *data, size_t len, const char *origin) {
        ud_meta m = { .origin = origin };

        if (len > UD_RAW_WARN_SIZE)
                diag_warning(c->d, origin, 0, 0,
                             "user-data is %zu bytes, more than the %u bytes EC2 accepts, so IMDS cannot have "
                             "delivered it; compress it (cloudinit_config gzip = true)", len, UD_RAW_WARN_SIZE);
        if (len > c->lim.max_decoded) {
                diag_error(c->d, origin, 0, 0, "user-data is %zu bytes, more than the limit of %zu", len,
                           c->lim.max_decoded);
                return -EFBIG;
        }
        return decode_blob(c, data, len, &m, 0);
}

int userdata_decode(const void *data, size_t len, const char *origin, const ud_limits *lim, ud_parts *ret,
                    diags *d) {
        _cleanup_diags_ diags local = DIAGS_INIT;
        _cleanup_(ctx_done) ud_ctx c = { .lim = limits_or_default(lim), .d = &local };
        int r = decode_top(&c, data ? data : "", data ? len : 0, origin ? origin : "user-data");

        if (d)
                diags_append(d, &local);
        if (r < 0)
                return r;
        *ret = c.out;
        c.out = (ud_parts){ 0 };
        return 0;
}
