/* Unit tests for the volumes/fs_setup/mounts input side: the owner resolver
 * (agent/accounts.c) against a scratch root's passwd and group files, and
 * what each module's plan makes of its key — the spec it hands to apply,
 * the positioned input errors, what cloud-init options are ignored or
 * refused.  No devices: every volume named here is absent, so the plans
 * say "wait" and touch nothing.  The device side is tested on loop devices
 * (test-blockdev-loop.c, tests/integration/test_volumes.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "accounts.h"
#include "fileio.h"
#include "json-util.h"
#include "modules.h"
#include "volume.h"
#include "yaml-json.h"

static char rootdir[] = "/tmp/kiln-voltest-unit-XXXXXX";

static void put(const char *rel, const char *text) {
        _cleanup_free_ char *p = path_join(rootdir, rel);
        assert_int_equal(write_file_atomic(p, text, strlen(text), NULL), 0);
}

static int group_setup(void **state) {
        (void) state;
        if (!mkdtemp(rootdir))
                return -1;
        _cleanup_free_ char *etc = path_join(rootdir, "etc");
        mkdir_p(etc, 0755);
        put("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
                          "# a comment\n"
                          "+nis\n"
                          "cortex:x:990:991:Cortex:/var/lib/cortex:/usr/sbin/nologin\n"
                          "broken:x:abc:1::/:/bin/sh\n"
                          "short:x:5\n"
                          "u1000:x:1000:1000::/home/u:/bin/sh\n");
        put("etc/group", "root:x:0:\ncortex:x:991:\nmetrics:x:992:cortex\nbad:x:\n");
        return root_set(rootdir);
}

static int group_teardown(void **state) {
        (void) state;
        root_set("/");
        return rm_rf(rootdir);
}

/* ---- accounts ---- */

static void expect_owner(const char *spec, uid_t uid, gid_t gid) {
        _cleanup_free_ char *err = NULL;
        uid_t u = 12345;
        gid_t g = 12345;
        assert_int_equal(accounts_resolve_owner(spec, &u, &g, &err), 0);
        assert_null(err);
        assert_int_equal(u, uid);
        assert_int_equal(g, gid);
}

static void expect_owner_error(const char *spec, const char *msg) {
        _cleanup_free_ char *err = NULL;
        uid_t u = 12345;
        gid_t g = 12345;
        assert_int_equal(accounts_resolve_owner(spec, &u, &g, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err, msg))
                fail_msg("'%s' not in '%s'", msg, err);
        assert_int_equal(u, 12345); /* ret_* untouched on failure */
        assert_int_equal(g, 12345);
}

static void test_owner(void **state) {
        (void) state;
        expect_owner("cortex", 990, 991);
        expect_owner("cortex:metrics", 990, 992);
        expect_owner("root:cortex", 0, 991);
        expect_owner("1000", 1000, 1000);
        expect_owner("990:992", 990, 992);
        expect_owner("4242:4243", 4242, 4243);
        expect_owner("cortex:0", 990, 0);
        expect_owner_error("nobody", "user 'nobody' not found in /etc/passwd");
        expect_owner_error("cortex:nogroup", "group 'nogroup' not found in /etc/group");
        expect_owner_error("broken", "the line of user 'broken' in /etc/passwd is malformed");
        expect_owner_error("short", "the line of user 'short' in /etc/passwd is malformed");
        expect_owner_error("cortex:bad", "the line of group 'bad' in /etc/group is malformed");
        expect_owner_error("4242", "uid 4242 has no line in /etc/passwd");
        expect_owner_error("", "is not \"user\" or \"user:group\"");
        expect_owner_error("cortex:", "is not \"user\" or \"user:group\"");
        expect_owner_error("+nis", "is not a user name");
        expect_owner_error("a b", "is not a user name");
        expect_owner_error("99999999999", "out of range");
}

/* ---- module plans ---- */

typedef struct planned {
        json_t *config;
        srcmap map;
        diags d;
        json_t *plan;
        int r;
} planned;

static void planned_done(planned *p) {
        json_decref(p->config);
        json_decref(p->plan);
        srcmap_clear(&p->map);
        diags_clear(&p->d);
}

static void plan_module(const char *module, const char *yaml, planned *p) {
        *p = (planned){ .map = SRCMAP_INIT, .d = DIAGS_INIT };
        assert_int_equal(yaml_to_json(yaml, strlen(yaml), "ud", NULL, &p->config, &p->map, &p->d), 0);
        assert_int_equal(schema_validate(modules_schema(), p->config, &p->map, "ud", &p->d), 0);
        kiln_ctx ctx = { .stage = STAGE_NETWORK, .dry_run = true, .config = p->config, .config_map = &p->map,
                         .diags = &p->d, .module = modules_find(module) };
        assert_non_null(ctx.module);
        p->r = ctx.module->plan(&ctx, &p->plan);
}

/* The spec of the n-th volume in the plan. */
static json_t *spec_at(const planned *p, size_t n) {
        json_t *item;
        size_t i;
        json_array_foreach(p->plan, i, item) {
                json_t *spec = json_object_get(item, "_volume");
                if (spec && n-- == 0)
                        return spec;
        }
        fail_msg("no spec %zu in the plan", n);
        return NULL;
}

static void expect_diag(const planned *p, const char *msg) {
        for (size_t i = 0; i < p->d.n; i++) {
                _cleanup_free_ char *m = diag_format(&p->d.v[i]);
                if (strstr(m, msg))
                        return;
        }
        for (size_t i = 0; i < p->d.n; i++) {
                _cleanup_free_ char *m = diag_format(&p->d.v[i]);
                print_message("  have: %s\n", m);
        }
        fail_msg("no diagnostic '%s' (%zu of them)", msg, p->d.n);
}

static void expect_str(json_t *spec, const char *key, const char *want) {
        const char *got = json_get_string(spec, key, NULL);
        if (!want) {
                assert_null(got);
                return;
        }
        assert_non_null(got);
        assert_string_equal(got, want);
}

static void test_volumes_spec(void **state) {
        (void) state;
        _cleanup_(planned_done) planned p;
        plan_module("volumes", "volumes:\n"
                               "  - volume_id: vol-0123456789abcdef0\n"
                               "    device: xvdf\n"
                               "    label: DATA\n"
                               "    mountpoint: /var/lib/cortex/\n"
                               "    mount_options: noatime\n"
                               "    owner: cortex\n"
                               "    mode: 0750\n"
                               "    wait_seconds: 1.5\n"
                               "    required_by: [cortex.service]\n"
                               "  - label: OTHER\n"
                               "    filesystem: xfs\n"
                               "    grow: false\n"
                               "    relabel: true\n",
                    &p);
        assert_int_equal(p.r, 0);
        json_t *a = spec_at(&p, 0), *b = spec_at(&p, 1);
        expect_str(a, "origin", "volumes[0]");
        expect_str(a, "filesystem", "ext4");
        expect_str(a, "mountpoint", "/var/lib/cortex");
        expect_str(a, "options", "noatime");
        assert_int_equal(json_get_int(a, "uid", -1), 990);
        assert_int_equal(json_get_int(a, "gid", -1), 991);
        assert_int_equal(json_get_int(a, "mode", -1), 0750);
        assert_int_equal(json_get_int(a, "wait_usec", -1), 1500000);
        assert_true(json_get_bool(a, "format", false) && json_get_bool(a, "grow", false));
        assert_false(json_get_bool(a, "relabel", true));
        expect_str(b, "filesystem", "xfs");
        expect_str(b, "mountpoint", NULL);
        assert_int_equal(json_get_int(b, "wait_usec", -1), VOLUME_WAIT_DEFAULT_SEC * USEC_PER_SEC);
        assert_false(json_get_bool(b, "grow", true));
        assert_true(json_get_bool(b, "relabel", false));
        /* Absent now: plan says it will wait, and shows the drop-in. */
        json_t *first = json_array_get(p.plan, 0);
        assert_string_equal(json_get_string(first, "action", ""), "wait");
        bool dropin = false;
        json_t *item;
        size_t i;
        json_array_foreach(p.plan, i, item)
                dropin = dropin || streq(json_get_string(item, "target", ""),
                                         "/etc/systemd/system/cortex.service.d/kiln-volumes.conf");
        assert_true(dropin);
}

static void test_volumes_input_errors(void **state) {
        (void) state;
        _cleanup_(planned_done) planned p;
        plan_module("volumes", "volumes:\n"
                               "  - mountpoint: /data\n"                   /* 2: no key identifies it */
                               "  - device: sdf\n"
                               "    label: 'has space'\n"                  /* 4 */
                               "    mountpoint: data\n"                    /* 5 */
                               "  - device: sdg\n"
                               "    mountpoint: /usr\n"                    /* 7 */
                               "    mode: '0999'\n"                        /* 8 */
                               "    wait_seconds: -1\n"                    /* 9 */
                               "  - device: sdh\n"
                               "    owner: cortex\n"                       /* 11: needs a mountpoint */
                               "  - device: sdi\n"
                               "    mountpoint: /srv/a\n"
                               "    required_by: [cortex, ok.service]\n"   /* 14 */
                               "  - device: sdj\n"
                               "    mountpoint: /srv/a/\n",                /* 16: taken by [4] */
                    &p);
        assert_int_equal(p.r, -EINVAL);
        assert_null(p.plan);
        expect_diag(&p, "ud:2:5: error: volumes[0]: a volume needs at least one of volume_id, device or label");
        expect_diag(&p, "ud:4:12: error: volumes[1].label: label 'has space' may only contain letters");
        expect_diag(&p, "ud:5:17: error: volumes[1].mountpoint: mountpoint 'data' must be an absolute path");
        expect_diag(&p, "ud:7:17: error: volumes[2].mountpoint: '/usr' is a system directory");
        expect_diag(&p, "ud:8:11: error: volumes[2].mode: a mode is an octal string");
        expect_diag(&p, "ud:9:19: error: volumes[2].wait_seconds: must be between 0 and 3600 seconds");
        expect_diag(&p, "ud:11:12: error: volumes[3].owner: owner needs a mountpoint");
        expect_diag(&p, "ud:14:19: error: volumes[4].required_by[0]: 'cortex' is not a systemd unit name");
        expect_diag(&p, "ud:16:17: error: volumes[5].mountpoint: mountpoint /srv/a is already used by volumes[4]");
        assert_int_equal(p.d.n_errors, 9);
}

static void test_fs_setup_mapping(void **state) {
        (void) state;
        _cleanup_(planned_done) planned p;
        plan_module("fs_setup", "fs_setup:\n"
                                "  - {device: /dev/xvdb, filesystem: ext4, label: DATA, partition: auto}\n"
                                "  - {device: xvdc, filesystem: xfs, overwrite: true, replace_fs: ext4,\n"
                                "     extra_opts: [-i, '4096']}\n"
                                "  - {device: xvdd, filesystem: ext4, cmd: 'mkfs -F %(device)s'}\n"
                                "  - {device: xvde, filesystem: ext4, partition: any}\n"
                                "  - {device: ephemeral0.1, filesystem: ext4}\n"
                                "  - {device: xvdf, filesystem: swap}\n",
                    &p);
        assert_int_equal(p.r, 0);
        json_t *a = spec_at(&p, 0), *b = spec_at(&p, 1);
        expect_str(a, "device", "/dev/xvdb");
        expect_str(a, "label", "DATA");
        expect_str(a, "refused", NULL);
        assert_true(json_get_bool(a, "format", false));
        expect_str(a, "mountpoint", NULL);
        expect_str(b, "refused", NULL);
        assert_int_equal(json_array_size(json_object_get(b, "ignored")), 3);
        assert_non_null(strstr(json_string_value(json_array_get(json_object_get(b, "ignored"), 0)),
                               "overwrite: true is not honoured"));
        assert_non_null(strstr(json_get_string(spec_at(&p, 2), "refused", ""), "cmd: kiln never runs"));
        assert_non_null(strstr(json_get_string(spec_at(&p, 3), "refused", ""), "partition: \"any\""));
        assert_non_null(strstr(json_get_string(spec_at(&p, 4), "refused", ""), "cloud-init alias"));
        assert_non_null(strstr(json_get_string(spec_at(&p, 5), "refused", ""), "filesystem 'swap'"));
}

static void test_fs_setup_input_errors(void **state) {
        (void) state;
        _cleanup_(planned_done) planned p = { 0 };
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_srcmap_ srcmap m = SRCMAP_INIT;
        _cleanup_diags_ diags d = DIAGS_INIT;
        const char *missing = "fs_setup:\n  - {label: x}\n";
        assert_int_equal(yaml_to_json(missing, strlen(missing), "ud", NULL, &doc, &m, &d), 0);
        assert_int_equal(schema_validate(modules_schema(), doc, &m, "ud", &d), -EINVAL);
        assert_int_equal(d.n_errors, 2); /* device and filesystem are required */

        plan_module("fs_setup", "fs_setup:\n  - {device: 'a/b', filesystem: xfs, label: waytoolonglabel}\n", &p);
        assert_int_equal(p.r, -EINVAL);
        expect_diag(&p, "ud:2:14: error: fs_setup[0].device: device 'a/b' is not a device name");
        expect_diag(&p, "ud:2:45: error: fs_setup[0].label: label 'waytoolonglabel' must be 1 to 12 characters");
}

static void test_mounts_mapping(void **state) {
        (void) state;
        _cleanup_(planned_done) planned p;
        plan_module("mounts", "mounts:\n"
                              "  - [xvdh, /opt/data]\n"
                              "  - [LABEL=logs, /var/log/app/, ext4, 'defaults,noatime', '0', 2]\n"
                              "  - [UUID=0b5c6f6e-0000-4000-8000-000000000000, /srv/u]\n"
                              "  - [xvdi, null]\n"
                              "  - [ephemeral0, /mnt]\n",
                    &p);
        assert_int_equal(p.r, 0);
        json_t *a = spec_at(&p, 0), *b = spec_at(&p, 1);
        expect_str(a, "device", "xvdh");
        expect_str(a, "mountpoint", "/opt/data");
        expect_str(a, "filesystem", NULL); /* auto: any existing filesystem */
        assert_false(json_get_bool(a, "format", true));
        assert_false(json_get_bool(a, "grow", true));
        expect_str(b, "label", "logs");
        expect_str(b, "device", NULL);
        expect_str(b, "mountpoint", "/var/log/app");
        expect_str(b, "filesystem", "ext4");
        expect_str(b, "options", "defaults,noatime");
        assert_non_null(strstr(json_get_string(spec_at(&p, 2), "refused", ""), "not by UUID="));
        assert_non_null(strstr(json_get_string(spec_at(&p, 3), "refused", ""), "without a mountpoint"));
        assert_non_null(strstr(json_get_string(spec_at(&p, 4), "refused", ""), "cloud-init's aliases"));
}

static void test_mounts_input_errors(void **state) {
        (void) state;
        _cleanup_(planned_done) planned p;
        plan_module("mounts", "mounts:\n"
                              "  - [xvdh]\n"
                              "  - [xvdh, /a, ext4, x, 0, 2, extra]\n"
                              "  - ['', /b]\n"
                              "  - [xvdj, /c, 'EXT 4', 'a b']\n"
                              "  - [xvdk, 7]\n",
                    &p);
        assert_int_equal(p.r, -EINVAL);
        expect_diag(&p, "ud:2:5: error: mounts[0]: a mounts entry is [device, mountpoint, type, options, dump, pass]");
        expect_diag(&p, "ud:3:5: error: mounts[1]: a mounts entry is");
        expect_diag(&p, "ud:4:6: error: mounts[2][0]: the first field is the device");
        expect_diag(&p, "ud:5:16: error: mounts[3][2]: the third field is the filesystem type");
        expect_diag(&p, "ud:5:25: error: mounts[3][3]: mount options must be");
        expect_diag(&p, "ud:6:12: error: mounts[4][1]: the second field is the mountpoint");
}

/* A mountpoint claimed by volumes and by mounts: the later entry is wrong. */
static void test_mountpoint_claimed_across_keys(void **state) {
        (void) state;
        _cleanup_(planned_done) planned p;
        plan_module("mounts", "volumes:\n  - {device: sdf, mountpoint: /data}\nmounts:\n  - [xvdg, /data/]\n", &p);
        assert_int_equal(p.r, -EINVAL);
        expect_diag(&p, "ud:4:12: error: mounts[0][1]: mountpoint /data is already used by volumes[0]");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_owner),
                cmocka_unit_test(test_volumes_spec),
                cmocka_unit_test(test_volumes_input_errors),
                cmocka_unit_test(test_fs_setup_mapping),
                cmocka_unit_test(test_fs_setup_input_errors),
                cmocka_unit_test(test_mounts_mapping),
                cmocka_unit_test(test_mounts_input_errors),
                cmocka_unit_test(test_mountpoint_claimed_across_keys),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
