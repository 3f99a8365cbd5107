/* fuzz-yaml.c — YAML → JSON with positions (cloud-config parts, kiln.yaml, seed meta-data).
 *
 * yaml_to_json() is the one YAML reader of the agent; it must turn any byte
 * string into either a tree or positioned errors, with its alias-expansion
 * (max_nodes) and depth bounds holding.  Small limits here make the fuzzer
 * reach them.  Also fuzzes the plain-scalar resolver on its own (it is
 * PyYAML's SafeLoader resolution: ints in any base, sexagesimal, floats) and
 * looks up every recorded position, so a path in the srcmap that points at
 * freed text would show.
 *
 * Invariants: success gives a tree that serialises, no error diagnostics and
 * a position for the root's every top-level key; failure gives at least one
 * error diagnostic and leaves *ret alone.
 */
#include "fuzz-common.h"
#include "srcmap.h"
#include "yaml-json.h"

static const yaml_limits limits = { .max_nodes = 5000, .max_depth = 32 };

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        return 0;
}

static void check_positions(json_t *doc, const srcmap *map) {
        const char *key;
        json_t *v;
        srcpos pos;

        if (!json_is_object(doc))
                return;
        json_object_foreach(doc, key, v) {
                _cleanup_free_ char *path = keypath_key("", key);
                if (!path)
                        abort();
                if (!srcmap_get(map, path, &pos) || !pos.file || pos.line == 0)
                        abort();
                (void) srcmap_get_key(map, path, &pos);
        }
}

static void parse(const uint8_t *data, size_t size) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        json_t *doc = (json_t *) &doc; /* sentinel: must be left alone on failure */
        int r = yaml_to_json((const char *) data, size, "fuzz.yaml", &limits, &doc, &map, &d);

        fuzz_check_diags(&d);
        if (r < 0) {
                if (doc != (json_t *) &doc || !diags_has_errors(&d))
                        abort();
                return;
        }
        if (diags_has_errors(&d))
                abort();
        fuzz_check_json(doc);
        check_positions(doc, &map);
        json_decref(doc);
}

static void resolve(const uint8_t *data, size_t size) {
        json_t *v = NULL;
        if (size > 256 || memchr(data, 0, size))
                return; /* the parser refuses NUL before resolving (scalar_node) */
        if (yaml_resolve_plain((const char *) data, size, &v) >= 0) {
                fuzz_check_json(v);
                json_decref(v);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        parse(data, size);
        resolve(data, size);
        return 0;
}
