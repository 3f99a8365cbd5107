/* Unit tests for the fstab writer (blockdev_fstab_line/_ensure): the line
 * kiln writes, idempotence, in-place replacement, every other byte kept,
 * refusal on ambiguous files.  No root needed. */
#include <sys/stat.h>

#include "blockdev.h"
#include "test-blockdev.h"

#define UUID "0b5c6f6e-3f7e-4bb4-9a4e-2f1d1f0e7c11"

static blockdev_fstab_entry entry(const char *mp, const char *fstype, const char *opts) {
        return (blockdev_fstab_entry){ .uuid = UUID, .mountpoint = mp, .fstype = fstype, .options = opts };
}

static char *line_of(blockdev_fstab_entry e) {
        char *l = NULL;
        assert_int_equal(blockdev_fstab_line(&e, &l), 0);
        return l;
}

static char *slurp(const char *path) {
        char *d = NULL;
        assert_int_equal(read_full_file(path, 1 << 20, &d, NULL), 0);
        return d;
}

static void test_line(void **state) {
        (void) state;
        _cleanup_free_ char *a = line_of(entry("/data", "ext4", NULL));
        assert_string_equal(a, "UUID=" UUID " /data ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2");
        _cleanup_free_ char *b = line_of(entry("/srv/db", "xfs", "noatime"));
        assert_string_equal(b, "UUID=" UUID " /srv/db xfs noatime,nofail,x-systemd.device-timeout=30s 0 0");
        /* Options the user already gave are not repeated. */
        _cleanup_free_ char *c = line_of(entry("/data", "ext4", "nofail,x-systemd.device-timeout=2min"));
        assert_string_equal(c, "UUID=" UUID " /data ext4 nofail,x-systemd.device-timeout=2min 0 2");
        /* "nofail" as a prefix of another option is not nofail. */
        _cleanup_free_ char *d = line_of(entry("/data", "ext4", "nofailx"));
        assert_string_equal(d, "UUID=" UUID " /data ext4 nofailx,nofail,x-systemd.device-timeout=30s 0 2");
        blockdev_fstab_entry t = entry("/data", "ext4", NULL);
        t.device_timeout_sec = 90;
        _cleanup_free_ char *e = line_of(t);
        assert_string_equal(e, "UUID=" UUID " /data ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2");
        /* A space in the mountpoint is escaped as fstab wants. */
        _cleanup_free_ char *f = line_of(entry("/mnt/my data", "ext4", NULL));
        assert_string_equal(f, "UUID=" UUID " /mnt/my\\040data ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2");
}

static void test_line_rejects(void **state) {
        (void) state;
        static const blockdev_fstab_entry bad[] = {
                { .uuid = UUID, .mountpoint = "data", .fstype = "ext4" },
                { .uuid = UUID, .mountpoint = "/a/../b", .fstype = "ext4" },
                { .uuid = UUID, .mountpoint = "/data", .fstype = "ext4", .options = "rw, noatime" },
                { .uuid = UUID, .mountpoint = "/data", .fstype = "ext4", .options = "rw#x" },
                { .uuid = "", .mountpoint = "/data", .fstype = "ext4" },
                { .uuid = UUID, .mountpoint = "/data", .fstype = NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *l = NULL;
                assert_int_equal(blockdev_fstab_line(&bad[i], &l), -EINVAL);
                assert_null(l);
        }
}

static void test_create_and_idempotent(void **state) {
        _cleanup_free_ char *p = path_join(*state, "fstab"), *want = line_of(entry("/data", "ext4", NULL));
        blockdev_fstab_entry e = entry("/data", "ext4", NULL);
        struct stat st1, st2;

        assert_int_equal(blockdev_fstab_ensure(p, &e), 1);
        _cleanup_free_ char *d = slurp(p), *expect = NULL;
        assert_true(asprintf(&expect, "%s\n", want) > 0);
        assert_string_equal(d, expect);
        assert_int_equal(stat(p, &st1), 0);
        assert_int_equal(st1.st_mode & 07777, 0644);
        /* Second run: nothing to do, the file is not even rewritten. */
        assert_int_equal(blockdev_fstab_ensure(p, &e), 0);
        assert_int_equal(stat(p, &st2), 0);
        assert_int_equal(st1.st_ino, st2.st_ino);
}

static const char existing[] = "# /etc/fstab: static file system information.\n"
                               "#\n"
                               "UUID=1111-2222 /   ext4  errors=remount-ro 0       1\n"
                               "\n"
                               "  # indented comment mentioning /data\n"
                               "/dev/vdb\t/srv\txfs\tdefaults\t0\t0\n"
                               "tmpfs /tmp tmpfs defaults 0 0";

static void test_append_keeps_everything(void **state) {
        _cleanup_free_ char *p = path_join(*state, "fstab"), *line = line_of(entry("/data", "ext4", NULL));
        blockdev_fstab_entry e = entry("/data", "ext4", NULL);

        assert_int_equal(write_file_atomic(p, existing, strlen(existing), NULL), 0);
        assert_int_equal(chmod(p, 0640), 0);
        assert_int_equal(blockdev_fstab_ensure(p, &e), 1);
        _cleanup_free_ char *d = slurp(p), *expect = NULL;
        /* The old last line only gains its missing newline. */
        assert_true(asprintf(&expect, "%s\n%s\n", existing, line) > 0);
        assert_string_equal(d, expect);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640); /* the file keeps its mode */
        assert_int_equal(blockdev_fstab_ensure(p, &e), 0);
}

static void test_replace_in_place(void **state) {
        _cleanup_free_ char *p = path_join(*state, "fstab");
        const char *before = "# head\n"
                             "UUID=old /data ext4 defaults 0 2\n"
                             "tmpfs /tmp tmpfs defaults 0 0\n";
        blockdev_fstab_entry e = entry("/data", "ext4", "noatime");
        _cleanup_free_ char *line = line_of(e), *expect = NULL;

        assert_int_equal(write_file_atomic(p, before, strlen(before), NULL), 0);
        assert_int_equal(blockdev_fstab_ensure(p, &e), 1);
        assert_true(asprintf(&expect, "# head\n%s\ntmpfs /tmp tmpfs defaults 0 0\n", line) > 0);
        _cleanup_free_ char *d = slurp(p);
        assert_string_equal(d, expect);
        assert_int_equal(blockdev_fstab_ensure(p, &e), 0);

        /* The replaced line was the last one, without a newline. */
        const char *before2 = "# head\nUUID=old\t/data ext4 defaults 0 2";
        assert_int_equal(write_file_atomic(p, before2, strlen(before2), NULL), 0);
        assert_int_equal(blockdev_fstab_ensure(p, &e), 1);
        _cleanup_free_ char *d2 = slurp(p), *expect2 = NULL;
        assert_true(asprintf(&expect2, "# head\n%s\n", line) > 0);
        assert_string_equal(d2, expect2);
}

static void test_escaped_mountpoint_matches(void **state) {
        _cleanup_free_ char *p = path_join(*state, "fstab");
        const char *before = "LABEL=x /mnt/my\\040data ext4 defaults 0 2\n/dev/sdz /mnt/my ext4 defaults 0 2\n";
        blockdev_fstab_entry e = entry("/mnt/my data", "ext4", NULL);
        _cleanup_free_ char *line = line_of(e), *expect = NULL;

        assert_int_equal(write_file_atomic(p, before, strlen(before), NULL), 0);
        assert_int_equal(blockdev_fstab_ensure(p, &e), 1);
        assert_true(asprintf(&expect, "%s\n/dev/sdz /mnt/my ext4 defaults 0 2\n", line) > 0);
        _cleanup_free_ char *d = slurp(p);
        assert_string_equal(d, expect);
}

/* The same volume mounted elsewhere by another line: warned about, kept. */
static void test_same_uuid_elsewhere_kept(void **state) {
        _cleanup_free_ char *p = path_join(*state, "fstab");
        const char *before = "UUID=" UUID " /old ext4 defaults 0 2\n";
        blockdev_fstab_entry e = entry("/data", "ext4", NULL);
        _cleanup_free_ char *line = line_of(e), *expect = NULL;
        int saved;

        assert_int_equal(write_file_atomic(p, before, strlen(before), NULL), 0);
        char *logpath = bdt_stderr_begin(&saved);
        assert_int_equal(blockdev_fstab_ensure(p, &e), 1);
        _cleanup_free_ char *log = bdt_stderr_end(logpath, saved);
        assert_non_null(strstr(log, "line 1 also mounts UUID=" UUID ", elsewhere than /data"));
        assert_true(asprintf(&expect, "%s%s\n", before, line) > 0);
        _cleanup_free_ char *d = slurp(p);
        assert_string_equal(d, expect);
}

static void test_duplicates_refused(void **state) {
        _cleanup_free_ char *p = path_join(*state, "fstab");
        const char *before = "UUID=a /data ext4 defaults 0 2\n# x\nUUID=b /data xfs defaults 0 0\n";
        blockdev_fstab_entry e = entry("/data", "ext4", NULL);

        assert_int_equal(write_file_atomic(p, before, strlen(before), NULL), 0);
        assert_int_equal(blockdev_fstab_ensure(p, &e), -ENOTUNIQ);
        _cleanup_free_ char *d = slurp(p);
        assert_string_equal(d, before);
}

static void test_symlink_refused(void **state) {
        _cleanup_free_ char *p = path_join(*state, "fstab"), *real = path_join(*state, "real");
        const char *before = "# real\n";
        blockdev_fstab_entry e = entry("/data", "ext4", NULL);

        assert_int_equal(write_file_atomic(real, before, strlen(before), NULL), 0);
        assert_int_equal(symlink(real, p), 0);
        assert_int_equal(blockdev_fstab_ensure(p, &e), -ELOOP);
        _cleanup_free_ char *d = slurp(real);
        assert_string_equal(d, before);
}

#define T(f) cmocka_unit_test_setup_teardown(f, bdt_tmpdir_setup, bdt_tmpdir_teardown)

int main(void) {
        bdt_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_line),
                cmocka_unit_test(test_line_rejects),
                T(test_create_and_idempotent),
                T(test_append_keeps_everything),
                T(test_replace_in_place),
                T(test_escaped_mountpoint_matches),
                T(test_same_uuid_elsewhere_kept),
                T(test_duplicates_refused),
                T(test_symlink_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
