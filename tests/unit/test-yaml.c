/* Unit tests for yaml-json.c: PyYAML SafeLoader scalar rules (the table was
 * checked against /usr/bin/python3's yaml.safe_load), positions, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "yaml-json.h"

static char *load_value(const char *scalar) {
        _cleanup_free_ char *doc = NULL;
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *v = NULL;
        assert_true(asprintf(&doc, "k: %s\n", scalar) > 0);
        assert_int_equal(yaml_to_json(doc, strlen(doc), "t.yaml", NULL, &v, NULL, &d), 0);
        return json_dumps(json_object_get(v, "k"), JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

static void test_scalars(void **state) {
        (void) state;
        static const struct { const char *in, *out; } cases[] = {
                { "yes", "true" },          { "No", "false" },         { "on", "true" },
                { "OFF", "false" },         { "y", "\"y\"" },          { "~", "null" },
                { "null", "null" },         { "", "null" },            { "0644", "420" },
                { "0o644", "\"0o644\"" },   { "0x1F", "31" },          { "0b101", "5" },
                { "1_000", "1000" },        { "1:30", "90" },          { "1:90", "\"1:90\"" },
                { "190:20:30", "685230" },  { "1.5", "1.5" },          { "1.", "1.0" },
                { "1e5", "\"1e5\"" },       { "1.0e+5", "100000.0" },  { ".5", "0.5" },
                { "-.5", "\"-.5\"" },       { "08", "\"08\"" },        { "+12", "12" },
                { "-0", "0" },              { "1.2.3", "\"1.2.3\"" },  { "12:30:00.5", "45000.5" },
                { "-1:30", "-90" },         { "0_", "0" },             { "_1", "\"_1\"" },
                { "010_7", "71" },          { "True", "true" },        { "tRUE", "\"tRUE\"" },
                { "1.0e5", "\"1.0e5\"" },   { "'yes'", "\"yes\"" },    { "\"0644\"", "\"0644\"" },
                { "!!str 12", "\"12\"" },   { "!!int \"12\"", "12" },  { "9223372036854775807", "9223372036854775807" },
                { "hello world", "\"hello world\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = load_value(cases[i].in);
                if (!streq(got, cases[i].out))
                        fail_msg("%s: expected %s, got %s", cases[i].in, cases[i].out, got);
        }
}

static void expect_error(const char *doc, const char *message) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        json_t *v = NULL;
        assert_int_equal(yaml_to_json(doc, strlen(doc), "u.yaml", NULL, &v, NULL, &d), -EINVAL);
        assert_null(v);
        assert_true(d.n_errors >= 1);
        _cleanup_free_ char *s = diag_format(&d.v[0]);
        if (!strstr(s, message))
                fail_msg("expected '%s' in '%s'", message, s);
}

static void test_errors(void **state) {
        (void) state;
        expect_error("a: 1\na: 2\n", "u.yaml:2:1: error: duplicate key 'a'");
        expect_error("a:\n\tb: 1\n", "u.yaml:2:1: error:");
        expect_error("a:\n\tb: 1\n", "tab");
        expect_error("a: [1, 2\n", "u.yaml:");
        expect_error("a: 99999999999999999999\n", "u.yaml:1:4: error: integer out of 64-bit range (quote it");
        expect_error("a: .inf\n", "not representable");
        expect_error("a: !Ref x\n", "unsupported YAML tag !Ref");
        expect_error("a: *nope\n", "unknown alias");
        expect_error("a: 1\n---\nb: 2\n", "more than one YAML document");
}

/* A scalar whose value does not match its !!tag is an error that leaves
 * the tree alone; this once freed the value while the caller still held it
 * (found by tests/fuzz/fuzz-yaml: the document "!!null\ntimest"). */
static void test_tag_mismatch(void **state) {
        (void) state;
        expect_error("!!null\ntimest", "u.yaml:1:1: error: value does not match its tag !!null");
        expect_error("a: !!int x\n", "u.yaml:1:4: error: value does not match its tag !!int");
        expect_error("- 1\n- !!bool maybe\n", "u.yaml:2:3: error: value does not match its tag !!bool");
        expect_error("{a: {b: !!float x}}\n", "value does not match its tag !!float");
}

/* !!binary must not smuggle a NUL into a string that plain scalars can't
 * hold (found by fuzz-yaml: "aVsAex" decodes to 69 5b 00 7b). */
static void test_binary_nul(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *v = NULL;
        expect_error("a: !!binary aVsAex\n", "u.yaml:1:4: error: !!binary value is not base64 of UTF-8 text without NUL");
        expect_error("a: !!binary AA==\n", "without NUL");
        assert_int_equal(yaml_to_json("a: !!binary aGk=\n", 17, "b", NULL, &v, NULL, &d), 0);
        assert_string_equal(json_string_value(json_object_get(v, "a")), "hi");
}

/* A value kiln refuses is pointed at, not quoted: it may be a secret
 * (secret_vars.pin: 123456789012345678901234), and diagnostics reach the journal. */
static void test_errors_do_not_quote_values(void **state) {
        (void) state;
        static const char *const values[] = { "123456789012345678901234", "-.INF", ".NaN" };
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_diags_ diags d = DIAGS_INIT;
                _cleanup_free_ char *doc = NULL;
                json_t *v = NULL;
                assert_true(asprintf(&doc, "pin: %s\n", values[i]) > 0);
                assert_int_equal(yaml_to_json(doc, strlen(doc), "s.yaml", NULL, &v, NULL, &d), -EINVAL);
                _cleanup_free_ char *m = diag_format(&d.v[0]);
                assert_non_null(strstr(m, "s.yaml:1:6: error: "));
                assert_null(strstr(m, values[i]));
        }
}

static void test_alias_bomb(void **state) {
        (void) state;
        const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                           "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                           "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                           "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                           "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        expect_error(bomb, "alias bomb");
}

static void test_positions_and_merge(void **state) {
        (void) state;
        const char *doc = "base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\nlist:\n  - a\n  - {k: v}\n";
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *v = NULL;
        _cleanup_srcmap_ srcmap m = SRCMAP_INIT;
        srcpos p;
        assert_int_equal(yaml_to_json(doc, strlen(doc), "p.yaml", NULL, &v, &m, &d), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "other"), "x")), 1);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "other"), "y")), 3);
        assert_true(srcmap_get(&m, "list[1].k", &p));
        assert_string_equal(p.file, "p.yaml");
        assert_int_equal(p.line, 9);
        assert_int_equal(p.column, 9); /* the value */
        assert_true(srcmap_get_key(&m, "list[1].k", &p));
        assert_int_equal(p.column, 6); /* the key */
        assert_true(srcmap_get(&m, "other.y", &p));
        assert_int_equal(p.line, 6);
        assert_int_equal(p.column, 6);
        /* a path with no entry of its own falls back to its nearest ancestor */
        assert_true(srcmap_get(&m, "list[1].missing", &p));
        assert_int_equal(p.line, 9);
}

static void test_empty(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *v = NULL;
        assert_int_equal(yaml_to_json("#cloud-config\n", 14, "e", NULL, &v, NULL, &d), 0);
        assert_true(json_is_null(v));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scalars),     cmocka_unit_test(test_errors),
                cmocka_unit_test(test_alias_bomb),  cmocka_unit_test(test_positions_and_merge),
                cmocka_unit_test(test_empty),       cmocka_unit_test(test_tag_mismatch),
                cmocka_unit_test(test_binary_nul), cmocka_unit_test(test_errors_do_not_quote_values),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
