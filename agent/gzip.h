/* gzip.h — bounded gzip decompression (zlib).
 *
 * User-data and write_files contents arrive gzip'd from Terraform, i.e. from
 * outside the instance, so decompression is always bounded: a few KiB of
 * input can expand to gigabytes (a "gzip bomb"), and kiln must refuse that
 * before it has allocated the memory rather than after.  The caller names the
 * largest output it is prepared to hold; one byte more fails with -EFBIG.
 *
 * Only the gzip container (RFC 1952) is accepted, not raw zlib or deflate:
 * every producer kiln cares about (Terraform's cloudinit_config, gzip(1),
 * Python's gzip module, cloud-init's write_files "gz" encodings) writes gzip,
 * and being strict keeps the magic-byte detection honest.  Concatenated gzip
 * members are decoded as one stream, as gunzip does; anything else after the
 * last member is corrupt input.
 *
 * Errors: -EBADMSG for corrupt or truncated input, -EFBIG past the bound,
 * -ENOMEM.  gzip_decompress_full() also says where and why, for diagnostics.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Why decompression failed: filled by gzip_decompress_full() on failure only. */
typedef struct gzip_error {
        size_t in_offset;   /* compressed bytes consumed when the error was found */
        size_t out_len;     /* bytes decompressed until then */
        bool truncated;     /* the input ended inside the stream */
        const char *reason; /* static text: "stream truncated", zlib's message, … */
} gzip_error;

/* True when p starts with the gzip magic bytes 1f 8b and the deflate method
 * byte (08), as every gzip writer emits. */
bool gzip_looks_like(const void *p, size_t len);

/* Decompresses a whole gzip stream of at most max output bytes.  *ret is
 * malloc'd and NUL-terminated (the NUL is not counted in *ret_len, which is
 * optional). */
int gzip_decompress(const void *in, size_t len, size_t max, void **ret, size_t *ret_len);
/* Same; err (optional) says why on failure and is left alone on success. */
int gzip_decompress_full(const void *in, size_t len, size_t max, void **ret, size_t *ret_len, gzip_error *err);
