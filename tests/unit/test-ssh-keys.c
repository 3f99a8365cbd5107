/* Unit tests for authorized-keys.c: which lines are SSH public keys, and
 * merging keys into an authorized_keys file without duplicates and without
 * losing anyone else's lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "authorized-keys.h"

/* Blobs with the right shape: SSH string "ssh-ed25519" + a 32-byte string. */
#define BLOB_A "AAAAC3NzaC1lZDI1NTE5AAAAINT+QnQrYxjZYHG5tXO5uBv9CWadzdJlFR1u0nQdnOby"
#define BLOB_B "AAAAC3NzaC1lZDI1NTE5AAAAIAXmsyuJZFFp21/Lu6sDlYIOQGd6MpvSvGKwZvrTzMo3"
#define BLOB_C "AAAAC3NzaC1lZDI1NTE5AAAAIMhHC3BYwzeIbYJ5NOe9GteMh9qgYPCzxvTROChyrnR6"
/* "ssh-rsa" + exponent 65537 + a short modulus: shape only */
#define BLOB_RSA "AAAAB3NzaC1yc2EAAAADAQABAAAAAQE="

#define KEY_A "ssh-ed25519 " BLOB_A " alice@laptop"
#define KEY_B "ssh-ed25519 " BLOB_B " bob@desk"
#define KEY_C "ssh-ed25519 " BLOB_C

static void parse_ok(const char *line, const char *type, const char *comment) {
        _cleanup_ssh_key_ ssh_key k = {};
        const char *why = NULL;
        int r = ssh_key_parse(line, &k, &why);
        if (r < 0)
                fail_msg("'%s' was refused: %s", line, why);
        assert_string_equal(k.type, type);
        if (comment)
                assert_string_equal(k.comment, comment);
        else
                assert_null(k.comment);
}

static void parse_bad(const char *line, const char *why_part) {
        ssh_key k = { .type = (char *) "untouched" };
        const char *why = NULL;
        assert_int_equal(ssh_key_parse(line, &k, &why), -EBADMSG);
        assert_non_null(why);
        if (!strstr(why, why_part))
                fail_msg("'%s': reason '%s' lacks '%s'", line, why, why_part);
        assert_string_equal(k.type, "untouched");
}

static void test_parse(void **state) {
        (void) state;
        parse_ok(KEY_A, "ssh-ed25519", "alice@laptop");
        parse_ok(KEY_C, "ssh-ed25519", NULL);
        parse_ok("  " KEY_C "  ", "ssh-ed25519", NULL);
        parse_ok("ssh-ed25519\t" BLOB_A "\tcomment with spaces ", "ssh-ed25519", "comment with spaces");
        parse_ok("ssh-rsa " BLOB_RSA " rsa", "ssh-rsa", "rsa");
        /* options before the type, with quoted blanks and an escaped quote */
        parse_ok("from=\"10.0.0.0/8\",no-pty " KEY_A, "ssh-ed25519", "alice@laptop");
        parse_ok("command=\"echo \\\"hi there\\\"\" " KEY_B, "ssh-ed25519", "bob@desk");
        parse_ok("restrict,command=\"a b\" " KEY_C, "ssh-ed25519", NULL);
}

static void test_parse_bad(void **state) {
        (void) state;
        parse_bad("", "empty");
        parse_bad("# a comment", "comment");
        parse_bad("ssh-ed25519", "missing");
        parse_bad("ssh-ed25519 ", "missing");
        parse_bad("ssh-foo " BLOB_A, "unknown key type");
        parse_bad(BLOB_A, "unknown key type");
        parse_bad("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKiln test@kiln", "not valid base64"); /* 29 characters */
        parse_bad("ssh-ed25519 AAAA$$$$ x", "not valid base64");
        parse_bad("ssh-rsa " BLOB_A " x", "type it is labelled with"); /* an ed25519 blob called rsa */
        parse_bad("ssh-ed25519 aGVsbG8gd29ybGQ= x", "type it is labelled with");
        parse_bad("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x", "type it is labelled with"); /* type but no key */
        parse_bad(KEY_A "\ncommand=\"sh\" " KEY_B, "single line");
        parse_bad(KEY_A "\r", "single line");
        parse_bad("command=\"unterminated " KEY_A, "unterminated quote");
}

static void test_equal(void **state) {
        (void) state;
        _cleanup_ssh_key_ ssh_key a = {}, a2 = {}, b = {};
        assert_int_equal(ssh_key_parse(KEY_A, &a, NULL), 0);
        assert_int_equal(ssh_key_parse("no-pty ssh-ed25519 " BLOB_A " another comment", &a2, NULL), 0);
        assert_int_equal(ssh_key_parse(KEY_B, &b, NULL), 0);
        assert_true(ssh_key_equal(&a, &a2)); /* options and comments don't matter */
        assert_false(ssh_key_equal(&a, &b));
}

static void merge(const char *existing, json_t *keys, const char *want, size_t want_added) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_t *added = NULL;
        assert_int_equal(authorized_keys_merge(existing, keys, &text, &added), 0);
        assert_string_equal(text, want);
        assert_int_equal(json_array_size(added), want_added);
}

static void test_merge(void **state) {
        (void) state;
        _cleanup_json_ json_t *keys = json_pack("[s, s]", KEY_A, "  " KEY_B "  ");

        /* no file yet */
        merge(NULL, keys, KEY_A "\n" KEY_B "\n", 2);
        merge("", keys, KEY_A "\n" KEY_B "\n", 2);
        /* existing lines are kept byte for byte, only missing keys are appended */
        merge("# admin's keys\n" KEY_C "\n", keys, "# admin's keys\n" KEY_C "\n" KEY_A "\n" KEY_B "\n", 2);
        /* a key already there under other options/comment is not added again */
        merge("no-pty ssh-ed25519 " BLOB_A " old comment\n", keys,
              "no-pty ssh-ed25519 " BLOB_A " old comment\n" KEY_B "\n", 1);
        /* all present: the same text, nothing added (idempotent) */
        merge(KEY_B "\n" KEY_A "\n", keys, KEY_B "\n" KEY_A "\n", 0);
        /* no final newline: one is added before the new line */
        merge(KEY_C, keys, KEY_C "\n" KEY_A "\n" KEY_B "\n", 2);
        /* ...but not when nothing is added */
        _cleanup_json_ json_t *just_c = json_pack("[s]", KEY_C);
        merge(KEY_C, just_c, KEY_C, 0);
        /* duplicates in the input are added once; garbage lines in the file stay */
        _cleanup_json_ json_t *dups = json_pack("[s, s, s]", KEY_A, KEY_A, "ssh-ed25519 " BLOB_A " same key");
        merge("not a key at all\n", dups, "not a key at all\n" KEY_A "\n", 1);
        /* duplicates already in the file are someone else's: kept */
        merge(KEY_A "\n" KEY_A "\n", dups, KEY_A "\n" KEY_A "\n", 0);
}

static void test_merge_refuses_bad_input(void **state) {
        (void) state;
        _cleanup_json_ json_t *bad = json_pack("[s]", "ssh-ed25519 nope"), *notstr = json_pack("[i]", 5);
        char *text = (char *) "untouched";
        json_t *added = NULL;
        assert_int_equal(authorized_keys_merge(NULL, bad, &text, &added), -EINVAL);
        assert_int_equal(authorized_keys_merge(NULL, notstr, &text, &added), -EINVAL);
        assert_string_equal(text, "untouched");
        assert_null(added);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_equal),
                cmocka_unit_test(test_merge),
                cmocka_unit_test(test_merge_refuses_bad_input),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
