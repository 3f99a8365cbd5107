/* Unit tests for agent/gzip.c: bounded gzip decompression.
 *
 * Compressed inputs are made here with zlib's own gzip writer so every test
 * knows the exact plain bytes; the properties checked are the ones user-data
 * and write_files rely on: exact output, the bound (exactly max is fine, one
 * byte more is -EFBIG, and a bomb never costs more than the bound), every
 * truncation and every corrupted byte is -EBADMSG, out-parameters untouched
 * on failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <zlib.h>

#include "gzip.h"
#include "macro.h"

/* gzip-compresses len bytes (a test helper, not part of kiln). */
static uint8_t *make_gzip(const void *data, size_t len, size_t *ret_len) {
        z_stream z = { 0 };
        size_t cap = compressBound((uLong) len) + 64;
        uint8_t *out = malloc(cap);

        assert_non_null(out);
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *) (uintptr_t) data;
        z.avail_in = (uInt) len;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        *ret_len = cap - z.avail_out;
        deflateEnd(&z);
        return out;
}

static char *pattern(size_t len) {
        char *s = malloc(len + 1);

        assert_non_null(s);
        for (size_t i = 0; i < len; i++)
                s[i] = (char) ('a' + (i * 7 + i / 13) % 26);
        s[len] = 0;
        return s;
}

static void test_roundtrip(void **state) {
        (void) state;
        const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 100000, 1 << 20 };

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_free_ char *plain = pattern(sizes[i]);
                _cleanup_free_ uint8_t *gz = NULL;
                _cleanup_free_ void *out = NULL;
                size_t gz_len, out_len = 12345;

                gz = make_gzip(plain, sizes[i], &gz_len);
                assert_true(gzip_looks_like(gz, gz_len));
                assert_int_equal(gzip_decompress(gz, gz_len, sizes[i], &out, &out_len), 0);
                assert_int_equal(out_len, sizes[i]);
                assert_memory_equal(out, plain, sizes[i]);
                assert_int_equal(((char *) out)[out_len], 0); /* NUL-terminated */
        }
}

static void test_bound_is_exact(void **state) {
        (void) state;
        _cleanup_free_ char *plain = pattern(5000);
        _cleanup_free_ uint8_t *gz = NULL;
        _cleanup_free_ void *out = NULL;
        void *untouched = (void *) 0x1;
        size_t gz_len, n = 77;
        gzip_error e = { 0 };

        gz = make_gzip(plain, 5000, &gz_len);
        assert_int_equal(gzip_decompress(gz, gz_len, 5000, &out, NULL), 0);
        assert_int_equal(gzip_decompress_full(gz, gz_len, 4999, &untouched, &n, &e), -EFBIG);
        assert_ptr_equal(untouched, (void *) 0x1);
        assert_int_equal(n, 77);
        assert_false(e.truncated);
        assert_non_null(e.reason);
        assert_int_equal(gzip_decompress(gz, gz_len, 0, &untouched, NULL), -EFBIG);
}

static void test_bomb(void **state) {
        (void) state;
        const size_t big = 64U << 20; /* 64 MiB of zeros compress to ~64 KiB */
        _cleanup_free_ char *zeros = calloc(1, big);
        _cleanup_free_ uint8_t *gz = NULL;
        void *out = NULL;
        size_t gz_len;
        gzip_error e = { 0 };

        assert_non_null(zeros);
        gz = make_gzip(zeros, big, &gz_len);
        assert_true(gz_len < big / 500);
        assert_int_equal(gzip_decompress_full(gz, gz_len, 1 << 20, &out, NULL, &e), -EFBIG);
        assert_null(out);
        assert_true(e.out_len <= 1 << 20);
        assert_true(e.in_offset < gz_len); /* stopped early, not after inflating everything */
}

static void test_every_truncation(void **state) {
        (void) state;
        _cleanup_free_ char *plain = pattern(3000);
        _cleanup_free_ uint8_t *gz = NULL;
        size_t gz_len;

        gz = make_gzip(plain, 3000, &gz_len);
        for (size_t cut = 0; cut < gz_len; cut++) {
                void *out = NULL;
                gzip_error e = { 0 };
                assert_int_equal(gzip_decompress_full(gz, cut, 1 << 20, &out, NULL, &e), -EBADMSG);
                assert_null(out);
                assert_true(e.truncated);
                if (cut >= 3)
                        assert_int_equal(e.in_offset, cut);
        }
}

static void test_every_corruption(void **state) {
        (void) state;
        _cleanup_free_ char *plain = pattern(2000);
        _cleanup_free_ uint8_t *gz = NULL;
        size_t gz_len;

        gz = make_gzip(plain, 2000, &gz_len);
        /* Bytes 4..9 (mtime, extra flags, OS) carry no checked information;
         * everything from the deflate data on is covered by the CRC-32 and
         * the length in the trailer. */
        for (size_t i = 10; i < gz_len; i++) {
                void *out = NULL;
                gzip_error e = { 0 };
                gz[i] ^= 0x55;
                assert_int_equal(gzip_decompress_full(gz, gz_len, 1 << 20, &out, NULL, &e), -EBADMSG);
                assert_null(out);
                assert_non_null(e.reason);
                gz[i] ^= 0x55;
        }
}

static void test_trailer_messages(void **state) {
        (void) state;
        _cleanup_free_ uint8_t *gz = NULL;
        void *out = NULL;
        size_t gz_len;
        gzip_error e = { 0 };

        gz = make_gzip("hello\n", 6, &gz_len);
        gz[gz_len - 8] ^= 1; /* CRC-32 */
        assert_int_equal(gzip_decompress_full(gz, gz_len, 100, &out, NULL, &e), -EBADMSG);
        assert_string_equal(e.reason, "incorrect data check");
        gz[gz_len - 8] ^= 1;
        gz[gz_len - 4] ^= 1; /* ISIZE */
        assert_int_equal(gzip_decompress_full(gz, gz_len, 100, &out, NULL, &e), -EBADMSG);
        assert_string_equal(e.reason, "incorrect length check");
}

static void test_members_and_trailing_data(void **state) {
        (void) state;
        _cleanup_free_ uint8_t *a = NULL, *b = NULL, *both = NULL;
        _cleanup_free_ void *out = NULL;
        void *none = NULL;
        size_t a_len, b_len, n;
        gzip_error e = { 0 };

        a = make_gzip("first ", 6, &a_len);
        b = make_gzip("second", 6, &b_len);
        both = malloc(a_len + b_len + 1);
        assert_non_null(both);
        memcpy(both, a, a_len);
        memcpy(both + a_len, b, b_len);
        assert_int_equal(gzip_decompress(both, a_len + b_len, 100, &out, &n), 0);
        assert_int_equal(n, 12);
        assert_memory_equal(out, "first second", 12);
        /* The bound covers all members together. */
        assert_int_equal(gzip_decompress(both, a_len + b_len, 11, &none, NULL), -EFBIG);
        both[a_len] = '\n';
        assert_int_equal(gzip_decompress_full(both, a_len + 1, 100, &none, NULL, &e), -EBADMSG);
        assert_string_equal(e.reason, "unexpected data after the end of the gzip stream");
        assert_int_equal(e.in_offset, a_len);
        assert_null(none);
}

static void test_looks_like(void **state) {
        (void) state;
        assert_true(gzip_looks_like("\x1f\x8b\x08", 3));
        assert_false(gzip_looks_like("\x1f\x8b", 2));
        assert_false(gzip_looks_like("\x1f\x8b\x07", 3));
        assert_false(gzip_looks_like("#cloud-config", 13));
        assert_false(gzip_looks_like("", 0));
        /* zlib (RFC 1950) is not gzip. */
        assert_false(gzip_looks_like("\x78\x9c\x01", 3));
}

static void test_not_gzip(void **state) {
        (void) state;
        void *out = NULL;
        gzip_error e = { 0 };

        assert_int_equal(gzip_decompress_full("#cloud-config\n", 14, 100, &out, NULL, &e), -EBADMSG);
        assert_false(e.truncated);
        assert_int_equal(gzip_decompress_full("\x1f", 1, 100, &out, NULL, &e), -EBADMSG);
        assert_true(e.truncated);
        assert_null(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_bound_is_exact),
                cmocka_unit_test(test_bomb),
                cmocka_unit_test(test_every_truncation),
                cmocka_unit_test(test_every_corruption),
                cmocka_unit_test(test_trailer_messages),
                cmocka_unit_test(test_members_and_trailing_data),
                cmocka_unit_test(test_looks_like),
                cmocka_unit_test(test_not_gzip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
