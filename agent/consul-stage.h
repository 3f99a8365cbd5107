/* consul-stage.h — what the registration (final stage) and deregistration
 * (shutdown stage) modules share: an API client made from the config, and
 * deregistering recorded services with one line in status per outcome.
 *
 * Outcomes are never module failures: a service Consul refused, or an
 * agent that did not answer before the deadline, is a recoverable error
 * (`kiln status` exits 2, the rest of the stage runs), because the cure is
 * outside kiln (the token, the agent) and `kiln rerun consul` retries.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "consul-api.h"
#include "module.h"

/* The record, or [] with a warning when it can't be read as one (plan and
 * apply both work from it, so a damaged file does not block the boot). */
json_t *consul_stage_recorded(void);

/* Plan items "deregister <id>" with _id and _name, for each recorded entry
 * (each an object {"id", "name"}) not in keep_ids (an object of IDs, may be NULL). */
int consul_stage_plan_deregister(json_t *recorded, json_t *keep_ids, const char *why, json_t **plan);

/* One module's requests: one client, one deadline for all of them, and
 * the record as it will be written at the end. */
typedef struct consul_batch {
        consul_api *api;
        char *url;
        usec_t deadline;
        usec_t timeout;       /* for the message */
        bool agent_down;      /* the deadline passed with no good answer: don't try the rest */
        json_t *record;       /* entries to keep in the record */
        json_t *missed;       /* names not done because the agent was down */
        char *last_error;     /* what the last try of a timed-out call got */
} consul_batch;

/* consul.address, consul.<timeout_key> (def seconds) and consul.token, each checked: every bad one is
 * reported (a plan shows them all), the first error returned.  ret_url may be NULL. */
int consul_stage_connection(kiln_ctx *ctx, const char *timeout_key, unsigned def, char **ret_url,
                            usec_t *ret_timeout, const char **ret_token);

/* A client for consul.address with consul.token, and a deadline of
 * consul.<timeout_key> (def seconds) from now; logs what it is about to
 * do ("… X-Consul-Token: (set) …", never the token). */
int consul_batch_open(kiln_ctx *ctx, const char *timeout_key, unsigned def, const char *doing, consul_batch *b);
void consul_batch_clear(consul_batch *b);
/* Adds {"id", "name"} to the record, once. */
int consul_batch_keep(consul_batch *b, const char *id, const char *name);
/* After a call that ran out of time: agent_down, last_error, name in missed. */
int consul_batch_agent_down(consul_batch *b, const consul_result *res, const char *name);
/* Deregisters one plan item made by consul_stage_plan_deregister(); keeps
 * it in b->record unless Consul confirmed. Negative only for -ENOMEM. */
int consul_batch_deregister(kiln_ctx *ctx, consul_batch *b, json_t *item);
/* One recoverable error for b->missed, if any ("did not accept requests
 * within …; not <verb>: a, b. <hint>"), then the record is written. */
int consul_batch_finish(kiln_ctx *ctx, consul_batch *b, const char *verb, const char *hint);

/* "a, b, c" (malloc'd; NULL for an empty list or on OOM). */
char *consul_join_strings(json_t *list);
