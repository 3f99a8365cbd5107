/* consul.c — registers consul.services with the local Consul agent, in the
 * final stage (after multi-user.target, so a slow agent never holds up the
 * boot), and deregisters the services kiln registered earlier that the
 * config no longer has.
 *
 * Through the agent API only (PUT /v1/agent/service/register
 * ?replace-existing-checks=true, CamelCase definitions from agent/consul.h),
 * not with service files in the config dir.  The agent persists services
 * registered through its API in its data_dir and restores them when it
 * restarts, so files are not needed for that; and a file-defined service
 * can't be removed through the API (the next reload brings it back), so
 * removal and shutdown deregistration would need file edits and reloads,
 * the token would have to sit in the config dir, and a service in both
 * places would be registered twice from two sources.  One path, one owner.
 *
 * Idempotent: each service is registered under an explicit ID, replacing
 * the agent's copy and its checks, so a rerun makes no duplicates.  kiln's
 * record (/var/lib/kiln/data/consul-registered.json: ids and names) is
 * written before the first request with everything that may be registered,
 * and after the last with what is; a service dropped from the config is
 * deregistered, and the shutdown stage (consul_deregister.c) deregisters
 * everything recorded.
 *
 * The agent may still be starting: requests are retried (consul-api.h)
 * until consul.register_timeout (60 s); after that the remaining services
 * are not tried and one recoverable error names them.  A 400 or 403 is
 * reported with Consul's message and the service, and the others go on.
 * Frequency always, so every boot re-registers (the agent may have lost
 * its data_dir) and `kiln rerun consul` works on a live host.
 */
#include <stdio.h>

#include "consul-stage.h"
#include "consul.h"
#include "json-util.h"
#include "log.h"
#include "module.h"

static int plan_register(json_t *defs, json_t **plan) {
        json_t *def;
        size_t i;

        json_array_foreach(defs, i, def) {
                json_t *port = json_object_get(def, "Port");
                size_t n = json_array_size(json_object_get(def, "Checks"));
                char port_text[16] = "";
                if (port)
                        snprintf(port_text, sizeof port_text, ":%lld", json_integer_value(port));
                json_t *item = plan_add(plan, "register", "consul service", "%s, %s%s, %zu check%s",
                                        json_get_string(def, "ID", ""), json_get_string(def, "Address", "node address"),
                                        port_text, n, n == 1 ? "" : "s");
                if (!item || json_object_set(item, "_definition", def) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int consul_plan(kiln_ctx *ctx, json_t **ret_plan) {
        _cleanup_json_ json_t *defs = NULL, *recorded = NULL, *ids = json_object();
        const char *token;
        usec_t timeout;
        json_t *def;
        size_t i;
        int r, k;

        if (!ids)
                return log_oom();
        r = consul_stage_connection(ctx, "register_timeout", CONSUL_REGISTER_TIMEOUT_DEFAULT_SEC, NULL, &timeout,
                                    &token);
        k = consul_services_render(ctx, &defs);
        r = r < 0 ? r : k;
        if (r < 0)
                return r;
        recorded = consul_stage_recorded();
        if (!recorded)
                return log_oom();
        json_array_foreach(defs, i, def)
                if (json_object_set_new(ids, json_get_string(def, "ID", ""), json_true()) < 0)
                        return log_oom();
        if (plan_register(defs, ret_plan) < 0 ||
            consul_stage_plan_deregister(recorded, ids, "no longer in consul.services", ret_plan) < 0)
                return log_oom();
        return 0;
}

/* ---- apply ---- */

/* Before any request: the record holds everything that may end up registered. */
static int record_intent(json_t *plan) {
        _cleanup_json_ json_t *all = json_array();
        json_t *item;
        size_t i;

        if (!all)
                return -ENOMEM;
        json_array_foreach(plan, i, item) {
                json_t *def = json_object_get(item, "_definition");
                const char *id = def ? json_get_string(def, "ID", "") : json_get_string(item, "_id", "");
                const char *name = def ? json_get_string(def, "Name", id) : json_get_string(item, "_name", id);
                if (json_array_append_new(all, json_pack("{s:s, s:s}", "id", id, "name", name)) < 0)
                        return -ENOMEM;
        }
        return consul_registered_write(all);
}

static int register_one(kiln_ctx *ctx, consul_batch *b, json_t *item) {
        _cleanup_consul_result_ consul_result res = {};
        json_t *def = json_object_get(item, "_definition");
        const char *id = json_get_string(def, "ID", ""), *name = json_get_string(def, "Name", id);
        int r = consul_batch_keep(b, id, name); /* registered or not, deregistering it later is harmless */

        if (r < 0)
                return r;
        if (b->agent_down)
                return json_array_append_new(b->missed, json_string(name)) < 0 ? -ENOMEM : 0;
        r = consul_api_register(b->api, def, b->deadline, &res);
        if (r == -ENOMEM)
                return log_oom();
        if (r == 0)
                return ctx_change(ctx, "registered", "consul service", "%s", json_get_string(item, "detail", id));
        if (r == -ETIME)
                return consul_batch_agent_down(b, &res, name);
        _cleanup_free_ char *why = consul_result_describe(&res);
        ctx_recoverable(ctx, "%s service '%s' (id %s): %s", res.status ? "Consul refused" : "Could not register", name,
                        id, why ?: "?");
        return 0;
}

static int consul_apply(kiln_ctx *ctx, json_t *plan) {
        _cleanup_(consul_batch_clear) consul_batch b = {};
        json_t *item;
        size_t i;
        int r;

        r = consul_batch_open(ctx, "register_timeout", CONSUL_REGISTER_TIMEOUT_DEFAULT_SEC, "Registering", &b);
        if (r < 0)
                return r;
        r = record_intent(plan);
        if (r < 0)
                return log_error_errno(r, "Failed to write " CONSUL_REGISTERED_FILE ": %m");
        /* registrations first: a renamed service is never missing in between */
        json_array_foreach(plan, i, item)
                if (json_object_get(item, "_definition") && (r = register_one(ctx, &b, item)) < 0)
                        return r;
        json_array_foreach(plan, i, item)
                if (json_object_get(item, "_id") && (r = consul_batch_deregister(ctx, &b, item)) < 0)
                        return r;
        return consul_batch_finish(ctx, &b, "done", "`kiln rerun consul` retries once it is up; the next boot does too.");
}

const kiln_module module_consul = {
        .name = "consul",
        .stage = STAGE_FINAL,
        .frequency = FREQ_ALWAYS,
        .description = "Register consul.services with the local Consul agent; deregister the ones dropped.",
        .keys = consul_schema_keys,
        .plan = consul_plan,
        .apply = consul_apply,
};
