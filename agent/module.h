/* module.h — the one interface every file in stages/ implements.
 *
 * A module has a name, a stage, a default frequency, the config keys it
 * owns (its part of the schema) and two steps:
 *
 *   plan(ctx, &plan)   compute what would change and touch nothing.  The
 *                      plan is a JSON array of items {action, target,
 *                      detail} (plus any private "_" fields apply needs);
 *                      NULL or [] means nothing to do.  Input errors (a bad
 *                      value, a template with an undefined variable) are
 *                      reported with ctx_input_error() and make the plan
 *                      fail: a run whose input has errors changes nothing.
 *   apply(ctx, plan)   do it, re-checking anything a safety decision rests
 *                      on (the plan may be stale by a few milliseconds),
 *                      and record every change with ctx_change().  Return a
 *                      negative errno when the module could not do its job
 *                      (it is retried on the next run), saying why with
 *                      ctx_error(); things that went wrong but let it
 *                      finish are ctx_recoverable().
 *
 * Adding a module = one file in stages/ defining `const kiln_module
 * module_<name>`, one row in agent/modules.c, and its tests.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "diag.h"
#include "schema.h"
#include "srcmap.h"
#include "util.h"

typedef enum kiln_stage {
        STAGE_LOCAL,
        STAGE_NETWORK,
        STAGE_CONFIG,
        STAGE_FINAL,
        STAGE_SHUTDOWN, /* not a boot stage: run by kiln-final.service's ExecStop */
        _STAGE_MAX,
        _STAGE_INVALID = -1,
} kiln_stage;

#define _STAGE_BOOT_MAX STAGE_SHUTDOWN /* local..final are the boot stages */

typedef enum kiln_freq {
        FREQ_PER_INSTANCE, /* once per instance-id: a new instance from the same image reruns it */
        FREQ_PER_BOOT,     /* once per kernel boot id */
        FREQ_ALWAYS,       /* every run */
        FREQ_ONCE,         /* once per image, until `kiln clean` */
        _FREQ_MAX,
        _FREQ_INVALID = -1,
} kiln_freq;

const char *stage_to_string(kiln_stage s);
kiln_stage stage_from_string(const char *s);
const char *freq_to_string(kiln_freq f);
kiln_freq freq_from_string(const char *s);

typedef struct kiln_module kiln_module;

typedef struct kiln_ctx {
        kiln_stage stage;
        bool dry_run;              /* `kiln plan`: apply will not follow */
        json_t *config;            /* merged, validated config (image defaults + user-data) */
        const srcmap *config_map;  /* where each config value came from */
        json_t *instance_data;     /* the full (sensitive) instance-data tree, vars included */
        const char *instance_id;
        bool new_instance;         /* the instance-id changed on this boot */
        json_t *scripts;           /* user-data shell scripts: [{name, content}] */
        diags *diags;              /* input errors found by plan steps */
        /* Per module, set by the runner: */
        const kiln_module *module;
        json_t *changes;           /* [{action, target, detail}] recorded by apply */
        json_t *recoverable;       /* [message] */
        json_t *errors;            /* [message] recorded by ctx_error() */
} kiln_ctx;

struct kiln_module {
        const char *name;
        kiln_stage stage;
        kiln_freq frequency;
        const char *description;
        const schema_key *keys; /* top-level keys owned (NULL-terminated), or NULL */
        int (*plan)(kiln_ctx *ctx, json_t **ret_plan);
        int (*apply)(kiln_ctx *ctx, json_t *plan);
};

/* Plan helpers.  plan_add() appends {action, target, detail} and returns the
 * item (borrowed) so private fields can be attached; NULL on OOM. */
json_t *plan_add(json_t **plan, const char *action, const char *target, const char *detail_format, ...)
        _printf_(4, 5);

/* Records a change made by apply (status.json and the log). */
int ctx_change(kiln_ctx *ctx, const char *action, const char *target, const char *detail_format, ...)
        _printf_(4, 5);
/* Something went wrong but the module finished: a warning in the log and in
 * status (`kiln status` exits 2). */
void ctx_recoverable(kiln_ctx *ctx, const char *format, ...) _printf_(2, 3);
/* The module could not do (part of) its job, said for the user: an error in
 * the log and in status, where these messages replace the bare errno of the
 * failed apply ("volumes: volumes[1]: refused /dev/loop5: …" rather than
 * "volumes: File exists").  Returns err (negative) so apply can
 * `return ctx_error(ctx, r, …)`; an apply that recorded an error counts as
 * failed even if it returned 0. */
int ctx_error(kiln_ctx *ctx, int err, const char *format, ...) _printf_(3, 4);
/* A bad config value, reported with the file:line:col it came from; returns -EINVAL. */
int ctx_input_error(kiln_ctx *ctx, const char *key_path, const char *format, ...) _printf_(3, 4);
/* The string at key_path rendered as a template against instance-data
 * ("cortex-{{ v1.instance_id }}"); a string without {{ or {% is returned
 * as is.  *ret is NULL when the key is unset.  Template errors are input
 * errors at the value's position ("…: hostname: 'nope' is undefined (column
 * 12 of the value)"). */
int ctx_config_render(kiln_ctx *ctx, const char *key_path, char **ret);
/* The config value at a dotted key path ("consul.agent.datacenter"), borrowed, or NULL. */
json_t *ctx_config_get(kiln_ctx *ctx, const char *key_path);
