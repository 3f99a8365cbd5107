/* consul-agent.c — consul.agent → the agent's config JSON (see consul.h).
 *
 * Consul's own key names (snake_case) are written as the user gave them;
 * only the defaults come from instance-data, and only keys the user left
 * out get one.  The node name default is the name kiln gives the machine,
 * derived exactly as the hostname module does (agent/hostnames.h), so the
 * Consul node and the host agree; with preserve_hostname there is no
 * default and Consul takes the OS host name itself.
 *
 * Validated here (Consul refuses to start otherwise, which on a baked image
 * means an unreachable node): datacenter characters, bootstrap_expect
 * without server, an encrypt key that is not base64 of 16 or 32 bytes, an
 * auto-join entry go-discover could not read. */
#include <stdio.h>

#include "base64.h"
#include "consul.h"
#include "hostnames.h"
#include "json-util.h"
#include "log.h"

#define DATACENTER_MAX 255

/* ---- retry_join ---- */

static bool has_control(const char *s) {
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        return true;
        return false;
}

/* go-discover splits on spaces and '='; a value holding either, a quote or
 * a backslash must be double-quoted with '"' and '\\' escaped. */
static void append_pair(FILE *f, bool first, const char *key, const char *value) {
        fprintf(f, "%s%s=", first ? "" : " ", key);
        if (!strpbrk(value, " =\"\\")) {
                fputs(value, f);
                return;
        }
        fputc('"', f);
        for (const char *c = value; *c; c++) {
                if (*c == '"' || *c == '\\')
                        fputc('\\', f);
                fputc(*c, f);
        }
        fputc('"', f);
}

char *consul_retry_join_string(json_t *entry, const char **ret_why) {
        static const char *const keys[] = { "provider", "tag_key", "tag_value", "region", "addr_type" };
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (json_is_string(entry)) {
                const char *s = json_string_value(entry);
                if (isempty(s) || has_control(s)) {
                        *ret_why = "is empty or has control characters";
                        return NULL;
                }
                return strdup(s);
        }
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *v = json_get_string(entry, keys[i], NULL);
                if (i < 3 && !v) {
                        *ret_why = "needs provider, tag_key and tag_value";
                        return NULL;
                }
                if (v && !*v) {
                        *ret_why = i < 3 ? "needs non-empty provider, tag_key and tag_value" : "has an empty value";
                        return NULL;
                }
                if (v && has_control(v)) {
                        *ret_why = "has a value with control characters";
                        return NULL;
                }
        }
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *v = json_get_string(entry, keys[i], NULL);
                if (v)
                        append_pair(f, i == 0, keys[i], v);
        }
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(buf);
}

static int render_retry_join(kiln_ctx *ctx, json_t *list, json_t *out) {
        json_t *entry, *rendered = json_array();
        size_t i;
        int r = 0;

        if (!rendered || json_object_set_new(out, "retry_join", rendered) < 0)
                return -ENOMEM;
        json_array_foreach(list, i, entry) {
                const char *why = NULL;
                _cleanup_free_ char *path = NULL, *s = consul_retry_join_string(entry, &why);
                if (!s && !why)
                        return -ENOMEM;
                if (!s) {
                        if (asprintf(&path, "consul.agent.retry_join[%zu]", i) < 0)
                                return -ENOMEM;
                        r = ctx_input_error(ctx, path, "%s", why);
                        continue;
                }
                if (json_array_append_new(rendered, json_string(s)) < 0)
                        return -ENOMEM;
        }
        return r;
}

/* ---- checks of single values ---- */

static bool node_name_ok(const char *s) {
        if (isempty(s) || strlen(s) > 255)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 0x7f)
                        return false;
        return true;
}

/* The gossip key: base64 of 16 or 32 bytes.  The message never shows it. */
static int check_encrypt(kiln_ctx *ctx, json_t *agent) {
        const char *key = json_get_string(agent, "encrypt", NULL);
        _cleanup_free_ void *raw = NULL;
        size_t n = 0;

        if (!key)
                return 0;
        if (base64_decode(key, strlen(key), &raw, &n) < 0 || (n != 16 && n != 32))
                return ctx_input_error(ctx, "consul.agent.encrypt",
                                       "is not a gossip key: it must be the base64 of 16 or 32 bytes "
                                       "(`consul keygen` makes one); the value is secret and not shown");
        return 0;
}

static int check_agent(kiln_ctx *ctx, json_t *agent) {
        const char *dc = json_get_string(agent, "datacenter", NULL), *node = json_get_string(agent, "node_name", NULL);
        json_t *expect = json_object_get(agent, "bootstrap_expect");
        int r = check_encrypt(ctx, agent);

        if (dc && !consul_chars_ok(dc, DATACENTER_MAX, "-_"))
                r = ctx_input_error(ctx, "consul.agent.datacenter",
                                    "'%s': a datacenter is letters, digits, '-' and '_' only", dc);
        if (node && !node_name_ok(node))
                r = ctx_input_error(ctx, "consul.agent.node_name", "'%s' is not a node name (no blanks)", node);
        if (expect && json_integer_value(expect) < 1)
                r = ctx_input_error(ctx, "consul.agent.bootstrap_expect", "must be 1 or more");
        if (expect && !json_is_true(json_object_get(agent, "server")))
                r = ctx_input_error(ctx, "consul.agent.bootstrap_expect",
                                    "only a server bootstraps: set consul.agent.server: true");
        return r;
}

/* ---- defaults ---- */

/* The name the hostname module gives the machine, or NULL (no default). */
static char *default_node_name(kiln_ctx *ctx) {
        _cleanup_hostname_names_ hostname_names n = {};
        bool prefer_fqdn = json_is_true(ctx_config_get(ctx, "prefer_fqdn_over_hostname"));

        if (json_is_true(ctx_config_get(ctx, "preserve_hostname")))
                return NULL;
        if (hostname_derive(json_string_value(ctx_config_get(ctx, "hostname")),
                            json_string_value(ctx_config_get(ctx, "fqdn")),
                            json_string_value(json_get_path(ctx->instance_data, "v1.local_hostname")), &n) < 0)
                return NULL;
        const char *name = prefer_fqdn ? n.fqdn : n.hostname;
        if (hostname_check(name, HOSTNAME_KERNEL_MAX)) {
                log_info("The host name '%s' is not valid; Consul will pick the node name itself.", name);
                return NULL;
        }
        return strdup(name);
}

static int set_default(json_t *out, const char *key, const char *value) {
        if (!value || json_object_get(out, key))
                return 0;
        return json_object_set_new(out, key, json_string(value));
}

static int add_defaults(kiln_ctx *ctx, json_t *out) {
        _cleanup_free_ char *node = default_node_name(ctx);
        const char *ip = json_string_value(json_get_path(ctx->instance_data, "v1.local_ipv4"));
        int r = set_default(out, "datacenter", json_string_value(json_get_path(ctx->instance_data, "v1.region")));

        if (r >= 0)
                r = set_default(out, "node_name", node);
        if (r >= 0)
                r = set_default(out, "bind_addr", ip);
        if (r >= 0)
                r = set_default(out, "advertise_addr", ip);
        return r < 0 ? -ENOMEM : 0;
}

static int collect_secrets(json_t *agent, json_t **ret) {
        static const char *const paths[] = {
                "encrypt", "acl.tokens.agent", "acl.tokens.default", "acl.tokens.initial_management",
                "acl.tokens.agent_recovery", "acl.tokens.replication", "extra",
        };
        json_t *list = json_array();
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (json_get_path(agent, paths[i]) && json_array_append_new(list, json_string(paths[i])) < 0) {
                        json_decref(list);
                        return -ENOMEM;
                }
        *ret = list;
        return 0;
}

int consul_agent_render(kiln_ctx *ctx, json_t **ret_config, json_t **ret_secrets) {
        json_t *agent = ctx_config_get(ctx, "consul.agent");
        _cleanup_json_ json_t *out = NULL, *secrets = NULL;
        int r;

        if (!json_is_object(agent))
                return -ENODATA;
        out = json_deep_copy(agent);
        if (!out)
                return -ENOMEM;
        json_object_del(out, "extra");
        json_object_del(out, "retry_join");
        r = check_agent(ctx, agent);
        json_t *join = json_object_get(agent, "retry_join");
        if (join) {
                int k = render_retry_join(ctx, join, out);
                if (k == -ENOMEM)
                        return k;
                r = k < 0 ? k : r;
        }
        if (r < 0)
                return r;
        if (add_defaults(ctx, out) < 0 || collect_secrets(agent, &secrets) < 0)
                return -ENOMEM;
        json_t *extra = json_object_get(agent, "extra");
        if (extra && json_object_update_recursive(out, extra) < 0)
                return -ENOMEM;
        *ret_config = TAKE_PTR(out);
        *ret_secrets = TAKE_PTR(secrets);
        return 0;
}
