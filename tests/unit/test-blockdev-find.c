/* Unit tests for blockdev_find()/blockdev_wait() against fake sysfs + /dev
 * trees built in a temporary directory (no root, no devices needed).
 *
 * A fake Nitro instance looks like the real thing where kiln reads it:
 *   sys/class/nvme/nvme1/{model,serial}         controller attributes
 *   sys/block/nvme1n1/device -> ../../class/nvme/nvme1
 *   sys/block/nvme1n1/size
 *   dev/nvme1      the identify page (a .bin from tests/data/nvme/)
 *   dev/nvme1n1    the namespace "node" (an empty or image file)
 * Optional udev links: dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol…
 * and amazon-ec2-utils' dev/sdf -> nvme1n1.  A fake Xen instance has
 * sys/block/xvdf and dev/xvdf only.
 */
#include <pthread.h>
#include <sys/stat.h>

#include "blockdev.h"
#include "test-blockdev.h"

typedef struct tree {
        char root[64];
        char *sys, *dev;
} tree;

static void put(const tree *t, const char *rel, const char *content) {
        _cleanup_free_ char *p = path_join(t->root, rel), *dir = NULL;
        assert_non_null(p);
        dir = strndup(p, (size_t) (strrchr(p, '/') - p));
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(write_file_atomic(p, content, strlen(content), NULL), 0);
}

static void link_to(const tree *t, const char *rel, const char *target) {
        _cleanup_free_ char *p = path_join(t->root, rel), *dir = NULL;
        dir = strndup(p, (size_t) (strrchr(p, '/') - p));
        assert_int_equal(mkdir_p(dir, 0755), 0);
        assert_int_equal(symlink(target, p), 0);
}

static void put_page(const tree *t, const char *rel, const char *page) {
        _cleanup_free_ char *src = NULL, *data = NULL, *p = path_join(t->root, rel);
        size_t len;
        assert_true(asprintf(&src, "%s/nvme/%s", KILN_TEST_DATA, page) > 0);
        assert_int_equal(read_full_file(src, 4096, &data, &len), 0);
        assert_int_equal(write_file_atomic(p, data, len, NULL), 0);
}

/* An NVMe disk: controller ctrl ("nvme1"), namespace ctrl + "n1". */
static void add_nvme(const tree *t, const char *ctrl, const char *model, const char *serial, const char *page) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL;
        assert_true(asprintf(&a, "sys/class/nvme/%s/model", ctrl) > 0);
        put(t, a, model);
        assert_true(asprintf(&b, "sys/class/nvme/%s/serial", ctrl) > 0);
        put(t, b, serial);
        assert_true(asprintf(&c, "sys/block/%sn1/size", ctrl) > 0);
        put(t, c, "16384\n");
        assert_true(asprintf(&d, "sys/block/%sn1/device", ctrl) > 0);
        assert_true(asprintf(&e, "../../class/nvme/%s", ctrl) > 0);
        link_to(t, d, e);
        assert_true(asprintf(&f, "dev/%sn1", ctrl) > 0);
        put(t, f, "");
        free(a);
        assert_true(asprintf(&a, "dev/%s", ctrl) > 0);
        put_page(t, a, page);
}

/* An EBS NVMe volume. */
static void add_ebs(const tree *t, const char *ctrl, const char *serial, const char *page) {
        add_nvme(t, ctrl, "Amazon Elastic Block Store              \n", serial, page);
}

static int tree_setup(void **state) {
        tree *t = calloc(1, sizeof *t);
        snprintf(t->root, sizeof t->root, "/tmp/kiln-bdfind-XXXXXX");
        if (!mkdtemp(t->root))
                return -1;
        t->sys = path_join(t->root, "sys");
        t->dev = path_join(t->root, "dev");
        mkdir_p(t->sys, 0755);
        mkdir_p(t->dev, 0755);
        *state = t;
        return 0;
}

static int tree_teardown(void **state) {
        tree *t = *state;
        rm_rf(t->root);
        free(t->sys);
        free(t->dev);
        free(t);
        return 0;
}

/* A Nitro instance: root volume (xvda) and the data volume (sdf). */
static void nitro(const tree *t) {
        add_ebs(t, "nvme0", "vol0aaaaaaaaaaaaaaaa\n", "ebs-root-dev-xvda.bin");
        add_ebs(t, "nvme1", "vol0123456789abcdef0  \n", "ebs-sdf.bin");
}

static blockdev_query query(const tree *t, const char *vol, const char *device, const char *label) {
        return (blockdev_query){
                .volume_id = vol, .device = device, .label = label, .sys_dir = t->sys, .dev_dir = t->dev
        };
}

static void expect_found(const tree *t, blockdev_query q, const char *node, const char *how_part) {
        _cleanup_free_ char *path = NULL, *how = NULL, *want = path_join(t->dev, node);
        int r = blockdev_find(&q, &path, &how);
        assert_int_equal(r, 0);
        assert_string_equal(path, want);
        if (!strstr(how, how_part))
                fail_msg("'%s' does not mention '%s'", how, how_part);
}

static void expect_error(const tree *t, blockdev_query q, int err) {
        (void) t;
        char *path = NULL, *how = NULL;
        assert_int_equal(blockdev_find(&q, &path, &how), err);
        assert_null(path);
        assert_null(how);
}

static void test_volume_id(void **state) {
        tree *t = *state;
        nitro(t);
        expect_found(t, query(t, "vol-0123456789abcdef0", NULL, NULL), "nvme1n1", "NVMe serial vol0123456789abcdef0");
        expect_found(t, query(t, "vol0123456789abcdef0", NULL, NULL), "nvme1n1", "nvme1n1");
        expect_found(t, query(t, "vol-0aaaaaaaaaaaaaaaa", NULL, NULL), "nvme0n1", "nvme0n1");
        /* Found by id; a matching name is fine, a different one only warns. */
        expect_found(t, query(t, "vol-0123456789abcdef0", "sdf", NULL), "nvme1n1", "serial");
        expect_found(t, query(t, "vol-0123456789abcdef0", "sdz", NULL), "nvme1n1", "serial");
}

/* On Nitro a volume id that isn't attached is not found, even when another
 * volume sits under the requested device name: never fall back. */
static void test_volume_id_is_decisive(void **state) {
        tree *t = *state;
        nitro(t);
        expect_error(t, query(t, "vol-0bbbbbbbbbbbbbbbb", "sdf", NULL), -ENOENT);
        expect_error(t, query(t, "vol-0bbbbbbbbbbbbbbbb", NULL, "data"), -ENOENT);
}

static void test_device_name_from_identify(void **state) {
        tree *t = *state;
        nitro(t);
        expect_found(t, query(t, NULL, "sdf", NULL), "nvme1n1", "EBS device name 'sdf'");
        expect_found(t, query(t, NULL, "xvdf", NULL), "nvme1n1", "nvme1n1");
        expect_found(t, query(t, NULL, "/dev/sdf", NULL), "nvme1n1", "nvme1n1");
        expect_found(t, query(t, NULL, "/dev/xvda", NULL), "nvme0n1", "'/dev/xvda'");
        expect_found(t, query(t, NULL, "sda", NULL), "nvme0n1", "nvme0n1");
        expect_error(t, query(t, NULL, "sdg", NULL), -ENOENT);
}

/* With amazon-ec2-utils' links: the by-id link alone finds a volume id, the
 * /dev/sdg link finds a volume whose identify name is (still) empty. */
static void test_udev_links(void **state) {
        tree *t = *state;
        nitro(t);
        add_ebs(t, "nvme2", "vol0cccccccccccccccc\n", "ebs-name-empty.bin");
        link_to(t, "dev/sdg", "nvme2n1");
        link_to(t, "dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0dddddddddddddddd", "../../nvme1n1");
        expect_found(t, query(t, NULL, "sdg", NULL), "nvme2n1", "device");
        expect_found(t, query(t, NULL, "xvdg", NULL), "nvme2n1", "sdg");
        expect_found(t, query(t, "vol-0dddddddddddddddd", NULL, NULL), "nvme1n1", "udev link");
        /* A dangling link is no device. */
        link_to(t, "dev/sdh", "nvme9n1");
        expect_error(t, query(t, NULL, "sdh", NULL), -ENOENT);
}

/* Xen: no NVMe, so a volume id can't be seen; the device name decides and
 * sdf is found as xvdf. */
static void test_xen(void **state) {
        tree *t = *state;
        put(t, "sys/block/xvda/size", "16384\n");
        put(t, "sys/block/xvdf/size", "16384\n");
        put(t, "dev/xvda", "");
        put(t, "dev/xvdf", "");
        expect_found(t, query(t, NULL, "sdf", NULL), "xvdf", "Xen device");
        expect_found(t, query(t, NULL, "/dev/xvdf", NULL), "xvdf", "Xen device");
        expect_found(t, query(t, "vol-0123456789abcdef0", "sdf", NULL), "xvdf", "xvdf");
        expect_error(t, query(t, "vol-0123456789abcdef0", NULL, NULL), -ENOENT);
        expect_error(t, query(t, NULL, "sdg", NULL), -ENOENT);
}

/* An emulator's NVMe disk (QEMU: serial=vol…, its own model and vendor
 * id): the serial alone finds it by volume id.  Its identify data names no
 * EBS device, so the device-name path does not take it, and since no EBS
 * disk is visible, a volume id that doesn't match falls back to the name. */
static void test_volume_id_on_emulated_nvme(void **state) {
        tree *t = *state;
        add_nvme(t, "nvme0", "QEMU NVMe Ctrl\n", "vol0123456789abcdef0\n", "other-vendor.bin");
        expect_found(t, query(t, "vol-0123456789abcdef0", NULL, NULL), "nvme0n1", "NVMe serial vol0123456789abcdef0");
        expect_found(t, query(t, "vol-0123456789abcdef0", "sdf", NULL), "nvme0n1", "serial");
        expect_error(t, query(t, NULL, "sdf", NULL), -ENOENT);
        put(t, "dev/xvdf", "");
        expect_found(t, query(t, "vol-0bbbbbbbbbbbbbbbb", "sdf", NULL), "xvdf", "Xen device");
}

static void test_ambiguous_name(void **state) {
        tree *t = *state;
        nitro(t);
        add_ebs(t, "nvme2", "vol0cccccccccccccccc\n", "ebs-sdf.bin");
        expect_error(t, query(t, NULL, "sdf", NULL), -ENOTUNIQ);
}

static int make_ext4_image(const char *path, const char *label) {
        char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", (char *) label, (char *) path, "4M", NULL };
        return bdt_run(argv, NULL, NULL);
}

static void test_label(void **state) {
        tree *t = *state;
        _cleanup_free_ char *img1 = path_join(t->dev, "vdb"), *img2 = path_join(t->dev, "vdc1");
        put(t, "sys/block/vdb/size", "8192\n");
        put(t, "sys/block/vdc/size", "16384\n");
        put(t, "sys/block/vdc/vdc1/partition", "1\n");
        put(t, "sys/block/loop7/size", "0\n"); /* unattached: skipped */
        put(t, "dev/vdc", "");
        assert_int_equal(make_ext4_image(img1, "kiln-data"), 0);
        assert_int_equal(make_ext4_image(img2, "kiln-logs"), 0);
        expect_found(t, query(t, NULL, NULL, "kiln-data"), "vdb", "filesystem label 'kiln-data' on vdb");
        expect_found(t, query(t, NULL, NULL, "kiln-logs"), "vdc1", "on vdc1");
        expect_error(t, query(t, NULL, NULL, "nothere"), -ENOENT);
        /* The label is no key when a device name is given. */
        expect_error(t, query(t, NULL, "sdf", "kiln-data"), -ENOENT);

        put(t, "sys/block/vdd/size", "8192\n");
        _cleanup_free_ char *img3 = path_join(t->dev, "vdd");
        assert_int_equal(make_ext4_image(img3, "kiln-data"), 0);
        expect_error(t, query(t, NULL, NULL, "kiln-data"), -ENOTUNIQ);
}

static void test_query_check(void **state) {
        tree *t = *state;
        static const struct {
                const char *vol, *dev, *label, *msg;
        } bad[] = {
                { NULL, NULL, NULL, "at least one of volume_id, device or label" },
                { "vol-12", NULL, NULL, "volume_id 'vol-12' is not an EBS volume id" },
                { NULL, "/dev/disk/sdf", NULL, "device '/dev/disk/sdf' is not a device name" },
                { NULL, NULL, "", "at least one" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                blockdev_query q = query(t, bad[i].vol, bad[i].dev, bad[i].label);
                _cleanup_free_ char *err = NULL;
                assert_int_equal(blockdev_query_check(&q, &err), -EINVAL);
                if (!strstr(err, bad[i].msg))
                        fail_msg("'%s' lacks '%s'", err, bad[i].msg);
                expect_error(t, q, -EINVAL);
        }
        blockdev_query ok = query(t, "vol-0123456789abcdef0", "xvdf", "data");
        char *err = NULL;
        assert_int_equal(blockdev_query_check(&ok, &err), 0);
        assert_null(err);
        _cleanup_free_ char *d1 = blockdev_query_describe(&ok);
        assert_string_equal(d1, "volume vol-0123456789abcdef0 (device xvdf)");
        ok.volume_id = NULL;
        _cleanup_free_ char *d2 = blockdev_query_describe(&ok);
        assert_string_equal(d2, "volume attached as xvdf");
}

static void test_summary(void **state) {
        tree *t = *state;
        _cleanup_free_ char *none = blockdev_ebs_summary(t->sys, t->dev);
        assert_string_equal(none, "none");
        nitro(t);
        _cleanup_free_ char *s = blockdev_ebs_summary(t->sys, t->dev);
        assert_string_equal(s, "nvme0n1=vol-0aaaaaaaaaaaaaaaa(/dev/xvda), nvme1n1=vol-0123456789abcdef0(sdf)");
}

/* ---- waiting ---- */

typedef struct late {
        const tree *t;
        usec_t delay;
} late;

static void *attach_later(void *p) {
        late *l = p;
        usleep((useconds_t) l->delay);
        add_ebs(l->t, "nvme3", "vol0eeeeeeeeeeeeeeee\n", "ebs-dev-xvdb.bin");
        return NULL;
}

static void test_wait_late_volume(void **state) {
        tree *t = *state;
        _cleanup_free_ char *path = NULL, *how = NULL, *want = path_join(t->dev, "nvme3n1"), *log = NULL;
        blockdev_query q = query(t, "vol-0eeeeeeeeeeeeeeee", "xvdb", NULL);
        late l = { .t = t, .delay = 700 * USEC_PER_MSEC };
        pthread_t th;
        int saved;

        nitro(t);
        char *logpath = bdt_stderr_begin(&saved);
        usec_t start = now_mono_usec();
        assert_int_equal(pthread_create(&th, NULL, attach_later, &l), 0);
        int r = blockdev_wait(&q, 10 * USEC_PER_SEC, &path, &how);
        usec_t took = now_mono_usec() - start;
        assert_int_equal(pthread_join(th, NULL), 0);
        log = bdt_stderr_end(logpath, saved);
        assert_int_equal(r, 0);
        assert_string_equal(path, want);
        assert_true(took >= 600 * USEC_PER_MSEC && took < 5 * USEC_PER_SEC);
        assert_non_null(strstr(log, "Waiting up to 10 s for volume vol-0eeeeeeeeeeeeeeee (device xvdb)"));
        assert_non_null(strstr(log, "Found volume vol-0eeeeeeeeeeeeeeee"));
}

static void test_wait_timeout(void **state) {
        tree *t = *state;
        char *path = NULL, *how = NULL;
        blockdev_query q = query(t, "vol-0ffffffffffffffff", NULL, NULL);
        int saved;

        nitro(t);
        char *logpath = bdt_stderr_begin(&saved);
        usec_t start = now_mono_usec();
        int r = blockdev_wait(&q, 1200 * USEC_PER_MSEC, &path, &how);
        usec_t took = now_mono_usec() - start;
        _cleanup_free_ char *log = bdt_stderr_end(logpath, saved);
        assert_int_equal(r, -ETIMEDOUT);
        assert_null(path);
        assert_true(took >= 1200 * USEC_PER_MSEC && took < 4 * USEC_PER_SEC);
        assert_non_null(strstr(log, "Gave up waiting for volume vol-0ffffffffffffffff after 1."));
        assert_non_null(strstr(log, "EBS volumes present: nvme0n1=vol-0aaaaaaaaaaaaaaaa(/dev/xvda), "
                                    "nvme1n1=vol-0123456789abcdef0(sdf)"));

        /* Not waiting at all: still a clear message, -ENOENT. */
        logpath = bdt_stderr_begin(&saved);
        r = blockdev_wait(&q, 0, &path, &how);
        _cleanup_free_ char *log0 = bdt_stderr_end(logpath, saved);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(log0, "Not waiting (the wait time is 0): volume vol-0ffffffffffffffff is not attached"));
}

static void test_wait_xen_hint(void **state) {
        tree *t = *state;
        char *path = NULL, *how = NULL;
        blockdev_query q = query(t, "vol-0123456789abcdef0", NULL, NULL);
        int saved;

        put(t, "sys/block/xvda/size", "16384\n");
        char *logpath = bdt_stderr_begin(&saved);
        int r = blockdev_wait(&q, 300 * USEC_PER_MSEC, &path, &how);
        _cleanup_free_ char *log = bdt_stderr_end(logpath, saved);
        assert_int_equal(r, -ETIMEDOUT);
        assert_non_null(strstr(log, "volume ids are only visible on Nitro"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, tree_setup, tree_teardown)

int main(void) {
        bdt_init();
        const struct CMUnitTest tests[] = {
                T(test_volume_id),        T(test_volume_id_is_decisive), T(test_device_name_from_identify),
                T(test_udev_links),       T(test_xen),                   T(test_ambiguous_name),
                T(test_volume_id_on_emulated_nvme),
                T(test_label),            T(test_query_check),           T(test_summary),
                T(test_wait_late_volume), T(test_wait_timeout),          T(test_wait_xen_hint),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
