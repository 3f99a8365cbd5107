/* fuzz-common.h — what every kiln libFuzzer target shares.
 *
 * Targets call the same functions the agent calls on untrusted bytes and
 * then walk the whole result (formatting every diagnostic, serialising every
 * tree), so a bad length or a dangling pointer in a result is touched and
 * caught by ASan, not only a crash inside the parser.  Logging is switched
 * off: libFuzzer's own output is what a run is read by, and formatting is
 * exercised through diag_format() instead.  A target never writes files and
 * never touches the network.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "log.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fuzz_quiet(void) {
        log_set_max_level(-1);
}

/* Formats every diagnostic; each must name a file or a key, and errors must
 * say something. */
static inline void fuzz_check_diags(const diags *d) {
        size_t errors = 0;
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *m = diag_format(&d->v[i]);
                if (!m || !d->v[i].message)
                        abort();
                if (d->v[i].level == DIAG_ERROR)
                        errors++;
        }
        if (errors != d->n_errors)
                abort();
}

/* Serialises v and checks the result parses back: every string kiln puts
 * into a tree must be valid UTF-8 without NUL (a NUL would cut the value
 * short wherever it is used as a C string: a path, a command). */
static inline void fuzz_check_json(const json_t *v) {
        if (!v)
                return;
        _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_SORT_KEYS);
        if (!s)
                abort();
        json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
        if (!back)
                abort();
        json_decref(back);
}

/* The input as a NUL-terminated string (inputs may hold NULs; callers that
 * need C strings see the prefix up to the first one). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}
