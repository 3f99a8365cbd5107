/* Unit tests for agent/srcmap.c: positions by key path.
 *
 * What the config pipeline relies on: exact lookups, the nearest ancestor
 * as a fallback (with the value's position, not the key's), a key position
 * preferred only where one was recorded, replacing an entry whole, copying
 * a prefix to another prefix (merges shift list indices that way), file
 * names that outlive their callers' strings, many entries (the table
 * grows), and the path helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "macro.h"
#include "srcmap.h"

static void expect_pos(const srcpos *p, const char *file, unsigned line, unsigned column) {
        assert_string_equal(p->file, file);
        assert_int_equal(p->line, line);
        assert_int_equal(p->column, column);
}

static void test_set_get(void **state) {
        (void) state;
        _cleanup_srcmap_ srcmap m = SRCMAP_INIT;
        srcpos p;
        char file[] = "user-data";

        assert_false(srcmap_get(&m, "a", &p));
        assert_int_equal(srcmap_set_key(&m, "a", 1, 1), 0); /* no entry: nothing to add to */
        assert_int_equal(srcmap_set(&m, "", file, 1, 1), 0);
        assert_int_equal(srcmap_set(&m, "write_files", file, 2, 1), 0);
        assert_int_equal(srcmap_set(&m, "write_files[0].path", file, 3, 11), 0);
        assert_int_equal(srcmap_set_key(&m, "write_files[0].path", 3, 5), 0);
        file[0] = 'X'; /* the map keeps its own copy of the name */

        assert_true(srcmap_get(&m, "write_files[0].path", &p));
        expect_pos(&p, "user-data", 3, 11);
        assert_true(srcmap_get_key(&m, "write_files[0].path", &p));
        expect_pos(&p, "user-data", 3, 5);
        /* no key position recorded: the value's */
        assert_true(srcmap_get_key(&m, "write_files", &p));
        expect_pos(&p, "user-data", 2, 1);
        /* unknown paths fall back to the nearest ancestor's value position */
        assert_true(srcmap_get_key(&m, "write_files[0].path.deeper[3]", &p));
        expect_pos(&p, "user-data", 3, 11);
        assert_true(srcmap_get(&m, "write_files[7].content", &p));
        expect_pos(&p, "user-data", 2, 1);
        assert_true(srcmap_get(&m, "runcmd", &p));
        expect_pos(&p, "user-data", 1, 1);

        /* replacing an entry replaces it whole: its key position too */
        assert_int_equal(srcmap_set(&m, "write_files[0].path", "other", 9, 9), 0);
        assert_true(srcmap_get_key(&m, "write_files[0].path", &p));
        expect_pos(&p, "other", 9, 9);
}

static void test_copy_prefix(void **state) {
        (void) state;
        _cleanup_srcmap_ srcmap a = SRCMAP_INIT, b = SRCMAP_INIT;
        srcpos p;

        srcmap_set(&a, "runcmd", "part1", 1, 1);
        srcmap_set(&a, "runcmd[0]", "part1", 2, 3);
        srcmap_set(&a, "runcmd[1]", "part1", 3, 3);
        srcmap_set_key(&a, "runcmd[1]", 3, 1);
        srcmap_set(&a, "runcmdx", "part1", 4, 1); /* not under the prefix "runcmd" */

        assert_int_equal(srcmap_copy_prefix(&b, &a, "runcmd[1]", "runcmd[5]"), 0);
        assert_true(srcmap_get_key(&b, "runcmd[5]", &p));
        expect_pos(&p, "part1", 3, 1);
        assert_false(srcmap_get(&b, "runcmd[0]", &p));

        _cleanup_srcmap_ srcmap c = SRCMAP_INIT;
        assert_int_equal(srcmap_copy_prefix(&c, &a, "runcmd", "layer.runcmd"), 0);
        assert_true(srcmap_get(&c, "layer.runcmd[0]", &p));
        expect_pos(&p, "part1", 2, 3);
        assert_false(srcmap_get(&c, "layer.runcmdx", &p));
        assert_false(srcmap_get(&c, "runcmdx", &p));

        /* everything, to the root */
        _cleanup_srcmap_ srcmap d = SRCMAP_INIT;
        assert_int_equal(srcmap_copy_prefix(&d, &c, "layer", ""), 0);
        assert_true(srcmap_get(&d, "runcmd[1]", &p));
        expect_pos(&p, "part1", 3, 3);
        assert_int_equal(srcmap_copy_prefix(&d, &b, "", ""), 0);
        assert_true(srcmap_get(&d, "runcmd[5]", &p));
}

static void test_many(void **state) {
        (void) state;
        _cleanup_srcmap_ srcmap m = SRCMAP_INIT;
        char path[64];
        srcpos p;

        for (unsigned i = 0; i < 20000; i++) {
                snprintf(path, sizeof path, "write_files[%u].content", i);
                assert_int_equal(srcmap_set(&m, path, i % 2 ? "odd" : "even", i + 1, 7), 0);
        }
        for (unsigned i = 0; i < 20000; i += 997) {
                snprintf(path, sizeof path, "write_files[%u].content", i);
                assert_true(srcmap_get(&m, path, &p));
                expect_pos(&p, i % 2 ? "odd" : "even", i + 1, 7);
        }
        srcmap_clear(&m);
        assert_false(srcmap_get(&m, "write_files[0].content", &p));
}

static void test_keypath(void **state) {
        (void) state;
        _cleanup_free_ char *a = keypath_key("", "hostname"), *b = keypath_key("consul", "services"),
                            *c = keypath_index("consul.services", 12), *d = keypath_index(NULL, 0),
                            *e = keypath_key(NULL, "x"), *f = keypath_index("a", 18446744073709551615ULL);
        assert_string_equal(a, "hostname");
        assert_string_equal(b, "consul.services");
        assert_string_equal(c, "consul.services[12]");
        assert_string_equal(d, "[0]");
        assert_string_equal(e, "x");
        assert_string_equal(f, "a[18446744073709551615]");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set_get),
                cmocka_unit_test(test_copy_prefix),
                cmocka_unit_test(test_many),
                cmocka_unit_test(test_keypath),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
