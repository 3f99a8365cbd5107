/* Unit tests for agent/userdata-decode.c (and its MIME layer).
 *
 * Two kinds of test.  test_vectors walks tests/data/userdata/expected.json:
 * every vector the generator made is decoded and compared with what the
 * generator recorded (part count, types, filenames, merge types, origins,
 * exact body bytes; or the errno, the number of error diagnostics and the
 * first error's text).  The other tests are written out here, independent of
 * the generator: the Terraform provider's own expected output, the API's
 * contract (ret untouched on failure, d optional, limits), classification,
 * and UTF-8 edge cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "diag.h"
#include "fileio.h"
#include "userdata-decode.h"
#include "util.h"

#define VECTORS KILN_TEST_DATA "/userdata"

static int decode_str(const char *s, ud_parts *ret, diags *d) {
        return userdata_decode(s, strlen(s), NULL, NULL, ret, d);
}

static size_t count_level(const diags *d, diag_level level) {
        size_t n = 0;

        for (size_t i = 0; i < d->n; i++)
                n += d->v[i].level == level;
        return n;
}

static const diag_entry *first_error(const diags *d) {
        for (size_t i = 0; i < d->n; i++)
                if (d->v[i].level == DIAG_ERROR)
                        return &d->v[i];
        return NULL;
}

/* ---- data-driven: every vector in expected.json ---- */

static bool same_optional(const char *what, const char *name, const char *got, json_t *want) {
        const char *w = json_is_string(want) ? json_string_value(want) : NULL;

        if ((!got && !w) || (got && w && streq(got, w)))
                return true;
        print_error("%s: %s is '%s', expected '%s'\n", name, what, got ? got : "(null)", w ? w : "(null)");
        return false;
}

static bool check_part(const char *name, size_t i, const ud_part *p, json_t *want) {
        json_t *body = json_object_get(want, "body");
        bool ok = true;

        ok &= same_optional("content_type", name, p->content_type, json_object_get(want, "content_type"));
        ok &= same_optional("filename", name, p->filename, json_object_get(want, "filename"));
        ok &= same_optional("merge_type", name, p->merge_type, json_object_get(want, "merge_type"));
        ok &= same_optional("origin", name, p->origin, json_object_get(want, "origin"));
        if (p->len != json_string_length(body) || memcmp(p->data, json_string_value(body), p->len) != 0) {
                print_error("%s: part %zu body differs (%zu bytes, expected %zu)\n", name, i + 1, p->len,
                            json_string_length(body));
                ok = false;
        }
        if (p->data[p->len] != 0 || strlen(p->data) != p->len) {
                print_error("%s: part %zu body is not NUL-terminated text\n", name, i + 1);
                ok = false;
        }
        return ok;
}

static bool check_good(const char *name, json_t *want, int r, const ud_parts *parts, const diags *d) {
        json_t *wparts = json_object_get(want, "parts");
        size_t warnings = (size_t) json_integer_value(json_object_get(want, "warnings"));
        bool ok = true;

        if (r < 0 || d->n_errors > 0) {
                _cleanup_free_ char *s = d->n > 0 ? diag_format(&d->v[0]) : NULL;
                print_error("%s: failed with %d: %s\n", name, r, s ? s : "(no diagnostic)");
                return false;
        }
        if (count_level(d, DIAG_WARNING) != warnings) {
                print_error("%s: %zu warnings, expected %zu\n", name, count_level(d, DIAG_WARNING), warnings);
                ok = false;
        }
        if (parts->n != json_array_size(wparts)) {
                print_error("%s: %zu parts, expected %zu\n", name, parts->n, json_array_size(wparts));
                return false;
        }
        for (size_t i = 0; i < parts->n; i++)
                ok &= check_part(name, i, &parts->v[i], json_array_get(wparts, i));
        return ok;
}

static int errno_by_name(const char *s) {
        static const struct {
                const char *name;
                int value;
        } table[] = {
                { "EBADMSG", EBADMSG }, { "EOPNOTSUPP", EOPNOTSUPP }, { "EFBIG", EFBIG },
                { "E2BIG", E2BIG },     { "ELOOP", ELOOP },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(s, table[i].name))
                        return table[i].value;
        fail_msg("unknown errno name %s in expected.json", s);
        return 0;
}

static bool check_bad(const char *name, json_t *want, int r, const ud_parts *parts, const diags *d) {
        int err = errno_by_name(json_string_value(json_object_get(want, "errno")));
        size_t errors = (size_t) json_integer_value(json_object_get(want, "errors"));
        const char *message = json_string_value(json_object_get(want, "message"));
        const diag_entry *e = first_error(d);
        _cleanup_free_ char *s = e ? diag_format(e) : NULL;
        bool ok = true;

        if (r != -err) {
                print_error("%s: returned %d, expected %d\n", name, r, -err);
                ok = false;
        }
        if (parts->n != 0 || parts->v) {
                print_error("%s: ret was written on failure\n", name);
                ok = false;
        }
        if (d->n_errors != errors || d->n != errors) {
                print_error("%s: %zu diagnostics (%zu errors), expected %zu errors only\n", name, d->n, d->n_errors,
                            errors);
                ok = false;
        }
        if (!s || !strstr(s, message)) {
                print_error("%s: first error is\n    %s\nexpected it to contain\n    %s\n", name, s ? s : "(none)",
                            message);
                ok = false;
        }
        return ok;
}

static bool check_vector(const char *name, json_t *want) {
        _cleanup_free_ char *path = path_join(VECTORS, name), *data = NULL;
        _cleanup_ud_parts_ ud_parts parts = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;
        size_t len = 0;
        int r;

        assert_int_equal(read_full_file(path, 16 << 20, &data, &len), 0);
        r = userdata_decode(data, len, NULL, NULL, &parts, &d);
        if (json_object_get(want, "parts"))
                return check_good(name, want, r, &parts, &d);
        return check_bad(name, want, r, &parts, &d);
}

static void test_vectors(void **state) {
        (void) state;
        json_error_t jerr;
        _cleanup_json_ json_t *all = json_load_file(VECTORS "/expected.json", 0, &jerr);
        const char *name;
        json_t *want;
        size_t failed = 0, good = 0;

        if (!all)
                fail_msg("expected.json: %s (line %d)", jerr.text, jerr.line);
        json_object_foreach(all, name, want) {
                failed += !check_vector(name, want);
                good += json_object_get(want, "parts") != NULL;
        }
        print_message("%zu vectors (%zu good, %zu bad), %zu failed\n", json_object_size(all), good,
                      json_object_size(all) - good, failed);
        assert_true(json_object_size(all) >= 50);
        assert_int_equal(failed, 0);
}

/* ---- written out here ---- */

/* The provider's own test expectation (terraform-provider-cloudinit,
 * TestRender, two parts, gzip = false, base64_encode = false). */
static void test_terraform_provider_output(void **state) {
        (void) state;
        static const char doc[] = "Content-Type: multipart/mixed; boundary=\"MIMEBOUNDARY\"\nMIME-Version: 1.0\r\n\r\n"
                                  "--MIMEBOUNDARY\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: "
                                  "text/x-shellscript\r\nMime-Version: 1.0\r\n\r\n#!baz\r\n--MIMEBOUNDARY\r\n"
                                  "Content-Disposition: attachment; filename=\"foobar.sh\"\r\n"
                                  "Content-Transfer-Encoding: 7bit\r\nContent-Type: text/x-shellscript\r\n"
                                  "Mime-Version: 1.0\r\nX-Merge-Type: list(append)+dict(recurse_array)+str()\r\n"
                                  "\r\nffbaz\r\n--MIMEBOUNDARY--\r\n";
        _cleanup_ud_parts_ ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;

        assert_int_equal(decode_str(doc, &p, &d), 0);
        assert_int_equal(d.n, 0);
        assert_int_equal(p.n, 2);
        assert_string_equal(p.v[0].content_type, UD_TYPE_SHELLSCRIPT);
        assert_string_equal(p.v[0].data, "#!baz");
        assert_int_equal(p.v[0].len, 5);
        assert_null(p.v[0].filename);
        assert_null(p.v[0].merge_type);
        assert_string_equal(p.v[0].origin, "user-data[part 1]");
        /* A declared x-shellscript without "#!" stays a script (the final
         * stage decides how to run it). */
        assert_string_equal(p.v[1].content_type, UD_TYPE_SHELLSCRIPT);
        assert_string_equal(p.v[1].data, "ffbaz");
        assert_string_equal(p.v[1].filename, "foobar.sh");
        assert_string_equal(p.v[1].merge_type, "list(append)+dict(recurse_array)+str()");
        assert_string_equal(p.v[1].origin, "user-data[part 2: foobar.sh]");
}

static void test_empty(void **state) {
        (void) state;
        ud_parts p = { .n = 99 };
        _cleanup_diags_ diags d = DIAGS_INIT;

        assert_int_equal(userdata_decode(NULL, 0, NULL, NULL, &p, &d), 0);
        assert_int_equal(p.n, 0);
        assert_null(p.v);
        assert_int_equal(d.n, 0);
        ud_parts_free(&p);
}

static void test_failure_leaves_ret_alone(void **state) {
        (void) state;
        ud_parts p = { .v = (ud_part *) 0x1, .n = 42 };

        /* d is optional: the error still comes back as an errno. */
        assert_int_equal(decode_str("#cloud-config\nok: 1\n\xff", &p, NULL), -EBADMSG);
        assert_ptr_equal(p.v, (ud_part *) 0x1);
        assert_int_equal(p.n, 42);
        /* A first good part must not leak out when a later one fails. */
        assert_int_equal(decode_str("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n#!/bin/sh\n--b\n\n"
                                    "#cloud-boothook\n--b--\n",
                                    &p, NULL),
                         -EOPNOTSUPP);
        assert_int_equal(p.n, 42);
}

static void test_origin_and_classify(void **state) {
        (void) state;
        _cleanup_ud_parts_ ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;
        static const char text[] = "#!/bin/sh\n";

        assert_int_equal(userdata_decode(text, strlen(text), "seed/user-data", NULL, &p, &d), 0);
        assert_string_equal(p.v[0].origin, "seed/user-data");

        assert_string_equal(userdata_classify("#cloud-config\n", 14), UD_TYPE_CLOUD_CONFIG);
        assert_string_equal(userdata_classify("\n\t #CLOUD-CONFIG", 16), UD_TYPE_CLOUD_CONFIG);
        assert_string_equal(userdata_classify("#!/usr/bin/env python3", 22), UD_TYPE_SHELLSCRIPT);
        assert_string_equal(userdata_classify("## template: jinja\n#cloud-config", 32), UD_TYPE_JINJA2);
        assert_string_equal(userdata_classify("## Template: Jinja", 18), UD_TYPE_JINJA2);
        assert_string_equal(userdata_classify("#cloud-boothook", 15), "text/cloud-boothook");
        /* Longest prefix wins. */
        assert_string_equal(userdata_classify("#include-once\nhttp://x", 22), "text/x-include-once-url");
        assert_string_equal(userdata_classify("#include\nhttp://x", 17), "text/x-include-url");
        assert_string_equal(userdata_classify("#cloud-config-archive\n", 22), "text/cloud-config-archive");
        /* Only len bytes are looked at. */
        assert_null(userdata_classify("#cloud-config", 5));
        assert_null(userdata_classify("## template: jinj", 17));
        assert_null(userdata_classify("hostname: a", 11));
        assert_null(userdata_classify("", 0));
        assert_null(userdata_classify("# a comment", 11));
}

static void expect_error(const char *input, size_t len, int err, const char *message) {
        _cleanup_ud_parts_ ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_free_ char *s = NULL;

        assert_int_equal(userdata_decode(input, len, NULL, NULL, &p, &d), err);
        assert_int_equal(d.n, 1);
        s = diag_format(&d.v[0]);
        if (!strstr(s, message))
                fail_msg("got '%s', expected it to contain '%s'", s, message);
}

static void test_utf8_edges(void **state) {
        (void) state;
        _cleanup_ud_parts_ ud_parts p = { 0 };
        static const char good[] = "#cloud-config\nmotd: \"\xc2\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"\n";

        assert_int_equal(decode_str(good, &p, NULL), 0);
        assert_int_equal(p.v[0].len, strlen(good));
        /* surrogate, past U+10FFFF, overlong 3-byte, cut at the end, stray continuation byte */
        expect_error("#!/bin/sh\n\xed\xa0\x80", 13, -EBADMSG, "user-data:2:1: error: invalid UTF-8 at byte 10 (0xed)");
        expect_error("#!/bin/sh\n\xf4\x90\x80\x80", 14, -EBADMSG, "invalid UTF-8 at byte 10 (0xf4)");
        expect_error("#!/bin/sh\n\xe0\x80\xaf", 13, -EBADMSG, "invalid UTF-8 at byte 10 (0xe0)");
        expect_error("#!/bin/sh\nab\xe2\x82", 14, -EBADMSG, "user-data:2:3: error: invalid UTF-8 at byte 12 (0xe2)");
        expect_error("#!/bin/sh\n\x80", 11, -EBADMSG, "invalid UTF-8 at byte 10 (0x80)");
}

static void test_base64_words_stay_text(void **state) {
        (void) state;
        /* Made of base64 letters, but decoding them yields nothing a decoder
         * would accept: reported as what they are, not decoded. */
        expect_error("true", 4, -EBADMSG, "user-data:1:1: error: cannot tell what this user-data is");
        expect_error("SGVsbG8gd29ybGQh", 16, -EBADMSG,
                     "user-data: error: base64-decoded user-data is not a format kiln knows");
        /* base64 of "#cloud-config\nx: 1\n" is decoded. */
        _cleanup_ud_parts_ ud_parts p = { 0 };
        assert_int_equal(decode_str("I2Nsb3VkLWNvbmZpZwp4OiAxCg==\n", &p, NULL), 0);
        assert_string_equal(p.v[0].data, "#cloud-config\nx: 1\n");
}

/* User-data may carry secrets and diagnostics reach the journal: messages
 * about unrecognised text show a '#' directive line or a leading key, never
 * a value. */
static void expect_not_echoed(const char *input, const char *secret) {
        _cleanup_ud_parts_ ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_free_ char *s = NULL;

        assert_int_equal(decode_str(input, &p, &d), -EBADMSG);
        assert_int_equal(d.n, 1);
        s = diag_format(&d.v[0]);
        if (strstr(s, secret))
                fail_msg("'%s' echoes '%s'", s, secret);
}

static void test_no_values_in_messages(void **state) {
        (void) state;
        expect_error("hunter2 password\n", 17, -EBADMSG, "found '...'");
        expect_error("db_password: hunter2\n", 21, -EBADMSG, "found 'db_password: ...'");
        expect_error("#cloud-confg\n", 13, -EBADMSG, "found '#cloud-confg'");
        expect_not_echoed("hunter2\n", "hunter2");
        expect_not_echoed("hunter2-password-long\n", "hunter2");
        expect_not_echoed("token = hunter2\n", "hunter2");
        expect_not_echoed("-----BEGIN PRIVATE KEY-----\nMIIE\n", "PRIVATE");
}

static void test_limits(void **state) {
        (void) state;
        _cleanup_free_ char *tf2 = NULL, *tf3 = NULL, *tf3gz = NULL, *two = NULL;
        ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;
        size_t tf2_len, tf3_len, tf3gz_len, two_len, total;

        assert_int_equal(read_full_file(VECTORS "/tf-2parts.gz.b64", 1 << 20, &tf2, &tf2_len), 0);
        assert_int_equal(read_full_file(VECTORS "/tf-3parts.mime", 1 << 20, &tf3, &tf3_len), 0);

        /* base64 (1) → gzip (2) → MIME (3) → parts (4). */
        assert_int_equal(userdata_decode(tf2, tf2_len, NULL, &(ud_limits){ .max_depth = 4 }, &p, NULL), 0);
        ud_parts_free(&p);
        assert_int_equal(userdata_decode(tf2, tf2_len, NULL, &(ud_limits){ .max_depth = 3 }, &p, &d), -ELOOP);
        assert_int_equal(d.n, 1);
        diags_clear(&d);

        assert_int_equal(userdata_decode(tf3, tf3_len, NULL, &(ud_limits){ .max_parts = 3 }, &p, NULL), 0);
        ud_parts_free(&p);
        assert_int_equal(userdata_decode(tf3, tf3_len, NULL, &(ud_limits){ .max_parts = 2 }, &p, &d), -E2BIG);
        assert_int_equal(d.n, 1);
        diags_clear(&d);

        /* Every intermediate buffer is bounded: the gunzipped document too. */
        assert_int_equal(read_full_file(VECTORS "/tf-3parts.gz", 1 << 20, &tf3gz, &tf3gz_len), 0);
        assert_int_equal(userdata_decode(tf3gz, tf3gz_len, NULL, &(ud_limits){ .max_decoded = tf3_len }, &p, NULL),
                         0);
        ud_parts_free(&p);
        assert_int_equal(userdata_decode(tf3gz, tf3gz_len, NULL, &(ud_limits){ .max_decoded = tf3_len - 1 }, &p, &d),
                         -EFBIG);
        assert_int_equal(d.n, 1);
        diags_clear(&d);

        /* The bound covers the sum of the bodies, not each one: two gzip'd
         * parts, each well under the bound, together over it. */
        assert_int_equal(read_full_file(VECTORS "/python-gzip-parts.mime", 1 << 20, &two, &two_len), 0);
        assert_int_equal(userdata_decode(two, two_len, NULL, NULL, &p, NULL), 0);
        assert_int_equal(p.n, 2);
        total = p.v[0].len + p.v[1].len;
        assert_true(two_len < p.v[0].len);
        ud_parts_free(&p);
        assert_int_equal(userdata_decode(two, two_len, NULL, &(ud_limits){ .max_decoded = total }, &p, NULL), 0);
        ud_parts_free(&p);
        assert_int_equal(userdata_decode(two, two_len, NULL, &(ud_limits){ .max_decoded = total - 1 }, &p, &d),
                         -EFBIG);
        assert_int_equal(d.n, 1);
        assert_true(strstr(d.v[0].message, "part 2") || strstr(d.v[0].file, "part 2"));
        diags_clear(&d);
        /* Raw input over the bound is refused before any work. */
        assert_int_equal(userdata_decode(tf3, tf3_len, NULL, &(ud_limits){ .max_decoded = 100 }, &p, &d), -EFBIG);
        assert_int_equal(d.n, 1);
}

static void test_sibling_parts_all_reported(void **state) {
        (void) state;
        static const char doc[] = "Content-Type: multipart/mixed; boundary=b\n\n"
                                  "--b\n\n#cloud-config\nmotd: \xff\n"
                                  "--b\n\n#!/bin/sh\necho fine\n"
                                  "--b\nContent-Type: text/x-include-url\n\nhttp://example.com/\n"
                                  "--b\n\n\n"
                                  "--b--\n";
        _cleanup_ud_parts_ ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        assert_int_equal(decode_str(doc, &p, &d), -EBADMSG);
        assert_int_equal(d.n, 3);
        assert_int_equal(d.n_errors, 2);
        a = diag_format(&d.v[0]);
        b = diag_format(&d.v[1]);
        c = diag_format(&d.v[2]);
        assert_string_equal(a, "user-data[part 1]:2:7: error: invalid UTF-8 at byte 20 (0xff): text parts must be UTF-8");
        assert_true(startswith(b, "user-data[part 3]: error: refused text/x-include-url part: "));
        assert_string_equal(c, "user-data[part 4]: warning: empty part ignored");
}

static void test_empty_part_warns(void **state) {
        (void) state;
        _cleanup_ud_parts_ ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;

        assert_int_equal(decode_str("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n\n--b\n\n#!/bin/sh\n--b--",
                                    &p, &d),
                         0);
        assert_int_equal(p.n, 1);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.v[0].level, DIAG_WARNING);
        assert_string_equal(p.v[0].origin, "user-data[part 2]");
}

static void test_filename_in_origin_is_sanitised(void **state) {
        (void) state;
        _cleanup_ud_parts_ ud_parts p = { 0 };

        assert_int_equal(decode_str("Content-Type: text/x-shellscript\nContent-Disposition: attachment; "
                                    "filename=\"a\\\"b\tc\"\n\n#!/bin/sh\n",
                                    &p, NULL),
                         0);
        assert_string_equal(p.v[0].filename, "a\"b\tc"); /* quoted-pair undone, kept as sent */
        assert_string_equal(p.v[0].origin, "user-data");
        ud_parts_free(&p);
        assert_int_equal(decode_str("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Disposition: "
                                    "attachment; filename=\"x\ty\"\n\n#!/bin/sh\n--b--\n",
                                    &p, NULL),
                         0);
        assert_string_equal(p.v[0].origin, "user-data[part 1: x?y]");
}

static void test_mime_corner_cases(void **state) {
        (void) state;
        _cleanup_ud_parts_ ud_parts p = { 0 };
        _cleanup_diags_ diags d = DIAGS_INIT;

        /* A line that merely starts with the boundary is content. */
        assert_int_equal(decode_str("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n#!/bin/sh\n--bb\n--b -\n"
                                    "--b--\n",
                                    &p, &d),
                         0);
        assert_int_equal(p.n, 1);
        assert_string_equal(p.v[0].data, "#!/bin/sh\n--bb\n--b -");
        ud_parts_free(&p);
        /* A closing delimiter right away: no part. */
        assert_int_equal(decode_str("Content-Type: multipart/mixed; boundary=b\n\n--b--\n", &p, &d), -EBADMSG);
        diags_clear(&d);
        /* Quoted-printable soft breaks and =XX in either case. */
        assert_int_equal(decode_str("Content-Type: text/cloud-config\nContent-Transfer-Encoding: Quoted-Printable\n\n"
                                    "#cloud-config\r\na: =3d=3D lo=\r\nng   \r\nb: =C3=a4\n",
                                    &p, &d),
                         0);
        assert_string_equal(p.v[0].data, "#cloud-config\r\na: == long\r\nb: \xc3\xa4\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),
                cmocka_unit_test(test_terraform_provider_output),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_failure_leaves_ret_alone),
                cmocka_unit_test(test_origin_and_classify),
                cmocka_unit_test(test_utf8_edges),
                cmocka_unit_test(test_base64_words_stay_text),
                cmocka_unit_test(test_no_values_in_messages),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_sibling_parts_all_reported),
                cmocka_unit_test(test_empty_part_warns),
                cmocka_unit_test(test_filename_in_origin_is_sanitised),
                cmocka_unit_test(test_mime_corner_cases),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
