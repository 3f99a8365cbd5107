/* scripts_user.c — cloud-init's scripts_user: the shell-script parts of
 * user-data (text/x-shellscript, or a user-data that starts with "#!") run
 * once per instance in the final stage, after runcmd, in the order they
 * appear in the user-data.
 *
 * Each script is saved first to
 * /var/lib/kiln/instances/<instance-id>/scripts/<name> (0700, atomically;
 * kept for debugging, like cloud-init's instance/scripts/) and run from
 * there as an argv of one element, so execve honours its #! line, through
 * commands_run_argv(): the same output log, timeout, KILN_* environment and
 * "a failure is recoverable, the next script still runs" as runcmd.
 *
 * Names come from the MIME filename, which the sender chooses: the decoder
 * already replaced names with a '/', and this module refuses anything else
 * that is not a plain file name (".", "..", leading dot, control
 * characters, over 200 bytes) or that two parts share, as an input error —
 * a run with bad input changes nothing.
 */
#include <stdio.h>

#include "commands.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "state.h"
#include "userdata.h"

/* userdata.c already refused unsafe or duplicate names with a positioned
 * error; this is the last line of defence before a name becomes a path. */
static int check_script(kiln_ctx *ctx, size_t i, const char *name) {
        if (userdata_script_name_is_safe(name))
                return 0;
        diags_add(ctx->diags, DIAG_ERROR, "user-data", 0, 0, NULL, "script part %zu has an unusable name", i + 1);
        return -EINVAL;
}

static int scripts_user_plan(kiln_ctx *ctx, json_t **ret_plan) {
        json_t *s;
        size_t i;
        int r = 0;

        json_array_foreach(ctx->scripts, i, s) {
                const char *name = json_get_string(s, "name", NULL);
                if (check_script(ctx, i, name) < 0) {
                        r = -EINVAL;
                        continue;
                }
                json_t *item = plan_add(ret_plan, "run", name, "user-data script, %zu bytes",
                                        json_string_length(json_object_get(s, "content")));
                if (!item || json_object_set_new(item, "_index", json_integer((json_int_t) i)) < 0)
                        return -ENOMEM;
        }
        return r;
}

/* Writes the script (unless it is there already, unchanged). */
static int save_script(const char *path, json_t *content) {
        const char *data = json_string_value(content);
        size_t len = json_string_length(content);
        write_opts o = { .mode = 0700, .uid = 0, .gid = 0 };
        int r = file_content_equals(path, data, len);

        if (r != 0)
                return r < 0 ? r : 0;
        return write_file_atomic(path, data, len, &o);
}

static int run_one(kiln_ctx *ctx, int log_fd, const char *dir, json_t *script) {
        const char *name = json_get_string(script, "name", "");
        _cleanup_free_ char *path = path_join(dir, name);
        int r;

        if (!path)
                return log_oom();
        r = save_script(path, json_object_get(script, "content"));
        if (r < 0) {
                ctx_recoverable(ctx, "user-data script %s could not be saved to %s (%s); it was not run", name,
                                path, strerror(-r));
                return 0;
        }
        char *argv[] = { path, NULL };
        return commands_run_argv(ctx, log_fd, argv, ctx->module->name);
}

static int scripts_user_apply(kiln_ctx *ctx, json_t *plan) {
        _cleanup_free_ char *dir = state_path("instances/%s/scripts", ctx->instance_id);
        _cleanup_close_ int log_fd = -EBADF;
        json_t *item;
        size_t i;
        int r;

        if (!dir)
                return log_oom();
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", dir);
        r = commands_open_log(&log_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to open %s: %m", OUTPUT_LOG);
        json_array_foreach(plan, i, item) {
                json_t *s = json_array_get(ctx->scripts, (size_t) json_integer_value(json_object_get(item, "_index")));
                if (s && run_one(ctx, log_fd, dir, s) < 0)
                        return -ENOMEM;
        }
        return 0;
}

const kiln_module module_scripts_user = {
        .name = "scripts_user",
        .stage = STAGE_FINAL,
        .frequency = FREQ_PER_INSTANCE,
        .description = "Run the user-data's shell-script parts once per instance.",
        .keys = NULL,
        .plan = scripts_user_plan,
        .apply = scripts_user_apply,
};
