/* fuzz-schema.c — the schema check every config and user-data document passes.
 *
 * Two ways in, so the fuzzer can shape trees quickly and still reach the
 * positioned path: the input as YAML through config_parse_document() (what a
 * cloud-config part and kiln.yaml go through: YAML, then schema_validate()
 * against the whole module table with the positions of the srcmap), and the
 * input as JSON validated without positions (diagnostics then name the key
 * path).  Every key path of a tree is also asked schema_path_is_secret(), the
 * redaction check, which walks the schema with the same descent.
 *
 * Invariants: an accepted document has no error diagnostics; a refused one
 * has at least one and leaves *ret alone; every diagnostic formats.
 */
#include "config.h"
#include "fuzz-common.h"
#include "modules.h"
#include "schema.h"
#include "srcmap.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        return 0;
}

/* schema_path_is_secret() on every path of the tree (bounded). */
static void walk_secret(json_t *v, const char *path, unsigned depth, size_t *budget) {
        const char *key;
        json_t *child;
        size_t i;

        if (depth > 16 || *budget == 0)
                return;
        (*budget)--;
        (void) schema_path_is_secret(modules_schema(), path);
        if (json_is_object(v))
                json_object_foreach(v, key, child) {
                        _cleanup_free_ char *p = keypath_key(path, key);
                        if (p)
                                walk_secret(child, p, depth + 1, budget);
                }
        else if (json_is_array(v))
                json_array_foreach(v, i, child) {
                        _cleanup_free_ char *p = keypath_index(path, i);
                        if (p)
                                walk_secret(child, p, depth + 1, budget);
                }
}

static void as_yaml(const uint8_t *data, size_t size) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        json_t *doc = (json_t *) &doc;
        int r = config_parse_document((const char *) data, size, "user-data", &doc, &map, &d);

        fuzz_check_diags(&d);
        if (r < 0) {
                if (doc != (json_t *) &doc || !diags_has_errors(&d))
                        abort();
                return;
        }
        if (diags_has_errors(&d) || !json_is_object(doc))
                abort();
        size_t budget = 2000;
        walk_secret(doc, "", 0, &budget);
        json_decref(doc);
}

static void as_json(const uint8_t *data, size_t size) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *doc = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(doc))
                return;
        int r = schema_validate(modules_schema(), doc, NULL, "user-data.json", &d);
        fuzz_check_diags(&d);
        if ((r < 0) != diags_has_errors(&d))
                abort();
        size_t budget = 2000;
        walk_secret(doc, "", 0, &budget);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        as_yaml(data, size);
        as_json(data, size);
        return 0;
}
