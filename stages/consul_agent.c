/* consul_agent.c — the Consul agent's config file, in the config stage,
 * before consul.service starts (kiln-config.service is ordered before it).
 *
 * consul.agent is rendered (agent/consul.h: defaults from instance-data,
 * cloud auto-join, checks Consul would refuse to start with) to
 * <config_dir>/kiln-agent.json, a name that sorts after the package's
 * consul.hcl so kiln's values win.  Without consul.agent a file kiln wrote
 * earlier is removed: the file always says what the config says.
 *
 * Secrets: a file holding encrypt, an ACL token or agent.extra is 0640
 * root:<config_group> (consul), created with that mode by
 * write_file_atomic(), so it is never readable by others, not even for a
 * moment; other files are 0644 root:root.  The group comes from the image's
 * /etc/group; without it the file is 0600 root:root (a recoverable error:
 * an agent running as consul could not read it).
 *
 * Frequency always: the file is compared with what is wanted (content,
 * mode, owner) and rewritten only when it differs, so a run with nothing
 * new changes nothing, and `kiln rerun consul_agent` works on a live host.
 *
 * A changed file must reach a running agent.  Most of these keys
 * (datacenter, bind/advertise address, retry_join, encrypt, server) are not
 * reloadable, so the default is `systemctl try-restart --no-block
 * consul.service`: it restarts the agent only if it is running (on the
 * first boot it is not: this stage runs before it, and Consul then reads
 * the new file as it starts), never starts it, and never waits (--no-block:
 * this stage is ordered before consul.service, so waiting could deadlock).
 * consul.on_agent_change: reload uses try-reload-or-restart (SIGHUP), none
 * leaves it.  Only on the live system with systemd running; under --root
 * the intent is recorded in status and nothing outside the root is touched.
 */
#include <sys/stat.h>

#include "consul-stage.h"
#include "consul.h"
#include "exec.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "accounts.h"

#define SYSTEMCTL_TIMEOUT (10 * USEC_PER_SEC)

typedef struct wanted {
        char *content;
        mode_t mode;
        gid_t gid;
        bool group_missing;
        char *secrets; /* "encrypt, acl.tokens.agent" or NULL */
} wanted;

static void wanted_clear(wanted *w) {
        if (w->content)
                explicit_bzero(w->content, strlen(w->content));
        free(w->content);
        free(w->secrets);
}

static const char *config_group(kiln_ctx *ctx) {
        return json_string_value(ctx_config_get(ctx, "consul.config_group")) ?: CONSUL_CONFIG_GROUP_DEFAULT;
}

/* The file's wanted content, mode and group.  -ENODATA without consul.agent. */
static int want(kiln_ctx *ctx, wanted *ret) {
        _cleanup_json_ json_t *cfg = NULL, *secrets = NULL;
        const char *group = config_group(ctx);
        wanted w = { .mode = 0644, .gid = 0 };
        int r = consul_agent_render(ctx, &cfg, &secrets);

        if (r < 0)
                return r;
        if (json_array_size(secrets) > 0) {
                r = group_lookup(group, &w.gid);
                if (r < 0 && r != -ENOENT && r != -EINVAL)
                        return log_error_errno(r, "Failed to look up group %s in /etc/group: %m", group);
                w.group_missing = r < 0;
                w.mode = r < 0 ? 0600 : 0640;
                w.gid = r < 0 ? 0 : w.gid;
                if (!(w.secrets = consul_join_strings(secrets)))
                        return -ENOMEM;
        }
        w.content = json_dump_pretty(cfg);
        if (!w.content) {
                wanted_clear(&w);
                return -ENOMEM;
        }
        *ret = w;
        return 0;
}

/* 1 when the file already has this content, mode and owner. */
static int up_to_date(const char *path, const wanted *w) {
        struct stat st;
        int r = file_content_equals(path, w->content, strlen(w->content));
        if (r <= 0)
                return r;
        if (lstat(path, &st) < 0)
                return negative_errno();
        return S_ISREG(st.st_mode) && (st.st_mode & 07777) == w->mode && st.st_uid == 0 && st.st_gid == w->gid;
}

static const char *restart_verb(kiln_ctx *ctx) {
        const char *v = json_string_value(ctx_config_get(ctx, "consul.on_agent_change")) ?: "restart";
        return streq(v, "restart") ? "try-restart" : streq(v, "reload") ? "try-reload-or-restart" : NULL;
}

static int plan_restart(kiln_ctx *ctx, json_t **plan) {
        const char *verb = restart_verb(ctx);
        if (!verb)
                return 0;
        json_t *item = plan_add(plan, verb, "consul.service", "--no-block, only if it is running%s",
                                root_is_live() ? "" : "; not under --root");
        return item && json_object_set_new(item, "_restart", json_string(verb)) >= 0 ? 0 : -ENOMEM;
}

static int plan_write(kiln_ctx *ctx, const char *abs, const wanted *w, json_t **plan) {
        json_t *item = plan_add(plan, "write", abs, "%04o root:%s%s%s", (unsigned) w->mode,
                                w->mode == 0640 ? config_group(ctx) : "root", w->secrets ? ", secrets: " : "",
                                w->secrets ? w->secrets : "");
        if (!item || json_object_set_new(item, "_content", json_string(w->content)) < 0 ||
            json_object_set_new(item, "_mode", json_integer(w->mode)) < 0 ||
            json_object_set_new(item, "_gid", json_integer(w->gid)) < 0 ||
            json_object_set_new(item, "_group_missing", json_boolean(w->group_missing)) < 0)
                return -ENOMEM;
        return plan_restart(ctx, plan);
}

static int plan_remove(kiln_ctx *ctx, const char *abs, const char *path, json_t **plan) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : log_error_errno(negative_errno(), "Failed to stat %s: %m", path);
        if (!plan_add(plan, "remove", abs, "consul.agent is not set"))
                return -ENOMEM;
        return plan_restart(ctx, plan);
}

static int consul_agent_plan(kiln_ctx *ctx, json_t **ret_plan) {
        _cleanup_(wanted_clear) wanted w = {};
        _cleanup_free_ char *path = NULL, *abs = NULL;
        const char *dir;
        int r;

        r = consul_config_dir(ctx, &dir);
        if (r < 0)
                return r;
        if (!(abs = path_join(dir, CONSUL_AGENT_FILE)) || !(path = root_path(abs)))
                return log_oom();
        r = want(ctx, &w);
        if (r == -ENODATA)
                return plan_remove(ctx, abs, path, ret_plan);
        if (r < 0)
                return r;
        r = up_to_date(path, &w);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        if (r > 0) {
                log_debug("%s is up to date.", abs);
                return 0;
        }
        return plan_write(ctx, abs, &w, ret_plan);
}

/* ---- apply ---- */

static int apply_write(kiln_ctx *ctx, json_t *item) {
        const char *abs = json_get_string(item, "target", ""), *content = json_get_string(item, "_content", "");
        _cleanup_free_ char *path = root_path(abs), *dir = NULL;
        write_opts o = WRITE_OPTS_DEFAULT;
        int r;

        if (!path || !(dir = strdup(path)))
                return log_oom();
        *strrchr(dir, '/') = 0;
        o.mode = (mode_t) json_integer_value(json_object_get(item, "_mode"));
        o.uid = 0;
        o.gid = (gid_t) json_integer_value(json_object_get(item, "_gid"));
        r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(path, content, strlen(content), &o);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", abs);
        if (json_is_true(json_object_get(item, "_group_missing")))
                ctx_recoverable(ctx, "%s holds secrets and the group %s is not in /etc/group: it is 0600 root:root, "
                                "so an agent running as consul can't read it", abs, config_group(ctx));
        return ctx_change(ctx, "wrote", abs, "%s", json_get_string(item, "detail", ""));
}

static int apply_remove(kiln_ctx *ctx, json_t *item) {
        const char *abs = json_get_string(item, "target", "");
        _cleanup_free_ char *path = root_path(abs);
        if (!path)
                return log_oom();
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(negative_errno(), "Failed to remove %s: %m", abs);
        return ctx_change(ctx, "removed", abs, "consul.agent is not set");
}

static bool systemd_running(void) {
        _cleanup_free_ char *p = root_path("/run/systemd/system");
        struct stat st;
        return p && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Queues the restart: never starts consul, never waits for it. */
static int apply_restart(kiln_ctx *ctx, json_t *item) {
        const char *verb = json_get_string(item, "_restart", "try-restart");
        char *argv[] = { (char *) "systemctl", (char *) verb, (char *) "--no-block", (char *) "consul.service", NULL };
        exec_opts o = EXEC_OPTS_DEFAULT;
        int status = 0, r;

        if (!root_is_live())
                return ctx_change(ctx, "skipped", "consul.service",
                                  "systemctl %s --no-block consul.service: not under --root", verb);
        if (!systemd_running()) {
                log_info("systemd is not running: consul.service is not %sed.", verb);
                return 0;
        }
        o.timeout = SYSTEMCTL_TIMEOUT;
        o.search_path = true;
        r = exec_run(argv, &o, &status);
        if (r < 0 || status != 0) {
                ctx_recoverable(ctx, "systemctl %s --no-block consul.service failed (%s): the agent still runs "
                                "with its old config", verb, r < 0 ? strerror(-r) : "non-zero exit");
                return 0;
        }
        return ctx_change(ctx, "queued", "consul.service", "systemctl %s --no-block", verb);
}

static int consul_agent_apply(kiln_ctx *ctx, json_t *plan) {
        json_t *item;
        size_t i;
        int r = 0;

        json_array_foreach(plan, i, item) {
                const char *action = json_get_string(item, "action", "");
                if (json_object_get(item, "_restart"))
                        r = apply_restart(ctx, item);
                else if (streq(action, "write"))
                        r = apply_write(ctx, item);
                else
                        r = apply_remove(ctx, item);
                if (r < 0)
                        return r; /* no restart for a file that was not written */
        }
        return 0;
}

const kiln_module module_consul_agent = {
        .name = "consul_agent",
        .stage = STAGE_CONFIG,
        .frequency = FREQ_ALWAYS,
        .description = "Render the Consul agent's config file (consul.agent) and restart a running agent on change.",
        .keys = NULL, /* consul.* is in the schema through the consul module */
        .plan = consul_agent_plan,
        .apply = consul_agent_apply,
};
