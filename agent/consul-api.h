/* consul-api.h — talking to the local Consul agent: registration and
 * deregistration with retries inside a deadline, and kiln's record of what
 * it registered.
 *
 * Retry policy: the agent may not be up yet when the final stage runs (it
 * starts in parallel), may be electing a leader (500), or may rate-limit
 * (429).  Those, and connection errors, are retried with jittered
 * exponential backoff (250 ms doubling to 2 s, each wait a random 50-100 %
 * of the step, so many nodes booting together don't hit the agent in
 * step) until the caller's deadline.  Any other answer is final: a 400
 * (the definition) or a 403 (the token) won't change by asking again, and
 * is returned with Consul's message.
 *
 * The token travels only in the X-Consul-Token header.  It is never logged
 * (debug logs say "X-Consul-Token: set"), and it is scrubbed from Consul's
 * messages before they are returned, in case an error ever echoes it.
 */
#pragma once

#include <jansson.h>

#include "macro.h"
#include "state.h"
#include "util.h"

/* kiln's record of the services it registered (ids and names, no secrets). */
#define CONSUL_REGISTERED_DIR STATE_DIR "/data"
#define CONSUL_REGISTERED_FILE CONSUL_REGISTERED_DIR "/consul-registered.json"

typedef struct consul_api consul_api;

/* base_url as made by consul_base_url(); token may be NULL. */
int consul_api_new(const char *base_url, const char *token, consul_api **ret);
consul_api *consul_api_free(consul_api *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(consul_api *, consul_api_free);
#define _cleanup_consul_api_ _cleanup_(consul_api_freep)

/* What one call came to, for the caller's message. */
typedef struct consul_result {
        long status;        /* the last HTTP status, 0 when no answer came */
        int error;          /* the last transport error (negative errno), 0 when an answer came */
        unsigned attempts;
        char *message;      /* Consul's answer to a refusal, trimmed, token scrubbed (or NULL) */
} consul_result;

void consul_result_clear(consul_result *r);
static inline void consul_result_clearp(consul_result *r) {
        consul_result_clear(r);
}
#define _cleanup_consul_result_ _cleanup_(consul_result_clearp)

/* Returns 0 on success (200); -EACCES when Consul refused with 403,
 * -EBADMSG with 400, -EPROTO with another final status; -ETIME when the
 * deadline passed while the agent was down, throttling or failing
 * (*ret_result says with what); -ENOMEM.  ret_result is always filled. */
int consul_api_register(consul_api *a, json_t *definition, usec_t deadline, consul_result *ret_result);
/* -EINVAL (nothing sent) for an id that can't be a URL path segment. */
int consul_api_deregister(consul_api *a, const char *id, usec_t deadline, consul_result *ret_result);

/* Consul's answer to a refusal as kiln reports it: every occurrence of token
 * (may be NULL) starred out, at most CONSUL_MESSAGE_MAX bytes, control
 * characters as spaces, trimmed (malloc'd; NULL on OOM).  The answer is
 * read up to its first NUL. */
#define CONSUL_MESSAGE_MAX 400
char *consul_message_clean(const char *body, const char *token);
/* "403 Permission denied: …", "no answer: Connection refused" (malloc'd). */
char *consul_result_describe(const consul_result *r);

/* The record: a list of {"id", "name"}; [] when there is none.  A record
 * that can't be parsed is -EBADMSG. */
int consul_registered_read(json_t **ret);
int consul_registered_write(json_t *services);
