/* userdata-decode-mime.h — the MIME layer of user-data decoding (internal to
 * userdata-decode.c; nothing else should need it).
 *
 * Just enough of RFC 2045/2046 to read what cloud-init users actually send:
 * Terraform's cloudinit_config (bare LF after the first header line, CRLF
 * after that, Go-canonicalised header names), Python's email module (LF
 * only), cloud-init's make-mime, and hand-written documents.  Line ends may
 * be LF or CRLF, mixed freely; header names are case-insensitive; folded
 * header lines are unfolded; parameters may be quoted or not.  Errors are
 * appended to a diags list against the given origin and returned as -EBADMSG
 * (-E2BIG for too many parts); nothing is logged here.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* The headers of one MIME entity (the whole document or one body part) that
 * user-data decoding cares about, plus where its body starts. */
typedef struct mime_entity {
        char *content_type;      /* lowercase "type/subtype" without parameters; NULL when absent */
        char *boundary;          /* multipart boundary parameter, or NULL */
        char *charset;           /* lowercase charset parameter, or NULL */
        char *filename;          /* Content-Disposition filename (RFC 2231 form decoded), or NULL */
        char *merge_type;        /* Merge-Type / X-Merge-Type value, or NULL */
        char *transfer_encoding; /* lowercase Content-Transfer-Encoding, or NULL */
        size_t body_offset;      /* the body is data[body_offset .. len) */
} mime_entity;

void mime_entity_done(mime_entity *e);

/* One body part of a multipart entity: a span of the multipart body. */
typedef struct mime_span {
        size_t offset;
        size_t len;
} mime_span;

/* True when data starts with a header block (RFC 5322 header lines) that
 * contains a Content-Type or MIME-Version header: how cloud-init users' MIME
 * documents are told apart from plain text. */
bool mime_looks_like(const char *data, size_t len);

/* Parses the header block at the start of data.  A missing header block (the
 * body starts at once, or after an empty line) is fine: every field NULL. */
int mime_parse_entity(const char *data, size_t len, const char *origin, diags *d, mime_entity *ret);

/* Splits a multipart body at its delimiter lines.  The preamble before the
 * first delimiter and the epilogue after the closing one are ignored; a body
 * without a closing delimiter, or without any part, is an error.  At most
 * max_parts parts (-E2BIG beyond). */
int mime_split(const char *body, size_t len, const char *boundary, size_t max_parts, const char *origin, diags *d,
               mime_span **ret, size_t *ret_n);

/* Undoes a Content-Transfer-Encoding (NULL, 7bit, 8bit, binary: as is;
 * base64; quoted-printable).  *ret is malloc'd and NUL-terminated. */
int mime_transfer_decode(const char *encoding, const char *data, size_t len, const char *origin, diags *d, char **ret,
                         size_t *ret_len);

/* Small helpers shared by the user-data decoding files. */
/* Copy of n bytes plus a NUL; NULL on OOM. */
char *ud_memdup(const void *p, size_t n);
/* Why text is not acceptable base64 (a static phrase), with the byte offset it
 * applies to in *where; NULL when it is fine.  Used only to explain a failure. */
const char *ud_base64_problem(const char *p, size_t len, size_t *where);
