/* Unit tests for the shared helpers: base64, diag, fileio, exec, util. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "base64.h"
#include "diag.h"
#include "exec.h"
#include "fileio.h"
#include "util.h"

static void test_base64_roundtrip(void **state) {
        (void) state;
        const char *inputs[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
        const char *expect[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_free_ char *enc = NULL;
                _cleanup_free_ void *dec = NULL;
                size_t n;
                assert_int_equal(base64_encode(inputs[i], strlen(inputs[i]), &enc), 0);
                assert_string_equal(enc, expect[i]);
                assert_int_equal(base64_decode(enc, strlen(enc), &dec, &n), 0);
                assert_int_equal(n, strlen(inputs[i]));
                assert_memory_equal(dec, inputs[i], n);
        }
}

static void test_base64_rejects(void **state) {
        (void) state;
        void *out = NULL;
        assert_int_equal(base64_decode("Zm9v!", 5, &out, NULL), -EBADMSG);
        assert_int_equal(base64_decode("Zg=a", 4, &out, NULL), -EBADMSG);
        assert_int_equal(base64_decode("Z", 1, &out, NULL), -EBADMSG);
        assert_true(base64_looks_like("Zm9v\nYmFy\n", 10));
        assert_false(base64_looks_like("#cloud-config", 13));
}

static void test_diag_format(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        diag_error(&d, "user-data", 3, 7, "expected %s", "a string");
        diags_add(&d, DIAG_WARNING, "kiln.yaml", 0, 0, "consul.adress", "unknown key");
        assert_int_equal(d.n, 2);
        assert_int_equal(d.n_errors, 1);
        _cleanup_free_ char *a = diag_format(&d.v[0]), *b = diag_format(&d.v[1]);
        assert_string_equal(a, "user-data:3:7: error: expected a string");
        assert_string_equal(b, "kiln.yaml: warning: unknown key (at key consul.adress)");
}

static void test_atomic_write(void **state) {
        (void) state;
        char dir[] = "/tmp/kiln-test-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *p = path_join(dir, "a.conf"), *link = path_join(dir, "link");
        write_opts o = WRITE_OPTS_DEFAULT;
        o.mode = 0640;
        assert_int_equal(write_file_atomic(p, "hello\n", 6, &o), 0);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(file_content_equals(p, "hello\n", 6), 1);
        assert_int_equal(file_content_equals(p, "hello", 5), 0);
        assert_int_equal(symlink(p, link), 0);
        assert_int_equal(write_file_atomic(link, "x", 1, NULL), -ELOOP);
        assert_int_equal(rm_rf(dir), 0);
        assert_int_equal(access(dir, F_OK), -1);
}

/* A temporary file a killed writer left (".#a.conf.<16 hex>") is removed by
 * the next successful write of a.conf; other names are left alone
 * (tests/integration/test_crash.py found the litter). */
static void test_atomic_write_removes_stale_tmps(void **state) {
        (void) state;
        char dir[] = "/tmp/kiln-test-XXXXXX";
        assert_non_null(mkdtemp(dir));
        static const char *const stale[] = { ".#a.conf.0123456789abcdef", ".#a.conf.fedcba9876543210" };
        static const char *const kept[] = { ".#a.conf.0123", ".#a.conf.0123456789abcdeF", ".#b.conf.0123456789abcdef",
                                            ".#a.conf.d.0123456789abcdef", "a.conf.0123456789abcdef" };
        for (size_t i = 0; i < ELEMENTSOF(stale); i++) {
                _cleanup_free_ char *p = path_join(dir, stale[i]);
                assert_int_equal(write_file_atomic(p, "part", 4, NULL), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                _cleanup_free_ char *p = path_join(dir, kept[i]);
                assert_int_equal(write_file_atomic(p, "other", 5, NULL), 0);
        }
        _cleanup_free_ char *p = path_join(dir, "a.conf");
        assert_int_equal(write_file_atomic(p, "whole\n", 6, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(stale); i++) {
                _cleanup_free_ char *q = path_join(dir, stale[i]);
                assert_int_equal(access(q, F_OK), -1);
        }
        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                _cleanup_free_ char *q = path_join(dir, kept[i]);
                assert_int_equal(access(q, F_OK), 0);
        }
        assert_int_equal(file_content_equals(p, "whole\n", 6), 1);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_exec(void **state) {
        (void) state;
        char *argv_true[] = { "/bin/sh", "-c", "echo out; exit 3", NULL };
        _cleanup_free_ char *out = NULL;
        exec_opts o = EXEC_OPTS_DEFAULT;
        int status = -1;
        o.capture = &out;
        assert_int_equal(exec_run(argv_true, &o, &status), 0);
        assert_int_equal(status, 3);
        assert_string_equal(out, "out\n");

        char *argv_missing[] = { "/nonexistent/cmd", NULL };
        assert_int_equal(exec_run(argv_missing, NULL, &status), -ENOENT);

        char *argv_slow[] = { "/bin/sleep", "10", NULL };
        o = EXEC_OPTS_DEFAULT;
        o.timeout = 100 * USEC_PER_MSEC;
        usec_t t0 = now_mono_usec();
        assert_int_equal(exec_run(argv_slow, &o, &status), -ETIME);
        assert_true(now_mono_usec() - t0 < 3 * USEC_PER_SEC);

        char *argv_cat[] = { "/bin/cat", NULL };
        _cleanup_free_ char *echoed = NULL;
        o = EXEC_OPTS_DEFAULT;
        o.input = "via stdin";
        o.capture = &echoed;
        assert_int_equal(exec_run(argv_cat, &o, &status), 0);
        assert_string_equal(echoed, "via stdin");

        char *quoted[] = { "echo", "a b", "it's", NULL };
        _cleanup_free_ char *s = exec_argv_to_string(quoted);
        assert_string_equal(s, "echo 'a b' 'it'\\''s'");
}

static void test_root_path(void **state) {
        (void) state;
        assert_int_equal(root_set("/tmp/r/"), 0);
        _cleanup_free_ char *a = root_path("/etc/kiln/kiln.yaml");
        assert_string_equal(a, "/tmp/r/etc/kiln/kiln.yaml");
        assert_int_equal(root_set("/"), 0);
        assert_true(root_is_live());
        _cleanup_free_ char *b = root_path("/etc/hostname");
        assert_string_equal(b, "/etc/hostname");
        assert_int_equal(root_set("relative"), -EINVAL);
        assert_false(path_is_safe_absolute("/etc/../root"));
        assert_true(path_is_safe_absolute("/etc/..d/x"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_base64_roundtrip), cmocka_unit_test(test_base64_rejects),
                cmocka_unit_test(test_diag_format),      cmocka_unit_test(test_atomic_write),
                cmocka_unit_test(test_exec),             cmocka_unit_test(test_root_path),
                cmocka_unit_test(test_atomic_write_removes_stale_tmps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
