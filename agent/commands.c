/* commands.c — see commands.h. */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>

#include "commands.h"
#include "exec.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"

const schema_key commands_item_schema = { .types = ST_STRING | ST_ARRAY,
                                          .items = &(const schema_key){ .types = ST_STRING | ST_INTEGER } };

int commands_argv_of(json_t *entry, json_t **ret) {
        if (json_is_string(entry)) {
                *ret = json_pack("[s, s, O]", "/bin/sh", "-c", entry);
                return *ret ? 0 : -ENOMEM;
        }
        if (!json_is_array(entry) || json_array_size(entry) == 0)
                return -EINVAL;
        json_t *out = json_array(), *v;
        size_t i;
        json_array_foreach(entry, i, v) {
                /* cloud-init passes numbers as their text: runcmd: [[sleep, 5]] */
                if (json_is_string(v))
                        json_array_append(out, v);
                else if (json_is_integer(v))
                        json_array_append_new(out, json_sprintf("%lld", (long long) json_integer_value(v)));
                else {
                        json_decref(out);
                        return -EINVAL;
                }
        }
        *ret = out;
        return 0;
}

int commands_plan(kiln_ctx *ctx, json_t *list, const char *key_path, json_t **plan) {
        json_t *entry;
        size_t i;
        int r = 0;

        json_array_foreach(list, i, entry) {
                _cleanup_json_ json_t *argv = NULL;
                _cleanup_free_ char *path = keypath_index(key_path, i), *shown = NULL;
                if (commands_argv_of(entry, &argv) < 0) {
                        r = ctx_input_error(ctx, path, "a command is a string (shell) or a non-empty list of strings");
                        continue;
                }
                shown = json_is_string(entry) ? strdup(json_string_value(entry)) : json_dumps(entry, JSON_COMPACT);
                json_t *item = plan_add(plan, "run", shown ? shown : "?", json_is_string(entry) ? "shell" : "argv");
                if (!item || json_object_set(item, "_argv", argv) < 0)
                        return -ENOMEM;
        }
        return r;
}

int commands_open_log(int *ret_fd) {
        _cleanup_free_ char *p = root_path(OUTPUT_LOG), *copy = NULL;
        int fd, r;
        if (!p || !(copy = strdup(p)))
                return -ENOMEM;
        r = mkdir_p(dirname(copy), 0755);
        if (r < 0)
                return r;
        fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

static usec_t command_timeout(kiln_ctx *ctx) {
        double s = json_get_number(json_object_get(ctx->config, "kiln"), "command_timeout",
                                   COMMAND_TIMEOUT_DEFAULT_SEC);
        return s > 0 ? (usec_t) (s * (double) USEC_PER_SEC) : 0;
}

/* Output goes to the log line by line (journal) and to the output log. */
static void record_output(int log_fd, const char *label, const char *out) {
        if (isempty(out))
                return;
        dprintf(log_fd, "%s%s", out, endswith(out, "\n") ? "" : "\n");
        _cleanup_free_ char *copy = strdup(out);
        for (char *save = NULL, *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save))
                log_info("%s: %s", label, line);
}

int commands_run_argv(kiln_ctx *ctx, int log_fd, char *const argv[], const char *label) {
        return commands_run_argv_timeout(ctx, log_fd, argv, label, command_timeout(ctx));
}

int commands_run_argv_timeout(kiln_ctx *ctx, int log_fd, char *const argv[], const char *label, usec_t timeout) {
        _cleanup_free_ char *out = NULL, *e_root = NULL, *e_iid = NULL, *e_stage = NULL, *shown = NULL;
        char ts[FORMAT_TIMESTAMP_MAX];
        exec_opts o = EXEC_OPTS_DEFAULT;
        int status = 0, r;

        if (asprintf(&e_root, "KILN_ROOT=%s", root_get()) < 0 ||
            asprintf(&e_iid, "KILN_INSTANCE_ID=%s", ctx->instance_id ? ctx->instance_id : "") < 0 ||
            asprintf(&e_stage, "KILN_STAGE=%s", stage_to_string(ctx->stage)) < 0)
                return -ENOMEM;
        char *env[] = { e_root, e_iid, e_stage, NULL };
        shown = exec_argv_to_string(argv);
        dprintf(log_fd, "[%s] %s: $ %s\n", format_timestamp(now_usec(), ts), label, shown ? shown : argv[0]);
        o.timeout = timeout;
        o.capture = &out;
        o.output_fd = log_fd; /* stderr straight to the output log */
        o.extra_env = env;
        o.search_path = true;
        r = exec_run(argv, &o, &status);
        record_output(log_fd, label, out);
        if (r == -ETIME)
                ctx_recoverable(ctx, "%s: '%s' timed out and was killed", label, shown ? shown : argv[0]);
        else if (r < 0)
                ctx_recoverable(ctx, "%s: '%s' could not be run: %s", label, shown ? shown : argv[0], strerror(-r));
        else if (status != 0)
                ctx_recoverable(ctx, "%s: '%s' exited with status %d", label, shown ? shown : argv[0], status);
        else
                ctx_change(ctx, "ran", shown ? shown : argv[0], NULL);
        return 0;
}

int commands_apply(kiln_ctx *ctx, json_t *plan) {
        _cleanup_close_ int log_fd = -EBADF;
        json_t *item;
        size_t i;
        int r;

        r = commands_open_log(&log_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to open %s: %m", OUTPUT_LOG);
        json_array_foreach(plan, i, item) {
                json_t *argv_j = json_object_get(item, "_argv");
                size_t n = json_array_size(argv_j);
                _cleanup_free_ char **argv = calloc(n + 1, sizeof(char *));
                if (!argv)
                        return log_oom();
                for (size_t k = 0; k < n; k++)
                        argv[k] = (char *) json_string_value(json_array_get(argv_j, k));
                commands_run_argv(ctx, log_fd, argv, ctx->module->name);
        }
        return 0;
}
