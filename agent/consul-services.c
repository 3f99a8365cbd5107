/* consul-services.c — consul.services → agent API definitions (see consul.h).
 *
 * The API is sent CamelCase keys (ID, Name, Checks[].HTTP,
 * DeregisterCriticalServiceAfter…): the agent's HTTP decoder only maps a
 * few snake_case aliases and silently ignores the rest, so a snake_case
 * body could lose a check without an error.  The ID is always sent, so the
 * service kiln deregisters later is exactly the one it registered.
 *
 * Durations are sent as Go duration strings: a bare number in a JSON body
 * would be read as nanoseconds, so an integer in user-data (seconds, the
 * natural reading of `interval: 10`) becomes "10s".  Every rule the agent
 * enforces with a 400 is checked here first, with the key's position. */
#include <stdio.h>

#include "consul.h"
#include "json-util.h"

#define IDENT_MAX 128
#define META_MAX_PAIRS 64
#define META_KEY_MAX 128
#define META_VALUE_MAX 512

typedef struct svc_state {
        kiln_ctx *ctx;
        json_t *ids;       /* service IDs seen: id → path */
        json_t *check_ids; /* check IDs seen: id → path */
        const char *local_ip;
} svc_state;

/* ---- durations ---- */

typedef struct duration_unit {
        const char *name;
        uint64_t ns;
} duration_unit;

static const duration_unit units[] = {
        { "ns", 1 }, { "us", 1000 }, { "\u00b5s", 1000 }, { "\u03bcs", 1000 }, { "ms", 1000000 },
        { "s", 1000000000ULL }, { "m", 60000000000ULL }, { "h", 3600000000000ULL },
};

static const duration_unit *match_unit(const char **p) {
        const duration_unit *best = NULL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (startswith(*p, units[i].name) && (!best || strlen(units[i].name) > strlen(best->name)))
                        best = &units[i];
        if (best)
                *p += strlen(best->name);
        return best;
}

/* A decimal number "12", "1.5", ".5"; at least one digit. */
static int parse_number(const char **p, long double *ret) {
        long double v = 0, scale = 1;
        bool digits = false, dot = false;
        const char *s = *p;

        for (; ('0' <= *s && *s <= '9') || (*s == '.' && !dot); s++) {
                if (*s == '.') {
                        dot = true;
                        continue;
                }
                digits = true;
                if (dot)
                        v += (scale /= 10) * (*s - '0');
                else
                        v = v * 10 + (*s - '0');
        }
        if (!digits)
                return -EINVAL;
        *p = s;
        *ret = v;
        return 0;
}

int consul_duration_parse(const char *s, uint64_t *ret_ns) {
        long double total = 0;

        if (isempty(s))
                return -EINVAL;
        if (streq(s, "0")) {
                *ret_ns = 0;
                return 0;
        }
        for (const char *p = s; *p;) {
                long double v;
                if (parse_number(&p, &v) < 0)
                        return -EINVAL;
                const duration_unit *u = match_unit(&p);
                if (!u)
                        return -EINVAL;
                total += v * (long double) u->ns;
        }
        if (total > (long double) INT64_MAX)
                return -ERANGE;
        *ret_ns = (uint64_t) total;
        return 0;
}

/* A duration key as a Go string, its value in *ret_ns; NULL (reported) when bad. */
static json_t *duration_value(svc_state *s, const char *path, json_t *v, uint64_t *ret_ns) {
        if (json_is_integer(v)) {
                json_int_t secs = json_integer_value(v);
                if (secs <= 0 || secs > INT64_MAX / 1000000000LL) {
                        ctx_input_error(s->ctx, path, "must be a positive number of seconds");
                        return NULL;
                }
                *ret_ns = (uint64_t) secs * 1000000000ULL;
                return json_sprintf("%llds", (long long) secs);
        }
        const char *text = json_string_value(v);
        int r = consul_duration_parse(text, ret_ns);
        if (r < 0 || *ret_ns == 0) {
                ctx_input_error(s->ctx, path, "'%s' is not a duration above 0 (e.g. \"10s\", \"1m30s\", \"500ms\")",
                                text);
                return NULL;
        }
        return json_string(text);
}

/* ---- small checks ---- */

static bool ident_ok(const char *s) {
        return consul_chars_ok(s, IDENT_MAX, "-_.:");
}

static bool meta_key_ok(const char *s) {
        return consul_chars_ok(s, META_KEY_MAX, "-_") && !startswith(s, "consul-");
}

static bool port_ok(json_t *port) {
        return json_integer_value(port) >= 1 && json_integer_value(port) <= 65535;
}

/* "host:port" with a port 1-65535 ("[::1]:80" for IPv6). */
static bool host_port_ok(const char *s) {
        const char *colon = strrchr(s, ':');
        char *end;
        if (!colon || colon == s)
                return false;
        long port = strtol(colon + 1, &end, 10);
        return colon[1] && !*end && port >= 1 && port <= 65535 && !strpbrk(s, " \t/");
}

static char *join_path(const char *parent, const char *key) {
        char *p = NULL;
        return asprintf(&p, "%s.%s", parent, key) < 0 ? NULL : p;
}

/* Records id under set; an input error when a previous entry has it. */
static int claim_id(svc_state *s, json_t *set, const char *id, const char *path, const char *what) {
        const char *first = json_string_value(json_object_get(set, id));
        if (first)
                return ctx_input_error(s->ctx, path, "%s '%s' is already used by %s", what, id, first);
        return json_object_set_new(set, id, json_string(path)) < 0 ? -ENOMEM : 0;
}

/* ---- checks ---- */

static const char *check_kind(json_t *chk, int *ret_count) {
        static const char *const kinds[] = { "http", "tcp", "ttl" };
        const char *kind = NULL;
        int n = 0;
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (json_object_get(chk, kinds[i])) {
                        kind = kinds[i];
                        n++;
                }
        *ret_count = n;
        return kind;
}

/* http: a URL, or a path on the service's own address and port. */
static json_t *http_target(svc_state *s, const char *path, const char *v, const char *addr, json_t *port) {
        if (startswith(v, "http://") || startswith(v, "https://"))
                return json_string(v);
        if (v[0] != '/') {
                ctx_input_error(s->ctx, path, "'%s' is neither an http(s) URL nor a path starting with '/'", v);
                return NULL;
        }
        if (!port_ok(port)) {
                ctx_input_error(s->ctx, path, "a path ('%s') needs the service's port to make the URL", v);
                return NULL;
        }
        bool v6 = strchr(addr, ':');
        return json_sprintf("http://%s%s%s:%lld%s", v6 ? "[" : "", addr, v6 ? "]" : "", json_integer_value(port), v);
}

typedef struct check_ctx {
        svc_state *s;
        const char *path;   /* consul.services[i].checks[j] */
        json_t *in;
        json_t *out;
        int r;
} check_ctx;

/* Keeps the first error, except that running out of memory wins. */
static int worst(int r, int k) {
        return k == -ENOMEM || (r >= 0 && k < 0) ? k : r;
}

static void check_fail(check_ctx *c, int r) {
        c->r = worst(c->r, r);
}

/* Copies key (a duration) to out[api] as a Go string; returns its ns (0 when absent). */
static uint64_t copy_duration(check_ctx *c, const char *key, const char *api) {
        json_t *v = json_object_get(c->in, key);
        _cleanup_free_ char *p = NULL;
        uint64_t ns = 0;
        if (!v)
                return 0;
        if (!(p = join_path(c->path, key))) {
                check_fail(c, -ENOMEM);
                return 0;
        }
        json_t *d = duration_value(c->s, p, v, &ns);
        if (!d) {
                check_fail(c, -EINVAL);
                return 0;
        }
        if (json_object_set_new(c->out, api, d) < 0)
                check_fail(c, -ENOMEM);
        return ns;
}

static void copy_plain(check_ctx *c, const char *key, const char *api) {
        json_t *v = json_object_get(c->in, key);
        if (v && json_object_set(c->out, api, v) < 0)
                check_fail(c, -ENOMEM);
}

static void key_error(check_ctx *c, const char *key, const char *format, const char *arg) {
        _cleanup_free_ char *p = join_path(c->path, key);
        check_fail(c, p ? ctx_input_error(c->s->ctx, p, format, arg) : -ENOMEM);
}

static void check_durations(check_ctx *c, const char *kind) {
        bool probe = !streq(kind, "ttl");
        copy_duration(c, "interval", "Interval");
        copy_duration(c, "timeout", "Timeout");
        copy_duration(c, "ttl", "TTL");
        uint64_t dereg = copy_duration(c, "deregister_critical_service_after", "DeregisterCriticalServiceAfter");

        if (probe && !json_object_get(c->in, "interval"))
                key_error(c, kind, "an %s check needs an interval (e.g. interval: 10s)", kind);
        if (!probe && json_object_get(c->in, "interval"))
                key_error(c, "interval", "a %s check has no interval: the service reports within the ttl", kind);
        if (!probe && json_object_get(c->in, "timeout"))
                key_error(c, "timeout", "a %s check has no timeout: it is for http and tcp checks", kind);
        if (json_object_get(c->in, "deregister_critical_service_after") && dereg > 0 &&
            dereg < CONSUL_DEREGISTER_MIN_NS)
                key_error(c, "deregister_critical_service_after", "%s", "must be at least 1m (Consul's minimum)");
}

static void check_http_only(check_ctx *c, const char *kind) {
        static const char *const keys[] = { "method", "header", "body", "tls_skip_verify" };
        if (streq(kind, "http"))
                return;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (json_object_get(c->in, keys[i]))
                        key_error(c, keys[i], "is for http checks only, not %s", kind);
}

static void check_target(check_ctx *c, const char *kind, const char *addr, json_t *port) {
        const char *v = json_string_value(json_object_get(c->in, kind));
        _cleanup_free_ char *p = join_path(c->path, kind);
        if (!p)
                return check_fail(c, -ENOMEM);
        if (streq(kind, "ttl"))
                return;
        if (streq(kind, "tcp")) {
                if (!host_port_ok(v))
                        return check_fail(c, ctx_input_error(c->s->ctx, p, "'%s' is not host:port", v));
                copy_plain(c, "tcp", "TCP");
                return;
        }
        json_t *url = http_target(c->s, p, v, addr, port);
        if (!url)
                return check_fail(c, -EINVAL);
        if (json_object_set_new(c->out, "HTTP", url) < 0)
                check_fail(c, -ENOMEM);
}

static void check_counts(check_ctx *c) {
        static const char *const keys[] = { "success_before_passing", "failures_before_critical" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_t *v = json_object_get(c->in, keys[i]);
                if (v && json_integer_value(v) < 0)
                        key_error(c, keys[i], "%s", "must be 0 or more");
        }
}

static void check_id(check_ctx *c, const char *service_id, size_t index, size_t n_checks) {
        const char *given = json_get_string(c->in, "id", NULL);
        _cleanup_free_ char *id = NULL, *p = NULL;

        if (given && !ident_ok(given))
                return key_error(c, "id", "'%s': a check ID is letters, digits, '-', '_', '.' and ':' only", given);
        if (given && (!(p = join_path(c->path, "id")) ||
                      json_object_set(c->out, "CheckID", json_object_get(c->in, "id")) < 0))
                return check_fail(c, -ENOMEM);
        if (!given && (n_checks > 1 ? asprintf(&id, "service:%s:%zu", service_id, index + 1)
                                    : asprintf(&id, "service:%s", service_id)) < 0)
                return check_fail(c, -ENOMEM);
        check_fail(c, claim_id(c->s, c->s->check_ids, given ?: id, given ? p : c->path, "check ID"));
}

static int render_check(svc_state *s, const char *path, json_t *in, const char *service_id, size_t index,
                        size_t n_checks, const char *addr, json_t *port, json_t **ret) {
        _cleanup_json_ json_t *out = json_object();
        check_ctx c = { .s = s, .path = path, .in = in, .out = out };
        int n;
        const char *kind = check_kind(in, &n);

        if (!out)
                return -ENOMEM;
        if (n != 1)
                return ctx_input_error(s->ctx, path, "a check is exactly one of http, tcp or ttl (this one has %d)", n);
        check_id(&c, service_id, index, n_checks);
        check_target(&c, kind, addr, port);
        check_durations(&c, kind);
        check_http_only(&c, kind);
        check_counts(&c);
        copy_plain(&c, "name", "Name");
        copy_plain(&c, "method", "Method");
        copy_plain(&c, "header", "Header");
        copy_plain(&c, "body", "Body");
        copy_plain(&c, "tls_skip_verify", "TLSSkipVerify");
        copy_plain(&c, "status", "Status");
        copy_plain(&c, "notes", "Notes");
        copy_plain(&c, "success_before_passing", "SuccessBeforePassing");
        copy_plain(&c, "failures_before_critical", "FailuresBeforeCritical");
        if (c.r < 0)
                return c.r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int render_checks(svc_state *s, const char *path, json_t *svc, const char *id, const char *addr,
                         json_t *out) {
        json_t *list = json_object_get(svc, "checks"), *chk, *rendered;
        size_t i, n = json_array_size(list);
        int r = 0;

        if (n == 0)
                return 0;
        if (!(rendered = json_array()) || json_object_set_new(out, "Checks", rendered) < 0)
                return -ENOMEM;
        json_array_foreach(list, i, chk) {
                _cleanup_free_ char *p = NULL;
                json_t *c = NULL;
                if (asprintf(&p, "%s.checks[%zu]", path, i) < 0)
                        return -ENOMEM;
                int k = render_check(s, p, chk, id, i, n, addr, json_object_get(svc, "port"), &c);
                if (k >= 0 && json_array_append_new(rendered, c) < 0)
                        k = -ENOMEM;
                r = worst(r, k);
                if (r == -ENOMEM)
                        return r;
        }
        return r;
}

/* ---- services ---- */

static int check_meta(svc_state *s, const char *path, json_t *meta) {
        const char *k;
        json_t *v;
        int r = 0;

        if (json_object_size(meta) > META_MAX_PAIRS)
                return ctx_input_error(s->ctx, path, "has more than %d entries (Consul's limit)", META_MAX_PAIRS);
        json_object_foreach(meta, k, v) {
                _cleanup_free_ char *p = join_path(path, k);
                if (!p)
                        return -ENOMEM;
                if (!meta_key_ok(k))
                        r = ctx_input_error(s->ctx, p, "'%s': a meta name is 1-%d letters, digits, '-' and '_', "
                                            "not starting with 'consul-'", k, META_KEY_MAX);
                else if (strlen(json_string_value(v)) > META_VALUE_MAX)
                        r = ctx_input_error(s->ctx, p, "is longer than %d characters (Consul's limit)", META_VALUE_MAX);
        }
        return r;
}

static int service_identity(svc_state *s, const char *path, json_t *svc, json_t *out, const char **ret_id) {
        const char *name = json_get_string(svc, "name", ""), *id = json_get_string(svc, "id", NULL);
        _cleanup_free_ char *np = join_path(path, "name"), *ip = join_path(path, "id");
        int r = 0;

        if (!np || !ip)
                return -ENOMEM;
        if (!ident_ok(name))
                r = ctx_input_error(s->ctx, np, "'%s': a service name is 1-%d letters, digits, '-', '_', '.' and ':'",
                                    name, IDENT_MAX);
        if (id && !ident_ok(id))
                r = ctx_input_error(s->ctx, ip, "'%s': a service ID is 1-%d letters, digits, '-', '_', '.' and ':'",
                                    id, IDENT_MAX);
        if (r < 0)
                return r;
        r = claim_id(s, s->ids, id ?: name, id ? ip : np, "service ID");
        if (r < 0)
                return r;
        if (json_object_set_new(out, "ID", json_string(id ?: name)) < 0 ||
            json_object_set_new(out, "Name", json_string(name)) < 0)
                return -ENOMEM;
        *ret_id = json_string_value(json_object_get(out, "ID"));
        return 0;
}

static int service_address(svc_state *s, const char *path, json_t *svc, json_t *out, const char **ret) {
        const char *addr = json_get_string(svc, "address", NULL);
        _cleanup_free_ char *p = join_path(path, "address");

        if (!p)
                return -ENOMEM;
        if (addr && (isempty(addr) || streq(addr, "0.0.0.0") || streq(addr, "::") || streq(addr, "[::]")))
                return ctx_input_error(s->ctx, p, "'%s' is not an address others can reach", addr);
        addr = addr ?: s->local_ip;
        if (addr && json_object_set_new(out, "Address", json_string(addr)) < 0)
                return -ENOMEM;
        *ret = addr ?: "127.0.0.1";
        return 0;
}

static int render_service(svc_state *s, size_t index, json_t *svc, json_t **ret) {
        _cleanup_json_ json_t *out = json_object();
        _cleanup_free_ char *path = NULL;
        const char *id = NULL, *addr = NULL;
        json_t *port = json_object_get(svc, "port");
        int r, k;

        if (!out || asprintf(&path, "consul.services[%zu]", index) < 0)
                return -ENOMEM;
        r = service_identity(s, path, svc, out, &id);
        r = worst(r, service_address(s, path, svc, out, &addr));
        if (port && !port_ok(port)) {
                _cleanup_free_ char *p = join_path(path, "port");
                k = p ? ctx_input_error(s->ctx, p, "%lld is not a port (1-65535)", json_integer_value(port)) : -ENOMEM;
                r = worst(r, k);
        }
        if (json_object_get(svc, "meta")) {
                _cleanup_free_ char *p = join_path(path, "meta");
                r = worst(r, p ? check_meta(s, p, json_object_get(svc, "meta")) : -ENOMEM);
        }
        if (id && addr)
                r = worst(r, render_checks(s, path, svc, id, addr, out));
        if (r < 0)
                return r;
        if ((port && json_object_set(out, "Port", port) < 0) ||
            (json_object_get(svc, "tags") && json_object_set(out, "Tags", json_object_get(svc, "tags")) < 0) ||
            (json_object_get(svc, "meta") && json_object_set(out, "Meta", json_object_get(svc, "meta")) < 0) ||
            (json_object_get(svc, "enable_tag_override") &&
             json_object_set(out, "EnableTagOverride", json_object_get(svc, "enable_tag_override")) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

int consul_services_render(kiln_ctx *ctx, json_t **ret) {
        _cleanup_json_ json_t *list = json_array(), *ids = json_object(), *check_ids = json_object();
        svc_state s = { .ctx = ctx, .ids = ids, .check_ids = check_ids,
                        .local_ip = json_string_value(json_get_path(ctx->instance_data, "v1.local_ipv4")) };
        json_t *svc;
        size_t i;
        int r = 0;

        if (!list || !ids || !check_ids)
                return -ENOMEM;
        json_array_foreach(ctx_config_get(ctx, "consul.services"), i, svc) {
                json_t *out = NULL;
                int k = render_service(&s, i, svc, &out);
                if (k >= 0 && json_array_append_new(list, out) < 0)
                        k = -ENOMEM;
                r = worst(r, k);
                if (r == -ENOMEM)
                        return r;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(list);
        return 0;
}
