/* module.c — stage and frequency names, and the helpers modules use to
 * describe plans and record what they changed (see module.h). */
#include <stdarg.h>
#include <stdio.h>

#include "json-util.h"
#include "log.h"
#include "module.h"
#include "template.h"

static const char *const stage_names[_STAGE_MAX] = {
        [STAGE_LOCAL] = "local", [STAGE_NETWORK] = "network", [STAGE_CONFIG] = "config",
        [STAGE_FINAL] = "final", [STAGE_SHUTDOWN] = "shutdown",
};

static const char *const freq_names[_FREQ_MAX] = {
        [FREQ_PER_INSTANCE] = "per-instance", [FREQ_PER_BOOT] = "per-boot",
        [FREQ_ALWAYS] = "always",             [FREQ_ONCE] = "once",
};

const char *stage_to_string(kiln_stage s) {
        return s >= 0 && s < _STAGE_MAX ? stage_names[s] : NULL;
}

static int name_index(const char *const *names, int n, const char *s) {
        for (int i = 0; s && i < n; i++)
                if (streq(s, names[i]))
                        return i;
        return -1;
}

kiln_stage stage_from_string(const char *s) {
        return (kiln_stage) name_index(stage_names, _STAGE_MAX, s);
}

const char *freq_to_string(kiln_freq f) {
        return f >= 0 && f < _FREQ_MAX ? freq_names[f] : NULL;
}

kiln_freq freq_from_string(const char *s) {
        return (kiln_freq) name_index(freq_names, _FREQ_MAX, s);
}

static json_t *vitem(const char *action, const char *target, const char *format, va_list ap) {
        _cleanup_free_ char *detail = NULL;
        if (format && vasprintf(&detail, format, ap) < 0)
                return NULL;
        return json_pack("{s:s, s:s, s:s?}", "action", action, "target", target, "detail", detail);
}

json_t *plan_add(json_t **plan, const char *action, const char *target, const char *detail_format, ...) {
        va_list ap;
        json_t *item;

        if (!*plan && !(*plan = json_array()))
                return NULL;
        va_start(ap, detail_format);
        item = vitem(action, target, detail_format, ap);
        va_end(ap);
        if (!item || json_array_append_new(*plan, item) < 0)
                return NULL;
        return item;
}

int ctx_change(kiln_ctx *ctx, const char *action, const char *target, const char *detail_format, ...) {
        va_list ap;
        json_t *item;

        va_start(ap, detail_format);
        item = vitem(action, target, detail_format, ap);
        va_end(ap);
        if (!item)
                return log_oom();
        const char *detail = json_get_string(item, "detail", NULL);
        log_info("%s %s%s%s%s", action, target, detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
        if (!ctx->changes && !(ctx->changes = json_array())) {
                json_decref(item);
                return log_oom();
        }
        return json_array_append_new(ctx->changes, item) < 0 ? log_oom() : 0;
}

/* Logs a message at level and appends it to *list (created on demand). */
static void vrecord(json_t **list, int level, const char *fallback, const char *format, va_list ap) {
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        log_full_errno(level, 0, "%s", msg ? msg : fallback);
        if (!*list)
                *list = json_array();
        if (*list)
                json_array_append_new(*list, json_string(msg ? msg : fallback));
}

void ctx_recoverable(kiln_ctx *ctx, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        vrecord(&ctx->recoverable, LOG_WARNING, "recoverable error", format, ap);
        va_end(ap);
}

int ctx_error(kiln_ctx *ctx, int err, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        vrecord(&ctx->errors, LOG_ERR, strerror(err < 0 ? -err : EIO), format, ap);
        va_end(ap);
        return err < 0 ? err : -EIO;
}

int ctx_input_error(kiln_ctx *ctx, const char *key_path, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        schema_report(ctx->diags, DIAG_ERROR, ctx->config_map, "config", key_path, "%s", msg ? msg : "invalid value");
        return -EINVAL;
}

int ctx_config_render(kiln_ctx *ctx, const char *key_path, char **ret) {
        _cleanup_diags_ diags td = DIAGS_INIT;
        const char *s = json_string_value(ctx_config_get(ctx, key_path));
        size_t len;
        int r;

        if (!s) {
                *ret = NULL;
                return 0;
        }
        if (!strstr(s, "{{") && !strstr(s, "{%")) {
                *ret = strdup(s);
                return *ret ? 0 : -ENOMEM;
        }
        tmpl_options o = { .name = key_path };
        r = tmpl_render_string(s, strlen(s), &o, ctx->instance_data, ret, &len, &td);
        if (r >= 0)
                return 0;
        for (size_t i = 0; i < td.n; i++)
                if (td.v[i].level == DIAG_ERROR)
                        ctx_input_error(ctx, key_path, "%s (line %u, column %u of the value)", td.v[i].message,
                                        td.v[i].line, td.v[i].column);
        return -EINVAL;
}

json_t *ctx_config_get(kiln_ctx *ctx, const char *key_path) {
        return json_get_path(ctx->config, key_path);
}
