/* Unit tests for agent/dlib.c: libraries loaded on first use.
 *
 * What the lazy-*.c forwarders rely on: a library is loaded once and its
 * symbols found; a library that cannot be loaded fails every call the way
 * the forwarder says (-ELIBACC here), is tried only once, and a freeing
 * function never loads anything.  The real forwarders are exercised by the
 * integration tests (IMDS through libcurl, volumes through libblkid and
 * libmount).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <zlib.h>

#include "dlib.h"
#include "macro.h"

static dlib missing = DLIB_INIT("libkiln-test-does-not-exist.so.0", "the unit test");

/* Functions of a library that does not exist, forwarded the way lazy-*.c do it. */
int kiln_test_missing_call(int x);
void kiln_test_missing_free(void *p);
DLIB_FORWARD(missing, int, kiln_test_missing_call, (int x), (x), -ELIBACC)
DLIB_FORWARD_FREE(missing, void, kiln_test_missing_free, (void *p), (p), )

static void test_present(void **state) {
        (void) state;
        dlib z = DLIB_INIT("libz.so.1", "the unit test");
        const char *(*version)(void);

        assert_false(dlib_loaded(&z));
        assert_int_equal(dlib_open(&z), 0);
        assert_true(dlib_loaded(&z));
        assert_int_equal(dlib_open(&z), 0);
        version = (const char *(*)(void)) dlib_sym(&z, "zlibVersion");
        assert_non_null(version);
        assert_string_equal(version(), zlibVersion());
        errno = 0;
        assert_null(dlib_sym(&z, "kiln_no_such_symbol"));
        assert_int_equal(errno, ELIBACC);
}

static void test_missing(void **state) {
        (void) state;

        /* a free before anything was loaded does not try to load */
        kiln_test_missing_free(NULL);
        assert_int_equal(missing.state, 0);

        assert_int_equal(kiln_test_missing_call(1), -ELIBACC);
        assert_int_equal(missing.state, -ELIBACC);
        assert_false(dlib_loaded(&missing));
        /* tried once: the state stays, the next calls fail the same way */
        assert_int_equal(dlib_open(&missing), -ELIBACC);
        assert_int_equal(kiln_test_missing_call(2), -ELIBACC);
        errno = 0;
        assert_null(dlib_sym(&missing, "anything"));
        assert_int_equal(errno, ELIBACC);
        kiln_test_missing_free(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_present),
                cmocka_unit_test(test_missing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
