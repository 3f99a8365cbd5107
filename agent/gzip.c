/* gzip.c — see gzip.h.
 *
 * The output buffer grows by doubling but never beyond max + 1 bytes (+ the
 * NUL): inflate() is only ever offered room up to that cap, so a bomb costs
 * at most the bound in memory and the time to inflate max + 1 bytes.  Input
 * and output are handed to zlib in chunks of at most UINT_MAX bytes because
 * z_stream counts in uInt.
 */
#include <limits.h>
#include <stdint.h>
#include <zlib.h>

#include "gzip.h"
#include "macro.h"

#define GZIP_INITIAL_SIZE 4096

static const uint8_t gzip_magic[3] = { 0x1f, 0x8b, 0x08 }; /* ID1 ID2 CM=deflate */

typedef struct inflater {
        z_stream z;
        bool initialised;
        const uint8_t *in;  /* the whole input */
        size_t in_len;
        size_t in_fed;      /* bytes handed to zlib so far */
        uint8_t *out;
        size_t out_cap;     /* allocated bytes, excluding the NUL */
        size_t out_len;
        size_t cap_limit;   /* max + 1: reaching it means the bound was exceeded */
} inflater;

static void inflater_done(inflater *f) {
        if (f->initialised)
                inflateEnd(&f->z);
        free(f->out);
}

bool gzip_looks_like(const void *p, size_t len) {
        const uint8_t *b = p;

        return len >= sizeof gzip_magic && memcmp(b, gzip_magic, sizeof gzip_magic) == 0;
}

static size_t in_consumed(const inflater *f) {
        return f->in_fed - f->z.avail_in;
}

static void feed_input(inflater *f) {
        size_t n;

        if (f->z.avail_in > 0 || f->in_fed == f->in_len)
                return;
        n = MIN(f->in_len - f->in_fed, (size_t) UINT_MAX);
        f->z.next_in = (Bytef *) (uintptr_t) (f->in + f->in_fed);
        f->z.avail_in = (uInt) n;
        f->in_fed += n;
}

/* Makes room for more output; -EFBIG once the buffer is at the bound. */
static int grow_output(inflater *f) {
        size_t cap;
        uint8_t *n;

        if (f->out_len < f->out_cap)
                return 0;
        if (f->out_cap >= f->cap_limit)
                return -EFBIG;
        cap = f->out_cap < GZIP_INITIAL_SIZE ? GZIP_INITIAL_SIZE : f->out_cap * 2;
        if (cap < f->out_cap || cap > f->cap_limit)
                cap = f->cap_limit;
        n = realloc(f->out, cap + 1);
        if (!n)
                return -ENOMEM;
        f->out = n;
        f->out_cap = cap;
        return 0;
}

static int fail(const inflater *f, int r, bool truncated, const char *reason, gzip_error *err) {
        if (err)
                *err = (gzip_error){
                        .in_offset = in_consumed(f),
                        .out_len = MIN(f->out_len, f->cap_limit - 1),
                        .truncated = truncated,
                        .reason = reason,
                };
        return r;
}

/* After a member ends: another member may follow (as gunzip accepts), anything
 * else is corrupt.  Returns 1 when the stream is complete, 0 to go on. */
static int member_end(inflater *f, gzip_error *err) {
        feed_input(f);
        if (f->z.avail_in == 0)
                return 1;
        if (memcmp(f->z.next_in, gzip_magic, MIN((size_t) f->z.avail_in, sizeof gzip_magic)) != 0)
                return fail(f, -EBADMSG, false, "unexpected data after the end of the gzip stream", err);
        if (inflateReset(&f->z) != Z_OK)
                return fail(f, -EBADMSG, false, "cannot restart for the next gzip member", err);
        return 0;
}

/* One inflate() call: 1 when the whole stream is done, 0 to go on, <0 error. */
static int inflate_step(inflater *f, gzip_error *err) {
        size_t room;
        int r;

        r = grow_output(f);
        if (r == -EFBIG)
                return fail(f, r, false, "decompressed size exceeds the limit", err);
        if (r < 0)
                return r;
        feed_input(f);
        room = MIN(f->out_cap - f->out_len, (size_t) UINT_MAX);
        f->z.next_out = f->out + f->out_len;
        f->z.avail_out = (uInt) room;
        r = inflate(&f->z, Z_NO_FLUSH);
        f->out_len += room - f->z.avail_out;
        if (f->out_len >= f->cap_limit)
                return fail(f, -EFBIG, false, "decompressed size exceeds the limit", err);
        switch (r) {
        case Z_OK:
                return 0;
        case Z_STREAM_END:
                return member_end(f, err);
        case Z_BUF_ERROR: /* no progress possible: out of input or of room */
                if (f->z.avail_out == 0)
                        return 0;
                return fail(f, -EBADMSG, true, "stream truncated", err);
        case Z_MEM_ERROR:
                return -ENOMEM;
        default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
                return fail(f, -EBADMSG, false, f->z.msg ? f->z.msg : "corrupt gzip data", err);
        }
}

int gzip_decompress_full(const void *in, size_t len, size_t max, void **ret, size_t *ret_len, gzip_error *err) {
        _cleanup_(inflater_done) inflater f = {
                .in = in,
                .in_len = len,
                .cap_limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1,
        };
        int r;

        if (!gzip_looks_like(in, len)) {
                /* A prefix of the magic is a stream cut short, not foreign data. */
                bool cut = len < sizeof gzip_magic && (len == 0 || memcmp(in, gzip_magic, len) == 0);
                return fail(&f, -EBADMSG, cut, cut ? "stream truncated" : "not gzip data (no gzip magic bytes)", err);
        }
        /* 16 + MAX_WBITS: gzip container only, the largest window. */
        r = inflateInit2(&f.z, 16 + MAX_WBITS);
        if (r != Z_OK)
                return r == Z_MEM_ERROR ? -ENOMEM : -EIO;
        f.initialised = true;
        do
                r = inflate_step(&f, err);
        while (r == 0);
        if (r < 0)
                return r;
        f.out[f.out_len] = 0;
        if (ret_len)
                *ret_len = f.out_len;
        *ret = TAKE_PTR(f.out);
        return 0;
}

int gzip_decompress(const void *in, size_t len, size_t max, void **ret, size_t *ret_len) {
        return gzip_decompress_full(in, len, max, ret, ret_len, NULL);
}
