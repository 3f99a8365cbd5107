/* commands.h — running the user's commands (bootcmd, runcmd, user-data
 * scripts) the way cloud-init users expect: a list item that is a list runs
 * as an argv (execve, $PATH lookup, no shell), a string runs with
 * /bin/sh -c.  Output goes to /var/log/kiln-output.log (under --root) and
 * to the log (journal).  Each command gets a timeout and the environment
 * KILN_ROOT, KILN_INSTANCE_ID, KILN_STAGE.  A command that fails or times
 * out is a recoverable error; the rest still run.
 */
#pragma once

#include <jansson.h>

#include "module.h"

#define OUTPUT_LOG "/var/log/kiln-output.log"
#define COMMAND_TIMEOUT_DEFAULT_SEC 600

/* One command: a string (shell) or a list of strings/integers (argv). */
extern const schema_key commands_item_schema;

/* The argv of one command entry: a string becomes ["/bin/sh", "-c", string],
 * a non-empty list of strings/integers its strings.  -EINVAL otherwise. */
int commands_argv_of(json_t *entry, json_t **ret);
/* Adds a plan item "run <command>" for each entry of the list; bad entries
 * are input errors at key_path[i]. */
int commands_plan(kiln_ctx *ctx, json_t *list, const char *key_path, json_t **plan);
/* Runs every plan item made by commands_plan(), in order.  Returns a
 * negative errno only when the output log can't be opened. */
int commands_apply(kiln_ctx *ctx, json_t *plan);
/* Runs one argv (NULL-terminated) with the command environment and timeout,
 * logging to the output log; used for user-data scripts too. */
int commands_run_argv(kiln_ctx *ctx, int log_fd, char *const argv[], const char *label);
/* The same with its own timeout (0: none) instead of kiln.command_timeout;
 * used for the templates module's on_change commands. */
int commands_run_argv_timeout(kiln_ctx *ctx, int log_fd, char *const argv[], const char *label, usec_t timeout);
int commands_open_log(int *ret_fd);
