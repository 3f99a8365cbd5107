/* Unit tests for hostnames.c (cloud-init's derivation of hostname and
 * FQDN, RFC 1123 checks, /etc/hostname parsing) and hosts-file.c (the
 * 127.0.1.1 line of /etc/hosts in both manage_etc_hosts modes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "hostnames.h"
#include "hosts-file.h"

#define EC2_NAME "ip-10-0-1-23.eu-west-1.compute.internal"

static void check_derive(const char *h, const char *f, const char *md, const char *want_host, const char *want_fqdn,
                         hostname_source host_from, hostname_source fqdn_from) {
        _cleanup_hostname_names_ hostname_names n = {};
        assert_int_equal(hostname_derive(h, f, md, &n), 0);
        assert_string_equal(n.hostname, want_host);
        assert_string_equal(n.fqdn, want_fqdn);
        assert_int_equal(n.hostname_from, host_from);
        assert_int_equal(n.fqdn_from, fqdn_from);
}

static void test_derive(void **state) {
        (void) state;
        /* nothing set: the metadata's local-hostname, short name for the host */
        check_derive(NULL, NULL, EC2_NAME, "ip-10-0-1-23", EC2_NAME, HOSTNAME_FROM_METADATA, HOSTNAME_FROM_METADATA);
        /* hostname replaces the short name, the FQDN still comes from the metadata (cloud-init) */
        check_derive("cortex-1", NULL, EC2_NAME, "cortex-1", EC2_NAME, HOSTNAME_FROM_HOSTNAME, HOSTNAME_FROM_METADATA);
        /* a hostname with a dot sets both */
        check_derive("web.example.com", NULL, EC2_NAME, "web", "web.example.com", HOSTNAME_FROM_HOSTNAME,
                     HOSTNAME_FROM_HOSTNAME);
        /* fqdn alone: the short name is its first label */
        check_derive(NULL, "db.internal.example", EC2_NAME, "db", "db.internal.example", HOSTNAME_FROM_FQDN,
                     HOSTNAME_FROM_FQDN);
        /* both: each as given, even when they disagree (cloud-init does the same) */
        check_derive("alpha", "beta.example.com", EC2_NAME, "alpha", "beta.example.com", HOSTNAME_FROM_HOSTNAME,
                     HOSTNAME_FROM_FQDN);
        /* an IPv4 local-hostname becomes ip-a-b-c-d, with no domain */
        check_derive(NULL, NULL, "10.1.2.3", "ip-10-1-2-3", "ip-10-1-2-3", HOSTNAME_FROM_METADATA,
                     HOSTNAME_FROM_METADATA);
        /* a single-label local-hostname has no domain: fqdn == hostname */
        check_derive(NULL, NULL, "box", "box", "box", HOSTNAME_FROM_METADATA, HOSTNAME_FROM_METADATA);
        /* hostname without metadata */
        check_derive("solo", NULL, NULL, "solo", "solo", HOSTNAME_FROM_HOSTNAME, HOSTNAME_FROM_HOSTNAME);
        /* a leading dot is not "a hostname with a domain": it stays whole and fails validation later */
        check_derive(".lead", NULL, EC2_NAME, ".lead", EC2_NAME, HOSTNAME_FROM_HOSTNAME, HOSTNAME_FROM_METADATA);
}

static void test_derive_nothing(void **state) {
        (void) state;
        hostname_names n = { .hostname = (char *) "untouched" };
        assert_int_equal(hostname_derive(NULL, NULL, NULL, &n), -ENODATA);
        assert_int_equal(hostname_derive(NULL, NULL, "", &n), -ENODATA);
        assert_string_equal(n.hostname, "untouched");
}

static void test_check(void **state) {
        (void) state;
        char long_label[80], long_name[300];

        assert_null(hostname_check("web-1", HOSTNAME_KERNEL_MAX));
        assert_null(hostname_check("1password", HOSTNAME_KERNEL_MAX)); /* RFC 1123 allows a leading digit */
        assert_null(hostname_check(EC2_NAME, HOSTNAME_FQDN_MAX));
        assert_null(hostname_check("UPPER.Case", HOSTNAME_FQDN_MAX));
        assert_non_null(hostname_check("", HOSTNAME_KERNEL_MAX));
        assert_non_null(hostname_check(NULL, HOSTNAME_KERNEL_MAX));
        assert_non_null(hostname_check("web_1", HOSTNAME_KERNEL_MAX));
        assert_non_null(hostname_check("-web", HOSTNAME_KERNEL_MAX));
        assert_non_null(hostname_check("web-", HOSTNAME_KERNEL_MAX));
        assert_non_null(hostname_check("a..b", HOSTNAME_FQDN_MAX));
        assert_non_null(hostname_check(".a", HOSTNAME_FQDN_MAX));
        assert_non_null(hostname_check("host.example.com.", HOSTNAME_FQDN_MAX));
        assert_non_null(hostname_check("wéb", HOSTNAME_KERNEL_MAX));
        assert_non_null(hostname_check("a b", HOSTNAME_KERNEL_MAX));
        assert_non_null(hostname_check("a\nb", HOSTNAME_KERNEL_MAX));
        assert_string_equal(hostname_check("x.y", HOSTNAME_FQDN_MAX) ?: "", "");

        memset(long_label, 'a', 63);
        long_label[63] = 0;
        assert_null(hostname_check(long_label, HOSTNAME_KERNEL_MAX));
        long_label[63] = 'a', long_label[64] = 0;
        assert_non_null(hostname_check(long_label, HOSTNAME_FQDN_MAX)); /* a 64-byte label */

        /* 64 bytes is the kernel's limit, 253 the DNS name's */
        snprintf(long_name, sizeof long_name, "%.31s.%.32s", long_label, long_label); /* 64 */
        assert_null(hostname_check(long_name, HOSTNAME_KERNEL_MAX));
        snprintf(long_name, sizeof long_name, "%.31s.%.33s", long_label, long_label); /* 65 */
        assert_string_equal(hostname_check(long_name, HOSTNAME_KERNEL_MAX),
                            "is longer than the 64 characters the kernel allows");
        assert_null(hostname_check(long_name, HOSTNAME_FQDN_MAX));
        snprintf(long_name, sizeof long_name, "%.63s.%.63s.%.63s.%.61s", long_label, long_label, long_label,
                 long_label); /* 253 */
        assert_null(hostname_check(long_name, HOSTNAME_FQDN_MAX));
        strcat(long_name, "a"); /* 254 */
        assert_non_null(hostname_check(long_name, HOSTNAME_FQDN_MAX));
}

static void test_hostname_file(void **state) {
        (void) state;
        _cleanup_free_ char *a = hostname_file_parse("web-1\n"), *b = hostname_file_parse("# set by hand\n\n  db \n"),
                            *c = hostname_file_parse("last"), *d = NULL;
        assert_string_equal(a, "web-1");
        assert_string_equal(b, "db");
        assert_string_equal(c, "last");
        d = hostname_file_parse("# only a comment\n\n");
        assert_null(d);
        assert_int_equal(errno, 0);
        assert_null(hostname_file_parse(""));
}

/* ---- /etc/hosts ---- */

static char *update(const char *old, hosts_mode mode, const char *fqdn, const char *host) {
        char *out = NULL;
        assert_int_equal(hosts_file_update(old, mode, fqdn, host, &out), 0);
        assert_non_null(out);
        return out;
}

static void test_hosts_managed(void **state) {
        (void) state;
        const char *old = "# image's hosts\n"
                          "127.0.0.1\tlocalhost\n"
                          "127.0.1.1 old-name.example old-name\n"
                          "10.0.0.5 db.internal db   # keep me\n"
                          "127.0.1.1 another-alias\n"
                          "::1 localhost ip6-localhost\n";
        _cleanup_free_ char *out = update(old, HOSTS_MANAGED, "web.example.com", "web");
        assert_string_equal(out, "# image's hosts\n"
                                 "127.0.0.1\tlocalhost\n"
                                 "127.0.1.1 web.example.com web\n"
                                 "10.0.0.5 db.internal db   # keep me\n"
                                 "::1 localhost ip6-localhost\n");
        /* idempotent: the same text comes back */
        _cleanup_free_ char *again = update(out, HOSTS_MANAGED, "web.example.com", "web");
        assert_string_equal(again, out);
        /* a new name replaces the line in place */
        _cleanup_free_ char *renamed = update(out, HOSTS_MANAGED, "api.example.com", "api");
        assert_non_null(strstr(renamed, "127.0.0.1\tlocalhost\n127.0.1.1 api.example.com api\n10.0.0.5"));
        assert_null(strstr(renamed, "web"));
}

static void test_hosts_managed_insert(void **state) {
        (void) state;
        /* no 127.0.1.1 line: before the first entry, after leading comments */
        _cleanup_free_ char *a = update("# hi\n\n127.0.0.1 localhost\n", HOSTS_MANAGED, "h.d", "h");
        assert_string_equal(a, "# hi\n\n127.0.1.1 h.d h\n127.0.0.1 localhost\n");
        /* only comments: at the end; a missing final newline is added */
        _cleanup_free_ char *b = update("# nothing here", HOSTS_MANAGED, "h.d", "h");
        assert_string_equal(b, "# nothing here\n127.0.1.1 h.d h\n");
        /* empty file */
        _cleanup_free_ char *c = update("", HOSTS_MANAGED, "h", "h");
        assert_string_equal(c, "127.0.1.1 h\n");
        /* a commented-out 127.0.1.1 line is not an entry */
        _cleanup_free_ char *d = update("#127.0.1.1 x\n", HOSTS_MANAGED, "h.d", "h");
        assert_string_equal(d, "#127.0.1.1 x\n127.0.1.1 h.d h\n");
        /* the right line but a second one too: the second goes */
        _cleanup_free_ char *e = update("127.0.1.1 h.d h\n127.0.1.1 h.d h\n", HOSTS_MANAGED, "h.d", "h");
        assert_string_equal(e, "127.0.1.1 h.d h\n");
        /* 127.0.1.10 is another address */
        _cleanup_free_ char *f = update("127.0.1.10 other\n", HOSTS_MANAGED, "h.d", "h");
        assert_string_equal(f, "127.0.1.1 h.d h\n127.0.1.10 other\n");
}

static void test_hosts_missing_file(void **state) {
        (void) state;
        _cleanup_free_ char *m = update(NULL, HOSTS_MANAGED, "web.example.com", "web");
        assert_non_null(strstr(m, "\n127.0.1.1 web.example.com web\n127.0.0.1 localhost\n"));
        assert_non_null(strstr(m, "::1 localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n"));
        assert_true(m[0] == '#');
        _cleanup_free_ char *again = update(m, HOSTS_MANAGED, "web.example.com", "web");
        assert_string_equal(again, m);

        _cleanup_free_ char *l = update(NULL, HOSTS_LOCALHOST, "web.example.com", "web");
        assert_string_equal(l, "# Added by kiln (manage_etc_hosts: localhost).\n127.0.1.1 web.example.com web\n");
        _cleanup_free_ char *u = update(NULL, HOSTS_UNMANAGED, "web.example.com", "web");
        assert_string_equal(u, "");
}

static void test_hosts_localhost(void **state) {
        (void) state;
        const char *old = "127.0.0.1 localhost\n127.0.1.1 old.example old\n10.0.0.5 db\n";
        /* a new name is added after the existing 127.0.1.1 lines, which stay */
        _cleanup_free_ char *a = update(old, HOSTS_LOCALHOST, "web.example.com", "web");
        assert_string_equal(a, "127.0.0.1 localhost\n127.0.1.1 old.example old\n127.0.1.1 web.example.com web\n"
                               "10.0.0.5 db\n");
        /* present (fqdn first, hostname among the aliases): nothing changes */
        _cleanup_free_ char *b = update("127.0.1.1\tweb.example.com  www web # mine\n", HOSTS_LOCALHOST,
                                        "web.example.com", "web");
        assert_string_equal(b, "127.0.1.1\tweb.example.com  www web # mine\n");
        /* the hostname first is not cloud-init's shape: the line is added */
        _cleanup_free_ char *c = update("127.0.1.1 web web.example.com\n", HOSTS_LOCALHOST, "web.example.com", "web");
        assert_string_equal(c, "127.0.1.1 web web.example.com\n127.0.1.1 web.example.com web\n");
        /* no domain: the name once */
        _cleanup_free_ char *d = update("127.0.1.1 solo\n", HOSTS_LOCALHOST, "solo", "solo");
        assert_string_equal(d, "127.0.1.1 solo\n");
        /* no 127.0.1.1 line yet */
        _cleanup_free_ char *e = update("127.0.0.1 localhost\n", HOSTS_LOCALHOST, "a.b", "a");
        assert_string_equal(e, "127.0.1.1 a.b a\n127.0.0.1 localhost\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_derive),
                cmocka_unit_test(test_derive_nothing),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_hostname_file),
                cmocka_unit_test(test_hosts_managed),
                cmocka_unit_test(test_hosts_managed_insert),
                cmocka_unit_test(test_hosts_missing_file),
                cmocka_unit_test(test_hosts_localhost),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
