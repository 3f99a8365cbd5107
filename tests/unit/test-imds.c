/* Unit tests for the pure parts of agent/imds.c: how an answer is judged
 * (retry, re-auth, fail), the backoff's bounds, the text check every
 * metadata value passes, listing parsing, path escaping, endpoint URLs and
 * the datasource.ec2 settings.  The client's conversation itself (tokens,
 * faults, deadlines) is tested against the IMDS emulator in
 * tests/integration/test_imds.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "imds.h"
#include "macro.h"

static void test_classify(void **state) {
        (void) state;
        assert_int_equal(imds_classify(CURLE_OK, 200), IMDS_DONE);
        assert_int_equal(imds_classify(CURLE_OK, 404), IMDS_ABSENT);
        assert_int_equal(imds_classify(CURLE_OK, 401), IMDS_REAUTH);
        assert_int_equal(imds_classify(CURLE_OK, 403), IMDS_DISABLED);
        assert_int_equal(imds_classify(CURLE_OK, 429), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_OK, 500), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_OK, 503), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_OK, 599), IMDS_RETRY);
        /* answers that waiting can't fix */
        assert_int_equal(imds_classify(CURLE_OK, 400), IMDS_FAIL);
        assert_int_equal(imds_classify(CURLE_OK, 405), IMDS_FAIL);
        assert_int_equal(imds_classify(CURLE_OK, 301), IMDS_FAIL);
        assert_int_equal(imds_classify(CURLE_OK, 302), IMDS_FAIL);
        assert_int_equal(imds_classify(CURLE_OK, 204), IMDS_FAIL);
        assert_int_equal(imds_classify(CURLE_OK, 600), IMDS_FAIL);
        /* transport failures: retried whatever the status */
        assert_int_equal(imds_classify(CURLE_OPERATION_TIMEDOUT, 0), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_COULDNT_CONNECT, 0), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_GOT_NOTHING, 0), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_RECV_ERROR, 0), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_PARTIAL_FILE, 200), IMDS_RETRY);
        assert_int_equal(imds_classify(CURLE_UNSUPPORTED_PROTOCOL, 0), IMDS_FAIL);
        assert_int_equal(imds_classify(CURLE_WEIRD_SERVER_REPLY, 0), IMDS_FAIL);
}

static void test_backoff(void **state) {
        (void) state;
        usec_t prev_max = 0;

        for (unsigned attempt = 1; attempt <= 40; attempt++) {
                usec_t d = IMDS_BACKOFF_BASE;
                for (unsigned i = 1; i < attempt && d < IMDS_BACKOFF_CAP; i++)
                        d *= 2;
                d = MIN(d, IMDS_BACKOFF_CAP);
                /* equal jitter: within [d/2, d] for any random input */
                const uint32_t rnds[] = { 0, 1, 12345, 0x7fffffff, UINT32_MAX };
                for (size_t k = 0; k < ELEMENTSOF(rnds); k++) {
                        usec_t b = imds_backoff(attempt, rnds[k]);
                        assert_true(b >= d / 2);
                        assert_true(b <= d);
                        assert_true(b <= IMDS_BACKOFF_CAP);
                }
                assert_true(d >= prev_max); /* never shrinks */
                prev_max = d;
        }
        assert_int_equal(imds_backoff(1, 0), IMDS_BACKOFF_BASE / 2);
        assert_int_equal(imds_backoff(2, 0), IMDS_BACKOFF_BASE);
        assert_int_equal(imds_backoff(40, 0), IMDS_BACKOFF_CAP / 2);
        assert_int_equal(imds_backoff(0, 0), imds_backoff(1, 0));
        /* jitter actually spreads */
        assert_true(imds_backoff(5, 1) != imds_backoff(5, 99991));
}

static void check_text(const char *data, size_t len, int want, size_t want_off) {
        size_t off = 4242;
        assert_int_equal(imds_text_check(data, len, &off), want);
        assert_int_equal(off, want < 0 ? want_off : 4242);
}

static void test_text_check(void **state) {
        (void) state;
        check_text("i-0123456789abcdef0", 19, 0, 0);
        check_text("", 0, 0, 0);
        check_text("a\nb\r\n\tc", 7, 0, 0);
        check_text("Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x98\x80", 16, 0, 0);
        check_text("ab\0cd", 5, -EBADMSG, 2);
        check_text("ab\x01", 3, -EBADMSG, 2);
        check_text("ab\x1b[31m", 7, -EBADMSG, 2);
        check_text("\x7f", 1, -EBADMSG, 0);
        check_text("abc\xff", 4, -EBADMSG, 3);
        check_text("\xc0\x80", 2, -EBADMSG, 0);         /* overlong NUL */
        check_text("ok\xed\xa0\x80", 5, -EBADMSG, 2);   /* surrogate */
        check_text("ok\xe2\x82", 4, -EBADMSG, 2);       /* truncated sequence */
        check_text("\x89PNG\r\n\x1a\n", 8, -EBADMSG, 0); /* binary garbage */
}

static void check_listing(const char *text, const char *want_json) {
        _cleanup_json_ json_t *got = NULL, *want = json_loads(want_json, 0, NULL);
        assert_non_null(want);
        assert_int_equal(imds_parse_listing(text, &got), 0);
        assert_true(json_equal(got, want));
}

static void test_listing(void **state) {
        (void) state;
        json_t *untouched = (json_t *) 0x1;

        check_listing("ami\nebs1\nroot", "[\"ami\", \"ebs1\", \"root\"]");
        check_listing("interfaces/\nmac", "[\"interfaces\", \"mac\"]");
        check_listing("a\n\nb\n", "[\"a\", \"b\"]");
        check_listing("a\r\nb\r\n", "[\"a\", \"b\"]");
        check_listing("", "[]");
        check_listing("Name\nRole\naws:cloudformation:stack-name", "[\"Name\", \"Role\", \"aws:cloudformation:stack-name\"]");
        check_listing("caf\xc3\xa9", "[\"caf\xc3\xa9\"]");
        assert_int_equal(imds_parse_listing("a\n../etc", &untouched), -EBADMSG);
        assert_int_equal(imds_parse_listing("..", &untouched), -EBADMSG);
        assert_int_equal(imds_parse_listing(".", &untouched), -EBADMSG);
        assert_int_equal(imds_parse_listing("a/b", &untouched), -EBADMSG);
        assert_int_equal(imds_parse_listing("a\tb", &untouched), -EBADMSG);
        assert_int_equal(imds_parse_listing("bad\xff", &untouched), -EBADMSG);
        char longname[300];
        memset(longname, 'x', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        assert_int_equal(imds_parse_listing(longname, &untouched), -EBADMSG);
        longname[255] = 0;
        _cleanup_json_ json_t *ok = NULL;
        assert_int_equal(imds_parse_listing(longname, &ok), 0);
        assert_int_equal(json_array_size(ok), 1);
        assert_ptr_equal(untouched, (json_t *) 0x1);
}

static void check_escape(const char *in, const char *want) {
        _cleanup_free_ char *got = imds_escape_segment(in);
        assert_non_null(got);
        assert_string_equal(got, want);
}

static void test_escape(void **state) {
        (void) state;
        check_escape("Role", "Role");
        check_escape("a+b=c:d@e,f.g_h-i~", "a+b=c:d@e,f.g_h-i~"); /* every character IMDS allows in tag keys */
        check_escape("a b", "a%20b");
        check_escape("x/y", "x%2Fy");
        check_escape("50%", "50%25");
        check_escape("q?#", "q%3F%23");
        check_escape("\xc3\xbc", "%C3%BC");
        check_escape("", "");
}

static void check_url(const char *in, const char *want) {
        _cleanup_free_ char *got = NULL;
        const char *why = NULL;
        int r = imds_url_normalize(in, &got, &why);
        if (!want) {
                assert_int_equal(r, -EINVAL);
                assert_null(got);
                assert_non_null(why);
                return;
        }
        assert_int_equal(r, 0);
        assert_string_equal(got, want);
}

static void test_urls(void **state) {
        (void) state;
        check_url("http://169.254.169.254", "http://169.254.169.254");
        check_url("http://169.254.169.254/", "http://169.254.169.254");
        check_url("http://[fd00:ec2::254]", "http://[fd00:ec2::254]");
        check_url("http://[::1]:8111/", "http://[::1]:8111");
        check_url("http://127.0.0.1:65535", "http://127.0.0.1:65535");
        check_url("http://instance-data.ec2.internal", "http://instance-data.ec2.internal");
        check_url("https://169.254.169.254", NULL);
        check_url("ftp://169.254.169.254", NULL);
        check_url("169.254.169.254", NULL);
        check_url("http://", NULL);
        check_url("http:///latest", NULL);
        check_url("http://169.254.169.254/latest", NULL);
        check_url("http://169.254.169.254//", NULL);
        check_url("http://user@169.254.169.254", NULL);
        check_url("http://169.254.169.254?x=1", NULL);
        check_url("http://169.254.169.254#f", NULL);
        check_url("http://169.254.169.254:0", NULL);
        check_url("http://169.254.169.254:65536", NULL);
        check_url("http://169.254.169.254:", NULL);
        check_url("http://[::1", NULL);
        check_url("http://[]", NULL);
        check_url("http://[zz::1]", NULL);
        check_url("http://a b", NULL);
}

static void test_config_defaults(void **state) {
        (void) state;
        _cleanup_(imds_config_clear) imds_config c = { 0 };

        assert_int_equal(imds_config_from_json(NULL, &c), 0);
        assert_int_equal(c.n_urls, 2);
        assert_string_equal(c.urls[0], "http://169.254.169.254");
        assert_string_equal(c.urls[1], "http://[fd00:ec2::254]");
        assert_int_equal(c.token_ttl, 21600);
        assert_int_equal(c.timeout, 2 * USEC_PER_SEC);
        assert_int_equal(c.max_wait, 120 * USEC_PER_SEC);
        assert_false(c.imdsv1_fallback);
}

static void test_config_values(void **state) {
        (void) state;
        _cleanup_(imds_config_clear) imds_config c = { 0 };
        _cleanup_json_ json_t *cfg = json_loads("{\"metadata_urls\": [\"http://127.0.0.1:8111/\", \"http://[::1]:8111\"],"
                                                " \"token_ttl\": 60, \"timeout\": 0.25, \"max_wait\": 3,"
                                                " \"imdsv1_fallback\": true}", 0, NULL);

        assert_int_equal(imds_config_from_json(cfg, &c), 0);
        assert_int_equal(c.n_urls, 2);
        assert_string_equal(c.urls[0], "http://127.0.0.1:8111");
        assert_string_equal(c.urls[1], "http://[::1]:8111");
        assert_int_equal(c.token_ttl, 60);
        assert_int_equal(c.timeout, 250 * USEC_PER_MSEC);
        assert_int_equal(c.max_wait, 3 * USEC_PER_SEC);
        assert_true(c.imdsv1_fallback);
}

static void test_config_errors(void **state) {
        (void) state;
        static const char *const bad[] = {
                "{\"token_ttl\": 0}",
                "{\"token_ttl\": 21601}",
                "{\"token_ttl\": 1.5}",
                "{\"token_ttl\": \"60\"}",
                "{\"timeout\": 0}",
                "{\"timeout\": -1}",
                "{\"timeout\": 1000}",
                "{\"max_wait\": 0}",
                "{\"max_wait\": 86400}",
                "{\"max_wait\": \"soon\"}",
                "{\"imdsv1_fallback\": \"yes\"}",
                "{\"metadata_urls\": []}",
                "{\"metadata_urls\": \"http://169.254.169.254\"}",
                "{\"metadata_urls\": [42]}",
                "{\"metadata_urls\": [\"http://169.254.169.254\", \"https://example.com\"]}",
                "{\"metadata_urls\": [\"http://a\", \"http://a\", \"http://a\", \"http://a\", \"http://a\","
                " \"http://a\", \"http://a\", \"http://a\", \"http://a\"]}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                imds_config c = { .token_ttl = 777 };
                _cleanup_json_ json_t *cfg = json_loads(bad[i], 0, NULL);
                assert_non_null(cfg);
                assert_int_equal(imds_config_from_json(cfg, &c), -EINVAL);
                assert_int_equal(c.token_ttl, 777); /* untouched on failure */
                assert_int_equal(c.n_urls, 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classify),     cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_text_check),   cmocka_unit_test(test_listing),
                cmocka_unit_test(test_escape),       cmocka_unit_test(test_urls),
                cmocka_unit_test(test_config_defaults), cmocka_unit_test(test_config_values),
                cmocka_unit_test(test_config_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
