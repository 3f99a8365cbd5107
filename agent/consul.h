/* consul.h — the `consul` key: its schema, and turning it into what Consul
 * reads, with every check a run can make before anything changes.
 *
 * Three modules share it (stages/consul_agent.c, consul.c,
 * consul_deregister.c), so the schema and the rendering live here, apart
 * from the modules and from the HTTP calls (consul-api.h):
 *
 *   consul.agent     → the agent's config file (snake_case JSON, as Consul's
 *                      own files are written), defaults from instance-data:
 *                      datacenter = v1.region, node_name = the host name kiln
 *                      gives the machine, bind_addr/advertise_addr =
 *                      v1.local_ipv4; retry_join accepts the cloud auto-join
 *                      string or {provider: aws, tag_key, tag_value, …}.
 *   consul.services  → agent API definitions (CamelCase JSON, what PUT
 *                      /v1/agent/service/register decodes); address defaults
 *                      to v1.local_ipv4, an http check given as a path
 *                      ("/ready") becomes http://ADDRESS:PORT/ready.
 *
 * Everything Consul would refuse with a 400 at boot (a check without an
 * interval, DeregisterCriticalServiceAfter below 1m, a bad duration, a
 * duplicate ID, invalid meta, an encrypt key that is not 16 or 32 bytes of
 * base64…) is an input error here instead, at the key's file:line:col, so
 * `kiln plan` shows it and a run changes nothing.  Messages about secret
 * keys (token, encrypt, acl tokens) never quote their value.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "module.h"
#include "schema.h"

#define CONSUL_ADDRESS_DEFAULT "http://127.0.0.1:8500"
#define CONSUL_CONFIG_DIR_DEFAULT "/etc/consul.d"
/* Sorts after the Consul package's consul.hcl, so kiln's values win over
 * the package defaults (Consul merges its config dir in lexical order). */
#define CONSUL_AGENT_FILE "kiln-agent.json"
#define CONSUL_CONFIG_GROUP_DEFAULT "consul"
#define CONSUL_REGISTER_TIMEOUT_DEFAULT_SEC 60
#define CONSUL_DEREGISTER_TIMEOUT_DEFAULT_SEC 10
#define CONSUL_DEREGISTER_MIN_NS (60ULL * 1000000000ULL)

/* { KEY_OBJ("consul", …), {} }: owned by the `consul` module. */
extern const schema_key consul_schema_keys[];

/* ---- values shared by the modules ---- */

/* The agent's base URL from consul.address ("http://127.0.0.1:8500"; a bare
 * "host:port" means http), without a trailing slash.  Input error when it
 * is not an http(s) URL with a host and nothing after the port. */
int consul_base_url(kiln_ctx *ctx, char **ret);
/* consul.<key> in seconds (a positive number), or def when unset; input error otherwise. */
int consul_timeout(kiln_ctx *ctx, const char *key, unsigned def, usec_t *ret);
/* consul.token, or NULL when unset or empty; an input error (the value not
 * quoted) when it holds a control character: it travels in a header line. */
int consul_token(kiln_ctx *ctx, const char **ret);
/* consul.config_dir, or /etc/consul.d; input error unless a safe absolute path. */
int consul_config_dir(kiln_ctx *ctx, const char **ret);
/* 1..max ASCII letters, digits and characters of `extra`. */
bool consul_chars_ok(const char *s, size_t max, const char *extra);

/* ---- the agent config file ---- */

/* Renders consul.agent with its defaults.  *ret_secrets gets the dotted
 * names of the secret keys present ("encrypt", "acl.tokens.agent", …),
 * which decide the file's mode.  -ENODATA when consul.agent is not set;
 * -EINVAL after reporting input errors. */
int consul_agent_render(kiln_ctx *ctx, json_t **ret_config, json_t **ret_secrets);
/* One retry_join entry: a string as given, or the structured form as
 * "provider=aws tag_key=K tag_value=V [region=R] [addr_type=T]" (values
 * with spaces, '=', '"' or '\\' quoted as go-discover reads them).  NULL
 * and *ret_why set when the entry can't be rendered. */
char *consul_retry_join_string(json_t *entry, const char **ret_why);

/* ---- service definitions ---- */

/* Renders consul.services into a list of agent API definitions (each with
 * "ID" and "Name" set).  An empty list when there are none; -EINVAL after
 * reporting input errors. */
int consul_services_render(kiln_ctx *ctx, json_t **ret);

/* Go's time.ParseDuration, for the values Consul accepts ("10s", "1m30s",
 * "500ms", "1.5h"), without a sign.  -EINVAL when malformed, -ERANGE when
 * over about 290 years. */
int consul_duration_parse(const char *s, uint64_t *ret_ns);
