/* fuzz-template.c — template source → parse → render.
 *
 * Templates come from user-data (jinja parts, `templates:` sources) and from
 * the image; the engine must refuse anything it can't render with a
 * positioned error, and its output, work and include bounds must hold for
 * any source.  Each input is parsed once and rendered twice against a fixed
 * variable tree (every JSON type, nesting, Unicode, the shapes instance-data
 * has), which also checks rendering is deterministic and leaves the parsed
 * tree and the variables unchanged.  {% include %} resolves in
 * tests/fuzz/include/ (a plain file, a loop, a file including itself), so
 * the directory confinement and depth limit are fuzzed too.
 *
 * Limits are smaller than the agent's so inputs that hit them stay fast.
 */
#include "fuzz-common.h"
#include "template.h"

#define MAX_OUTPUT (256U * 1024U)
#define MAX_WORK 200000U

static const char vars_json[] =
        "{\"name\": \"web-1\", \"port\": 8080, \"ratio\": 0.25, \"enabled\": true, \"nothing\": null,"
        " \"tags\": [\"a\", \"b\", \"c\"], \"meta\": {\"zone\": \"eu-west-1a\", \"count\": 3}, \"empty\": [],"
        " \"blank\": \"\", \"x\": 3, \"xs\": [3, 1, 2], \"d\": {\"k\": \"v\"}, \"s\": \"abc\", \"n\": 5, \"f\": 1.5,"
        " \"big\": 9223372036854775807, \"neg\": -9223372036854775807, \"uni\": \"\\u00e9\\u00df\\u0130\\ud83d\\ude00\","
        " \"v1\": {\"instance_id\": \"i-0123456789abcdef0\", \"region\": \"eu-west-1\","
        "          \"public_ssh_keys\": [\"ssh-ed25519 AAAA test\"]},"
        " \"nested\": {\"a\": {\"b\": {\"c\": [1, [2, [3, {\"d\": 4}]]]}}}}";

static json_t *vars;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        vars = json_loads(vars_json, 0, NULL);
        if (!vars)
                abort();
        return 0;
}

static int render(const tmpl *t, char **ret, size_t *ret_len) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        char *out = (char *) &out;
        size_t len = 4242;
        int r = tmpl_render(t, vars, &out, &len, &d);
        fuzz_check_diags(&d);
        if (r < 0) {
                if (out != (char *) &out || len != 4242 || !diags_has_errors(&d))
                        abort();
                return r;
        }
        if (len > MAX_OUTPUT || out[len] != 0)
                abort();
        *ret = out;
        *ret_len = len;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_tmpl_ tmpl *t = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        tmpl_options o = { .name = "fuzz.j2", .include_dir = KILN_FUZZ_INCLUDE_DIR, .max_include_depth = 4,
                           .max_output = MAX_OUTPUT, .max_work = MAX_WORK };
        size_t la, lb;

        int r = tmpl_parse((const char *) data, size, &o, &t, &d);
        fuzz_check_diags(&d);
        if (r < 0) {
                if (t || !diags_has_errors(&d))
                        abort();
                return 0;
        }
        int ra = render(t, &a, &la), rb = render(t, &b, &lb);
        if (ra != rb || (ra >= 0 && (la != lb || memcmp(a, b, la) != 0)))
                abort();
        return 0;
}
