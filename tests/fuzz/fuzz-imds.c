/* fuzz-imds.c — what the instance metadata service answers, as kiln parses it.
 *
 * IMDS is AWS's, but what it serves is partly set by whoever can tag the
 * instance or name its resources, and an attacker on the path (or a fake
 * metadata endpoint on a misconfigured network) can serve anything.  The
 * pure parsing steps the EC2 datasource applies to answers are fuzzed here:
 *
 *   - the text check every value passes (UTF-8, no control characters);
 *   - listings (tags/instance, block-device-mapping/) → names, and each name
 *     escaped back into a path segment (must URL-decode to itself);
 *   - the identity document and the metadata tree → instance-data
 *     (instance_data_build: v1 keys, '-' → '_', public keys in every shape,
 *     tags, region from the zone) and its redacted copy;
 *   - the datasource.ec2 settings and endpoint URLs (image config, bounded
 *     the same way).
 *
 * Invariants: a listing holds only names that are safe path segments; an
 * escaped segment has only RFC 3986 pchars and %XX; instance-data and the
 * redacted copy serialise, and the copy holds no value of a sensitive key.
 */
#include <ctype.h>

#include "datasource.h"
#include "fuzz-common.h"
#include "imds.h"
#include "instance-data.h"
#include "json-util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        return 0;
}

static int unhex(char c) {
        return isdigit((unsigned char) c) ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The segment must URL-decode back to name. */
static void check_segment(const char *name) {
        _cleanup_free_ char *seg = imds_escape_segment(name);
        size_t i = 0;
        if (!seg)
                abort();
        for (const char *p = seg; *p; p++, i++) {
                if (*p == '/' || *p == '?' || *p == '#' || (unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
                        abort();
                int c = (unsigned char) *p;
                if (*p == '%') {
                        int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);
                        if (lo < 0)
                                abort();
                        c = hi << 4 | lo;
                        p += 2;
                }
                if ((unsigned char) name[i] != c)
                        abort();
        }
        if (name[i] != 0)
                abort();
}

static void listing(const char *text) {
        _cleanup_json_ json_t *names = NULL;
        json_t *n;
        size_t i;
        if (imds_parse_listing(text, &names) < 0)
                return;
        json_array_foreach(names, i, n) {
                const char *s = json_string_value(n);
                if (!s || !*s || strchr(s, '/') || streq(s, ".") || streq(s, "..") || strlen(s) > 255)
                        abort();
                check_segment(s);
        }
}

static void text(const uint8_t *data, size_t size) {
        size_t off = SIZE_MAX;
        if (imds_text_check((const char *) data, size, &off) < 0 && off >= size)
                abort();
}

/* Metadata as the datasource hands it over: the document's object doubles
 * as the meta-data tree (IMDS names) so every builder path sees it. */
static void instance_data(json_t *doc) {
        _cleanup_json_ json_t *idata = NULL, *pub = NULL;
        ds_result res = { .meta_data = doc, .description = (char *) "ec2 (fuzz)" };
        _cleanup_json_ json_t *dyn = json_pack("{s:{s:O}}", "instance-identity", "document", doc);

        res.dynamic = dyn;
        if (instance_data_build(&datasource_ec2, &res, "00000000-0000-0000-0000-000000000000", &idata) < 0)
                return;
        fuzz_check_json(idata);
        if (instance_data_redact(idata, &pub) < 0)
                abort();
        fuzz_check_json(pub);
        static const char *const sensitive[] = { "ds.meta_data.iam.security_credentials",
                                                 "ds.meta_data.identity_credentials", NULL };
        for (const char *const *p = sensitive; *p; p++) {
                json_t *v = json_get_path(pub, *p);
                if (v && !(json_is_string(v) && streq(json_string_value(v), REDACTED)))
                        abort();
        }
}

static void settings(json_t *doc) {
        _cleanup_(imds_config_clear) imds_config cfg = { 0 };
        if (imds_config_from_json(doc, &cfg) < 0)
                return;
        if (cfg.n_urls > IMDS_URLS_MAX || cfg.token_ttl < 1 || cfg.token_ttl > IMDS_TOKEN_TTL_MAX)
                abort();
}

static void url(const char *s) {
        _cleanup_free_ char *norm = NULL, *again = NULL;
        const char *why = NULL;
        if (imds_url_normalize(s, &norm, &why) < 0) {
                if (!why)
                        abort();
                return;
        }
        if (imds_url_normalize(norm, &again, &why) < 0 || !streq(norm, again))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = fuzz_strndup(data, size);
        text(data, size);
        listing(s);
        if (size <= 512) {
                check_segment(s);
                url(s);
        }
        _cleanup_json_ json_t *doc = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(doc)) {
                instance_data(doc);
                settings(doc);
        }
        return 0;
}
