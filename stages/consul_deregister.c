/* consul_deregister.c — the shutdown stage: deregisters from the local
 * Consul agent every service kiln's record says it registered, so the
 * cluster stops sending traffic to a node that is going away instead of
 * waiting for its checks to fail.
 *
 * Run by kiln-final.service's ExecStop (`kiln run --stage shutdown`).  That
 * unit is ordered after multi-user.target and so after consul.service,
 * which makes systemd stop it first: the agent is still up.  The unit's
 * TimeoutStopSec is 90 s; this module gives itself consul.deregister_timeout
 * (10 s by default) for all requests together, retrying a refusing or
 * throttling agent inside it, and then lets the shutdown go on whatever
 * happened (recoverable errors, logged).
 *
 * It works from the record, not from consul.services: what kiln registered
 * is what it takes back, even if the config changed since.  Entries Consul
 * confirmed leave the record; the others stay for the next try.  The next
 * boot's final stage registers the services again.
 */
#include "consul-stage.h"
#include "consul.h"
#include "log.h"
#include "module.h"

static int consul_deregister_plan(kiln_ctx *ctx, json_t **ret_plan) {
        _cleanup_json_ json_t *recorded = NULL;
        const char *token;
        usec_t timeout;
        int r = consul_stage_connection(ctx, "deregister_timeout", CONSUL_DEREGISTER_TIMEOUT_DEFAULT_SEC, NULL,
                                        &timeout, &token);

        if (r < 0)
                return r;
        recorded = consul_stage_recorded();
        if (!recorded)
                return log_oom();
        return consul_stage_plan_deregister(recorded, NULL, "shutdown", ret_plan) < 0 ? log_oom() : 0;
}

static int consul_deregister_apply(kiln_ctx *ctx, json_t *plan) {
        _cleanup_(consul_batch_clear) consul_batch b = {};
        json_t *item;
        size_t i;
        int r;

        r = consul_batch_open(ctx, "deregister_timeout", CONSUL_DEREGISTER_TIMEOUT_DEFAULT_SEC, "Deregistering", &b);
        if (r < 0)
                return r;
        json_array_foreach(plan, i, item)
                if ((r = consul_batch_deregister(ctx, &b, item)) < 0)
                        return r;
        return consul_batch_finish(ctx, &b, "deregistered", "They stay in the record for the next shutdown.");
}

const kiln_module module_consul_deregister = {
        .name = "consul_deregister",
        .stage = STAGE_SHUTDOWN,
        .frequency = FREQ_ALWAYS,
        .description = "On shutdown, deregister every service kiln registered with Consul.",
        .keys = NULL, /* consul.* is in the schema through the consul module */
        .plan = consul_deregister_plan,
        .apply = consul_deregister_apply,
};
