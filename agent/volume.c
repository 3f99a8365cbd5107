/* volume.c — see volume.h.
 *
 * Apply, per volume, in this order, each step only after the previous one
 * succeeded: find (waiting) → decide and prepare (mkfs / relabel / use /
 * refuse) → mount → grow → fstab.  fstab comes last so that only a volume
 * that really mounted is persisted; growing comes before it because a
 * failure to grow is recoverable (the data is there, just not the new
 * space) and must not keep the mount from being persisted.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "blockdev.h"
#include "exec.h"
#include "json-util.h"
#include "log.h"
#include "srcmap.h"
#include "volume.h"

#define RELOAD_TIMEOUT (90 * USEC_PER_SEC)
#define OPTIONS_MAX 1024

json_t *volume_spec_new(const char *origin) {
        return json_pack("{s:s, s:b, s:b, s:b, s:I}", "origin", origin, "format", 1, "relabel", 0, "grow", 1,
                         "wait_usec", (json_int_t) (VOLUME_WAIT_DEFAULT_SEC * USEC_PER_SEC));
}

static int vformat(char **ret, const char *format, va_list ap) {
        return vasprintf(ret, format, ap) < 0 ? -ENOMEM : 0;
}

int volume_spec_refuse(json_t *spec, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        if (json_object_get(spec, "refused"))
                return 0;
        va_start(ap, format);
        r = vformat(&msg, format, ap);
        va_end(ap);
        if (r < 0 || json_object_set_new(spec, "refused", json_string(msg)) < 0)
                return -ENOMEM;
        return 0;
}

int volume_spec_ignore(json_t *spec, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        json_t *list = json_object_get(spec, "ignored");
        va_list ap;
        int r;

        va_start(ap, format);
        r = vformat(&msg, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (!list && (!(list = json_array()) || json_object_set_new(spec, "ignored", list) < 0))
                return -ENOMEM;
        return json_array_append_new(list, json_string(msg)) < 0 ? -ENOMEM : 0;
}

bool volume_is_cloud_init_alias(const char *device) {
        const char *d = startswith(device, "/dev/") ? device + 5 : device;
        return startswith(d, "ephemeral") || streq(d, "swap");
}

static const char *spec_str(json_t *spec, const char *key) {
        return json_get_string(spec, key, NULL);
}

static bool spec_bool(json_t *spec, const char *key) {
        return json_get_bool(spec, key, false);
}

static blockdev_query spec_query(json_t *spec) {
        return (blockdev_query){
                .volume_id = spec_str(spec, "volume_id"),
                .device = spec_str(spec, "device"),
                .label = spec_str(spec, "label"),
        };
}

static blockdev_want spec_want(json_t *spec) {
        return (blockdev_want){
                .fstype = spec_str(spec, "filesystem"),
                .label = spec_str(spec, "label"),
                .relabel = spec_bool(spec, "relabel"),
        };
}

/* ---- input checks ---- */

static bool path_chars_ok(const char *p) {
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 0x7f || strchr("\"'\\", *c))
                        return false;
        return true;
}

/* Directories a data volume must not be mounted on (exactly), and trees it
 * must not be mounted in. */
static bool mountpoint_reserved(const char *p) {
        static const char *const exact[] = { "/",    "/bin", "/sbin", "/lib",     "/lib32", "/lib64",
                                             "/usr", "/var", "/var/lib", NULL };
        static const char *const trees[] = { "/proc", "/sys", "/dev", "/run", "/etc", "/boot", "/var/lib/kiln", NULL };

        for (const char *const *e = exact; *e; e++)
                if (streq(p, *e))
                        return true;
        for (const char *const *t = trees; *t; t++) {
                size_t n = strlen(*t);
                if (strneq(p, *t, n) && (p[n] == 0 || p[n] == '/'))
                        return true;
        }
        return false;
}

static char *mountpoint_normalize(const char *p) {
        char *n = strdup(p);
        size_t l = n ? strlen(n) : 0;
        while (l > 1 && n[l - 1] == '/')
                n[--l] = 0;
        return n;
}

/* The mountpoint of config entry (volumes[i] or mounts[i]), normalised;
 * NULL when it has none. */
static char *entry_mountpoint(json_t *entry) {
        json_t *v = json_is_array(entry) ? json_array_get(entry, 1) : json_object_get(entry, "mountpoint");
        return json_is_string(v) ? mountpoint_normalize(json_string_value(v)) : NULL;
}

/* The origin of an entry before `origin` (volumes first, then mounts, each
 * in list order) that mounts on mp; NULL when there is none. */
static char *earlier_claim(kiln_ctx *ctx, const char *origin, const char *mp) {
        static const char *const keys[] = { "volumes", "mounts" };

        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                json_t *list = ctx_config_get(ctx, keys[k]), *entry;
                size_t i;
                json_array_foreach(list, i, entry) {
                        _cleanup_free_ char *o = keypath_index(keys[k], i), *other = NULL;
                        if (!o || streq(o, origin))
                                return NULL;
                        other = entry_mountpoint(entry);
                        if (other && streq(other, mp))
                                return TAKE_PTR(o);
                }
        }
        return NULL;
}

int volume_check_mountpoint(kiln_ctx *ctx, const char *key_path, const char *origin, const char *mountpoint,
                            char **ret) {
        _cleanup_free_ char *n = NULL, *other = NULL;

        if (!path_is_safe_absolute(mountpoint) || !path_chars_ok(mountpoint))
                return ctx_input_error(ctx, key_path, "mountpoint '%s' must be an absolute path without '..', "
                                       "whitespace or quotes", mountpoint);
        n = mountpoint_normalize(mountpoint);
        if (!n)
                return log_oom();
        if (mountpoint_reserved(n))
                return ctx_input_error(ctx, key_path, "'%s' is a system directory: kiln does not mount data "
                                       "volumes there", n);
        other = earlier_claim(ctx, origin, n);
        if (other)
                return ctx_input_error(ctx, key_path, "mountpoint %s is already used by %s", n, other);
        *ret = TAKE_PTR(n);
        return 0;
}

int volume_check_options(kiln_ctx *ctx, const char *key_path, const char *options) {
        bool ok = !isempty(options) && strlen(options) <= OPTIONS_MAX && options[0] != ',';
        for (const char *c = options; ok && *c; c++)
                ok = (unsigned char) *c > ' ' && *c != 0x7f && *c != '#';
        if (!ok)
                return ctx_input_error(ctx, key_path, "mount options must be a comma-separated list like "
                                       "\"defaults,noatime\" (no spaces, no '#')");
        return 0;
}

int volume_check_query(kiln_ctx *ctx, const char *key_path, json_t *spec) {
        blockdev_query q = spec_query(spec);
        _cleanup_free_ char *msg = NULL;
        int r = blockdev_query_check(&q, &msg);
        if (r == -EINVAL)
                return ctx_input_error(ctx, key_path, "%s", msg);
        return r < 0 ? log_oom() : 0;
}

int volume_check_want(kiln_ctx *ctx, const char *label_path, const char *fs_path, json_t *spec) {
        blockdev_want w = spec_want(spec);
        _cleanup_free_ char *msg = NULL;
        int r = blockdev_want_check(&w, &msg);
        /* With a supported type, what is wrong is the label. */
        bool fs_ok = w.fstype && (streq(w.fstype, "ext4") || streq(w.fstype, "xfs"));
        if (r == -EINVAL)
                return ctx_input_error(ctx, fs_ok ? label_path : fs_path, "%s", msg);
        return r < 0 ? log_oom() : 0;
}

/* ---- plan ---- */

static double wait_seconds(json_t *spec) {
        return (double) json_get_int(spec, "wait_usec", 0) / (double) USEC_PER_SEC;
}

/* "create ext4 labelled 'DATA' if blank; use ext4 'DATA'; otherwise refuse" */
static char *intent(json_t *spec) {
        const char *fs = spec_str(spec, "filesystem"), *label = spec_str(spec, "label");
        char *s = NULL;
        int r;

        if (!spec_bool(spec, "format"))
                r = asprintf(&s, "use the %s filesystem on it; refuse anything else (never formats)",
                             fs ? fs : "existing");
        else if (label)
                r = asprintf(&s, "create %s labelled '%s' if blank; use %s labelled '%s'; %s; refuse anything else",
                             fs, label, fs, label, spec_bool(spec, "relabel") ? "relabel another label" :
                                                                                "refuse another label");
        else
                r = asprintf(&s, "create %s if blank; use an %s filesystem; refuse anything else", fs, fs);
        return r < 0 ? NULL : s;
}

/* What apply will decide about device, as far as can be told now. */
static int plan_decision(json_t *spec, const char *device, json_t **plan) {
        const char *fs = spec_str(spec, "filesystem");

        if (!spec_bool(spec, "format")) {
                _cleanup_(blockdev_probe_done) blockdev_probe p = {};
                if (blockdev_probe_device(device, &p) < 0)
                        return plan_add(plan, "probe", device, "cannot be probed now") ? 0 : -ENOMEM;
                bool ok = p.content == BLOCKDEV_FILESYSTEM && (!fs || streq(fs, p.type));
                return plan_add(plan, ok ? "use" : "refuse", device, "%s", p.summary) ? 0 : -ENOMEM;
        }
        _cleanup_(blockdev_decision_done) blockdev_decision d = {};
        blockdev_want w = spec_want(spec);
        if (blockdev_plan(device, &w, &d) < 0)
                return plan_add(plan, "probe", device, "cannot be probed now") ? 0 : -ENOMEM;
        const char *why = d.reason;
        if (startswith(why, device) && startswith(why + strlen(device), ": "))
                why += strlen(device) + 2;
        return plan_add(plan, blockdev_action_to_string(d.action), device, "%s", why) ? 0 : -ENOMEM;
}

static int plan_mount(json_t *spec, json_t **plan) {
        const char *mp = spec_str(spec, "mountpoint"), *opts = json_get_string(spec, "options", "defaults");
        const char *fs = spec_str(spec, "filesystem");
        json_int_t mode = json_get_int(spec, "mode", 0);
        char owner[64] = "";

        if (json_object_get(spec, "uid"))
                snprintf(owner, sizeof owner, ", owner %lld:%lld", (long long) json_get_int(spec, "uid", 0),
                         (long long) json_get_int(spec, "gid", 0));
        if (!plan_add(plan, "mount", mp, "%s, options %s; a mountpoint kiln creates gets mode %04llo%s%s",
                      fs ? fs : "its filesystem", opts, (long long) (mode ? mode : 0755), owner,
                      spec_bool(spec, "grow") ? "; grown online when the device is larger" : ""))
                return -ENOMEM;
        if (!plan_add(plan, "fstab", VOLUME_FSTAB, "UUID=<its UUID> %s %s %s (+ nofail, device timeout)", mp,
                      fs ? fs : "<its type>", opts))
                return -ENOMEM;
        return 0;
}

int volume_plan(kiln_ctx *ctx, json_t *spec, json_t **plan) {
        blockdev_query q = spec_query(spec);
        _cleanup_free_ char *what = blockdev_query_describe(&q), *path = NULL, *how = NULL, *todo = NULL;
        const char *origin = spec_str(spec, "origin"), *refused = spec_str(spec, "refused");
        json_t *item, *msg;
        size_t i;
        int r;

        (void) ctx;
        if (!what)
                return log_oom();
        if (refused)
                item = plan_add(plan, "refuse", origin, "%s", refused);
        else {
                r = blockdev_find(&q, &path, &how);
                if (r == 0)
                        item = plan_add(plan, "find", what, "%s: present now as %s (%s)", origin, path, how);
                else if (r == -ENOENT)
                        item = plan_add(plan, "wait", what, "%s: not attached yet; wait up to %g s", origin,
                                        wait_seconds(spec));
                else
                        item = plan_add(plan, "find", what, "%s: cannot be identified now: %s", origin, strerror(-r));
        }
        if (!item || json_object_set(item, "_volume", spec) < 0)
                return log_oom();
        json_array_foreach(json_object_get(spec, "ignored"), i, msg)
                if (!plan_add(plan, "ignore", origin, "%s", json_string_value(msg)))
                        return log_oom();
        if (refused)
                return 0;
        if (path)
                r = plan_decision(spec, path, plan);
        else {
                todo = intent(spec);
                r = todo && plan_add(plan, "prepare", what, "once it appears: %s", todo) ? 0 : -ENOMEM;
        }
        if (r >= 0 && spec_str(spec, "mountpoint"))
                r = plan_mount(spec, plan);
        return r < 0 ? log_oom() : 0;
}

/* ---- apply ---- */

typedef struct prepared {
        char *type;
        char *uuid;
        bool fresh; /* kiln has just created it */
} prepared;

static void prepared_done(prepared *p) {
        free(p->type);
        free(p->uuid);
}

static int find_device(kiln_ctx *ctx, json_t *spec, usec_t start, char **ret_path) {
        const char *origin = spec_str(spec, "origin");
        blockdev_query q = spec_query(spec);
        _cleanup_free_ char *what = blockdev_query_describe(&q), *how = NULL;
        usec_t wait = (usec_t) json_get_int(spec, "wait_usec", 0), now = now_mono_usec();
        int r;

        if (!what)
                return log_oom();
        /* Measured from the module's start, rounded up to 100 ms (the logs
         * say "300 s", not "299.9993 s"); a volume whose time is up gets one
         * last look rather than none. */
        if (wait > 0) {
                usec_t left = start + wait > now ? start + wait - now : 0, step = 100 * USEC_PER_MSEC;
                wait = MAX((left + step - 1) / step * step, USEC_PER_MSEC);
        }
        r = blockdev_wait(&q, wait, ret_path, &how);
        if (r == -ETIMEDOUT || r == -ENOENT)
                return ctx_error(ctx, -ETIMEDOUT, "%s: %s did not appear within %g s (wait_seconds); nothing was "
                                 "done with it", origin, what, wait_seconds(spec));
        if (r == -ENOTUNIQ)
                return ctx_error(ctx, r, "%s: %s matches several devices; refusing to guess", origin, what);
        if (r < 0)
                return ctx_error(ctx, r, "%s: failed to look for %s: %s", origin, what, strerror(-r));
        log_info("%s: %s is %s (%s).", origin, what, *ret_path, how);
        return 0;
}

/* What will be mounted: the filesystem found or made, by its UUID. */
static int take(kiln_ctx *ctx, json_t *spec, const char *device, const blockdev_probe *p, bool fresh,
                prepared *ret) {
        if (!p->uuid)
                return ctx_error(ctx, -EBADMSG, "%s: refused %s: its %s filesystem has no UUID to mount it by",
                                 spec_str(spec, "origin"), device, p->type);
        ret->type = strdup(p->type);
        ret->uuid = strdup(p->uuid);
        ret->fresh = fresh;
        return ret->type && ret->uuid ? 0 : log_oom();
}

/* mounts: an existing filesystem, never anything created. */
static int prepare_existing(kiln_ctx *ctx, json_t *spec, const char *device, prepared *ret) {
        const char *origin = spec_str(spec, "origin"), *fs = spec_str(spec, "filesystem");
        _cleanup_(blockdev_probe_done) blockdev_probe p = {};
        int r = blockdev_probe_device(device, &p);

        if (r < 0)
                return ctx_error(ctx, r, "%s: failed to probe %s: %s", origin, device, strerror(-r));
        if (p.content == BLOCKDEV_BLANK)
                return ctx_error(ctx, -ENOMEDIUM, "%s: refused %s: it is blank, and mounts never creates a "
                                 "filesystem (fs_setup or volumes do)", origin, device);
        if (p.content != BLOCKDEV_FILESYSTEM || (fs && !streq(fs, p.type)))
                return ctx_error(ctx, -EEXIST, "%s: refused %s: it carries %s%s%s; device left untouched", origin,
                                 device, p.summary, fs ? ", not " : "", fs ? fs : "");
        log_info("%s: %s holds %s: mounting it as it is.", origin, device, p.summary);
        return take(ctx, spec, device, &p, false, ret);
}

static int record_prepared(kiln_ctx *ctx, json_t *spec, const char *device, const blockdev_decision *d,
                           const blockdev_probe *after) {
        if (d->action == BLOCKDEV_ACTION_MKFS)
                return ctx_change(ctx, "formatted", device, "%s label '%s', UUID %s; the device was %s", after->type,
                                  after->label ? after->label : "", after->uuid ? after->uuid : "?",
                                  d->probe.summary);
        return ctx_change(ctx, "relabelled", device, "%s label '%s' → '%s' (relabel: true)", after->type,
                          d->probe.label ? d->probe.label : "", spec_str(spec, "label"));
}

static int prepare(kiln_ctx *ctx, json_t *spec, const char *device, prepared *ret) {
        const char *origin = spec_str(spec, "origin");
        _cleanup_(blockdev_decision_done) blockdev_decision d = {};
        _cleanup_(blockdev_probe_done) blockdev_probe after = {};
        blockdev_want w = spec_want(spec);
        int r;

        if (!spec_bool(spec, "format"))
                return prepare_existing(ctx, spec, device, ret);
        r = blockdev_plan(device, &w, &d);
        if (r < 0)
                return ctx_error(ctx, r, "%s: failed to probe %s: %s", origin, device, strerror(-r));
        if (d.action == BLOCKDEV_ACTION_REFUSE)
                return ctx_error(ctx, -EEXIST, "%s: refused %s", origin, d.reason);
        if (d.action == BLOCKDEV_ACTION_USE) {
                log_info("%s: %s", origin, d.reason);
                return take(ctx, spec, device, &d.probe, false, ret);
        }
        r = blockdev_apply(device, &w, &d, &after);
        if (r < 0)
                return ctx_error(ctx, r, "%s: failed to %s %s (%s): %s", origin, blockdev_action_to_string(d.action),
                                 device, d.reason, strerror(-r));
        r = record_prepared(ctx, spec, device, &d, &after);
        if (r < 0)
                return r;
        return take(ctx, spec, device, &after, d.action == BLOCKDEV_ACTION_MKFS, ret);
}

static int mount_volume(kiln_ctx *ctx, json_t *spec, const char *device, const prepared *fs, const char *target) {
        const char *origin = spec_str(spec, "origin"), *mp = spec_str(spec, "mountpoint");
        const char *opts = json_get_string(spec, "options", "defaults");
        blockdev_mount_opts o = BLOCKDEV_MOUNT_OPTS_DEFAULT;
        int r;

        o.fstype = fs->type;
        o.options = opts;
        o.mode = (mode_t) json_get_int(spec, "mode", 0);
        if (json_object_get(spec, "uid")) {
                o.uid = (uid_t) json_get_int(spec, "uid", -1);
                o.gid = (gid_t) json_get_int(spec, "gid", -1);
        }
        o.fresh_fs = fs->fresh;
        r = blockdev_mount(device, fs->uuid, target, &o);
        if (r < 0)
                return ctx_error(ctx, r, "%s: failed to mount %s on %s: %s", origin, device, mp, strerror(-r));
        if (r > 0)
                return ctx_change(ctx, "mounted", mp, "%s, %s UUID %s, options %s", device, fs->type, fs->uuid, opts);
        return 0;
}

static void grow_volume(kiln_ctx *ctx, json_t *spec, const char *device, const prepared *fs, const char *target) {
        const char *origin = spec_str(spec, "origin"), *mp = spec_str(spec, "mountpoint");
        uint64_t before = 0, after = 0;

        if (!spec_bool(spec, "grow") || (!streq(fs->type, "ext4") && !streq(fs->type, "xfs")))
                return;
        int r = blockdev_grow(device, fs->type, target, &before, &after);
        if (r > 0)
                (void) ctx_change(ctx, "grew", mp, "%s filesystem on %s from %" PRIu64 " to %" PRIu64 " bytes",
                                  fs->type, device, before, after);
        else if (r == -EPERM)
                ctx_recoverable(ctx, "%s: cannot grow the %s filesystem on %s online: the kernel requires "
                                "CAP_SYS_RESOURCE, which kiln runs without; it keeps its old size", origin, fs->type,
                                device);
        else if (r < 0)
                ctx_recoverable(ctx, "%s: failed to grow the %s filesystem on %s: %s; it keeps its old size", origin,
                                fs->type, device, strerror(-r));
}

static int persist(kiln_ctx *ctx, json_t *spec, const prepared *fs, bool *fstab_changed) {
        const char *origin = spec_str(spec, "origin");
        blockdev_fstab_entry e = {
                .uuid = fs->uuid,
                .mountpoint = spec_str(spec, "mountpoint"),
                .fstype = fs->type,
                .options = spec_str(spec, "options"),
        };
        _cleanup_free_ char *path = root_path(VOLUME_FSTAB), *line = NULL;
        int r;

        if (!path)
                return log_oom();
        r = blockdev_fstab_ensure(path, &e);
        if (r == -ENOTUNIQ)
                return ctx_error(ctx, r, "%s: " VOLUME_FSTAB " has several lines for %s; not changing it", origin,
                                 e.mountpoint);
        if (r < 0)
                return ctx_error(ctx, r, "%s: failed to update " VOLUME_FSTAB ": %s", origin, strerror(-r));
        if (r == 0)
                return 0;
        *fstab_changed = true;
        r = blockdev_fstab_line(&e, &line);
        return ctx_change(ctx, "fstab", VOLUME_FSTAB, "%s", r < 0 ? e.mountpoint : line);
}

static int apply_one(kiln_ctx *ctx, json_t *spec, usec_t start, bool *fstab_changed) {
        const char *origin = spec_str(spec, "origin"), *refused = spec_str(spec, "refused");
        _cleanup_(prepared_done) prepared fs = {};
        _cleanup_free_ char *device = NULL, *target = NULL;
        json_t *msg;
        size_t i;
        int r;

        json_array_foreach(json_object_get(spec, "ignored"), i, msg)
                ctx_recoverable(ctx, "%s: %s", origin, json_string_value(msg));
        if (refused)
                return ctx_error(ctx, -EOPNOTSUPP, "%s: refused: %s", origin, refused);
        r = find_device(ctx, spec, start, &device);
        if (r < 0)
                return r;
        r = prepare(ctx, spec, device, &fs);
        if (r < 0 || !spec_str(spec, "mountpoint"))
                return r;
        target = root_path(spec_str(spec, "mountpoint"));
        if (!target)
                return log_oom();
        r = mount_volume(ctx, spec, device, &fs, target);
        if (r < 0)
                return r;
        grow_volume(ctx, spec, device, &fs, target);
        return persist(ctx, spec, &fs, fstab_changed);
}

int volume_apply(kiln_ctx *ctx, json_t *plan, bool reload_anyway) {
        usec_t start = now_mono_usec();
        bool fstab_changed = false;
        json_t *item;
        size_t i;
        int failed = 0;

        json_array_foreach(plan, i, item) {
                json_t *spec = json_object_get(item, "_volume");
                if (spec && apply_one(ctx, spec, start, &fstab_changed) < 0)
                        failed++;
        }
        if (fstab_changed || reload_anyway)
                volume_daemon_reload(ctx);
        return failed ? -EIO : 0;
}

void volume_daemon_reload(kiln_ctx *ctx) {
        char *argv[] = { "systemctl", "daemon-reload", NULL };
        exec_opts o = EXEC_OPTS_DEFAULT;
        _cleanup_free_ char *out = NULL;
        int status = 0, r;

        if (!root_is_live() || access("/run/systemd/system", F_OK) < 0)
                return;
        o.timeout = RELOAD_TIMEOUT;
        o.capture = &out;
        o.search_path = true;
        r = exec_run(argv, &o, &status);
        if (r < 0)
                ctx_recoverable(ctx, "systemctl daemon-reload could not be run (%s): systemd sees the new fstab "
                                "line and drop-ins at the next boot", strerror(-r));
        else if (status != 0)
                ctx_recoverable(ctx, "systemctl daemon-reload failed with status %d (%s): systemd sees the new "
                                "fstab line and drop-ins at the next boot", status, out ? strstrip(out) : "");
        else
                log_info("Reloaded systemd: it sees the new fstab line and drop-ins now.");
}

int volume_plan_list(kiln_ctx *ctx, const char *key, volume_parse_fn parse, json_t **ret_plan, json_t **ret_specs) {
        _cleanup_json_ json_t *specs = json_array();
        json_t *item;
        size_t i;
        int r = 0;

        if (!specs)
                return log_oom();
        json_array_foreach(ctx_config_get(ctx, key), i, item) {
                _cleanup_free_ char *origin = keypath_index(key, i);
                json_t *spec = NULL;
                if (!origin)
                        return log_oom();
                if (parse(ctx, item, origin, &spec) < 0)
                        r = -EINVAL;
                else if (json_array_append_new(specs, spec) < 0)
                        return log_oom();
        }
        if (r < 0)
                return r;
        json_array_foreach(specs, i, item) {
                r = volume_plan(ctx, item, ret_plan);
                if (r < 0)
                        return r;
        }
        if (ret_specs)
                *ret_specs = TAKE_PTR(specs);
        return 0;
}
