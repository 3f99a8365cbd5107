/* Unit tests for accounts.c: users and groups in the text of passwd/group
 * files and under a scratch root (owners are in test-volumes.c), modes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "fileio.h"
#include "accounts.h"
#include "util.h"

static const char passwd_text[] =
        "root:x:0:0:root:/root:/bin/bash\n"
        "# a comment line\n"
        "\n"
        "+nisuser::::::\n"
        "broken:x:notanumber:1::/home/broken:/bin/sh\n"
        "short:x:5:5\n"
        "relhome:x:7:7::home/relhome:/bin/sh\n"
        "admin:x:1000:1001:Admin,,,:/home/admin:/bin/bash\n"
        "admin2:x:1002:1002::/home/admin2:/usr/sbin/nologin\n"
        "admin:x:2000:2000::/home/second:/bin/sh\n"
        "last:x:4294967294:3::/var/empty:";

static void test_find(void **state) {
        (void) state;
        _cleanup_passwd_entry_ passwd_entry e = {}, r = {}, l = {};

        assert_int_equal(passwd_find(passwd_text, "admin", &e), 0);
        assert_string_equal(e.name, "admin");
        assert_int_equal(e.uid, 1000);
        assert_int_equal(e.gid, 1001); /* the first line of a name wins, as in glibc */
        assert_string_equal(e.home, "/home/admin");
        assert_string_equal(e.shell, "/bin/bash");

        assert_int_equal(passwd_find(passwd_text, "root", &r), 0);
        assert_int_equal(r.uid, 0);
        assert_string_equal(r.home, "/root");

        /* last line without a newline, empty shell, large uid */
        assert_int_equal(passwd_find(passwd_text, "last", &l), 0);
        assert_int_equal(l.uid, 4294967294U);
        assert_string_equal(l.shell, "");
}

static void test_not_found_and_malformed(void **state) {
        (void) state;
        passwd_entry e = { .name = (char *) "untouched" };

        assert_int_equal(passwd_find(passwd_text, "nobody", &e), -ENOENT);
        assert_int_equal(passwd_find(passwd_text, "admi", &e), -ENOENT);  /* a prefix is not a match */
        assert_int_equal(passwd_find(passwd_text, "nisuser", &e), -ENOENT);
        assert_int_equal(passwd_find(passwd_text, "broken", &e), -EBADMSG);
        assert_int_equal(passwd_find(passwd_text, "short", &e), -EBADMSG);
        assert_int_equal(passwd_find(passwd_text, "relhome", &e), -EBADMSG);
        assert_int_equal(passwd_find("x:x:1:1::/h:/s:extra\n", "x", &e), -EBADMSG);
        assert_int_equal(passwd_find("x:x:-1:1::/h:/s\n", "x", &e), -EBADMSG);
        assert_int_equal(passwd_find("x:x:4294967295:1::/h:/s\n", "x", &e), -EBADMSG); /* (uid_t) -1 */
        assert_int_equal(passwd_find("", "root", &e), -ENOENT);
        /* ret is written only on success */
        assert_string_equal(e.name, "untouched");
}

static void test_name_validity(void **state) {
        (void) state;
        assert_true(passwd_name_is_valid("admin"));
        assert_true(passwd_name_is_valid("ec2-user"));
        assert_true(passwd_name_is_valid("svc_account$"));
        assert_false(passwd_name_is_valid(""));
        assert_false(passwd_name_is_valid(NULL));
        assert_false(passwd_name_is_valid("a:b"));
        assert_false(passwd_name_is_valid("a b"));
        assert_false(passwd_name_is_valid("a\nroot"));
        assert_false(passwd_name_is_valid("+nis"));
        assert_false(passwd_name_is_valid("-nis"));
        assert_false(passwd_name_is_valid("#x"));
        assert_false(passwd_name_is_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 bytes */
        passwd_entry e;
        assert_int_equal(passwd_find(passwd_text, "a:b", &e), -EINVAL);
}

static void test_lookup_under_root(void **state) {
        (void) state;
        char root[] = "/tmp/kiln-passwd-XXXXXX";
        _cleanup_passwd_entry_ passwd_entry e = {};
        passwd_entry none;

        assert_non_null(mkdtemp(root));
        assert_int_equal(root_set(root), 0);
        assert_int_equal(passwd_lookup("root", &none), -ENOENT); /* no etc/passwd at all */
        _cleanup_free_ char *etc = root_path("/etc"), *p = root_path(PASSWD_FILE);
        assert_int_equal(mkdir_p(etc, 0755), 0);
        assert_int_equal(write_file_atomic(p, passwd_text, strlen(passwd_text), NULL), 0);
        assert_int_equal(passwd_lookup("admin2", &e), 0);
        assert_int_equal(e.uid, 1002);
        assert_string_equal(e.shell, "/usr/sbin/nologin");
        assert_int_equal(rm_rf(root), 0);
        assert_int_equal(root_set(NULL), 0);
}

static void test_mode(void **state) {
        (void) state;
        mode_t m;
        _cleanup_json_ json_t *i = json_integer(420), *s1 = json_string("0640"), *s2 = json_string("755"),
                              *bad1 = json_string("0x1"), *bad2 = json_integer(070000), *bad3 = json_true(),
                              *bad4 = json_string("");
        assert_int_equal(mode_from_json(i, &m), 0), assert_int_equal(m, 0644);
        assert_int_equal(mode_from_json(s1, &m), 0), assert_int_equal(m, 0640);
        assert_int_equal(mode_from_json(s2, &m), 0), assert_int_equal(m, 0755);
        assert_int_equal(mode_from_json(bad1, &m), -EINVAL);
        assert_int_equal(mode_from_json(bad2, &m), -EINVAL);
        assert_int_equal(mode_from_json(bad3, &m), -EINVAL);
        assert_int_equal(mode_from_json(bad4, &m), -EINVAL);
        /* modes written without their 0 are refused; what YAML octal gives is not */
        for (json_int_t n = 600; n <= 777; n++) {
                char digits[8];
                snprintf(digits, sizeof digits, "%lld", (long long) n);
                _cleanup_json_ json_t *j = json_integer(n);
                assert_int_equal(mode_is_lost_octal(j), strspn(digits, "01234567") == 3);
        }
        static const json_int_t lost[] = { 400, 440, 444, 500, 1777, 2755, 4755 };
        static const json_int_t yaml_octal[] = { 0400, 0440, 0444, 0500, 0550, 0555, 0600, 0640, 0644, 0660, 0664,
                                                 0700, 0750, 0755, 0775, 0777, 0, 7, 42 };
        for (size_t k = 0; k < ELEMENTSOF(lost); k++) {
                _cleanup_json_ json_t *j = json_integer(lost[k]);
                assert_true(mode_is_lost_octal(j));
        }
        for (size_t k = 0; k < ELEMENTSOF(yaml_octal); k++) {
                _cleanup_json_ json_t *j = json_integer(yaml_octal[k]);
                assert_false(mode_is_lost_octal(j));
        }
        _cleanup_json_ json_t *str = json_string("644");
        assert_false(mode_is_lost_octal(str)); /* a string is read as octal: fine */
}

static void test_group(void **state) {
        (void) state;
        static const char group_text[] = "root:x:0:\n# comment\nconsul:x:998:\nbad:x:nope:\nshort:x:5\n"
                                         "adm:x:4:syslog,admin\nlast:x:77:a";
        gid_t gid = 12345;
        char root[] = "/tmp/kiln-group-XXXXXX";

        assert_int_equal(group_find(group_text, "consul", &gid), 0);
        assert_int_equal(gid, 998);
        assert_int_equal(group_find(group_text, "adm", &gid), 0);
        assert_int_equal(gid, 4);
        assert_int_equal(group_find(group_text, "last", &gid), 0);
        assert_int_equal(gid, 77);
        gid = 12345;
        assert_int_equal(group_find(group_text, "cons", &gid), -ENOENT);
        assert_int_equal(group_find(group_text, "bad", &gid), -EBADMSG);
        assert_int_equal(group_find(group_text, "short", &gid), -EBADMSG);
        assert_int_equal(group_find("x:x:1:a:b\n", "x", &gid), -EBADMSG);
        assert_int_equal(group_find(group_text, "a:b", &gid), -EINVAL);
        assert_int_equal(gid, 12345); /* written only on success */

        assert_non_null(mkdtemp(root));
        assert_int_equal(root_set(root), 0);
        assert_int_equal(group_lookup("consul", &gid), -ENOENT);
        _cleanup_free_ char *etc = root_path("/etc"), *p = root_path(GROUP_FILE);
        assert_int_equal(mkdir_p(etc, 0755), 0);
        assert_int_equal(write_file_atomic(p, group_text, strlen(group_text), NULL), 0);
        assert_int_equal(group_lookup("consul", &gid), 0);
        assert_int_equal(gid, 998);
        assert_int_equal(rm_rf(root), 0);
        assert_int_equal(root_set(NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mode),
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_not_found_and_malformed),
                cmocka_unit_test(test_name_validity),
                cmocka_unit_test(test_lookup_under_root),
                cmocka_unit_test(test_group),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
