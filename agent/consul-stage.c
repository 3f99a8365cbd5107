/* consul-stage.c — see consul-stage.h. */
#include <stdio.h>

#include "consul-stage.h"
#include "consul.h"
#include "json-util.h"
#include "log.h"

json_t *consul_stage_recorded(void) {
        json_t *list = NULL;
        int r = consul_registered_read(&list);
        if (r >= 0)
                return list;
        log_warning_errno(r, "Failed to read " CONSUL_REGISTERED_FILE " (%m): services kiln registered before "
                          "and no longer configured can't be deregistered.");
        return json_array();
}

int consul_stage_plan_deregister(json_t *recorded, json_t *keep_ids, const char *why, json_t **plan) {
        json_t *entry;
        size_t i;

        json_array_foreach(recorded, i, entry) {
                const char *id = json_get_string(entry, "id", NULL), *name = json_get_string(entry, "name", id);
                if (!id || json_object_get(keep_ids, id))
                        continue;
                json_t *item = plan_add(plan, "deregister", "consul service", "%s (%s)", id, why);
                if (!item || json_object_set_new(item, "_id", json_string(id)) < 0 ||
                    json_object_set_new(item, "_name", json_string(name)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int consul_stage_connection(kiln_ctx *ctx, const char *timeout_key, unsigned def, char **ret_url,
                            usec_t *ret_timeout, const char **ret_token) {
        _cleanup_free_ char *url = NULL;
        int r = consul_base_url(ctx, &url), k;

        k = consul_timeout(ctx, timeout_key, def, ret_timeout);
        r = r < 0 ? r : k;
        k = consul_token(ctx, ret_token);
        r = r < 0 ? r : k;
        if (r >= 0 && ret_url)
                *ret_url = TAKE_PTR(url);
        return r;
}

int consul_batch_open(kiln_ctx *ctx, const char *timeout_key, unsigned def, const char *doing, consul_batch *b) {
        const char *token = NULL;
        usec_t timeout;
        int r;

        *b = (consul_batch){ .record = json_array(), .missed = json_array() };
        if (!b->record || !b->missed)
                return log_oom();
        r = consul_stage_connection(ctx, timeout_key, def, &b->url, &timeout, &token);
        if (r < 0)
                return r;
        r = consul_api_new(b->url, token, &b->api);
        if (r < 0)
                return log_error_errno(r, "Failed to set up an HTTP client: %m");
        b->timeout = timeout;
        b->deadline = deadline_in(timeout);
        log_info("%s: Consul agent %s, X-Consul-Token: %s, deadline %g s.", doing, b->url,
                 isempty(token) ? "(none)" : "(set)", (double) timeout / (double) USEC_PER_SEC);
        return 0;
}

void consul_batch_clear(consul_batch *b) {
        consul_api_free(b->api);
        free(b->url);
        json_decref(b->record);
        json_decref(b->missed);
        free(b->last_error);
        *b = (consul_batch){};
}

int consul_batch_keep(consul_batch *b, const char *id, const char *name) {
        json_t *entry;
        size_t i;
        json_array_foreach(b->record, i, entry)
                if (streq(json_get_string(entry, "id", ""), id))
                        return 0;
        return json_array_append_new(b->record, json_pack("{s:s, s:s}", "id", id, "name", name ?: id)) < 0 ? -ENOMEM
                                                                                                          : 0;
}

/* Marks the agent down after a call that ran out of time. */
int consul_batch_agent_down(consul_batch *b, const consul_result *res, const char *name) {
        b->agent_down = true;
        free(b->last_error);
        b->last_error = consul_result_describe(res);
        return json_array_append_new(b->missed, json_string(name)) < 0 ? -ENOMEM : 0;
}

int consul_batch_deregister(kiln_ctx *ctx, consul_batch *b, json_t *item) {
        _cleanup_consul_result_ consul_result res = {};
        const char *id = json_get_string(item, "_id", ""), *name = json_get_string(item, "_name", id);
        int r;

        if (b->agent_down) {
                if (json_array_append_new(b->missed, json_string(id)) < 0)
                        return -ENOMEM;
                return consul_batch_keep(b, id, name);
        }
        r = consul_api_deregister(b->api, id, b->deadline, &res);
        if (r == -ENOMEM)
                return log_oom();
        if (r == 0)
                return ctx_change(ctx, "deregistered", "consul service", "%s", id);
        if (r == -EINVAL) {
                ctx_recoverable(ctx, "Recorded service ID '%s' can't be put in a URL; dropped from the record", id);
                return 0;
        }
        if (r == -ETIME) {
                if (consul_batch_agent_down(b, &res, id) < 0)
                        return -ENOMEM;
        } else {
                _cleanup_free_ char *why = consul_result_describe(&res);
                ctx_recoverable(ctx, "%s service '%s' (id %s): %s",
                                res.status ? "Consul refused to deregister" : "Could not deregister", name, id,
                                why ?: "?");
        }
        return consul_batch_keep(b, id, name);
}

char *consul_join_strings(json_t *list) {
        char *s = NULL;
        json_t *v;
        size_t i;
        json_array_foreach(list, i, v) {
                char *n = NULL;
                int k = asprintf(&n, "%s%s%s", s ?: "", s ? ", " : "", json_string_value(v));
                free(s);
                if (k < 0)
                        return NULL;
                s = n;
        }
        return s;
}

int consul_batch_finish(kiln_ctx *ctx, consul_batch *b, const char *verb, const char *hint) {
        if (json_array_size(b->missed) > 0) {
                _cleanup_free_ char *names = consul_join_strings(b->missed);
                ctx_recoverable(ctx, "The Consul agent at %s did not accept requests within %g s (last: %s); "
                                "not %s: %s. %s", b->url, (double) b->timeout / (double) USEC_PER_SEC,
                                b->last_error ?: "?", verb, names ?: "(out of memory)", hint);
        }
        int r = consul_registered_write(b->record);
        if (r < 0)
                return log_error_errno(r, "Failed to write " CONSUL_REGISTERED_FILE ": %m");
        return 0;
}
