/* Unit tests for merge.c: cloud-init's merge semantics and position maps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "merge.h"

static json_t *J(const char *s) {
        json_error_t e;
        json_t *v = json_loads(s, 0, &e);
        assert_non_null(v);
        return v;
}

static void check(const char *base, const char *overlay, const merge_policy *p, const char *expect) {
        _cleanup_json_ json_t *b = J(base), *o = J(overlay), *want = J(expect);
        assert_int_equal(merge_into(b, NULL, o, NULL, p, NULL), 0);
        if (!json_equal(b, want)) {
                _cleanup_free_ char *got = json_dumps(b, JSON_SORT_KEYS);
                fail_msg("got %s, want %s", got, expect);
        }
}

static merge_policy P(const char *s) {
        merge_policy p;
        _cleanup_diags_ diags d = DIAGS_INIT;
        assert_int_equal(merge_policy_parse_string(s, &p, &d, "t"), 0);
        return p;
}

static void test_cloud_default_replaces(void **state) {
        (void) state;
        check("{\"runcmd\":[\"a\"],\"c\":{\"x\":1,\"y\":1}}", "{\"runcmd\":[\"b\"],\"c\":{\"y\":2}}",
              &merge_policy_cloud_default, "{\"runcmd\":[\"b\"],\"c\":{\"y\":2}}");
}

static void test_terraform_append(void **state) {
        (void) state;
        merge_policy p = P("list(append)+dict(recurse_array)+str()");
        /* lists add up; nested dicts recurse; a scalar set earlier is kept (no_replace) */
        check("{\"runcmd\":[\"a\"],\"c\":{\"x\":[1],\"s\":\"old\"},\"h\":\"one\"}",
              "{\"runcmd\":[\"b\"],\"c\":{\"x\":[2],\"s\":\"new\"},\"h\":\"two\",\"n\":1}", &p,
              "{\"runcmd\":[\"a\",\"b\"],\"c\":{\"x\":[1,2],\"s\":\"old\"},\"h\":\"one\",\"n\":1}");
}

static void test_dict_replace_recurse_array(void **state) {
        (void) state;
        merge_policy p = P("dict(replace)+list(append)");
        check("{\"a\":[1],\"b\":\"x\"}", "{\"a\":[2],\"b\":\"y\"}", &p, "{\"a\":[2],\"b\":\"y\"}");
}

static void test_prepend_and_str_append(void **state) {
        (void) state;
        merge_policy p = P("list(prepend)+dict(no_replace,recurse_list,recurse_str)+str(append)");
        check("{\"a\":[1],\"s\":\"ab\"}", "{\"a\":[0],\"s\":\"cd\"}", &p, "{\"a\":[0,1],\"s\":\"abcd\"}");
}

static void test_allow_delete(void **state) {
        (void) state;
        merge_policy p = P("dict(replace,allow_delete)");
        check("{\"a\":1,\"b\":2}", "{\"a\":null}", &p, "{\"b\":2}");
}

static void test_deep(void **state) {
        (void) state;
        check("{\"c\":{\"x\":1,\"l\":[1]},\"k\":1}", "{\"c\":{\"y\":2,\"l\":[2]}}", &merge_policy_deep,
              "{\"c\":{\"x\":1,\"y\":2,\"l\":[2]},\"k\":1}");
}

static void test_json_policy_and_errors(void **state) {
        (void) state;
        merge_policy p;
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *how = J("[{\"name\":\"list\",\"settings\":[\"append\"]},{\"name\":\"dict\",\"settings\":[\"no_replace\",\"recurse_list\"]}]");
        assert_int_equal(merge_policy_parse_json(how, &p, &d, "t"), 0);
        assert_int_equal(p.list, MERGE_LIST_APPEND);
        assert_true(p.recurse_array);
        assert_int_equal(merge_policy_parse_string("list(sideways)", &p, &d, "part 2"), -EINVAL);
        assert_int_equal(merge_policy_parse_string("tree()", &p, &d, "part 2"), -EINVAL);
        assert_int_equal(d.n_errors, 2);
        assert_non_null(strstr(d.v[0].message, "unknown merge setting 'sideways'"));
}

static void test_positions_follow_appends(void **state) {
        (void) state;
        merge_policy p = P("list(append)+dict(recurse_array)+str()");
        _cleanup_json_ json_t *b = J("{\"runcmd\":[\"a\"]}"), *o = J("{\"runcmd\":[\"b\"]}");
        _cleanup_srcmap_ srcmap bm = SRCMAP_INIT, om = SRCMAP_INIT;
        srcpos pos;
        srcmap_set(&bm, "runcmd[0]", "part1", 3, 5);
        srcmap_set(&om, "runcmd[0]", "part2", 7, 9);
        assert_int_equal(merge_into(b, &bm, o, &om, &p, NULL), 0);
        assert_true(srcmap_get(&bm, "runcmd[1]", &pos));
        assert_string_equal(pos.file, "part2");
        assert_int_equal(pos.line, 7);
        assert_true(srcmap_get(&bm, "runcmd[0]", &pos));
        assert_string_equal(pos.file, "part1");
}

static void note(void *ud, const char *path) {
        json_array_append_new(ud, json_string(path));
}

static void test_replacement_is_noted(void **state) {
        (void) state;
        _cleanup_json_ json_t *b = J("{\"runcmd\":[\"a\"],\"same\":1}"), *o = J("{\"runcmd\":[\"b\"],\"same\":1}"),
                              *seen = json_array();
        merge_note n = { .replaced = note, .userdata = seen };
        assert_int_equal(merge_into(b, NULL, o, NULL, &merge_policy_cloud_default, &n), 0);
        assert_int_equal(json_array_size(seen), 1);
        assert_string_equal(json_string_value(json_array_get(seen, 0)), "runcmd");
}

static void test_overlay_not_modified(void **state) {
        (void) state;
        merge_policy p = P("list(append)+dict(recurse_array)");
        _cleanup_json_ json_t *b = J("{}"), *o1 = J("{\"l\":[1]}"), *o2 = J("{\"l\":[2]}");
        assert_int_equal(merge_into(b, NULL, o1, NULL, &p, NULL), 0);
        assert_int_equal(merge_into(b, NULL, o2, NULL, &p, NULL), 0);
        assert_int_equal(json_array_size(json_object_get(o1, "l")), 1);
        assert_int_equal(json_array_size(json_object_get(b, "l")), 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cloud_default_replaces), cmocka_unit_test(test_terraform_append),
                cmocka_unit_test(test_dict_replace_recurse_array), cmocka_unit_test(test_prepend_and_str_append),
                cmocka_unit_test(test_allow_delete), cmocka_unit_test(test_deep),
                cmocka_unit_test(test_json_policy_and_errors), cmocka_unit_test(test_positions_follow_appends),
                cmocka_unit_test(test_replacement_is_noted), cmocka_unit_test(test_overlay_not_modified),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
