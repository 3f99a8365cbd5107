/* Unit tests for the decision table (blockdev_decide), the wanted-filesystem
 * checks, and classification of image files (blockdev_probe_device and
 * blockdev_plan on regular files: no root, no loop devices; the loop-device
 * tests are in test-blockdev-loop.c). */
#include "blockdev.h"
#include "test-blockdev.h"

static blockdev_probe fs(const char *type, const char *label) {
        return (blockdev_probe){ .content = BLOCKDEV_FILESYSTEM, .type = (char *) type, .label = (char *) label,
                                 .uuid = "u", .summary = "a filesystem" };
}

static void expect(const blockdev_probe *p, blockdev_want w, blockdev_action action, const char *reason_part) {
        _cleanup_free_ char *reason = NULL;
        blockdev_action a;
        assert_int_equal(blockdev_decide(p, &w, &a, &reason), 0);
        if (a != action)
                fail_msg("expected %s, got %s (%s)", blockdev_action_to_string(action), blockdev_action_to_string(a),
                         reason);
        if (!strstr(reason, reason_part))
                fail_msg("'%s' lacks '%s'", reason, reason_part);
}

static void test_table(void **state) {
        (void) state;
        blockdev_probe blank = { .content = BLOCKDEV_BLANK, .summary = "blank (no signature)" };
        blockdev_probe foreign = { .content = BLOCKDEV_FOREIGN, .type = "LVM2_member",
                                   .summary = "LVM2_member signature (usage raid)" };
        blockdev_probe data = fs("ext4", "data"), old = fs("ext4", "old"), nolabel = fs("ext4", NULL),
                       xfs = fs("xfs", "data");
        blockdev_want want = { .fstype = "ext4", .label = "data" };
        blockdev_want relabel = { .fstype = "ext4", .label = "data", .relabel = true };
        blockdev_want anylabel = { .fstype = "ext4" };

        expect(&blank, want, BLOCKDEV_ACTION_MKFS, "create ext4 labelled 'data'");
        expect(&blank, anylabel, BLOCKDEV_ACTION_MKFS, "create ext4");
        expect(&data, want, BLOCKDEV_ACTION_USE, "already there");
        expect(&data, relabel, BLOCKDEV_ACTION_USE, "use it");
        expect(&old, anylabel, BLOCKDEV_ACTION_USE, "labelled 'old'");
        expect(&old, want, BLOCKDEV_ACTION_REFUSE, "set relabel: true");
        expect(&old, relabel, BLOCKDEV_ACTION_RELABEL, "relabel to 'data'");
        expect(&nolabel, want, BLOCKDEV_ACTION_REFUSE, "labelled '', not 'data'");
        expect(&nolabel, relabel, BLOCKDEV_ACTION_RELABEL, "relabel");
        expect(&xfs, want, BLOCKDEV_ACTION_REFUSE, "holds a filesystem of type xfs");
        expect(&xfs, relabel, BLOCKDEV_ACTION_REFUSE, "not ext4");
        expect(&foreign, want, BLOCKDEV_ACTION_REFUSE, "carries LVM2_member signature");
        expect(&foreign, relabel, BLOCKDEV_ACTION_REFUSE, "never formats");
}

static void test_want_check(void **state) {
        (void) state;
        static const struct {
                blockdev_want w;
                const char *msg;
        } bad[] = {
                { { .fstype = "btrfs" }, "'btrfs' is not supported" },
                { { .fstype = NULL }, "is not supported" },
                { { .fstype = "xfs", .label = "thirteen-char" }, "1 to 12 characters for xfs" },
                { { .fstype = "ext4", .label = "seventeen-chars-x" }, "1 to 16 characters for ext4" },
                { { .fstype = "ext4", .label = "" }, "1 to 16" },
                { { .fstype = "ext4", .label = "my data" }, "may only contain" },
                { { .fstype = "ext4", .label = "a/b" }, "may only contain" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *err = NULL;
                assert_int_equal(blockdev_want_check(&bad[i].w, &err), -EINVAL);
                if (!strstr(err, bad[i].msg))
                        fail_msg("'%s' lacks '%s'", err, bad[i].msg);
        }
        char *err = NULL;
        blockdev_want ok1 = { .fstype = "xfs", .label = "twelve-chars" }, ok2 = { .fstype = "ext4" },
                      ok3 = { .fstype = "ext4", .label = "Data_1.x-y" };
        assert_int_equal(blockdev_want_check(&ok1, &err), 0);
        assert_int_equal(blockdev_want_check(&ok2, &err), 0);
        assert_int_equal(blockdev_want_check(&ok3, &err), 0);
        assert_null(err);
}

/* ---- image files ---- */

static void expect_content(const char *path, blockdev_content c, const char *summary_part) {
        blockdev_probe p = {};
        assert_int_equal(blockdev_probe_device(path, &p), 0);
        if (p.content != c || !strstr(p.summary, summary_part))
                fail_msg("%s: %s (%s), expected %s with '%s'", path, blockdev_content_to_string(p.content), p.summary,
                         blockdev_content_to_string(c), summary_part);
        blockdev_probe_done(&p);
}

static void test_probe_images(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *blank = bdt_image(dir, "blank", 8 << 20), *head = bdt_image(dir, "head", 8 << 20),
                            *tail = bdt_image(dir, "tail", 8 << 20), *small = bdt_image(dir, "small", 512 << 10),
                            *ext4 = bdt_image(dir, "ext4", 8 << 20);

        expect_content(blank, BLOCKDEV_BLANK, "first and last MiB are zeros");
        expect_content(small, BLOCKDEV_BLANK, "blank");
        bdt_pattern(head, 4096, 100);
        expect_content(head, BLOCKDEV_FOREIGN, "non-zero data without a known signature (in the first MiB)");
        bdt_pattern(tail, (8 << 20) - 300, 100);
        expect_content(tail, BLOCKDEV_FOREIGN, "(in the last MiB)");
        /* Data only in the middle is beyond the 2 MiB check: documented limit. */
        char *mk[] = { "mkfs.ext4", "-q", "-F", "-L", "imgdata", ext4, NULL };
        bdt_run_ok(mk);
        expect_content(ext4, BLOCKDEV_FILESYSTEM, "ext4 filesystem, label 'imgdata'");

        blockdev_probe p = {};
        assert_int_equal(blockdev_probe_device("/nonexistent/dev", &p), -ENOENT);
        assert_null(p.summary);
}

static void test_plan_images(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *blank = bdt_image(dir, "blank", 8 << 20), *ext4 = bdt_image(dir, "ext4", 8 << 20);
        blockdev_want w = { .fstype = "ext4", .label = "data" };
        blockdev_decision d = {};

        assert_int_equal(blockdev_plan(blank, &w, &d), 0);
        assert_int_equal(d.action, BLOCKDEV_ACTION_MKFS);
        assert_true(startswith(d.reason, blank));
        assert_int_equal(d.probe.content, BLOCKDEV_BLANK);
        blockdev_decision_done(&d);

        char *mk[] = { "mkfs.ext4", "-q", "-F", "-L", "other", ext4, NULL };
        bdt_run_ok(mk);
        assert_int_equal(blockdev_plan(ext4, &w, &d), 0);
        assert_int_equal(d.action, BLOCKDEV_ACTION_REFUSE);
        assert_non_null(strstr(d.reason, "labelled 'other', not 'data'"));
        /* Applying a refusal fails and changes nothing. */
        assert_int_equal(blockdev_apply(ext4, &w, &d, NULL), -EEXIST);
        blockdev_decision_done(&d);

        /* The plan was made for a blank device; it is no longer blank. */
        assert_int_equal(blockdev_plan(blank, &w, &d), 0);
        bdt_pattern(blank, 0, 512);
        assert_int_equal(blockdev_apply(blank, &w, &d, NULL), -ESTALE);
        blockdev_decision_done(&d);
}

static void test_fs_size_images(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *ext4 = bdt_image(dir, "ext4", 64 << 20), *xfs = bdt_image(dir, "xfs", 320 << 20),
                            *blank = bdt_image(dir, "blank", 1 << 20);
        uint64_t sz = 0, dev = 0;

        char *mk1[] = { "mkfs.ext4", "-q", "-F", "-b", "4096", ext4, "60M", NULL };
        bdt_run_ok(mk1);
        assert_int_equal(blockdev_fs_size(ext4, "ext4", &sz), 0);
        assert_int_equal(sz, 60ULL << 20);
        assert_int_equal(blockdev_device_size(ext4, &dev), 0);
        assert_int_equal(dev, 64ULL << 20);
        char *mk2[] = { "mkfs.xfs", "-q", "-f", xfs, NULL };
        bdt_run_ok(mk2);
        assert_int_equal(blockdev_fs_size(xfs, "xfs", &sz), 0);
        assert_int_equal(sz, 320ULL << 20);
        assert_int_equal(blockdev_fs_size(blank, "ext4", &sz), -EBADMSG);
        assert_int_equal(blockdev_fs_size(ext4, "xfs", &sz), -EBADMSG);
        assert_int_equal(blockdev_fs_size(ext4, "btrfs", &sz), -EOPNOTSUPP);
}

#define T(f) cmocka_unit_test_setup_teardown(f, bdt_tmpdir_setup, bdt_tmpdir_teardown)

int main(void) {
        bdt_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_want_check),
                T(test_probe_images),
                T(test_plan_images),
                T(test_fs_size_images),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
