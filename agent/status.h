/* status.h — /run/kiln/status.json and result.json.
 *
 * The shape is cloud-init's v1 (so tooling that reads cloud-init's status
 * reads kiln's): {"v1": {"datasource", "stage", <stage>: {"start",
 * "finished", "errors": [], "recoverable_errors": {"WARNING": []}}}} with
 * kiln's stage names, plus per stage "modules": {name: {"frequency",
 * "start", "finished", "result", "changes", "errors", "recoverable_errors"}}
 * and per run "boot_id", "instance_id", "datasource_stats".  The file is
 * rewritten atomically after every module, so a crash leaves the last
 * consistent picture.  It never holds secrets.  result.json is written when
 * the final stage finishes.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "module.h"

typedef enum status_state {
        STATUS_NOT_STARTED,
        STATUS_RUNNING,
        STATUS_DONE,
        STATUS_DISABLED,
} status_state;

/* Exit codes of `kiln status` (cloud-init's). */
#define STATUS_EXIT_OK 0
#define STATUS_EXIT_ERROR 1
#define STATUS_EXIT_RECOVERABLE 2

int status_load(json_t **ret);  /* the current document, or a fresh one */
int status_save(json_t *st);    /* atomically, 0644; also sd_notify STATUS= */
int status_stage_begin(json_t *st, kiln_stage s);
/* Like status_stage_begin() but keeps the stage's record: `kiln rerun`
 * replaces one module's entry, not the stage's. */
int status_stage_resume(json_t *st, kiln_stage s);
int status_stage_error(json_t *st, kiln_stage s, const char *message);
int status_stage_end(json_t *st, kiln_stage s);
int status_set(json_t *st, const char *key, json_t *value); /* v1.<key> = value (steals) */
/* Records one module's outcome; result is "ok", "failed", "skipped" or "planned".  Saved at
 * once when it has errors or recoverable errors, else within a second or at the stage's end.
 * Only the first STATUS_CHANGES_MAX changes are kept ("changes_omitted" counts the others;
 * the journal has them all). */
#define STATUS_CHANGES_MAX 100
int status_module(json_t *st, kiln_stage s, const char *module, kiln_freq f, usec_t start, usec_t end,
                  const char *result, const char *reason, json_t *changes, json_t *errors, json_t *recoverable);
int status_write_result(json_t *st);

/* Evaluates a status document: state, and the exit code (0/1/2). */
status_state status_evaluate(json_t *st, int *ret_exit);
/* True when kiln is disabled on this machine: kernel command line kiln=disabled
 * or /etc/kiln/kiln-disabled (under --root). */
bool kiln_is_disabled(const char **ret_reason);
/* Sends STATUS= to systemd when run as a service (no-op otherwise). */
void status_notify(const char *format, ...) _printf_(1, 2);
