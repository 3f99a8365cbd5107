/* Unit tests for the Consul rendering (agent/consul*.c): the agent config
 * with its instance-data defaults and secrets, cloud auto-join strings, the
 * CamelCase service definitions, every check kiln makes before Consul would
 * answer 400 (with the file:line:col of the key at fault), durations and
 * the agent address.  Config comes from YAML through the real parser, so
 * the schema and the positions are the ones a run uses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "config.h"
#include "consul-api.h"
#include "consul.h"
#include "json-util.h"

typedef struct fixture {
        json_t *config;
        json_t *idata;
        srcmap map;
        diags d;
        kiln_ctx ctx;
        char *diag_text;
} fixture;

static json_t *instance_data(void) {
        return json_pack("{s:{s:s, s:s, s:s}}", "v1", "region", "eu-west-1", "local_ipv4", "10.0.1.23",
                         "local_hostname", "ip-10-0-1-23.eu-west-1.compute.internal");
}

/* Parses yaml (schema errors fail the test) into f->ctx. */
static void load(fixture *f, const char *yaml) {
        *f = (fixture){ .d = DIAGS_INIT, .map = SRCMAP_INIT };
        int r = config_parse_document(yaml, strlen(yaml), "user-data", &f->config, &f->map, &f->d);
        if (r < 0)
                diags_print(&f->d, stderr);
        assert_int_equal(r, 0);
        f->idata = instance_data();
        f->ctx = (kiln_ctx){ .config = f->config, .config_map = &f->map, .instance_data = f->idata, .diags = &f->d };
}

static void unload(fixture *f) {
        json_decref(f->config);
        json_decref(f->idata);
        srcmap_clear(&f->map);
        diags_clear(&f->d);
        free(f->diag_text);
}

/* Every diagnostic, one a line. */
static const char *diag_text(fixture *f) {
        size_t len = 0;
        FILE *m = open_memstream(&f->diag_text, &len);
        assert_non_null(m);
        diags_print(&f->d, m);
        fclose(m);
        return f->diag_text;
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!strstr(haystack, needle)) {
                fprintf(stderr, "expected to find:\n  %s\nin:\n%s\n", needle, haystack);
                fail();
        }
}

static void assert_json_equal(json_t *got, const char *want_json) {
        json_error_t e;
        _cleanup_json_ json_t *want = json_loads(want_json, 0, &e);
        assert_non_null(want);
        if (!json_equal(got, want)) {
                _cleanup_free_ char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
                fprintf(stderr, "got:  %s\nwant: %s\n", g, w);
                fail();
        }
}

/* ---- agent config ---- */

static void test_agent_defaults(void **state) {
        (void) state;
        fixture f;
        _cleanup_json_ json_t *cfg = NULL, *secrets = NULL;

        load(&f, "consul:\n  agent: {}\n");
        assert_int_equal(consul_agent_render(&f.ctx, &cfg, &secrets), 0);
        assert_json_equal(cfg, "{\"datacenter\": \"eu-west-1\", \"node_name\": \"ip-10-0-1-23\", "
                               "\"bind_addr\": \"10.0.1.23\", \"advertise_addr\": \"10.0.1.23\"}");
        assert_int_equal(json_array_size(secrets), 0);
        unload(&f);
}

static void test_agent_node_name_follows_hostname(void **state) {
        (void) state;
        fixture f;
        _cleanup_json_ json_t *a = NULL, *b = NULL, *c = NULL, *s = NULL;

        load(&f, "hostname: cortex-7\nconsul:\n  agent: {}\n");
        assert_int_equal(consul_agent_render(&f.ctx, &a, &s), 0);
        assert_string_equal(json_get_string(a, "node_name", ""), "cortex-7");
        json_decref(s);
        unload(&f);

        load(&f, "prefer_fqdn_over_hostname: true\nconsul:\n  agent: {}\n");
        assert_int_equal(consul_agent_render(&f.ctx, &b, &s), 0);
        assert_string_equal(json_get_string(b, "node_name", ""), "ip-10-0-1-23.eu-west-1.compute.internal");
        json_decref(s);
        unload(&f);

        /* preserve_hostname: the OS name is Consul's own default */
        load(&f, "preserve_hostname: true\nconsul:\n  agent: {}\n");
        assert_int_equal(consul_agent_render(&f.ctx, &c, &s), 0);
        assert_null(json_object_get(c, "node_name"));
        unload(&f);
}

static void test_agent_server(void **state) {
        (void) state;
        fixture f;
        _cleanup_json_ json_t *cfg = NULL, *secrets = NULL;

        load(&f, "consul:\n"
                 "  agent:\n"
                 "    datacenter: metrics-eu\n"
                 "    node_name: consul-1\n"
                 "    bind_addr: 0.0.0.0\n"
                 "    data_dir: /var/lib/consul\n"
                 "    server: true\n"
                 "    bootstrap_expect: 3\n"
                 "    encrypt: pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\n"
                 "    ui_config: {enabled: true}\n"
                 "    acl: {enabled: true, default_policy: deny, tokens: {agent: a-secret-token}}\n"
                 "    retry_join:\n"
                 "      - provider: aws\n"
                 "        tag_key: consul-cluster\n"
                 "        tag_value: metrics-eu\n"
                 "        region: eu-west-1\n"
                 "        addr_type: private_v4\n"
                 "      - provider=aws tag_key=role tag_value=consul\n"
                 "      - 10.0.0.10\n"
                 "    extra: {ports: {grpc: 8502}, ui_config: {content_path: /ui/}}\n");
        assert_int_equal(consul_agent_render(&f.ctx, &cfg, &secrets), 0);
        assert_json_equal(cfg, "{\"datacenter\": \"metrics-eu\", \"node_name\": \"consul-1\", "
                               "\"bind_addr\": \"0.0.0.0\", \"advertise_addr\": \"10.0.1.23\", "
                               "\"data_dir\": \"/var/lib/consul\", \"server\": true, \"bootstrap_expect\": 3, "
                               "\"encrypt\": \"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\", "
                               "\"ui_config\": {\"enabled\": true, \"content_path\": \"/ui/\"}, "
                               "\"acl\": {\"enabled\": true, \"default_policy\": \"deny\", "
                               "\"tokens\": {\"agent\": \"a-secret-token\"}}, \"ports\": {\"grpc\": 8502}, "
                               "\"retry_join\": [\"provider=aws tag_key=consul-cluster tag_value=metrics-eu "
                               "region=eu-west-1 addr_type=private_v4\", "
                               "\"provider=aws tag_key=role tag_value=consul\", \"10.0.0.10\"]}");
        assert_json_equal(secrets, "[\"encrypt\", \"acl.tokens.agent\", \"extra\"]");
        assert_int_equal(f.d.n, 0);
        unload(&f);
}

static void test_agent_absent(void **state) {
        (void) state;
        fixture f;
        json_t *cfg = NULL, *secrets = NULL;

        load(&f, "consul:\n  token: x\n");
        assert_int_equal(consul_agent_render(&f.ctx, &cfg, &secrets), -ENODATA);
        assert_null(cfg);
        unload(&f);
}

static void test_agent_errors(void **state) {
        (void) state;
        fixture f;
        json_t *cfg = NULL, *secrets = NULL;

        load(&f, "consul:\n"
                 "  agent:\n"
                 "    datacenter: eu west\n"
                 "    bootstrap_expect: 3\n"
                 "    encrypt: c2hvcnQta2V5\n"
                 "    retry_join:\n"
                 "      - {provider: aws, tag_key: Role, tag_value: ''}\n"
                 "      - \"\"\n");
        assert_int_equal(consul_agent_render(&f.ctx, &cfg, &secrets), -EINVAL);
        assert_null(cfg);
        const char *t = diag_text(&f);
        assert_contains(t, "user-data:3:17: error: consul.agent.datacenter: 'eu west': a datacenter is letters");
        assert_contains(t, "user-data:4:23: error: consul.agent.bootstrap_expect: only a server bootstraps");
        assert_contains(t, "user-data:5:14: error: consul.agent.encrypt: is not a gossip key");
        assert_contains(t, "user-data:7:9: error: consul.agent.retry_join[0]: needs non-empty provider, tag_key");
        assert_contains(t, "user-data:8:9: error: consul.agent.retry_join[1]: is empty");
        /* a secret value is never quoted */
        assert_null(strstr(t, "c2hvcnQta2V5"));
        unload(&f);
}

static void test_retry_join_strings(void **state) {
        (void) state;
        const char *why = NULL;
        struct {
                const char *json, *want;
        } ok[] = {
                { "{\"provider\": \"aws\", \"tag_key\": \"k\", \"tag_value\": \"v\"}", "provider=aws tag_key=k tag_value=v" },
                { "{\"provider\": \"aws\", \"tag_key\": \"Name\", \"tag_value\": \"consul server\", \"addr_type\": "
                  "\"public_v4\"}",
                  "provider=aws tag_key=Name tag_value=\"consul server\" addr_type=public_v4" },
                { "{\"provider\": \"aws\", \"tag_key\": \"a=b\", \"tag_value\": \"say \\\"hi\\\" \\\\ bye\"}",
                  "provider=aws tag_key=\"a=b\" tag_value=\"say \\\"hi\\\" \\\\ bye\"" },
                { "\"10.0.0.1\"", "10.0.0.1" },
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_json_ json_t *v = json_loads(ok[i].json, JSON_DECODE_ANY, NULL);
                _cleanup_free_ char *s = consul_retry_join_string(v, &why);
                assert_non_null(s);
                assert_string_equal(s, ok[i].want);
        }
        const char *bad[] = {
                "{\"provider\": \"aws\", \"tag_key\": \"k\"}",
                "{\"provider\": \"aws\", \"tag_key\": \"\", \"tag_value\": \"v\"}",
                "{\"provider\": \"aws\", \"tag_key\": \"k\", \"tag_value\": \"v\", \"region\": \"\"}",
                "{\"provider\": \"aws\", \"tag_key\": \"k\", \"tag_value\": \"line\\nbreak\"}",
                "\"\"",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_json_ json_t *v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
                why = NULL;
                assert_null(consul_retry_join_string(v, &why));
                assert_non_null(why);
        }
}

/* ---- services ---- */

static void test_services_render(void **state) {
        (void) state;
        fixture f;
        _cleanup_json_ json_t *defs = NULL;

        load(&f, "consul:\n"
                 "  services:\n"
                 "    - name: cortex\n"
                 "      port: 9009\n"
                 "      tags: [cortex, ring]\n"
                 "      meta: {role: ingester, zone_id: euw1-az1}\n"
                 "      checks:\n"
                 "        - http: /ready\n"
                 "          interval: 10s\n"
                 "          timeout: 2s\n"
                 "          deregister_critical_service_after: 10m\n"
                 "          method: GET\n"
                 "          header: {X-Probe: [kiln]}\n"
                 "          tls_skip_verify: false\n"
                 "        - ttl: 30s\n"
                 "          id: cortex-ttl\n"
                 "          name: cortex heartbeat\n"
                 "          status: passing\n"
                 "    - name: node-exporter\n"
                 "      id: node-exporter-1\n"
                 "      port: 9100\n"
                 "      address: 127.0.0.1\n"
                 "      enable_tag_override: true\n"
                 "      checks:\n"
                 "        - tcp: 127.0.0.1:9100\n"
                 "          interval: 15\n"
                 "          success_before_passing: 2\n"
                 "          failures_before_critical: 3\n"
                 "    - name: bare\n");
        assert_int_equal(consul_services_render(&f.ctx, &defs), 0);
        assert_json_equal(defs,
                "[{\"ID\": \"cortex\", \"Name\": \"cortex\", \"Address\": \"10.0.1.23\", \"Port\": 9009, "
                "  \"Tags\": [\"cortex\", \"ring\"], \"Meta\": {\"role\": \"ingester\", \"zone_id\": \"euw1-az1\"}, "
                "  \"Checks\": [{\"HTTP\": \"http://10.0.1.23:9009/ready\", \"Interval\": \"10s\", \"Timeout\": \"2s\", "
                "                \"DeregisterCriticalServiceAfter\": \"10m\", \"Method\": \"GET\", "
                "                \"Header\": {\"X-Probe\": [\"kiln\"]}, \"TLSSkipVerify\": false}, "
                "               {\"TTL\": \"30s\", \"CheckID\": \"cortex-ttl\", \"Name\": \"cortex heartbeat\", "
                "                \"Status\": \"passing\"}]}, "
                " {\"ID\": \"node-exporter-1\", \"Name\": \"node-exporter\", \"Address\": \"127.0.0.1\", \"Port\": 9100, "
                "  \"EnableTagOverride\": true, "
                "  \"Checks\": [{\"TCP\": \"127.0.0.1:9100\", \"Interval\": \"15s\", \"SuccessBeforePassing\": 2, "
                "                \"FailuresBeforeCritical\": 3}]}, "
                " {\"ID\": \"bare\", \"Name\": \"bare\", \"Address\": \"10.0.1.23\"}]");
        assert_int_equal(f.d.n, 0);
        unload(&f);
}

static void test_services_http_path_ipv6(void **state) {
        (void) state;
        fixture f;
        _cleanup_json_ json_t *defs = NULL;

        load(&f, "consul:\n  services:\n    - {name: web, port: 80, address: 'fd00::5', checks: [{http: /h, interval: 5s}]}\n");
        assert_int_equal(consul_services_render(&f.ctx, &defs), 0);
        assert_string_equal(json_string_value(json_get_path(defs, "[0].Checks[0].HTTP")), "http://[fd00::5]:80/h");
        unload(&f);
}

static void test_services_none(void **state) {
        (void) state;
        fixture f;
        _cleanup_json_ json_t *defs = NULL;

        load(&f, "consul:\n  agent: {}\n");
        assert_int_equal(consul_services_render(&f.ctx, &defs), 0);
        assert_int_equal(json_array_size(defs), 0);
        unload(&f);
}

static void test_services_errors(void **state) {
        (void) state;
        fixture f;
        json_t *defs = NULL;

        load(&f, "consul:\n"
                 "  services:\n"
                 "    - name: cortex\n"                              /* 3 */
                 "      port: 70000\n"                               /* 4 */
                 "      meta: {consul-x: a, ok: b}\n"                /* 5 */
                 "      checks:\n"
                 "        - http: http://localhost:9009/ready\n"     /* 7: no interval */
                 "        - tcp: localhost\n"                        /* 8: not host:port */
                 "          interval: 10s\n"
                 "        - ttl: 30s\n"                              /* 10 */
                 "          interval: 10s\n"                         /* 11: interval with ttl */
                 "        - http: http://x/\n"                       /* 12 */
                 "          interval: 10s\n"
                 "          deregister_critical_service_after: 30s\n" /* 14: below 1m */
                 "        - {http: /x, tcp: 'a:1', interval: 5s}\n"   /* 15: two kinds */
                 "        - {ttl: 10 seconds}\n"                     /* 16: bad duration */
                 "        - {tcp: 'a:1', interval: 0}\n"             /* 17: zero */
                 "        - {ttl: 5s, method: POST}\n"               /* 18: http-only key */
                 "    - name: cortex\n"                              /* 19: duplicate ID */
                 "    - name: web/1\n"                               /* 20: bad name */
                 "      address: 0.0.0.0\n"                          /* 21 */
                 "    - name: api\n"
                 "      checks: [{http: /health, interval: 5s}]\n"   /* 23: path without a port */
                 "    - name: dup\n"
                 "      checks: [{id: c1, ttl: 5s}, {id: c1, ttl: 5s}]\n");  /* 25: duplicate check ID */
        assert_int_equal(consul_services_render(&f.ctx, &defs), -EINVAL);
        assert_null(defs);
        const char *t = diag_text(&f);
        assert_contains(t, "user-data:4:13: error: consul.services[0].port: 70000 is not a port");
        assert_contains(t, "consul.services[0].meta.consul-x: 'consul-x': a meta name is");
        assert_contains(t, "user-data:7:17: error: consul.services[0].checks[0].http: an http check needs an interval");
        assert_contains(t, "user-data:8:16: error: consul.services[0].checks[1].tcp: 'localhost' is not host:port");
        assert_contains(t, "user-data:11:21: error: consul.services[0].checks[2].interval: a ttl check has no interval");
        assert_contains(t, "user-data:14:46: error: consul.services[0].checks[3].deregister_critical_service_after: "
                           "must be at least 1m");
        assert_contains(t, "consul.services[0].checks[4]: a check is exactly one of http, tcp or ttl (this one has 2)");
        assert_contains(t, "consul.services[0].checks[5].ttl: '10 seconds' is not a duration above 0");
        assert_contains(t, "consul.services[0].checks[6].interval: must be a positive number of seconds");
        assert_contains(t, "consul.services[0].checks[7].method: is for http checks only, not ttl");
        assert_contains(t, "user-data:19:13: error: consul.services[1].name: service ID 'cortex' is already used by "
                           "consul.services[0].name");
        assert_contains(t, "consul.services[2].name: 'web/1': a service name is");
        assert_contains(t, "user-data:21:16: error: consul.services[2].address: '0.0.0.0' is not an address");
        assert_contains(t, "consul.services[3].checks[0].http: a path ('/health') needs the service's port");
        assert_contains(t, "consul.services[4].checks[1].id: check ID 'c1' is already used by "
                           "consul.services[4].checks[0].id");
        unload(&f);
}

/* ---- durations, address, timeouts ---- */

static void test_duration(void **state) {
        (void) state;
        struct {
                const char *s;
                uint64_t ns;
        } ok[] = {
                { "0", 0 },          { "10s", 10000000000ULL },   { "1m30s", 90000000000ULL },
                { "500ms", 500000000ULL }, { "1.5h", 5400000000000ULL }, { "2us", 2000 }, { "3\u00b5s", 3000 },
                { "7ns", 7 },        { ".5s", 500000000ULL },     { "1h1m1s", 3661000000000ULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                uint64_t ns = 42;
                assert_int_equal(consul_duration_parse(ok[i].s, &ns), 0);
                assert_true(ns == ok[i].ns);
        }
        const char *bad[] = { "", "10", "s", "10x", "-5s", "+5s", "1.s.", "10 s", "1d", "." };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint64_t ns = 42;
                assert_int_equal(consul_duration_parse(bad[i], &ns), -EINVAL);
                assert_true(ns == 42);
        }
        uint64_t ns;
        assert_int_equal(consul_duration_parse("9999999999h", &ns), -ERANGE);
}

static void check_url(const char *yaml, const char *want) {
        fixture f;
        _cleanup_free_ char *url = NULL;
        load(&f, yaml);
        if (want) {
                assert_int_equal(consul_base_url(&f.ctx, &url), 0);
                assert_string_equal(url, want);
        } else {
                assert_int_equal(consul_base_url(&f.ctx, &url), -EINVAL);
                assert_contains(diag_text(&f), "consul.address");
        }
        unload(&f);
}

static void test_address(void **state) {
        (void) state;
        check_url("consul: {}\n", "http://127.0.0.1:8500");
        check_url("consul: {address: 'http://127.0.0.1:8500/'}\n", "http://127.0.0.1:8500");
        check_url("consul: {address: '127.0.0.1:18500'}\n", "http://127.0.0.1:18500");
        check_url("consul: {address: 'https://consul.local:8501'}\n", "https://consul.local:8501");
        check_url("consul: {address: '[::1]:8500'}\n", "http://[::1]:8500");
        check_url("consul: {address: 'unix:///run/consul.sock'}\n", NULL);
        check_url("consul: {address: 'http://127.0.0.1:8500/v1'}\n", NULL);
        check_url("consul: {address: 'http://user@host:8500'}\n", NULL);
        check_url("consul: {address: ''}\n", NULL);
}

static void test_timeouts(void **state) {
        (void) state;
        fixture f;
        usec_t t = 0;

        load(&f, "consul: {register_timeout: 2.5, deregister_timeout: 0}\n");
        assert_int_equal(consul_timeout(&f.ctx, "register_timeout", 60, &t), 0);
        assert_true(t == 2500000);
        assert_int_equal(consul_timeout(&f.ctx, "deregister_timeout", 10, &t), -EINVAL);
        assert_int_equal(consul_timeout(&f.ctx, "other_timeout", 10, &t), 0);
        assert_true(t == 10 * USEC_PER_SEC);
        assert_contains(diag_text(&f), "user-data:1:53: error: consul.deregister_timeout: must be a number of seconds");
        unload(&f);
}

/* consul.token goes into a header line: a control character is an input
 * error, and the message never shows the token. */
static void test_token(void **state) {
        (void) state;
        fixture f;
        const char *t = (const char *) &t;

        load(&f, "consul: {token: \"s3cr3t-1234\\r\\nX-Injected: yes\"}\n");
        assert_int_equal(consul_token(&f.ctx, &t), -EINVAL);
        assert_true(t == (const char *) &t);
        const char *text = diag_text(&f);
        assert_contains(text, "user-data:1:17: error: consul.token: holds a control character");
        assert_null(strstr(text, "s3cr3t"));
        unload(&f);
        load(&f, "consul: {token: 0b5c-77}\n");
        assert_int_equal(consul_token(&f.ctx, &t), 0);
        assert_string_equal(t, "0b5c-77");
        unload(&f);
        load(&f, "consul: {token: ''}\n");
        assert_int_equal(consul_token(&f.ctx, &t), 0);
        assert_null(t);
        unload(&f);
        load(&f, "consul: {}\n");
        assert_int_equal(consul_token(&f.ctx, &t), 0);
        assert_null(t);
        unload(&f);
}

/* What kiln keeps of Consul's answer to a refusal: no token, not even a
 * part of one cut off at the length bound; one line; bounded. */
static void test_message_clean(void **state) {
        (void) state;
        static const char token[] = "secret-0b5c-4a7e-9f00";
        char body[1024];
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        a = consul_message_clean("  ACL not found\r\nfor token secret-0b5c-4a7e-9f00 (secret-0b5c-4a7e-9f00)\n", token);
        assert_string_equal(a, "ACL not found  for token ********************* (*********************)");
        /* the token straddles the cut at CONSUL_MESSAGE_MAX: none of it may remain */
        memset(body, 'x', sizeof body);
        memcpy(body + CONSUL_MESSAGE_MAX - 6, token, strlen(token));
        body[CONSUL_MESSAGE_MAX + 100] = 0;
        b = consul_message_clean(body, token);
        assert_int_equal(strlen(b), CONSUL_MESSAGE_MAX);
        assert_null(strstr(b, "secret"));
        assert_string_equal(b + CONSUL_MESSAGE_MAX - 6, "******");
        c = consul_message_clean("Permission denied\x7f", NULL);
        assert_string_equal(c, "Permission denied");
        d = consul_message_clean("", token);
        assert_string_equal(d, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_message_clean),
                cmocka_unit_test(test_token),
                cmocka_unit_test(test_agent_defaults),
                cmocka_unit_test(test_agent_node_name_follows_hostname),
                cmocka_unit_test(test_agent_server),
                cmocka_unit_test(test_agent_absent),
                cmocka_unit_test(test_agent_errors),
                cmocka_unit_test(test_retry_join_strings),
                cmocka_unit_test(test_services_render),
                cmocka_unit_test(test_services_http_path_ipv6),
                cmocka_unit_test(test_services_none),
                cmocka_unit_test(test_services_errors),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_address),
                cmocka_unit_test(test_timeouts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
