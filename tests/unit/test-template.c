/* Unit tests for the template engine (agent/template.h).
 *
 * The differential corpus (tests/jinja, test_jinja_diff.py) proves the output
 * matches Jinja2; these tests pin down what Jinja2 can't tell us: the exact
 * positions and wording of kiln's diagnostics, that nothing is returned on
 * error, include confinement (absolute names, "..", symlinks), and the
 * limits on output, work, nesting and include depth.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "template.h"
#include "util.h"

/* Renders text with vars (JSON text, may be NULL); returns the output or NULL
 * on error, leaving the first diagnostic in *ret_diag (malloc'd). */
static char *render_opts(const char *text, const char *vars_json, const tmpl_options *o, char **ret_diag) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *vars = vars_json ? json_loads(vars_json, 0, NULL) : NULL;
        char *out = (char *) 0x1; /* must stay untouched on error */
        size_t len = 12345;
        int r;

        if (vars_json)
                assert_non_null(vars);
        r = tmpl_render_string(text, strlen(text), o, vars, &out, &len, &d);
        if (ret_diag)
                *ret_diag = d.n > 0 ? diag_format(&d.v[0]) : NULL;
        if (r < 0) {
                assert_int_equal(r, -EINVAL);
                assert_ptr_equal(out, (char *) 0x1);
                assert_int_equal(len, 12345);
                assert_true(d.n_errors > 0);
                return NULL;
        }
        assert_int_equal(d.n, 0);
        assert_int_equal(len, strlen(out));
        return out;
}

static char *render(const char *text, const char *vars_json, char **ret_diag) {
        tmpl_options o = { .name = "t.j2" };
        return render_opts(text, vars_json, &o, ret_diag);
}

static void assert_renders(const char *text, const char *vars_json, const char *want) {
        _cleanup_free_ char *diag = NULL;
        _cleanup_free_ char *out = render(text, vars_json, &diag);
        if (!out)
                fail_msg("render failed: %s", diag ? diag : "(no diagnostic)");
        assert_string_equal(out, want);
}

static void assert_fails(const char *text, const char *vars_json, const char *want_diag) {
        _cleanup_free_ char *diag = NULL;
        _cleanup_free_ char *out = render(text, vars_json, &diag);
        if (out)
                fail_msg("rendered \"%s\" instead of failing", out);
        assert_non_null(diag);
        assert_string_equal(diag, want_diag);
}

/* ---------------------------------------------------------------- basics */

static void test_render_basics(void **state) {
        (void) state;
        assert_renders("Hello {{ name }}!", "{\"name\": \"kiln\"}", "Hello kiln!");
        assert_renders("{{ 1.0 }} {{ 1e20 }} {{ none }} {{ [1, 'a'] }}", NULL, "1.0 1e+20 None [1, 'a']");
        assert_renders("{% for x in xs %}{{ loop.index }}{{ x }}{% endfor %}", "{\"xs\": [\"a\", \"b\"]}", "1a2b");
        assert_renders("line\n", NULL, "line");
        assert_renders("", NULL, "");
}

static void test_parse_once_render_many(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_tmpl_ tmpl *t = NULL;
        const char *src = "{{ n * 2 }}";

        assert_int_equal(tmpl_parse(src, strlen(src), NULL, &t, &d), 0);
        for (int i = 0; i < 3; i++) {
                _cleanup_json_ json_t *vars = json_pack("{s:i}", "n", i);
                _cleanup_free_ char *out = NULL;
                char want[8];
                assert_int_equal(tmpl_render(t, vars, &out, NULL, &d), 0);
                snprintf(want, sizeof want, "%d", i * 2);
                assert_string_equal(out, want);
        }
        assert_int_equal(d.n, 0);
        tmpl_free(NULL);
}

static void test_nul_bytes(void **state) {
        (void) state;
        static const char src[] = "a\0b{{ 'x\\x00y' }}{{ s }}\0";
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *vars = json_pack("{s:s%}", "s", "p\0q", (size_t) 3);
        _cleanup_free_ char *out = NULL;
        size_t len;

        assert_int_equal(tmpl_render_string(src, sizeof src - 1, NULL, vars, &out, &len, &d), 0);
        assert_int_equal(len, 10);
        assert_memory_equal(out, "a\0bx\0yp\0q\0", 10);
}

static void test_vars_must_be_object(void **state) {
        (void) state;
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *arr = json_array();
        char *out = NULL;
        assert_int_equal(tmpl_render_string("x", 1, NULL, arr, &out, NULL, &d), -EINVAL);
        assert_null(out);
        _cleanup_free_ char *msg = diag_format(&d.v[0]);
        assert_string_equal(msg, "<template>: error: template variables must be a JSON object");
}

static void test_vars_not_modified(void **state) {
        (void) state;
        _cleanup_json_ json_t *vars = json_loads("{\"xs\": [3, 1, 2], \"d\": {\"b\": 1, \"a\": 2}}", 0, NULL);
        _cleanup_json_ json_t *copy = json_deep_copy(vars);
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_free_ char *out = NULL;
        const char *src = "{{ xs|sort }}{{ d|dictsort }}{{ xs|reverse|list }}{% set xs = [] %}{{ xs + [1] }}";
        assert_int_equal(tmpl_render_string(src, strlen(src), NULL, vars, &out, NULL, &d), 0);
        assert_true(json_equal(vars, copy));
}

/* ------------------------------------------------------- positioned errors */

static void test_syntax_error_positions(void **state) {
        (void) state;
        assert_fails("{{ }}", NULL, "t.j2:1:4: error: expected an expression, got end of print statement");
        assert_fails("ab\n  {{ 1 + }}", NULL, "t.j2:2:10: error: unexpected end of print statement");
        assert_fails("{% if true %}\nx", NULL,
                     "t.j2:2:2: error: unexpected end of template: 'if' at 1:4 is not closed (expected 'endif')");
        assert_fails("{% for x in y %}{% endif %}", NULL,
                     "t.j2:1:20: error: unexpected tag 'endif'; the innermost open block is 'for' at 1:4");
        assert_fails("{% endfor %}", NULL, "t.j2:1:4: error: unknown tag 'endfor'");
        assert_fails("{% macro m() %}{% endmacro %}", NULL,
                     "t.j2:1:4: error: tag 'macro' is not supported by kiln's template engine");
        assert_fails("{{ (1 }}", NULL, "t.j2:1:7: error: unexpected '}', expected ')'");
        assert_fails("x\n{# open", NULL, "t.j2:2:1: error: missing end of comment tag");
        assert_fails("{% raw %}x", NULL, "t.j2:1:1: error: missing end of raw directive");
        assert_fails("{{ \"abc }}", NULL, "t.j2:1:4: error: unterminated string literal");
        assert_fails("{{ 'a\\x4' }}", NULL, "t.j2:1:4: error: truncated \\xXX escape");
        assert_fails("{{ a ? b }}", NULL, "t.j2:1:6: error: unexpected character '?'");
        assert_fails("{{ x|nosuch }}", NULL, "t.j2:1:6: error: no filter named 'nosuch'");
        assert_fails("{{ x|safe }}", NULL, "t.j2:1:6: error: filter 'safe' is not supported by kiln");
        assert_fails("{{ x is nosuch }}", NULL, "t.j2:1:9: error: no test named 'nosuch'");
        assert_fails("{{ x|sort(foo=1) }}", NULL, "t.j2:1:11: error: filter 'sort' has no parameter 'foo'");
        assert_fails("{{ x|upper(1) }}", NULL,
                     "t.j2:1:6: error: filter 'upper' takes at most 0 positional arguments (1 given)");
        assert_fails("{{ 99999999999999999999 }}", NULL,
                     "t.j2:1:4: error: integer literal too large (kiln's integers are 64-bit)");
        assert_fails("{% set true = 1 %}", NULL, "t.j2:1:8: error: can't assign to a constant");
}

static void test_columns_count_code_points(void **state) {
        (void) state;
        assert_fails("héllo wörld {{ nope }}", NULL, "t.j2:1:16: error: 'nope' is undefined");
        assert_fails("日本\r\n語 {{ nope }}", NULL, "t.j2:2:6: error: 'nope' is undefined");
}

static void test_invalid_utf8(void **state) {
        (void) state;
        assert_fails("ok\nab\xff", NULL, "t.j2:2:3: error: template is not valid UTF-8");
}

static void test_undefined_errors(void **state) {
        (void) state;
        const char *vars = "{\"d\": {\"a\": 1}, \"xs\": [1]}";
        assert_fails("{{ nope }}", vars, "t.j2:1:4: error: 'nope' is undefined");
        assert_fails("x\n{{ d.b }}", vars, "t.j2:2:6: error: 'dict object' has no attribute 'b'");
        assert_fails("{{ xs[3] }}", vars, "t.j2:1:6: error: 'list object' has no element 3");
        /* reported where the undefined value arose, not where it was used */
        assert_fails("{% set m = d.zz %}\n{{ m ~ 'x' }}", vars, "t.j2:1:14: error: 'dict object' has no attribute 'zz'");
        assert_fails("{% if nope %}{% endif %}", vars, "t.j2:1:7: error: 'nope' is undefined");
        assert_fails("{{ []|first ~ 'x' }}", vars, "t.j2:1:7: error: No first item, sequence was empty.");
        assert_renders("{{ nope|default('d') }} {{ nope is defined }} {{ d.b|d(1) }}", vars, "d False 1");
}

static void test_type_errors(void **state) {
        (void) state;
        assert_fails("{{ 'a' + 1 }}", NULL, "t.j2:1:8: error: unsupported operand type(s) for +: 'str' and 'int'");
        assert_fails("{{ 1 < 'a' }}", NULL, "t.j2:1:4: error: '<' not supported between instances of 'int' and 'str'");
        assert_fails("{{ 1 // 0 }}", NULL, "t.j2:1:6: error: integer division or modulo by zero");
        assert_fails("{{ 5|length }}", NULL, "t.j2:1:6: error: object of type 'int' has no len()");
        assert_fails("{% for x in 3 %}{% endfor %}", NULL, "t.j2:1:13: error: 'int' object is not iterable");
        assert_fails("{% for a, b in [[1]] %}{% endfor %}", NULL,
                     "t.j2:1:4: error: not enough values to unpack (expected 2, got 1)");
}

/* Where kiln deliberately differs from Jinja2 (docs/templates.md). */
static void test_deliberate_differences(void **state) {
        (void) state;
        assert_fails("{{ 9223372036854775807 + 1 }}", NULL,
                     "t.j2:1:24: error: integer overflow (kiln's integers are 64-bit)");
        assert_fails("{{ 1e308 * 10 }}", NULL, "t.j2:1:10: error: float result out of range (kiln has no inf/nan)");
        assert_fails("{{ '%s %s' % (1,) }}", NULL, "t.j2:1:12: error: not enough arguments for format string");
        assert_fails("{{ [1, nope] }}", NULL, "t.j2:1:8: error: 'nope' is undefined");
        assert_fails("{{ {'a': 1}.items }}", NULL,
                     "t.j2:1:13: error: 'items' is a method of 'dict'; kiln only allows calling it (items(...)), or use ['items']");
        assert_fails("{{ 'x'.zfill(3) }}", NULL, "t.j2:1:8: error: method 'zfill' of 'str' is not supported by kiln");
        assert_renders("{{ range(3) }} {{ [1, 2]|unique }}", NULL, "[0, 1, 2] [1, 2]");
}

static void test_filters_in_dead_if_branch(void **state) {
        (void) state;
        /* Jinja 3 resolves unknown filters inside if blocks only when they run */
        assert_renders("{% if false %}{{ x|nosuch }}{% endif %}ok", NULL, "ok");
        assert_fails("{% if true %}{{ 1|nosuch }}{% endif %}", NULL, "t.j2:1:19: error: no filter named 'nosuch'");
        assert_fails("{% for x in [] %}{{ x|nosuch }}{% endfor %}", NULL, "t.j2:1:23: error: no filter named 'nosuch'");
}

/* ------------------------------------------------------------------ limits */

static void test_output_limit(void **state) {
        (void) state;
        tmpl_options o = { .name = "big", .max_output = 1000 };
        _cleanup_free_ char *diag = NULL;
        _cleanup_free_ char *ok = render_opts("{% for i in range(99) %}0123456789{% endfor %}", NULL, &o, NULL);
        assert_non_null(ok);
        assert_int_equal(strlen(ok), 990);
        assert_null(render_opts("{% for i in range(101) %}0123456789{% endfor %}", NULL, &o, &diag));
        assert_string_equal(diag, "big:1:26: error: output exceeds the limit of 1000 bytes");
        free(diag);
        assert_null(render_opts("{{ 'x' * 2000 }}", NULL, &o, &diag));
        assert_string_equal(diag, "big:1:8: error: string value exceeds the output limit of 1000 bytes");
        free(diag);
        /* the default limit holds too, without allocating gigabytes first */
        assert_null(render("{{ 'x' * 1000000000 }}", NULL, &diag));
        assert_string_equal(diag, "t.j2:1:8: error: string value exceeds the output limit of 16777216 bytes");
}

static void test_work_limit(void **state) {
        (void) state;
        tmpl_options o = { .name = "w", .max_work = 10000 };
        _cleanup_free_ char *diag = NULL;
        _cleanup_free_ char *ok = render_opts("{% for i in range(100) %}{{ i }}{% endfor %}", NULL, &o, NULL);
        assert_non_null(ok);
        assert_null(render_opts("{% for i in range(100) %}{% for j in range(100) %}{{ j }}{% endfor %}{% endfor %}",
                                NULL, &o, &diag));
        assert_non_null(strstr(diag, "error: template exceeds its work limit (10000 units)"));
        free(diag);
        assert_null(render("{{ range(100000000)|length }}", NULL, &diag));
        assert_non_null(strstr(diag, "work limit"));
        free(diag);
        assert_null(render("{{ ([1] * 100000000)|length }}", NULL, &diag));
        assert_non_null(strstr(diag, "work limit"));
}

static void test_nesting_limit(void **state) {
        (void) state;
        _cleanup_free_ char *deep = malloc(2000), *diag = NULL;
        size_t n = 0;

        n += sprintf(deep + n, "{{ ");
        for (int i = 0; i < 110; i++)
                deep[n++] = '(';
        deep[n++] = '1';
        for (int i = 0; i < 110; i++)
                deep[n++] = ')';
        sprintf(deep + n, " }}");
        assert_null(render(deep, NULL, &diag));
        assert_non_null(strstr(diag, "template nested too deeply (more than 100 levels)"));
        free(diag);
        deep[3] = '[';
        memset(deep + 4, '(', 200);
        assert_null(render(deep, NULL, &diag));
        assert_string_equal(diag, "t.j2:1:132: error: brackets nested too deeply");
        free(diag);
        n = sprintf(deep, "{{ ");
        memset(deep + n, '-', 150);
        sprintf(deep + n + 150, "1 }}");
        assert_null(render(deep, NULL, &diag));
        assert_non_null(strstr(diag, "template nested too deeply"));
        free(diag);
        n = 0;
        for (int i = 0; i < 150; i++)
                n += sprintf(deep + n, "{%% if 1 %%}");
        assert_null(render(deep, NULL, &diag));
        assert_non_null(strstr(diag, "template nested too deeply"));
        assert_renders("{{ ((((((((((1)))))))))) }} {{ - - - 1 }} {{ not not 1 }}", NULL, "1 -1 True");
}

/* --------------------------------------------------------------- includes */

typedef struct incdir {
        char dir[64];
} incdir;

static void put_file(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = path_join(dir, name);
        write_opts o = WRITE_OPTS_DEFAULT;
        assert_int_equal(write_file_atomic(p, content, strlen(content), &o), 0);
}

static int setup_incdir(void **state) {
        incdir *t = calloc(1, sizeof *t);
        _cleanup_free_ char *sub = NULL, *part = NULL, *outside = NULL, *link1 = NULL, *link2 = NULL, *link3 = NULL;

        strcpy(t->dir, "/tmp/kiln-tmpl-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        sub = path_join(t->dir, "templates");
        assert_int_equal(mkdir_p(sub, 0755), 0);
        put_file(t->dir, "secret.txt", "SECRET");
        put_file(sub, "ok.j2", "[ok {{ v }}]");
        put_file(sub, "self.j2", "x{% include 'self.j2' %}");
        put_file(sub, "bad.j2", "line\n{{ 1 + }}");
        put_file(sub, "nl.j2", "[nl]\r\n");
        part = path_join(sub, "part");
        assert_int_equal(mkdir_p(part, 0755), 0);
        outside = path_join(t->dir, "secret.txt");
        link1 = path_join(sub, "escape.j2");
        assert_int_equal(symlink(outside, link1), 0);
        link2 = path_join(sub, "rel-escape.j2");
        assert_int_equal(symlink("../secret.txt", link2), 0);
        link3 = path_join(sub, "inside.j2");
        assert_int_equal(symlink("ok.j2", link3), 0);
        *state = t;
        return 0;
}

static int teardown_incdir(void **state) {
        incdir *t = *state;
        assert_int_equal(rm_rf(t->dir), 0);
        free(t);
        return 0;
}

static char *render_inc(incdir *t, const char *text, char **ret_diag) {
        _cleanup_free_ char *dir = path_join(t->dir, "templates");
        tmpl_options o = { .name = "main.j2", .include_dir = dir, .max_include_depth = 5 };
        return render_opts(text, "{\"v\": 1}", &o, ret_diag);
}

/* Without openat2() (kernels before 5.6, or under valgrind 3.19) the engine
 * walks the path itself and refuses every symlink. */
static bool have_openat2(void) {
        struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
        long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
        if (fd >= 0)
                close((int) fd);
        return fd >= 0 || errno != ENOSYS;
}

static void test_include_ok(void **state) {
        _cleanup_free_ char *a = render_inc(*state, "a{% include 'ok.j2' %}b", NULL);
        _cleanup_free_ char *b = render_inc(*state, "{% include './part/../ok.j2' ignore missing %}", NULL);
        _cleanup_free_ char *c = render_inc(*state, "{% include 'inside.j2' %}", NULL);
        _cleanup_free_ char *d = render_inc(*state, "{% include 'nope.j2' ignore missing %}-", NULL);
        _cleanup_free_ char *e = render_inc(*state, "{% include './/ok.j2' %}", NULL);
        assert_string_equal(a, "a[ok 1]b");
        assert_null(b); /* ".." is refused even when it would stay inside */
        if (have_openat2())
                assert_string_equal(c, "[ok 1]"); /* a symlink that stays inside is fine */
        else
                assert_null(c);
        assert_string_equal(d, "-");
        assert_string_equal(e, "[ok 1]");
}

/* Jinja's keep_trailing_newline=True: the one trailing newline of each
 * template (the included ones too) stays; with the default it goes. */
static void test_keep_trailing_newline(void **state) {
        _cleanup_free_ char *dir = path_join(((incdir *) *state)->dir, "templates");
        tmpl_options keep = { .name = "k.j2", .include_dir = dir, .keep_trailing_newline = true };
        tmpl_options drop = { .name = "k.j2", .include_dir = dir };
        _cleanup_free_ char *a = render_opts("x={{ v }}\n", "{\"v\": 1}", &keep, NULL);
        _cleanup_free_ char *b = render_opts("x\r\n\r\n", NULL, &keep, NULL);
        _cleanup_free_ char *c = render_opts("{% include 'nl.j2' %}|{% include 'nl.j2' %}\n", NULL, &keep, NULL);
        _cleanup_free_ char *d = render_opts("{% include 'nl.j2' %}|{% include 'nl.j2' %}\n", NULL, &drop, NULL);
        _cleanup_free_ char *e = render_opts("{{ v -}}\n", "{\"v\": 1}", &keep, NULL);
        _cleanup_free_ char *f = render_opts("", NULL, &keep, NULL);
        assert_string_equal(a, "x=1\n");
        assert_string_equal(b, "x\n\n");
        assert_string_equal(c, "[nl]\n|[nl]\n\n");
        assert_string_equal(d, "[nl]|[nl]");
        assert_string_equal(e, "1"); /* "-}}" strips it, as in Jinja */
        assert_string_equal(f, "");
}

static void test_include_confinement(void **state) {
        incdir *t = *state;
        char *diag = NULL;

        assert_null(render_inc(t, "{% include '../secret.txt' %}", &diag));
        assert_string_equal(diag, "main.j2:1:4: error: include name '../secret.txt' leaves the template directory ('..')");
        free(diag);
        assert_null(render_inc(t, "{% include '/etc/passwd' %}", &diag));
        assert_string_equal(diag,
                            "main.j2:1:4: error: include name '/etc/passwd' is absolute; names are relative to the template directory");
        free(diag);
        assert_null(render_inc(t, "{% include 'escape.j2' %}", &diag));
        assert_string_equal(diag, "main.j2:1:4: error: include 'escape.j2' resolves outside the template directory (symlink?)");
        free(diag);
        assert_null(render_inc(t, "{% include 'rel-escape.j2' %}", &diag));
        assert_non_null(strstr(diag, "resolves outside the template directory"));
        free(diag);
        assert_null(render_inc(t, "{% include 'part' %}", &diag));
        assert_string_equal(diag, "main.j2:1:4: error: include 'part' is not a regular file");
        free(diag);
        assert_null(render_inc(t, "{% include 'nope.j2' %}", &diag));
        assert_non_null(strstr(diag, "main.j2:1:4: error: template 'nope.j2' not found in /tmp/kiln-tmpl-"));
        free(diag);
}

static void test_include_depth_and_errors(void **state) {
        incdir *t = *state;
        char *diag = NULL;

        assert_null(render_inc(t, "{% include 'self.j2' %}", &diag));
        assert_string_equal(diag, "self.j2:1:5: error: include depth exceeds 5 (recursive include?)");
        free(diag);
        /* errors inside an included file name that file */
        assert_null(render_inc(t, "{% include 'bad.j2' %}", &diag));
        assert_string_equal(diag, "bad.j2:2:8: error: unexpected end of print statement");
        free(diag);
        /* no include directory: include is an error, not a read of the current directory */
        assert_fails("{% include 'ok.j2' %}", NULL,
                     "t.j2:1:4: error: {% include %} is not available: no template directory is configured");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_render_basics),
                cmocka_unit_test(test_parse_once_render_many),
                cmocka_unit_test(test_nul_bytes),
                cmocka_unit_test(test_vars_must_be_object),
                cmocka_unit_test(test_vars_not_modified),
                cmocka_unit_test(test_syntax_error_positions),
                cmocka_unit_test(test_columns_count_code_points),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_undefined_errors),
                cmocka_unit_test(test_type_errors),
                cmocka_unit_test(test_deliberate_differences),
                cmocka_unit_test(test_filters_in_dead_if_branch),
                cmocka_unit_test(test_output_limit),
                cmocka_unit_test(test_work_limit),
                cmocka_unit_test(test_nesting_limit),
                cmocka_unit_test_setup_teardown(test_include_ok, setup_incdir, teardown_incdir),
                cmocka_unit_test_setup_teardown(test_keep_trailing_newline, setup_incdir, teardown_incdir),
                cmocka_unit_test_setup_teardown(test_include_confinement, setup_incdir, teardown_incdir),
                cmocka_unit_test_setup_teardown(test_include_depth_and_errors, setup_incdir, teardown_incdir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
