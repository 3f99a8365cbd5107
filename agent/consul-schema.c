/* consul-schema.c — the `consul` key's schema and the few settings every
 * Consul module reads (address, timeouts, config dir).  See consul.h.
 *
 * The schema checks types and enums; consul-agent.c and consul-services.c
 * check what types can't say (an interval a check needs, a minimum, a
 * duplicate).  Secret keys are marked `secret`: the token, the gossip key,
 * ACL tokens and `agent.extra` (free-form, so it may hold anything). */
#include <stdio.h>

#include "consul.h"
#include "json-util.h"

static const char *const check_status_values[] = { "passing", "warning", "critical", NULL };
static const char *const aws_providers[] = { "aws", NULL };
static const char *const addr_types[] = { "private_v4", "public_v4", "public_v6", NULL };
static const char *const acl_policies[] = { "allow", "deny", NULL };
static const char *const acl_down_policies[] = { "allow", "deny", "extend-cache", "async-cache", NULL };
static const char *const on_change_values[] = { "restart", "reload", "none", NULL };

static const schema_key string_item = KEY(NULL, ST_STRING, NULL);
static const schema_key string_list = KEY_LIST(NULL, &string_item, NULL);

#define DURATION_TYPES (ST_STRING | ST_INTEGER)
#define SECRET(n, d) { .name = (n), .types = ST_STRING, .secret = true, .description = (d) }

static const schema_key check_props[] = {
        KEY("id", ST_STRING, "Check ID (default: Consul's service:<service id>, with :N when a service has several)."),
        KEY("name", ST_STRING, "Check name (default: Consul's \"Service '<name>' check\")."),
        KEY("http", ST_STRING,
            "HTTP check: a URL, or a path (\"/ready\") meaning http://<service address>:<port><path>."),
        KEY("tcp", ST_STRING, "TCP check: host:port to connect to."),
        KEY("ttl", DURATION_TYPES, "TTL check: the service must report within this duration (\"30s\")."),
        KEY("interval", DURATION_TYPES,
            "How often an http or tcp check runs (required for them): a Go duration (\"10s\") or seconds."),
        KEY("timeout", DURATION_TYPES, "Timeout of an http or tcp check (Consul's default 10s)."),
        KEY("deregister_critical_service_after", DURATION_TYPES,
            "Deregister the service after its check was critical this long (at least 1m)."),
        KEY("method", ST_STRING, "HTTP method of an http check (default GET)."),
        KEY_MAP("header", &string_list, "HTTP headers of an http check: name → list of values."),
        KEY("body", ST_STRING, "Body sent by an http check."),
        KEY("tls_skip_verify", ST_BOOLEAN, "Do not verify the certificate of an https check."),
        KEY_ENUM("status", check_status_values, "Initial status (Consul's default: critical)."),
        KEY("notes", ST_STRING, "Free text for humans."),
        KEY("success_before_passing", ST_INTEGER, "Consecutive successes before the check passes."),
        KEY("failures_before_critical", ST_INTEGER, "Consecutive failures before the check is critical."),
        {},
};

static const schema_key check_item = { .types = ST_OBJECT, .props = check_props };

static const schema_key service_props[] = {
        { .name = "name", .types = ST_STRING, .required = true, .description = "Service name." },
        KEY("id", ST_STRING, "Service ID, unique on the node (default: the name)."),
        KEY("port", ST_INTEGER, "Port the service listens on (1-65535)."),
        KEY("address", ST_STRING, "Address of the service (default: the instance's local-ipv4)."),
        KEY_LIST("tags", &string_item, "Tags."),
        KEY_MAP("meta", &string_item, "Metadata: name → string (names of letters, digits, '-' and '_')."),
        KEY("enable_tag_override", ST_BOOLEAN, "Let the catalog's tags override the agent's."),
        KEY_LIST("checks", &check_item, "Health checks: each one of http, tcp or ttl."),
        {},
};

static const schema_key service_item = { .types = ST_OBJECT, .props = service_props };

static const schema_key join_props[] = {
        { .name = "provider", .types = ST_STRING, .enum_values = aws_providers, .required = true,
          .description = "Cloud auto-join provider." },
        { .name = "tag_key", .types = ST_STRING, .required = true, .description = "EC2 tag name to look for." },
        { .name = "tag_value", .types = ST_STRING, .required = true, .description = "EC2 tag value to look for." },
        KEY("region", ST_STRING, "Region to search (default: the instance's own, found by Consul)."),
        KEY_ENUM("addr_type", addr_types, "Which address of the found instances to join (default private_v4)."),
        {},
};

static const schema_key join_item = {
        .types = ST_STRING | ST_OBJECT,
        .props = join_props,
        .description = "An address, a cloud auto-join string, or {provider: aws, tag_key, tag_value}.",
};

static const schema_key acl_token_props[] = {
        SECRET("agent", "Token the agent uses for its own operations."),
        SECRET("default", "Token for requests that carry none."),
        SECRET("initial_management", "Bootstrap management token (servers)."),
        SECRET("agent_recovery", "Token for agent operations when the servers are unreachable."),
        SECRET("replication", "Token for ACL replication between datacenters."),
        {},
};

static const schema_key acl_props[] = {
        KEY("enabled", ST_BOOLEAN, "Enable ACLs."),
        KEY_ENUM("default_policy", acl_policies, "Policy when no rule matches."),
        KEY_ENUM("down_policy", acl_down_policies, "Policy when the servers can't be reached."),
        KEY("enable_token_persistence", ST_BOOLEAN, "Persist tokens set through the API."),
        KEY_OBJ("tokens", acl_token_props, "ACL tokens (secret: the file becomes 0640 root:consul)."),
        {},
};

static const schema_key ui_props[] = {
        KEY("enabled", ST_BOOLEAN, "Serve the web UI."),
        {},
};

static const schema_key any_value = { .types = ST_ANY };

static const schema_key agent_props[] = {
        KEY("datacenter", ST_STRING, "Datacenter (default: the instance's region)."),
        KEY("node_name", ST_STRING, "Node name (default: the host name kiln gives the machine)."),
        KEY("data_dir", ST_STRING, "Where the agent keeps its state (default: left to the image's own config)."),
        KEY("bind_addr", ST_STRING, "Cluster address to bind (default: the instance's local-ipv4)."),
        KEY("advertise_addr", ST_STRING, "Address advertised to the cluster (default: the instance's local-ipv4)."),
        KEY("client_addr", ST_STRING, "Address of the HTTP/DNS interfaces (Consul's default 127.0.0.1)."),
        KEY("server", ST_BOOLEAN, "Run as a server."),
        KEY("bootstrap_expect", ST_INTEGER, "Servers to wait for before bootstrapping (needs server: true)."),
        SECRET("encrypt", "Gossip encryption key: base64 of 16 or 32 bytes (`consul keygen`)."),
        KEY_LIST("retry_join", &join_item,
                 "Addresses or cloud auto-join entries to join: a string as Consul takes it, or "
                 "{provider: aws, tag_key, tag_value, region, addr_type}."),
        KEY_OBJ("ui_config", ui_props, "Web UI settings."),
        KEY("log_level", ST_STRING, "Log level (trace, debug, info, warn, error)."),
        KEY_OBJ("acl", acl_props, "ACL settings."),
        { .name = "extra", .types = ST_OBJECT, .values = &any_value, .secret = true,
          .description = "More agent settings, merged over the rendered ones as given (not checked; "
                         "treated as secret, so the file becomes 0640)." },
        {},
};

static const schema_key consul_props[] = {
        KEY("address", ST_STRING, "The local agent's HTTP API (default http://127.0.0.1:8500; host:port means http)."),
        SECRET("token", "ACL token for registration and deregistration, sent as X-Consul-Token."),
        KEY("register_timeout", ST_NUMBER,
            "Seconds the final stage keeps retrying registration while the agent is not up (default 60)."),
        KEY("deregister_timeout", ST_NUMBER, "Seconds the shutdown stage may spend deregistering (default 10)."),
        KEY("config_dir", ST_STRING, "The agent's config directory (default /etc/consul.d)."),
        KEY("config_group", ST_STRING,
            "Group that may read an agent config file holding secrets (default consul; the file is 0640 root:GROUP)."),
        KEY_ENUM("on_agent_change", on_change_values,
                 "What a changed agent config does to a running consul.service (default restart; never starts it)."),
        KEY_OBJ("agent", agent_props, "The Consul agent's config, rendered to <config_dir>/" CONSUL_AGENT_FILE "."),
        KEY_LIST("services", &service_item, "Services registered with the local agent in the final stage."),
        {},
};

const schema_key consul_schema_keys[] = {
        KEY_OBJ("consul", consul_props, "Consul: agent config, service registration and deregistration."),
        {},
};

/* ---- settings ---- */

bool consul_chars_ok(const char *s, size_t max, const char *extra) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > max)
                return false;
        for (const char *c = s; *c; c++)
                if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') ||
                      strchr(extra, *c)))
                        return false;
        return true;
}

static bool url_tail_ok(const char *hostport) {
        const char *slash = strchr(hostport, '/');
        if (slash && !streq(slash, "/"))
                return false; /* a path would be prepended to every API path */
        if (!hostport[0] || hostport[0] == '/' || hostport[0] == ':')
                return false;
        for (const char *c = hostport; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == '?' || *c == '#' || *c == '@' || *c == 0x7f)
                        return false;
        return true;
}

int consul_base_url(kiln_ctx *ctx, char **ret) {
        const char *a = json_string_value(ctx_config_get(ctx, "consul.address")) ?: CONSUL_ADDRESS_DEFAULT;
        bool scheme = startswith(a, "http://") || startswith(a, "https://");
        const char *hostport = scheme ? strstr(a, "//") + 2 : a;
        char *url = NULL;

        if (!scheme && strstr(a, "://"))
                return ctx_input_error(ctx, "consul.address", "'%s': only http:// and https:// are supported", a);
        if (!url_tail_ok(hostport))
                return ctx_input_error(ctx, "consul.address",
                                       "'%s' is not an agent address (http://HOST:PORT or HOST:PORT)", a);
        if (asprintf(&url, "%s%s", scheme ? "" : "http://", a) < 0)
                return -ENOMEM;
        size_t n = strlen(url);
        if (url[n - 1] == '/')
                url[n - 1] = 0;
        *ret = url;
        return 0;
}

int consul_timeout(kiln_ctx *ctx, const char *key, unsigned def, usec_t *ret) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "consul.%s", key) < 0)
                return -ENOMEM;
        json_t *v = ctx_config_get(ctx, path);
        if (!v) {
                *ret = def * USEC_PER_SEC;
                return 0;
        }
        double s = json_number_value(v);
        if (!(s > 0 && s <= 24 * 3600))
                return ctx_input_error(ctx, path, "must be a number of seconds above 0 (at most a day)");
        *ret = (usec_t) (s * (double) USEC_PER_SEC);
        return 0;
}

int consul_token(kiln_ctx *ctx, const char **ret) {
        const char *t = json_string_value(ctx_config_get(ctx, "consul.token"));
        for (const char *c = t; c && *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        return ctx_input_error(ctx, "consul.token",
                                               "holds a control character (a line break?); an ACL token is one "
                                               "line of text (the value is not shown: it is secret)");
        *ret = isempty(t) ? NULL : t;
        return 0;
}

int consul_config_dir(kiln_ctx *ctx, const char **ret) {
        const char *d = json_string_value(ctx_config_get(ctx, "consul.config_dir")) ?: CONSUL_CONFIG_DIR_DEFAULT;
        if (!path_is_safe_absolute(d) || streq(d, "/"))
                return ctx_input_error(ctx, "consul.config_dir", "'%s' is not a safe absolute directory path", d);
        *ret = d;
        return 0;
}
