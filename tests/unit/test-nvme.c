/* Unit tests for agent/nvme.c: identify pages (the .bin files in tests/data/nvme/, made by
 * tests/data/nvme/make-pages.py), the retry while the EBS name is empty, and
 * the volume-id and device-name spellings EC2 treats as equal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "fileio.h"
#include "macro.h"
#include "nvme.h"
#include "util.h"

static int load_page(const char *name, uint8_t page[static NVME_IDENTIFY_SIZE]) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/nvme/%s", KILN_TEST_DATA, name) < 0)
                return -ENOMEM;
        return nvme_read_identify(path, page);
}

static void parse(const char *name, nvme_ctrl_info *info) {
        uint8_t page[NVME_IDENTIFY_SIZE];
        assert_int_equal(load_page(name, page), 0);
        assert_int_equal(nvme_parse_identify(page, info), 0);
}

static void test_ebs_page(void **state) {
        (void) state;
        nvme_ctrl_info info;
        _cleanup_free_ char *vol = NULL, *name = NULL;

        parse("ebs-sdf.bin", &info);
        assert_int_equal(info.vendor_id, 0x1d0f);
        assert_string_equal(info.serial, "vol0123456789abcdef0");
        assert_string_equal(info.model, "Amazon Elastic Block Store");
        assert_string_equal(info.device_name, "sdf");
        assert_true(nvme_info_is_ebs(&info));
        assert_int_equal(ebs_serial_to_volume_id(info.serial, &vol), 0);
        assert_string_equal(vol, "vol-0123456789abcdef0");
        assert_int_equal(ebs_device_name_normalize(info.device_name, &name), 0);
        assert_string_equal(name, "sdf");
}

static void test_ebs_page_dev_prefix(void **state) {
        (void) state;
        nvme_ctrl_info info;
        _cleanup_free_ char *name = NULL;

        parse("ebs-dev-xvdb.bin", &info);
        assert_string_equal(info.device_name, "/dev/xvdb");
        assert_int_equal(ebs_device_name_normalize(info.device_name, &name), 0);
        assert_string_equal(name, "sdb");
        assert_true(ebs_device_names_equal(info.device_name, "sdb"));
        assert_true(ebs_device_names_equal(info.device_name, "xvdb"));
        assert_true(ebs_device_names_equal(info.device_name, "/dev/sdb"));
        assert_false(ebs_device_names_equal(info.device_name, "sdf"));

        parse("ebs-root-dev-xvda.bin", &info);
        assert_string_equal(info.device_name, "/dev/xvda");
        assert_true(nvme_info_is_ebs(&info));
}

static void test_ebs_page_empty_and_nul_names(void **state) {
        (void) state;
        nvme_ctrl_info info;

        parse("ebs-name-empty.bin", &info);
        assert_string_equal(info.device_name, "");
        assert_true(nvme_info_is_ebs(&info));
        parse("ebs-name-nul.bin", &info);
        assert_string_equal(info.device_name, "sdg");
}

static void test_old_short_volume_id(void **state) {
        (void) state;
        nvme_ctrl_info info;
        _cleanup_free_ char *vol = NULL;

        parse("ebs-old-id.bin", &info);
        assert_int_equal(ebs_serial_to_volume_id(info.serial, &vol), 0);
        assert_string_equal(vol, "vol-1a2b3c4d");
        assert_true(ebs_device_names_equal(info.device_name, "sdh"));
}

static void test_not_ebs(void **state) {
        (void) state;
        nvme_ctrl_info info;
        char *vol = NULL;

        parse("instance-store.bin", &info);
        assert_int_equal(info.vendor_id, 0x1d0f);
        assert_string_equal(info.model, "Amazon EC2 NVMe Instance Storage");
        assert_false(nvme_info_is_ebs(&info));
        assert_int_equal(ebs_serial_to_volume_id(info.serial, &vol), -EINVAL);
        assert_null(vol);

        parse("other-vendor.bin", &info);
        assert_int_equal(info.vendor_id, 0x8086);
        assert_string_equal(info.serial, "PHLJ000000001P0AGN");
        assert_string_equal(info.device_name, "");
        assert_false(nvme_info_is_ebs(&info));
}

static void test_bad_page(void **state) {
        (void) state;
        uint8_t page[NVME_IDENTIFY_SIZE];
        nvme_ctrl_info info = { .vendor_id = 42 };

        assert_int_equal(load_page("bad-serial.bin", page), 0);
        assert_int_equal(nvme_parse_identify(page, &info), -EBADMSG);
        assert_int_equal(info.vendor_id, 42); /* untouched on failure */

        /* A model field with no padding at all stays within its 40 bytes. */
        assert_int_equal(load_page("ebs-sdf.bin", page), 0);
        memset(page + 24, 'M', 40);
        assert_int_equal(nvme_parse_identify(page, &info), 0);
        assert_int_equal(strlen(info.model), 40);
        assert_string_equal(info.serial, "vol0123456789abcdef0");
}

static void test_read_identify_errors(void **state) {
        (void) state;
        uint8_t page[NVME_IDENTIFY_SIZE];
        char dir[] = "/tmp/kiln-nvme-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *shortp = path_join(dir, "short.bin");

        assert_int_equal(write_file_atomic(shortp, "vol", 3, NULL), 0);
        assert_int_equal(nvme_read_identify(shortp, page), -EBADMSG);
        assert_int_equal(nvme_read_identify("/dev/null", page), -ENOTTY);
        assert_int_equal(nvme_read_identify(dir, page), -ENOTTY);
        assert_int_equal(nvme_read_identify("/nonexistent/nvme9", page), -ENOENT);
        assert_int_equal(rm_rf(dir), 0);
}

typedef struct swap_job {
        const char *src; /* page to put in place */
        const char *dst;
        usec_t delay;
} swap_job;

static void *swap_later(void *p) {
        swap_job *j = p;
        _cleanup_free_ char *data = NULL;
        size_t len;
        usleep((useconds_t) j->delay);
        if (read_full_file(j->src, NVME_IDENTIFY_SIZE, &data, &len) == 0)
                (void) write_file_atomic(j->dst, data, len, NULL);
        return NULL;
}

static char *data_page(const char *name) {
        char *p = NULL;
        return asprintf(&p, "%s/nvme/%s", KILN_TEST_DATA, name) < 0 ? NULL : p;
}

static void copy_page(const char *name, const char *dst) {
        _cleanup_free_ char *src = data_page(name), *data = NULL;
        size_t len;
        assert_int_equal(read_full_file(src, NVME_IDENTIFY_SIZE, &data, &len), 0);
        assert_int_equal(write_file_atomic(dst, data, len, NULL), 0);
}

/* Right after attach the name reads empty; the reader retries until it is
 * filled in. */
static void test_retry_until_named(void **state) {
        (void) state;
        char dir[] = "/tmp/kiln-nvme-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *dev = path_join(dir, "nvme1"), *named = data_page("ebs-sdf.bin");
        nvme_ctrl_info info;
        pthread_t t;

        copy_page("ebs-name-empty.bin", dev);
        swap_job job = { .src = named, .dst = dev, .delay = 300 * USEC_PER_MSEC };
        usec_t start = now_mono_usec();
        assert_int_equal(pthread_create(&t, NULL, swap_later, &job), 0);
        assert_int_equal(nvme_read_ebs_info(dev, 5 * USEC_PER_SEC, &info), 0);
        usec_t took = now_mono_usec() - start;
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_string_equal(info.device_name, "sdf");
        assert_true(took >= 250 * USEC_PER_MSEC);
        assert_true(took < 3 * USEC_PER_SEC);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_retry_gives_up(void **state) {
        (void) state;
        char dir[] = "/tmp/kiln-nvme-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *dev = path_join(dir, "nvme1");
        nvme_ctrl_info info;

        copy_page("ebs-name-empty.bin", dev);
        usec_t start = now_mono_usec();
        assert_int_equal(nvme_read_ebs_info(dev, 300 * USEC_PER_MSEC, &info), 0);
        usec_t took = now_mono_usec() - start;
        assert_string_equal(info.device_name, "");
        assert_string_equal(info.serial, "vol0123456789abcdef0");
        assert_true(took >= 300 * USEC_PER_MSEC);
        assert_true(took < 2 * USEC_PER_SEC);

        /* A non-EBS controller has no name to wait for: one read. */
        copy_page("other-vendor.bin", dev);
        start = now_mono_usec();
        assert_int_equal(nvme_read_ebs_info(dev, 5 * USEC_PER_SEC, &info), 0);
        assert_true(now_mono_usec() - start < USEC_PER_SEC);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_device_names(void **state) {
        (void) state;
        static const struct {
                const char *in, *out;
        } ok[] = {
                { "sdf", "sdf" },     { "xvdf", "sdf" },     { "/dev/sdf", "sdf" }, { "/dev/xvdf", "sdf" },
                { "xvdba", "sdba" },  { "/dev/sda1", "sda1" }, { "nvme1n1", "nvme1n1" }, { "hdb", "hdb" },
                { "xvd", "xvd" }, /* no drive letter: not a Xen name, kept as written */
        };
        static const char *bad[] = { "", "/dev/", "/dev/disk/sdf", "SDF", "sd f", "../sdf", "sdf\n" };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_free_ char *n = NULL;
                assert_int_equal(ebs_device_name_normalize(ok[i].in, &n), 0);
                assert_string_equal(n, ok[i].out);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *n = NULL;
                assert_int_equal(ebs_device_name_normalize(bad[i], &n), -EINVAL);
                assert_null(n);
        }
        assert_int_equal(ebs_device_name_normalize(NULL, &(char *){ NULL }), -EINVAL);
        assert_true(ebs_device_names_equal("sdf", "/dev/xvdf"));
        assert_false(ebs_device_names_equal("sdf", "sdg"));
        assert_false(ebs_device_names_equal("", ""));
}

static void test_volume_ids(void **state) {
        (void) state;
        static const struct {
                const char *in, *id, *serial;
        } ok[] = {
                { "vol-0123456789abcdef0", "vol-0123456789abcdef0", "vol0123456789abcdef0" },
                { "vol0123456789abcdef0", "vol-0123456789abcdef0", "vol0123456789abcdef0" },
                { "VOL-0123456789ABCDEF0", "vol-0123456789abcdef0", "vol0123456789abcdef0" },
                { "vol-1a2b3c4d", "vol-1a2b3c4d", "vol1a2b3c4d" },
        };
        static const char *bad[] = { "", "vol-", "vol-xyz12345", "vol-0123456789abcdef01", "vol--0123456789abcdef0",
                                     "volume-01234567", "vol-1234567", "snap-0123456789abcdef0", " vol-1a2b3c4d" };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_free_ char *id = NULL, *serial = NULL;
                assert_int_equal(ebs_volume_id_normalize(ok[i].in, &id), 0);
                assert_string_equal(id, ok[i].id);
                assert_int_equal(ebs_volume_id_to_serial(ok[i].in, &serial), 0);
                assert_string_equal(serial, ok[i].serial);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *id = NULL;
                assert_int_equal(ebs_volume_id_normalize(bad[i], &id), -EINVAL);
                assert_null(id);
        }
        char *id = NULL;
        assert_int_equal(ebs_serial_to_volume_id("vol-0123456789abcdef0", &id), -EINVAL);
        assert_int_equal(ebs_serial_to_volume_id("AWS22A2B7E1C4F5D3A1", &id), -EINVAL);
        assert_int_equal(ebs_volume_id_normalize(NULL, &id), -EINVAL);
        assert_null(id);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ebs_page),
                cmocka_unit_test(test_ebs_page_dev_prefix),
                cmocka_unit_test(test_ebs_page_empty_and_nul_names),
                cmocka_unit_test(test_old_short_volume_id),
                cmocka_unit_test(test_not_ebs),
                cmocka_unit_test(test_bad_page),
                cmocka_unit_test(test_read_identify_errors),
                cmocka_unit_test(test_retry_until_named),
                cmocka_unit_test(test_retry_gives_up),
                cmocka_unit_test(test_device_names),
                cmocka_unit_test(test_volume_ids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
