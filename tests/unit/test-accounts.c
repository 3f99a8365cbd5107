/* Unit tests for accounts.c (users; owners are in test-volumes.c): finding an account in the text of a passwd
 * file, and reading <root>/etc/passwd under a scratch root. */
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
        /* the file is read again when it was replaced (the text of the last read is kept) */
        const char *changed = "admin2:x:1003:1003::/home/admin2:/bin/sh\n";
        assert_int_equal(write_file_atomic(p, changed, strlen(changed), NULL), 0);
        passwd_entry_clear(&e);
        assert_int_equal(passwd_lookup("admin2", &e), 0);
        assert_int_equal(e.uid, 1003);
        assert_int_equal(passwd_lookup("nobody-here", &none), -ENOENT);
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
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mode),
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_not_found_and_malformed),
                cmocka_unit_test(test_name_validity),
                cmocka_unit_test(test_lookup_under_root),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
