/* userdata-decode.h — user-data bytes → typed parts.
 *
 * User-data reaches an instance in whatever shape Terraform (or a person, or
 * another tool) gave it: plain text, base64 (sometimes twice), gzip, MIME
 * multipart, or any stack of those.  This layer peels the encodings off —
 * each layer detected from the bytes themselves, bounded in depth and in
 * decoded size — and hands back a flat list of parts, each with a canonical
 * content type, the headers cloud-init gives meaning to (filename,
 * X-Merge-Type), a name for diagnostics, and the exact body bytes.  It does
 * not parse YAML, render templates or run anything: the config loader, the
 * template renderer and the final stage consume the parts.
 *
 * Errors are input errors: one positioned diagnostic in `d` naming the layer
 * (and part) at fault, a negative errno, and *ret untouched:
 *   -EBADMSG     undecodable (bad base64, corrupt or truncated gzip, broken
 *                MIME, invalid UTF-8 or NUL in a text part, unrecognised
 *                content)
 *   -EOPNOTSUPP  a part type kiln refuses (#cloud-boothook, #include, …)
 *   -EFBIG       decoded data over lim->max_decoded (a gzip bomb, say)
 *   -E2BIG       more than lim->max_parts parts
 *   -ELOOP       encodings nested deeper than lim->max_depth
 *   -ENOMEM
 * Raw user-data over 16 KiB only adds a warning (EC2 cannot deliver it, but
 * a seed directory can).  docs/user-data.md is the user-facing description.
 */
#pragma once

#include <stddef.h>

#include "diag.h"
#include "macro.h"

/* Canonical content types of the parts kiln accepts. */
#define UD_TYPE_CLOUD_CONFIG "text/cloud-config"
#define UD_TYPE_SHELLSCRIPT "text/x-shellscript"
#define UD_TYPE_JINJA2 "text/jinja2"

/* Limits; RAW_WARN is not configurable, it is EC2's. */
#define UD_RAW_WARN_SIZE (16U * 1024U)
#define UD_DEFAULT_MAX_DECODED (1024U * 1024U)
#define UD_DEFAULT_MAX_PARTS 100U
#define UD_DEFAULT_MAX_DEPTH 10U
#define UD_MAX_DEPTH_CAP 32U /* the walk recurses once per layer: keep the stack small whatever the caller asks */

typedef struct ud_part {
        char *content_type; /* canonical lowercase: one of the UD_TYPE_* above */
        char *filename;     /* Content-Disposition filename or NULL (untrusted: never use it as a path) */
        char *merge_type;   /* X-Merge-Type (or Merge-Type) header value or NULL */
        char *origin;       /* for diagnostics: "user-data", "user-data[part 2: setup.sh]" */
        char *data;         /* body after every decoding layer, NUL-terminated (valid UTF-8, no NUL inside) */
        size_t len;
} ud_part;

typedef struct ud_parts {
        ud_part *v;
        size_t n;
} ud_parts;

/* Any field 0 means its default (UD_DEFAULT_*).  max_decoded bounds the raw
 * input, every intermediate decoded buffer and the sum of all part bodies;
 * max_depth counts decoding layers (each base64, gzip and MIME level is one)
 * and is capped at UD_MAX_DEPTH_CAP. */
typedef struct ud_limits {
        size_t max_decoded;
        size_t max_parts;
        unsigned max_depth;
} ud_limits;

/* Decodes data (len bytes, need not be NUL-terminated).  origin names the
 * input in diagnostics (NULL: "user-data"); lim may be NULL.  Warnings and
 * errors are appended to d (may be NULL).  Empty or blank input yields zero
 * parts.  On success *ret owns the parts; on failure it is not touched. */
int userdata_decode(const void *data, size_t len, const char *origin, const ud_limits *lim, ud_parts *ret,
                    diags *d);

void ud_parts_free(ud_parts *p);
static inline void ud_parts_freep(ud_parts *p) {
        ud_parts_free(p);
}
#define _cleanup_ud_parts_ _cleanup_(ud_parts_freep)

/* The content type cloud-init would give this text from its first line
 * (leading blanks and a UTF-8 BOM skipped, case-insensitive, longest prefix
 * wins): "text/cloud-config", "text/x-shellscript", "text/jinja2",
 * "text/cloud-boothook", "text/x-include-url", …  NULL when nothing matches.
 * The template renderer uses it to re-classify a rendered jinja part. */
const char *userdata_classify(const char *data, size_t len);
