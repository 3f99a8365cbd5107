/* Unit tests for schema.c: types, enums, required keys, suggestions,
 * positions, secrets, and the module table's schema. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "modules.h"
#include "schema.h"
#include "yaml-json.h"

static const char *const modes[] = { "fast", "slow", NULL };
static const schema_key item_keys[] = {
        { .name = "name", .types = ST_STRING, .required = true, .description = "n" },
        KEY("port", ST_INTEGER, "p"),
        {},
};
static const schema_key item = { .types = ST_OBJECT, .props = item_keys };
static const schema_key top[] = {
        KEY_LIST("services", &item, "s"),
        KEY_ENUM("mode", modes, "m"),
        { .name = "token", .types = ST_STRING, .secret = true, .description = "t" },
        KEY("flag", ST_BOOLEAN, "f"),
        {},
};

static void validate(const char *yaml, diags *d, int expect) {
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_srcmap_ srcmap m = SRCMAP_INIT;
        assert_int_equal(yaml_to_json(yaml, strlen(yaml), "f.yaml", NULL, &doc, &m, d), 0);
        assert_int_equal(schema_validate(top, doc, &m, "f.yaml", d), expect);
}

static void expect_message(const diags *d, size_t i, const char *s) {
        _cleanup_free_ char *m = diag_format(&d->v[i]);
        if (!strstr(m, s))
                fail_msg("'%s' not in '%s'", s, m);
}

static void test_ok(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        validate("services:\n  - {name: a, port: 1}\nmode: fast\nflag: yes\n", &d, 0);
        assert_int_equal(d.n, 0);
}

static void test_errors(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        validate("services:\n  - {port: '1'}\nmode: medium\nflag: 1\n", &d, -EINVAL);
        assert_int_equal(d.n_errors, 4);
        expect_message(&d, 0, "f.yaml:2:12: error: services[0].port: expected integer, got string");
        expect_message(&d, 1, "f.yaml:2:5: error: services[0]: missing required key 'name'");
        expect_message(&d, 2, "f.yaml:3:7: error: mode: 'medium' is not one of: fast, slow");
        expect_message(&d, 3, "f.yaml:4:7: error: flag: expected boolean, got integer");
}

static void test_warnings(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        validate("servces: []\nusers: [a]\nzzz: 1\n", &d, 0);
        assert_int_equal(d.n, 3);
        expect_message(&d, 0, "f.yaml:1:1: warning: servces: unknown key (did you mean 'services'?)");
        expect_message(&d, 1, "cloud-init key not supported by kiln");
        expect_message(&d, 2, "zzz: unknown key (ignored)");
}

static void test_top_level_must_be_mapping(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        validate("- a\n- b\n", &d, -EINVAL);
        expect_message(&d, 0, "must be a mapping");
}

static void test_secrets(void **state) {
        (void) state;
        assert_true(schema_path_is_secret(top, "token"));
        assert_false(schema_path_is_secret(top, "mode"));
        assert_true(schema_path_is_secret(modules_schema(), "secret_vars.x"));
}

static void test_module_schema_has_unique_keys(void **state) {
        (void) state;
        const schema_key *s = modules_schema();
        for (const schema_key *a = s; a->name; a++)
                for (const schema_key *b = a + 1; b->name; b++)
                        if (streq(a->name, b->name))
                                fail_msg("top-level key '%s' is owned twice", a->name);
        for (const kiln_module *const *m = modules_all(); *m; m++) {
                assert_non_null((*m)->plan);
                assert_non_null((*m)->apply);
                assert_true((*m)->stage >= 0 && (*m)->stage < _STAGE_MAX);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ok),      cmocka_unit_test(test_errors),
                cmocka_unit_test(test_warnings), cmocka_unit_test(test_top_level_must_be_mapping),
                cmocka_unit_test(test_secrets), cmocka_unit_test(test_module_schema_has_unique_keys),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
