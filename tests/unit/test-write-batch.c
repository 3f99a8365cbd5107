/* Unit tests for write batches (agent/fileio.c): many files with
 * write_file_atomic()'s guarantees and a few fsyncs.
 *
 * Checked: files appear only at commit, with content, mode and owner as
 * asked (keep_existing_mode too); no temporary file is left behind after a
 * commit, after a failed add, or when an uncommitted batch is freed; a
 * symlink target is refused; a path already in the batch is refused; one
 * file that can't be put in place fails alone; a batch is reusable; and
 * write_file_atomic() itself still does what it did (it shares the code);
 * temporary files killed writers left are removed by a commit; and
 * symlink_atomic().
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fileio.h"

static char dir[64];

static int setup(void **state) {
        (void) state;
        snprintf(dir, sizeof dir, "/tmp/kiln-batch-XXXXXX");
        assert_non_null(mkdtemp(dir));
        return 0;
}

static int teardown(void **state) {
        (void) state;
        rm_rf(dir);
        return 0;
}

static char *at(const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static void expect_file(const char *name, const char *content, mode_t mode) {
        _cleanup_free_ char *p = at(name), *text = NULL;
        struct stat st;
        assert_int_equal(read_full_file(p, 4096, &text, NULL), 0);
        assert_string_equal(text, content);
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, mode);
}

static bool exists(const char *name) {
        _cleanup_free_ char *p = at(name);
        return access(p, F_OK) == 0;
}

/* No ".#name.random" temp file anywhere below dir. */
static void expect_no_temp(const char *sub) {
        _cleanup_free_ char *p = at(sub);
        _cleanup_closedir_ DIR *d = opendir(p);
        struct dirent *de;
        assert_non_null(d);
        while ((de = readdir(d)))
                assert_false(strncmp(de->d_name, ".#", 2) == 0);
}

static void test_commit(void **state) {
        (void) state;
        _cleanup_write_batch_ write_batch *b = NULL;
        _cleanup_free_ char *a = at("a.conf"), *sub = at("sub"), *c = at("sub/c.conf"), *old = at("old.conf");
        write_opts o = WRITE_OPTS_DEFAULT;

        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(write_file_atomic(old, "before\n", 7, &(write_opts){ .mode = 0600, .uid = (uid_t) -1,
                                                                               .gid = (gid_t) -1 }), 0);
        assert_int_equal(write_batch_new(&b), 0);
        o.mode = 0640;
        assert_int_equal(write_batch_add(b, a, "a\n", 2, &o), 0);
        o = WRITE_OPTS_DEFAULT;
        assert_int_equal(write_batch_add(b, c, "c\n", 2, &o), 0);
        o.keep_existing_mode = true;
        assert_int_equal(write_batch_add(b, old, "after\n", 6, &o), 0);
        assert_int_equal(write_batch_size(b), 3);
        assert_int_equal(write_batch_contains(b, c), 1);
        assert_int_equal(write_batch_contains(b, old), 1);
        /* nothing is visible before the commit */
        assert_false(exists("a.conf"));
        expect_file("old.conf", "before\n", 0600);

        assert_int_equal(write_batch_commit(b), 0);
        expect_file("a.conf", "a\n", 0640);
        expect_file("sub/c.conf", "c\n", 0644);
        expect_file("old.conf", "after\n", 0600); /* kept its mode */
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(write_batch_result(b, i), 0);
        expect_no_temp(".");
        expect_no_temp("sub");
        assert_int_equal(write_batch_commit(b), 0); /* twice is harmless */

        /* reusable after a commit */
        assert_int_equal(write_batch_add(b, a, "a2\n", 3, NULL), 0);
        assert_int_equal(write_batch_size(b), 1);
        assert_int_equal(write_batch_commit(b), 0);
        expect_file("a.conf", "a2\n", 0644);
}

static void test_refusals(void **state) {
        (void) state;
        _cleanup_write_batch_ write_batch *b = NULL;
        _cleanup_free_ char *link = at("link"), *target = at("target"), *x = at("x"), *d = at("d"),
                            *nodir = at("nodir/f");

        assert_int_equal(write_batch_new(&b), 0);
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(write_batch_add(b, link, "no", 2, NULL), -ELOOP);
        assert_false(exists("target"));
        assert_int_equal(mkdir(d, 0755), 0);
        assert_int_equal(write_batch_add(b, d, "no", 2, NULL), -EISDIR);
        assert_int_equal(write_batch_add(b, nodir, "no", 2, NULL), -ENOENT);
        assert_int_equal(write_batch_add(b, x, "1", 1, NULL), 0);
        assert_int_equal(write_batch_add(b, x, "2", 1, NULL), -EEXIST);
        assert_int_equal(write_batch_size(b), 1);
        expect_no_temp("d");
}

static void test_free_uncommitted(void **state) {
        (void) state;
        write_batch *b = NULL;
        _cleanup_free_ char *p = at("never.conf");

        assert_int_equal(write_batch_new(&b), 0);
        assert_int_equal(write_batch_add(b, p, "x", 1, NULL), 0);
        b = write_batch_free(b);
        assert_false(exists("never.conf"));
        expect_no_temp(".");
}

static void test_one_fails_alone(void **state) {
        (void) state;
        _cleanup_write_batch_ write_batch *b = NULL;
        _cleanup_free_ char *a = at("a"), *b2 = at("b"), *c = at("c");

        assert_int_equal(write_batch_new(&b), 0);
        assert_int_equal(write_batch_add(b, a, "a", 1, NULL), 0);
        assert_int_equal(write_batch_add(b, b2, "b", 1, NULL), 0);
        assert_int_equal(write_batch_add(b, c, "c", 1, NULL), 0);
        /* after the add, something makes b impossible to replace */
        assert_int_equal(mkdir(b2, 0755), 0);
        _cleanup_free_ char *inner = at("b/keep");
        assert_int_equal(write_file_atomic(inner, "k", 1, NULL), 0);
        assert_int_equal(write_batch_commit(b), -EIO);
        assert_int_equal(write_batch_result(b, 0), 0);
        assert_true(write_batch_result(b, 1) < 0);
        assert_int_equal(write_batch_result(b, 2), 0);
        expect_file("a", "a", 0644);
        expect_file("c", "c", 0644);
        expect_no_temp(".");
}

static void test_single_file_unchanged(void **state) {
        (void) state;
        _cleanup_free_ char *p = at("single"), *link = at("single-link");
        assert_int_equal(write_file_atomic(p, "one", 3, NULL), 0);
        expect_file("single", "one", 0644);
        assert_int_equal(write_file_atomic(p, "two", 3, &(write_opts){ .mode = 0600, .uid = (uid_t) -1,
                                                                        .gid = (gid_t) -1, .no_sync = true }), 0);
        expect_file("single", "two", 0600);
        assert_int_equal(symlink(p, link), 0);
        assert_int_equal(write_file_atomic(link, "x", 1, NULL), -ELOOP);
        assert_int_equal(write_file_atomic(dir, "x", 1, NULL), -EISDIR);
        expect_no_temp(".");
}

/* Deferred directory syncs: files are in place at once, the syncs come with
 * fileio_sync_deferred(), which forgets what it synced. */
static void test_deferred_dir_sync(void **state) {
        (void) state;
        _cleanup_write_batch_ write_batch *b = NULL;
        _cleanup_free_ char *a = at("a"), *sub = at("sub"), *c = at("sub/c");

        assert_int_equal(mkdir(sub, 0755), 0);
        fileio_defer_dir_sync(true);
        assert_int_equal(write_file_atomic(a, "a", 1, NULL), 0);
        assert_int_equal(write_batch_new(&b), 0);
        assert_int_equal(write_batch_add(b, c, "c", 1, NULL), 0);
        assert_int_equal(write_batch_commit(b), 0);
        expect_file("a", "a", 0644);
        expect_file("sub/c", "c", 0644);
        assert_int_equal(fileio_sync_deferred(), 0);
        assert_int_equal(fileio_sync_deferred(), 0); /* nothing left */
        fileio_defer_dir_sync(false);
        assert_int_equal(write_file_atomic(a, "b", 1, NULL), 0);
        expect_file("a", "b", 0644);
}

/* Enough files to grow the batch's index several times. */
/* The temporary files killed writers left for the batch's files (and only
 * for those) are gone after a commit: one directory scan per directory. */
static void test_commit_removes_stale_tmps(void **state) {
        (void) state;
        static const char *const stale[] = { ".#a.conf.0123456789abcdef", ".#b.conf.fedcba9876543210" };
        static const char *const kept[] = { ".#c.conf.0123456789abcdef", ".#a.conf.0123" };
        _cleanup_write_batch_ write_batch *b = NULL;
        _cleanup_free_ char *a = at("a.conf"), *bb = at("b.conf");

        for (size_t i = 0; i < ELEMENTSOF(stale); i++) {
                _cleanup_free_ char *p = at(stale[i]);
                assert_int_equal(write_file_atomic(p, "part", 4, NULL), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
                _cleanup_free_ char *p = at(kept[i]);
                assert_int_equal(write_file_atomic(p, "other", 5, NULL), 0);
        }
        assert_int_equal(write_batch_new(&b), 0);
        assert_int_equal(write_batch_add(b, a, "A\n", 2, NULL), 0);
        assert_int_equal(write_batch_add(b, bb, "B\n", 2, NULL), 0);
        assert_int_equal(write_batch_commit(b), 0);
        for (size_t i = 0; i < ELEMENTSOF(stale); i++)
                assert_false(exists(stale[i]));
        for (size_t i = 0; i < ELEMENTSOF(kept); i++)
                assert_true(exists(kept[i]));
        expect_file("a.conf", "A\n", 0644);
}

/* symlink_atomic() replaces a link (or a file) by a new link, and removes a
 * temporary link a killed run left for the same name
 * (tests/integration/test_crash.py found the litter of the "instance" link). */
static void test_symlink_atomic(void **state) {
        (void) state;
        _cleanup_free_ char *link = at("instance"), *stale = at(".#instance.0123456789abcdef"), *file = at("f");
        char buf[64];
        ssize_t n;

        assert_int_equal(symlink("instances/old", stale), 0);
        assert_int_equal(symlink_atomic("instances/a", link), 0);
        n = readlink(link, buf, sizeof buf);
        assert_int_equal(n, 11);
        assert_memory_equal(buf, "instances/a", 11);
        assert_int_equal(symlink_atomic("instances/b", link), 0);
        n = readlink(link, buf, sizeof buf);
        assert_int_equal(n, 11);
        assert_memory_equal(buf, "instances/b", 11);
        assert_true(readlink(stale, buf, sizeof buf) < 0 && errno == ENOENT); /* access() would follow it */
        assert_int_equal(write_file_atomic(file, "x", 1, NULL), 0);
        assert_int_equal(symlink_atomic("instances/c", file), 0);
        n = readlink(file, buf, sizeof buf);
        assert_int_equal(n, 11);
        expect_no_temp(".");
}

static void test_many(void **state) {
        (void) state;
        _cleanup_write_batch_ write_batch *b = NULL;
        char name[32];

        assert_int_equal(write_batch_new(&b), 0);
        for (int i = 0; i < 300; i++) {
                snprintf(name, sizeof name, "f%03d", i);
                _cleanup_free_ char *p = at(name);
                assert_int_equal(write_batch_add(b, p, name, strlen(name), NULL), 0);
        }
        for (int i = 0; i < 300; i++) {
                snprintf(name, sizeof name, "f%03d", i);
                _cleanup_free_ char *p = at(name);
                assert_int_equal(write_batch_contains(b, p), 1);
                assert_int_equal(write_batch_add(b, p, "again", 5, NULL), -EEXIST);
        }
        _cleanup_free_ char *other = at("f300");
        assert_int_equal(write_batch_contains(b, other), 0);
        assert_int_equal(write_batch_commit(b), 0);
        assert_int_equal(write_batch_contains(b, other), 0);
        expect_file("f123", "f123", 0644);
        expect_no_temp(".");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_uncommitted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_fails_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_single_file_unchanged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deferred_dir_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_removes_stale_tmps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlink_atomic, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
