/* templates.c — kiln's `templates` key: service configuration files rendered
 * from Jinja-compatible templates against the instance-data tree (the one
 * `kiln query --all` prints, vars and secret_vars included), in the config
 * stage, before the roles' services start.
 *
 *   templates:
 *     - source: cortex.yaml.j2        # relative: under /etc/kiln/templates (the image's)
 *       path: /etc/cortex/cortex.yaml
 *       owner: cortex                 # "user[:group]"; group: overrides the group
 *       mode: "0640"
 *       on_change: {restart: cortex.service}
 *     - content: "OPTS={{ v1.local_ipv4 }}\n"   # inline instead of source
 *       path: /etc/default/x
 *       on_change: {command: [systemctl, try-reload-or-restart, x], timeout: 30}
 *
 * Frequency per boot: instance facts (addresses, the AZ after a stop/start,
 * new user-data) can change between boots, and re-rendering is cheap; what
 * keeps a reboot quiet is that an unchanged output is neither rewritten nor
 * triggers anything.  consul-template's behaviour is the model: an existing
 * file keeps its mode and owner unless they are given (a new one is 0644
 * and owned by kiln's user, root), the change action runs only when the
 * file changed, a command has a timeout (30 s).
 *
 * Rendering is Jinja2's with keep_trailing_newline=True (docs/templates.md):
 * the file ends the way the template does.
 *
 * Plan parses and renders everything: a syntax error, an undefined
 * variable, a bad key is an input error naming the config key and the
 * template:line:col, and then nothing of the stage is applied.  Plans and
 * status never show content (it may hold secrets); a template that would put
 * a secret (a value under a sensitive instance-data key, secret_vars
 * included) into a world-readable file is refused.  Apply renders again
 * (nothing rendered is kept in the plan), writes atomically with owner and
 * mode set before the rename and never through a symlink (agent/fileio.h),
 * then runs each on_change once however many of its files changed: one
 * reload per unit (a restart wins over a reload), one run per command.
 * Units go through agent/unit-control.h (try-jobs, queued, never waited
 * for; recorded only under --root or without systemd).  A failed reload or
 * command is a recoverable error: the file is written and stays written.
 */
#include <libgen.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "accounts.h"
#include "commands.h"
#include "fileio.h"
#include "instance-data.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "template.h"
#include "unit-control.h"

#define TEMPLATE_DIR "/etc/kiln/templates"
#define ON_CHANGE_TIMEOUT_DEFAULT_SEC 30.0
#define ON_CHANGE_TIMEOUT_MAX_SEC 3600.0
/* Shorter secret values are not looked for in output or messages (too
 * likely to match by chance). */
#define SECRET_MIN_LEN 6U

/* ---- schema ---- */

static const schema_key command_word = { .types = ST_STRING | ST_INTEGER };

static const schema_key on_change_keys[] = {
        KEY("reload", ST_STRING,
            "Unit to reload when the file changed, if it is active (systemd's try-reload-or-restart: "
            "restarted if it can't reload); a name without suffix means .service."),
        KEY("restart", ST_STRING, "Unit to restart when the file changed, if it is active (try-restart)."),
        { .name = "command", .types = ST_STRING | ST_ARRAY, .items = &command_word,
          .description = "Command to run when the file changed: a list is an argv, a string runs with /bin/sh -c." },
        KEY("timeout", ST_NUMBER, "Seconds the command may run before it is killed (default 30, at most 3600)."),
        {},
};

static const schema_key entry_keys[] = {
        KEY("source", ST_STRING,
            "Template file: a relative name is under /etc/kiln/templates (the image's), an absolute path is "
            "used as given (both under --root). Exactly one of source and content."),
        KEY("content", ST_STRING, "The template itself, inline."),
        { .name = "path", .types = ST_STRING, .required = true,
          .description = "Absolute path of the file to render (never written through a symlink)." },
        KEY("owner", ST_STRING,
            "user[:group] by name or id (default: an existing file keeps its owner, a new one is root's)."),
        KEY("group", ST_STRING, "Group by name or id; overrides owner's group."),
        KEY("mode", ST_STRING | ST_INTEGER,
            "Mode: \"0640\" or a YAML octal int (default: an existing file keeps its mode, a new one is 0644)."),
        KEY_OBJ("on_change", on_change_keys,
                "What to do when the file changed: one of reload, restart (a systemd unit) or command."),
        {},
};
static const schema_key entry = { .types = ST_OBJECT, .props = entry_keys };

static const schema_key templates_keys[] = {
        KEY_LIST("templates", &entry,
                 "Files rendered from templates against instance-data on every boot (docs/templates.md)."),
        {},
};

/* ---- one entry ---- */

typedef struct tpl_entry {
        const char *path;    /* destination (borrowed from config) */
        char *source_abs;    /* the template file, before root_path(); NULL for inline content */
        char *key;           /* "templates[i]" */
        write_opts wo;       /* mode 0 / ids -1 where not given: keep the existing file's */
        json_t *trigger;     /* {kind, unit|argv, job, timeout} or NULL */
        char *data;          /* rendered */
        size_t len;
} tpl_entry;

static void tpl_entry_clear(tpl_entry *e) {
        free(e->source_abs);
        free(e->key);
        json_decref(e->trigger);
        free(e->data);
        *e = (tpl_entry){ 0 };
}
static inline void tpl_entry_clearp(tpl_entry *e) {
        tpl_entry_clear(e);
}
#define _cleanup_tpl_entry_ _cleanup_(tpl_entry_clearp)

typedef enum dest_state {
        DEST_UNCHANGED,
        DEST_NEW,
        DEST_CHANGED,       /* content differs (or the target is not a regular file) */
        DEST_ATTRS_CHANGED, /* same content, but mode or owner differs from what was asked */
} dest_state;

static const char *dest_state_to_string(dest_state s) {
        static const char *const names[] = { "unchanged", "new", "changed", "mode/owner changed" };
        return names[s];
}

/* Reports an input error at "<e->key>.<sub>" (or at the entry when sub is NULL). */
static int entry_error(kiln_ctx *ctx, const char *key, const char *sub, const char *format, ...) _printf_(4, 5);
static int entry_error(kiln_ctx *ctx, const char *key, const char *sub, const char *format, ...) {
        _cleanup_free_ char *msg = NULL, *at = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg || (sub ? asprintf(&at, "%s.%s", key, sub) : asprintf(&at, "%s", key)) < 0)
                return -ENOMEM;
        return ctx_input_error(ctx, at, "%s", msg);
}

/* source → the absolute template path (relative names live in the template dir). */
static int source_path(kiln_ctx *ctx, const char *key, const char *source, char **ret) {
        _cleanup_free_ char *abs = NULL;

        if (source[0] == '/')
                abs = strdup(source);
        else if (asprintf(&abs, TEMPLATE_DIR "/%s", source) < 0)
                abs = NULL;
        if (!abs)
                return -ENOMEM;
        if (isempty(source) || !path_is_safe_absolute(abs) || endswith(abs, "/"))
                return entry_error(ctx, key, "source", "'%s' is not a template name (a relative name without '..' "
                                   "under " TEMPLATE_DIR ", or an absolute path)", source);
        *ret = TAKE_PTR(abs);
        return 0;
}

static int parse_owner(kiln_ctx *ctx, json_t *item, tpl_entry *e) {
        const char *owner = json_get_string(item, "owner", NULL), *group = json_get_string(item, "group", NULL);
        _cleanup_free_ char *error = NULL;
        int r;

        if (owner) {
                r = accounts_resolve_owner(owner, &e->wo.uid, &e->wo.gid, &error);
                if (r < 0)
                        return entry_error(ctx, e->key, "owner", "%s", error ? error : strerror(-r));
        }
        if (group) {
                r = accounts_resolve_group(group, &e->wo.gid, &error);
                if (r < 0)
                        return entry_error(ctx, e->key, "group", "%s", error ? error : strerror(-r));
        }
        return 0;
}

static int parse_mode(kiln_ctx *ctx, json_t *item, tpl_entry *e) {
        json_t *m = json_object_get(item, "mode");
        long long v = json_integer_value(m);

        if (!m)
                return 0;
        if (mode_is_lost_octal(m))
                return entry_error(ctx, e->key, "mode", "%lld is a decimal number; write it as \"0%lld\" (a string) "
                                   "or 0%lld", v, v, v);
        if (mode_from_json(m, &e->wo.mode) < 0)
                return entry_error(ctx, e->key, "mode", "not a file mode (\"0644\" or an octal integer)");
        if (e->wo.mode == 0)
                return entry_error(ctx, e->key, "mode", "mode 0 would make the file unreadable for its service");
        return 0;
}

static int parse_unit_trigger(kiln_ctx *ctx, const char *key, json_t *oc, const char *which, unit_job job,
                              json_t **ret) {
        _cleanup_free_ char *unit = NULL;
        const char *name = json_get_string(oc, which, NULL);
        int r = unit_name_normalize(name, &unit);

        if (r == -EINVAL)
                return entry_error(ctx, key, which, "'%s' is not a systemd unit name", name ? name : "");
        if (r < 0)
                return r;
        *ret = json_pack("{s:s, s:s, s:s}", "kind", "unit", "unit", unit, "job", unit_job_to_string(job));
        return *ret ? 0 : -ENOMEM;
}

static int parse_command_trigger(kiln_ctx *ctx, const char *key, json_t *oc, json_t **ret) {
        _cleanup_json_ json_t *argv = NULL;
        _cleanup_free_ char *shown = NULL;
        json_t *t = json_object_get(oc, "timeout"), *cmd = json_object_get(oc, "command");
        double timeout = t ? json_number_value(t) : ON_CHANGE_TIMEOUT_DEFAULT_SEC;

        if (commands_argv_of(cmd, &argv) < 0)
                return entry_error(ctx, key, "command", "a command is a string (shell) or a non-empty list of strings");
        if (!(timeout > 0 && timeout <= ON_CHANGE_TIMEOUT_MAX_SEC))
                return entry_error(ctx, key, "timeout", "must be more than 0 and at most %.0f seconds",
                                   ON_CHANGE_TIMEOUT_MAX_SEC);
        shown = json_is_string(cmd) ? strdup(json_string_value(cmd)) : json_dumps(cmd, JSON_COMPACT);
        if (!shown)
                return -ENOMEM;
        *ret = json_pack("{s:s, s:O, s:s, s:f}", "kind", "command", "argv", argv, "shown", shown, "timeout", timeout);
        return *ret ? 0 : -ENOMEM;
}

/* on_change: exactly one of reload, restart, command (timeout only with command). */
static int parse_on_change(kiln_ctx *ctx, json_t *item, tpl_entry *e) {
        _cleanup_free_ char *key = NULL;
        json_t *oc = json_object_get(item, "on_change");
        int n;

        if (!oc)
                return 0;
        if (asprintf(&key, "%s.on_change", e->key) < 0)
                return -ENOMEM;
        n = !!json_object_get(oc, "reload") + !!json_object_get(oc, "restart") + !!json_object_get(oc, "command");
        if (n != 1)
                return entry_error(ctx, key, NULL, "give exactly one of reload, restart and command");
        if (json_object_get(oc, "timeout") && !json_object_get(oc, "command"))
                return entry_error(ctx, key, "timeout", "timeout applies to command only (units are queued, never "
                                   "waited for)");
        if (json_object_get(oc, "reload"))
                return parse_unit_trigger(ctx, key, oc, "reload", UNIT_JOB_RELOAD, &e->trigger);
        if (json_object_get(oc, "restart"))
                return parse_unit_trigger(ctx, key, oc, "restart", UNIT_JOB_RESTART, &e->trigger);
        return parse_command_trigger(ctx, key, oc, &e->trigger);
}

/* Reads and checks entry i (not its template); every problem is an input error at its key. */
static int parse_entry(kiln_ctx *ctx, json_t *item, size_t i, tpl_entry *ret) {
        _cleanup_tpl_entry_ tpl_entry e = { .wo = WRITE_OPTS_DEFAULT };
        const char *source = json_get_string(item, "source", NULL);
        bool has_content = json_is_string(json_object_get(item, "content"));
        int r;

        e.wo.keep_existing_mode = true;
        e.path = json_get_string(item, "path", NULL);
        if (!(e.key = keypath_index("templates", i)))
                return -ENOMEM;
        if (!!source == has_content)
                return entry_error(ctx, e.key, NULL, "give exactly one of source (a template file) and content "
                                   "(an inline template)");
        if (!path_is_safe_absolute(e.path) || endswith(e.path, "/"))
                return entry_error(ctx, e.key, "path", "'%s' is not an absolute file path without '..'",
                                   e.path ? e.path : "");
        if (source && (r = source_path(ctx, e.key, source, &e.source_abs)) < 0)
                return r;
        if ((r = parse_owner(ctx, item, &e)) < 0 || (r = parse_mode(ctx, item, &e)) < 0 ||
            (r = parse_on_change(ctx, item, &e)) < 0)
                return r;
        *ret = e;
        e = (tpl_entry){ 0 };
        return 0;
}

/* ---- secrets ---- */

static void add_secret_strings(json_t *out, json_t *v) {
        json_t *it;
        const char *k;
        size_t i;

        if (json_is_string(v) && json_string_length(v) >= SECRET_MIN_LEN)
                json_array_append(out, v);
        else if (json_is_array(v))
                json_array_foreach(v, i, it)
                        add_secret_strings(out, it);
        else if (json_is_object(v))
                json_object_foreach(v, k, it)
                        add_secret_strings(out, it);
}

/* Every string under a sensitive instance-data key (the keys the world-readable copy redacts). */
static int collect_secrets(json_t *idata, json_t **ret) {
        _cleanup_json_ json_t *redacted = NULL, *out = json_array();
        json_t *p;
        size_t i;
        int r;

        if (!out)
                return -ENOMEM;
        r = instance_data_redact(idata, &redacted);
        if (r < 0)
                return r;
        json_array_foreach(json_object_get(redacted, "sensitive_keys"), i, p)
                add_secret_strings(out, json_get_path(idata, json_string_value(p)));
        *ret = TAKE_PTR(out);
        return 0;
}

static bool contains_secret(const char *data, size_t len, json_t *secrets) {
        json_t *s;
        size_t i;
        json_array_foreach(secrets, i, s)
                if (memmem(data, len, json_string_value(s), json_string_length(s)))
                        return true;
        return false;
}

/* msg with every secret value replaced by "***" (malloc'd). */
static char *scrub(const char *msg, json_t *secrets) {
        _cleanup_free_ char *out = strdup(msg);
        json_t *s;
        size_t i;

        json_array_foreach(secrets, i, s) {
                const char *v = json_string_value(s), *hit;
                while (out && (hit = strstr(out, v))) {
                        char *n = NULL;
                        if (asprintf(&n, "%.*s***%s", (int) (hit - out), out, hit + strlen(v)) < 0)
                                return NULL;
                        free(out);
                        out = n;
                }
        }
        return TAKE_PTR(out);
}

/* ---- rendering ---- */

/* The engine's diagnostics as input errors at the config key, template position in the message. */
static void report_template_errors(kiln_ctx *ctx, const char *key, const char *inline_name, const diags *td,
                                   json_t *secrets) {
        for (size_t i = 0; i < td->n; i++) {
                const diag_entry *d = &td->v[i];
                _cleanup_free_ char *msg = scrub(d->message, secrets);
                const char *m = msg ? msg : "template error";
                if (d->file && inline_name && streq(d->file, inline_name) && d->line > 0)
                        ctx_input_error(ctx, key, "line %u, column %u: %s", d->line, d->column, m);
                else if (d->file && d->line > 0 && d->column > 0)
                        ctx_input_error(ctx, key, "%s:%u:%u: %s", d->file, d->line, d->column, m);
                else if (d->file && d->line > 0)
                        ctx_input_error(ctx, key, "%s:%u: %s", d->file, d->line, m);
                else
                        ctx_input_error(ctx, key, "%s%s%s", d->file ? d->file : "", d->file ? ": " : "", m);
        }
}

static int read_template(kiln_ctx *ctx, const tpl_entry *e, const char *source, char **ret, size_t *ret_len) {
        _cleanup_free_ char *p = root_path(e->source_abs);
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, TMPL_MAX_SOURCE, ret, ret_len);
        if (r == -ENOENT)
                return entry_error(ctx, e->key, "source", "template %s not found%s", e->source_abs,
                                   source[0] == '/' ? "" : " (relative names are under " TEMPLATE_DIR ")");
        if (r == -EFBIG)
                return entry_error(ctx, e->key, "source", "template %s is larger than %u bytes", e->source_abs,
                                   TMPL_MAX_SOURCE);
        if (r < 0)
                return entry_error(ctx, e->key, "source", "cannot read template %s: %s", e->source_abs, strerror(-r));
        return 0;
}

static int render_entry(kiln_ctx *ctx, json_t *item, tpl_entry *e, json_t *secrets) {
        _cleanup_free_ char *text_buf = NULL, *include_dir = root_path(TEMPLATE_DIR), *key = NULL, *inl = NULL;
        _cleanup_diags_ diags td = DIAGS_INIT;
        const char *source = json_get_string(item, "source", NULL), *text;
        size_t len;
        int r;

        if (!include_dir || asprintf(&inl, "%s.content", e->key) < 0)
                return -ENOMEM;
        if (source) {
                r = read_template(ctx, e, source, &text_buf, &len);
                if (r < 0)
                        return r;
                text = text_buf;
        } else {
                text = json_string_value(json_object_get(item, "content"));
                len = json_string_length(json_object_get(item, "content"));
        }
        /* a config file keeps its final newline, as with consul-template or Ansible */
        tmpl_options o = { .name = source ? source : inl, .include_dir = include_dir, .keep_trailing_newline = true };
        r = tmpl_render_string(text, len, &o, ctx->instance_data, &e->data, &e->len, &td);
        if (r == -EINVAL || (r < 0 && td.n > 0)) {
                if (asprintf(&key, "%s.%s", e->key, source ? "source" : "content") < 0)
                        return -ENOMEM;
                report_template_errors(ctx, key, source ? NULL : inl, &td, secrets);
                return -EINVAL;
        }
        return r;
}

/* Compares the rendered entry with the destination p; *ret_mode is the mode the file will have. */
static int compare_dest(const tpl_entry *e, const char *p, dest_state *ret, mode_t *ret_mode) {
        struct stat st;
        int r;

        if (lstat(p, &st) < 0) {
                if (errno != ENOENT && errno != ENOTDIR)
                        return negative_errno();
                *ret = DEST_NEW;
                *ret_mode = e->wo.mode ? e->wo.mode : 0644;
                return 0;
        }
        *ret_mode = e->wo.mode ? e->wo.mode : (st.st_mode & 07777);
        if (!S_ISREG(st.st_mode)) {
                *ret = DEST_CHANGED; /* apply refuses a symlink or a directory, with the reason */
                return 0;
        }
        r = file_content_equals(p, e->data, e->len);
        if (r < 0)
                return r;
        if (r == 0)
                *ret = DEST_CHANGED;
        else if ((e->wo.mode && (st.st_mode & 07777) != e->wo.mode) ||
                 (e->wo.uid != (uid_t) -1 && st.st_uid != e->wo.uid) ||
                 (e->wo.gid != (gid_t) -1 && st.st_gid != e->wo.gid))
                *ret = DEST_ATTRS_CHANGED;
        else
                *ret = DEST_UNCHANGED;
        return 0;
}

/* parse + render + compare entry i.  Input errors go to ctx->diags. */
static int prepare_entry(kiln_ctx *ctx, json_t *item, size_t i, json_t *secrets, tpl_entry *ret,
                         dest_state *ret_state, mode_t *ret_mode) {
        _cleanup_tpl_entry_ tpl_entry e = {};
        _cleanup_free_ char *p = NULL;
        int r;

        r = parse_entry(ctx, item, i, &e);
        if (r < 0)
                return r;
        r = render_entry(ctx, item, &e, secrets);
        if (r < 0)
                return r;
        if (!(p = root_path(e.path)))
                return -ENOMEM;
        r = compare_dest(&e, p, ret_state, ret_mode);
        if (r < 0)
                return entry_error(ctx, e.key, "path", "cannot read %s: %s", e.path, strerror(-r));
        if (*ret_state != DEST_UNCHANGED && (*ret_mode & 0004) && contains_secret(e.data, e.len, secrets))
                return entry_error(ctx, e.key, NULL, "%s would hold a secret value and be world-readable "
                                   "(mode %04o): give it a mode such as \"0640\" and the service's group",
                                   e.path, (unsigned) *ret_mode);
        *ret = e;
        e = (tpl_entry){ 0 };
        return 0;
}

/* ---- plan ---- */

static json_t *trigger_find(json_t *triggers, json_t *t) {
        json_t *it;
        size_t i;
        json_array_foreach(triggers, i, it) {
                json_t *a = json_object_get(it, "_trigger");
                if (!streq(json_get_string(a, "kind", ""), json_get_string(t, "kind", "")))
                        continue;
                if (streq(json_get_string(t, "kind", ""), "unit") ?
                            streq(json_get_string(a, "unit", ""), json_get_string(t, "unit", "")) :
                            json_equal(json_object_get(a, "argv"), json_object_get(t, "argv")) &&
                                    json_get_number(a, "timeout", 0) == json_get_number(t, "timeout", 0))
                        return it;
        }
        return NULL;
}

static unit_job job_of(json_t *t) {
        return streq(json_get_string(t, "job", ""), "restart") ? UNIT_JOB_RESTART : UNIT_JOB_RELOAD;
}

/* Adds entry i's trigger to the plan's trigger list, merged with an equal one
 * (same unit: one job, restart winning; same command: one run). */
static int trigger_add(json_t **triggers, json_t *t, size_t i) {
        json_t *item = trigger_find(*triggers, t);
        bool unit = streq(json_get_string(t, "kind", ""), "unit");

        if (item) {
                json_t *have = json_object_get(item, "_trigger");
                if (unit && unit_job_merge(job_of(have), job_of(t)) != job_of(have)) {
                        json_object_set(item, "_trigger", t);
                        json_object_set_new(item, "action", json_string(unit_job_to_string(job_of(t))));
                }
                return json_array_append_new(json_object_get(item, "_files"), json_integer((json_int_t) i));
        }
        item = plan_add(triggers, unit ? unit_job_to_string(job_of(t)) : "run",
                        json_get_string(t, unit ? "unit" : "shown", "?"), NULL);
        if (!item || json_object_set(item, "_trigger", t) < 0 ||
            json_object_set_new(item, "_files", json_pack("[I]", (json_int_t) i)) < 0)
                return -ENOMEM;
        return 0;
}

/* "try-restart if active; for /a, /b" and the like. */
static int trigger_detail(json_t *item, json_t *list) {
        json_t *t = json_object_get(item, "_trigger"), *f;
        _cleanup_free_ char *files = NULL;
        _cleanup_free_ char *timeout = NULL;
        const char *how;
        size_t i;

        json_array_foreach(json_object_get(item, "_files"), i, f) {
                const char *p = json_get_string(json_array_get(list, (size_t) json_integer_value(f)), "path", "?");
                char *n = NULL;
                if (asprintf(&n, "%s%s%s", files ? files : "", files ? ", " : "", p) < 0)
                        return -ENOMEM;
                free(files);
                files = n;
        }
        if (!streq(json_get_string(t, "kind", ""), "unit")) {
                if (asprintf(&timeout, "timeout %g s", json_get_number(t, "timeout", 0)) < 0)
                        return -ENOMEM;
                how = timeout;
        }
        else if (unit_route_for(root_is_live(), unit_systemd_running()) == UNIT_ROUTE_UNDER_ROOT)
                how = "skipped under --root";
        else if (unit_route_for(root_is_live(), unit_systemd_running()) == UNIT_ROUTE_NO_SYSTEMD)
                how = "systemd not running";
        else
                how = job_of(t) == UNIT_JOB_RESTART ? "try-restart, if active" : "try-reload-or-restart, if active";
        return json_object_set_new(item, "detail", json_sprintf("%s; for %s", how, files ? files : "")) < 0 ?
                -ENOMEM : 0;
}

static int plan_entries(kiln_ctx *ctx, json_t *list, json_t *secrets, json_t **plan, json_t **triggers) {
        _cleanup_json_ json_t *seen = json_object();
        json_t *item;
        size_t i;
        int failed = 0, r;

        if (!seen)
                return -ENOMEM;
        json_array_foreach(list, i, item) {
                _cleanup_tpl_entry_ tpl_entry e = {};
                dest_state state;
                mode_t mode;

                r = prepare_entry(ctx, item, i, secrets, &e, &state, &mode);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        failed++;
                        continue;
                }
                if (json_object_get(seen, e.path)) {
                        failed++;
                        entry_error(ctx, e.key, "path", "%s is also rendered by templates[%lld]", e.path,
                                    (long long) json_integer_value(json_object_get(seen, e.path)));
                        continue;
                }
                json_object_set_new(seen, e.path, json_integer((json_int_t) i));
                if (state == DEST_UNCHANGED)
                        continue;
                json_t *pi = plan_add(plan, "render", e.path, "%zu bytes, %s", e.len, dest_state_to_string(state));
                if (!pi || json_object_set_new(pi, "_index", json_integer((json_int_t) i)) < 0)
                        return -ENOMEM;
                if (e.trigger && trigger_add(triggers, e.trigger, i) < 0)
                        return -ENOMEM;
        }
        return failed ? -EINVAL : 0;
}

static int templates_plan(kiln_ctx *ctx, json_t **ret_plan) {
        _cleanup_json_ json_t *secrets = NULL, *plan = NULL, *triggers = NULL;
        json_t *list = ctx_config_get(ctx, "templates"), *item;
        size_t i;
        int r;

        if (json_array_size(list) == 0)
                return 0;
        r = collect_secrets(ctx->instance_data, &secrets);
        if (r < 0)
                return log_oom();
        r = plan_entries(ctx, list, secrets, &plan, &triggers);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return r;
        json_array_foreach(triggers, i, item)
                if (trigger_detail(item, list) < 0)
                        return log_oom();
        if (triggers && (!plan || json_array_extend(plan, triggers) < 0))
                return log_oom();
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* ---- apply ---- */

/* Renders entry i again and writes it if it still differs: 1 written, 0 unchanged, <0 failed (recorded). */
static int write_entry(kiln_ctx *ctx, json_t *item, size_t i, json_t *secrets) {
        _cleanup_tpl_entry_ tpl_entry e = {};
        _cleanup_free_ char *p = NULL, *dir = NULL;
        _cleanup_diags_ diags d = DIAGS_INIT;
        kiln_ctx c = *ctx;
        dest_state state;
        mode_t mode;
        int r;

        c.diags = &d; /* plan reported input errors; here they can only mean the input changed since */
        r = prepare_entry(&c, item, i, secrets, &e, &state, &mode);
        if (r < 0) {
                diags_log(&d);
                return ctx_error(ctx, r, "templates[%zu]: %s changed between plan and apply", i,
                                 json_get_string(item, "path", "?"));
        }
        if (state == DEST_UNCHANGED)
                return 0;
        if (!(p = root_path(e.path)) || !(dir = strdup(p)))
                return log_oom();
        r = mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to create the directory of %s: %s", e.path, strerror(-r));
        r = write_file_atomic(p, e.data, e.len, &e.wo);
        if (r == -ELOOP)
                return ctx_error(ctx, r, "Refusing to write %s: it is a symlink.", e.path);
        if (r < 0)
                return ctx_error(ctx, r, "Failed to write %s: %s", e.path, strerror(-r));
        r = ctx_change(ctx, "rendered", e.path, "%zu bytes, %s, mode %04o", e.len, dest_state_to_string(state),
                       (unsigned) mode);
        return r < 0 ? r : 1;
}

static int fire_unit(kiln_ctx *ctx, json_t *t) {
        _cleanup_free_ char *job = NULL, *error = NULL;
        const char *unit = json_get_string(t, "unit", "?");
        unit_job j = job_of(t);
        int r;

        switch (unit_route_for(root_is_live(), unit_systemd_running())) {
        case UNIT_ROUTE_UNDER_ROOT:
                return ctx_change(ctx, unit_job_to_string(j), unit, "skipped under --root");
        case UNIT_ROUTE_NO_SYSTEMD:
                return ctx_change(ctx, j == UNIT_JOB_RESTART ? "would restart" : "would reload", unit,
                                  "systemd not running");
        case UNIT_ROUTE_QUEUE:
                break;
        }
        r = unit_queue_job(j, unit, NULL, &job, &error);
        if (r < 0) {
                ctx_recoverable(ctx, "on_change: could not %s %s: %s", unit_job_to_string(j), unit,
                                error ? error : strerror(-r));
                return 0;
        }
        return ctx_change(ctx, unit_job_to_string(j), unit, "queued: %s", job);
}

static int fire_command(kiln_ctx *ctx, json_t *t, int *log_fd) {
        json_t *argv_j = json_object_get(t, "argv");
        size_t n = json_array_size(argv_j);
        _cleanup_free_ char **argv = calloc(n + 1, sizeof(char *));
        int r;

        if (!argv)
                return log_oom();
        if (*log_fd < 0 && (r = commands_open_log(log_fd)) < 0)
                return ctx_error(ctx, r, "Failed to open " OUTPUT_LOG ": %s", strerror(-r));
        for (size_t k = 0; k < n; k++)
                argv[k] = (char *) json_string_value(json_array_get(argv_j, k));
        return commands_run_argv_timeout(ctx, *log_fd, argv, "templates on_change",
                                         (usec_t) (json_get_number(t, "timeout", ON_CHANGE_TIMEOUT_DEFAULT_SEC) *
                                                   (double) USEC_PER_SEC));
}

/* Runs the triggers of the plan whose files were written. */
static int fire_triggers(kiln_ctx *ctx, json_t *plan, const bool *written, size_t n_written) {
        _cleanup_close_ int log_fd = -EBADF;
        json_t *item, *f;
        size_t i, k;
        int r = 0;

        json_array_foreach(plan, i, item) {
                json_t *t = json_object_get(item, "_trigger");
                bool due = false;
                if (!t)
                        continue;
                json_array_foreach(json_object_get(item, "_files"), k, f)
                        due = due || ((size_t) json_integer_value(f) < n_written && written[json_integer_value(f)]);
                if (!due)
                        continue;
                int q = streq(json_get_string(t, "kind", ""), "unit") ? fire_unit(ctx, t) : fire_command(ctx, t, &log_fd);
                if (q < 0 && r == 0)
                        r = q;
        }
        return r;
}

static int templates_apply(kiln_ctx *ctx, json_t *plan) {
        _cleanup_json_ json_t *secrets = NULL;
        json_t *list = ctx_config_get(ctx, "templates"), *item;
        size_t n = json_array_size(list), i;
        _cleanup_free_ bool *written = calloc(n + 1, sizeof(bool));
        int failed = 0, r;

        if (!written || collect_secrets(ctx->instance_data, &secrets) < 0)
                return log_oom();
        json_array_foreach(plan, i, item) {
                long long idx = json_get_int(item, "_index", -1);
                if (idx < 0 || (size_t) idx >= n)
                        continue;
                r = write_entry(ctx, json_array_get(list, (size_t) idx), (size_t) idx, secrets);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        failed++;
                written[idx] = r > 0;
        }
        r = fire_triggers(ctx, plan, written, n);
        if (r < 0)
                return r;
        /* one file failing does not stop the others; the module runs again next time */
        return failed ? -EIO : 0;
}

const kiln_module module_templates = {
        .name = "templates",
        .stage = STAGE_CONFIG,
        .frequency = FREQ_PER_BOOT,
        .description = "Render service configuration files from templates against instance-data.",
        .keys = templates_keys,
        .plan = templates_plan,
        .apply = templates_apply,
};
