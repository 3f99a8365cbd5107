/* fuzz-userdata.c — user-data bytes as EC2 or a seed directory hands them over.
 *
 * Covers every decoding layer the agent peels off user-data (base64, gzip,
 * MIME multipart, nested in any order, with their bounds), the first-line
 * classifier, and the step after decoding that still reads untrusted text:
 * userdata_process() turns parts into the cloud-config layer (YAML, schema,
 * merge policies from X-Merge-Type headers and merge_how keys, script names,
 * jinja syntax — without instance-data, as `kiln validate` does).  The raw
 * decoders are also called directly, so the fuzzer does not need to find
 * the detection heuristics' way in before it can reach them.
 *
 * Invariants checked: on success every part has a canonical type, a body of
 * exactly len bytes that is NUL-terminated, without NUL and valid UTF-8, and
 * the sum of bodies is within the limit; on failure there is an error
 * diagnostic and the out-parameter is untouched.
 */
#include "base64.h"
#include "fuzz-common.h"
#include "gzip.h"
#include "userdata-decode.h"
#include "userdata.h"
#include "util.h"

/* Smaller than the agent's defaults so a run explores the limits quickly. */
static const ud_limits limits = { .max_decoded = 256U * 1024U, .max_parts = 20, .max_depth = 6 };

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        return 0;
}

static void check_parts(const ud_parts *p) {
        size_t total = 0;
        for (size_t i = 0; i < p->n; i++) {
                const ud_part *part = &p->v[i];
                if (!part->content_type || !part->origin || !part->data || part->data[part->len] != 0)
                        abort();
                if (strlen(part->data) != part->len || utf8_first_invalid(part->data, part->len) != part->len)
                        abort();
                if (!streq(part->content_type, UD_TYPE_CLOUD_CONFIG) &&
                    !streq(part->content_type, UD_TYPE_SHELLSCRIPT) && !streq(part->content_type, UD_TYPE_JINJA2))
                        abort();
                total += part->len;
        }
        if (total > limits.max_decoded || p->n > limits.max_parts)
                abort();
}

static void decode(const uint8_t *data, size_t size) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        ud_parts parts = { .n = 4242 };
        int r = userdata_decode(data, size, "user-data", &limits, &parts, &d);
        fuzz_check_diags(&d);
        if (r < 0) {
                if (parts.n != 4242 || parts.v || !diags_has_errors(&d))
                        abort();
                return;
        }
        check_parts(&parts);
        for (size_t i = 0; i < parts.n; i++)
                (void) userdata_classify(parts.v[i].data, parts.v[i].len);
        ud_parts_free(&parts);
}

static void process(const uint8_t *data, size_t size) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *config = NULL, *scripts = NULL;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        int r = userdata_process((const char *) data, size, NULL, &config, &map, &scripts, &d);
        fuzz_check_diags(&d);
        if (r >= 0) {
                fuzz_check_json(config);
                fuzz_check_json(scripts);
        }
}

/* base64 decoding round-trips through the encoder. */
static void base64_roundtrip(const uint8_t *data, size_t size) {
        _cleanup_free_ void *b = NULL, *again = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n, n2;

        (void) base64_looks_like((const char *) data, size);
        if (base64_decode((const char *) data, size, &b, &n) < 0)
                return;
        if (((char *) b)[n] != 0 || base64_encode(b, n, &text) < 0 ||
            base64_decode(text, strlen(text), &again, &n2) < 0 || n2 != n || memcmp(b, again, n) != 0)
                abort();
}

static void raw_decoders(const uint8_t *data, size_t size) {
        _cleanup_free_ void *g = NULL;
        gzip_error err = { 0 };
        size_t n;

        (void) userdata_classify((const char *) data, size);
        base64_roundtrip(data, size);
        if (gzip_decompress_full(data, size, 64U * 1024U, &g, &n, &err) >= 0 && (n > 64U * 1024U || ((char *) g)[n]))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        decode(data, size);
        process(data, size);
        raw_decoders(data, size);
        return 0;
}
