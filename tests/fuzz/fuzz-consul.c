/* fuzz-consul.c — the consul key as user-data gives it, and the local agent's answers.
 *
 * Two inputs reach the consul modules from outside the image: the `consul`
 * config (user-data) and what the agent answers (a refusal's text, which
 * kiln reports).  Both are fuzzed from one input, told apart by its first
 * byte so the fuzzer can reach each directly:
 *
 *   'A' TOKEN '\n' BODY   consul_message_clean(BODY, TOKEN): the token never
 *                         survives, the line is bounded, without control
 *                         characters;
 *   anything else         the input as a cloud-config (YAML + the schema),
 *                         then everything the plans check and render: the
 *                         agent config, the service definitions, address,
 *                         timeouts, config dir, token, and each retry_join
 *                         entry and check duration on its own.  Invariants:
 *                         the rendered trees serialise, every definition has
 *                         an ID and a Name, diagnostics format, and no
 *                         secret value (the token, the gossip key, ACL
 *                         tokens, agent.extra) is ever quoted in a
 *                         diagnostic.
 */
#include <ctype.h>

#include "config.h"
#include "consul-api.h"
#include "consul.h"
#include "fuzz-common.h"
#include "json-util.h"
#include "modules.h"
#include "srcmap.h"

static json_t *idata;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        idata = json_pack("{s:{s:s, s:s, s:s, s:s}}", "v1", "region", "eu-west-1", "local_ipv4", "10.0.1.23",
                          "local_hostname", "ip-10-0-1-23.eu-west-1.compute.internal", "instance_id",
                          "i-0123456789abcdef0");
        if (!idata)
                abort();
        return 0;
}

/* ---- the agent's answers ---- */

static void answer(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = fuzz_strndup(data, size), *out = NULL;
        char *body = strchr(s, '\n');
        const char *token = s;

        if (!body)
                return;
        *body++ = 0;
        out = consul_message_clean(body, token);
        if (!out || strlen(out) > CONSUL_MESSAGE_MAX)
                abort();
        for (const char *c = out; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        abort();
        if (out[0] == ' ' || (out[0] && isspace((unsigned char) out[strlen(out) - 1])))
                abort();
        /* a token kiln accepts (one line: consul_token()) never survives, in whole or cut at the bound */
        bool one_line = true;
        for (const char *c = token; *c; c++)
                one_line = one_line && (unsigned char) *c >= ' ' && *c != 0x7f;
        if (one_line && !strchr(token, ' ') && !strchr(token, '*') && strlen(token) >= 4 && strstr(out, token))
                abort();
}

/* ---- the consul key ---- */

typedef struct secrets {
        json_t *secret;  /* string values at secret paths */
        json_t *plain;   /* every other string value and every key */
} secrets;

static void collect(json_t *v, const char *path, secrets *s, unsigned depth) {
        const char *key;
        json_t *child;
        size_t i;

        if (depth > 32)
                return;
        if (json_is_string(v)) {
                bool secret = schema_path_is_secret(modules_schema(), path);
                json_array_append_new(secret ? s->secret : s->plain, json_string(json_string_value(v)));
        } else if (json_is_object(v))
                json_object_foreach(v, key, child) {
                        _cleanup_free_ char *p = keypath_key(path, key);
                        json_array_append_new(s->plain, json_string(key));
                        if (p)
                                collect(child, p, s, depth + 1);
                }
        else if (json_is_array(v))
                json_array_foreach(v, i, child) {
                        _cleanup_free_ char *p = keypath_index(path, i);
                        if (p)
                                collect(child, p, s, depth + 1);
                }
}

/* A secret value counts when it is long, and nothing else in the document
 * or instance-data (which messages may quote) contains it. */
static bool quotable_elsewhere(const char *secret, json_t *plain) {
        json_t *v;
        size_t i;
        json_array_foreach(plain, i, v)
                if (strstr(json_string_value(v), secret))
                        return true;
        static const char *const known[] = { "eu-west-1", "10.0.1.23", "ip-10-0-1-23.eu-west-1.compute.internal",
                                             "i-0123456789abcdef0", "user-data", "http://127.0.0.1:8500",
                                             "/etc/consul.d", NULL };
        for (const char *const *k = known; *k; k++)
                if (strstr(*k, secret))
                        return true;
        return false;
}

static void check_no_secret_quoted(json_t *doc, const diags *d) {
        secrets s = { .secret = json_array(), .plain = json_array() };
        json_t *v;
        size_t i;

        if (!s.secret || !s.plain)
                abort();
        collect(doc, "", &s, 0);
        json_array_foreach(s.secret, i, v) {
                const char *secret = json_string_value(v);
                if (strlen(secret) < 8 || quotable_elsewhere(secret, s.plain))
                        continue;
                for (size_t k = 0; k < d->n; k++) {
                        _cleanup_free_ char *m = diag_format(&d->v[k]);
                        if (m && strstr(m, secret))
                                abort();
                }
        }
        json_decref(s.secret);
        json_decref(s.plain);
}

static void render(kiln_ctx *ctx) {
        _cleanup_json_ json_t *agent = NULL, *secret_keys = NULL, *services = NULL;
        _cleanup_free_ char *url = NULL;
        const char *dir = NULL, *token = NULL;
        usec_t t;
        json_t *def;
        size_t i;

        if (consul_agent_render(ctx, &agent, &secret_keys) >= 0) {
                fuzz_check_json(agent);
                fuzz_check_json(secret_keys);
        }
        if (consul_services_render(ctx, &services) >= 0) {
                fuzz_check_json(services);
                json_array_foreach(services, i, def)
                        if (!json_is_string(json_object_get(def, "ID")) || !json_is_string(json_object_get(def, "Name")))
                                abort();
        }
        (void) consul_base_url(ctx, &url);
        (void) consul_timeout(ctx, "register_timeout", CONSUL_REGISTER_TIMEOUT_DEFAULT_SEC, &t);
        (void) consul_timeout(ctx, "deregister_timeout", CONSUL_DEREGISTER_TIMEOUT_DEFAULT_SEC, &t);
        (void) consul_config_dir(ctx, &dir);
        (void) consul_token(ctx, &token);
}

/* Each retry_join entry and each check's durations, on their own. */
static void pieces(json_t *config) {
        json_t *v, *svc, *chk;
        size_t i, j;

        json_array_foreach(json_get_path(config, "consul.agent.retry_join"), i, v) {
                const char *why = NULL;
                _cleanup_free_ char *s = consul_retry_join_string(v, &why);
                if (!s && !why)
                        abort();
        }
        json_array_foreach(json_get_path(config, "consul.services"), i, svc)
                json_array_foreach(json_object_get(svc, "checks"), j, chk) {
                        const char *key;
                        json_t *d;
                        json_object_foreach(chk, key, d) {
                                uint64_t ns;
                                if (json_is_string(d))
                                        (void) consul_duration_parse(json_string_value(d), &ns);
                        }
                }
}

static void config(const uint8_t *data, size_t size) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;

        int r = config_parse_document((const char *) data, size, "user-data", &doc, &map, &d);
        if (r < 0) {
                fuzz_check_diags(&d);
                return;
        }
        kiln_ctx ctx = { .config = doc, .config_map = &map, .instance_data = idata, .diags = &d };
        render(&ctx);
        pieces(doc);
        fuzz_check_diags(&d);
        check_no_secret_quoted(doc, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 0 && data[0] == 'A')
                answer(data + 1, size - 1);
        else
                config(data, size);
        if (size <= 64) {
                _cleanup_free_ char *s = fuzz_strndup(data, size);
                uint64_t ns;
                (void) consul_duration_parse(s, &ns);
        }
        return 0;
}
