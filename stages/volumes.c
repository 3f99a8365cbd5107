/* volumes.c — kiln's `volumes` key: find each data volume (waiting for a
 * late attach), format it only when blank, label, mount by UUID, persist
 * in /etc/fstab, grow it when the EBS volume was enlarged.  The device work
 * is the shared engine's (agent/volume.c); this file owns the key's
 * schema, turns each entry into a spec, and writes the systemd drop-ins of
 * `required_by`.
 *
 * Network stage, after bootcmd: on EC2 the user-data that names the volume
 * is only readable once the network is up, and cloud-init users expect
 * bootcmd before disk setup (its cloud_init_modules order).  The stage is
 * ordered before kiln-config and so before every role service.
 *
 * Per boot: each boot re-checks the volume, mounts it if fstab did not
 * (or could not yet), grows it after an EBS resize, and repairs the fstab
 * line.  When everything is already in place a run records no change.
 *
 * required_by: the ordering above protects the role's services only while
 * kiln succeeds.  If the volume never appears (or is refused), kiln-network
 * still finishes and the services would start, writing their data into
 * the bare mountpoint directory on the root filesystem, where it is hidden
 * once the volume is mounted over it.  For the units listed, kiln writes
 * /etc/systemd/system/<unit>.d/kiln-volumes.conf with
 *     RequiresMountsFor=<mountpoint>      later boots: the fstab mount first,
 *                                         and no start if it failed
 *     AssertPathIsMountPoint=<mountpoint> this boot too: a unit whose start
 *                                         job was queued before the drop-in
 *                                         existed fails instead of writing
 *                                         into the root filesystem
 * and reloads systemd (live system only; a reload starts nothing and waits
 * on no unit).  Drop-ins of units no longer listed are removed; kiln owns
 * only files of that name.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "accounts.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "srcmap.h"
#include "volume.h"

#define SYSTEMD_UNIT_DIR "/etc/systemd/system"
#define DROPIN_NAME "kiln-volumes.conf"
#define UNIT_NAME_MAX 255

static const char *const filesystems[] = { "ext4", "xfs", NULL };

static const schema_key unit_name_item = { .types = ST_STRING };

static const schema_key volume_props[] = {
        KEY("volume_id", ST_STRING, "EBS volume id (vol-0123…), matched against the NVMe serial: the surest key."),
        KEY("device", ST_STRING, "Device name given at attach time (sdf ≡ xvdf ≡ /dev/sdf; found through the EBS "
                                 "NVMe identify data, udev links or Xen names), or a device node (/dev/nvme1n1)."),
        KEY("label", ST_STRING, "Filesystem label: given to a new filesystem and expected on an existing one; "
                                "identifies the volume only when volume_id and device are absent."),
        KEY_ENUM("filesystem", filesystems, "Filesystem to create on a blank volume or expect on it (default ext4)."),
        KEY("mountpoint", ST_STRING, "Where to mount it (absolute path); without it the volume is only prepared."),
        KEY("mount_options", ST_STRING, "Mount options as in fstab (default \"defaults\"; nofail is added in fstab)."),
        KEY("owner", ST_STRING, "\"user[:group]\" from the image's /etc/passwd and /etc/group, for a mountpoint kiln "
                                "creates and a filesystem it has just made; never applied to existing data."),
        KEY("mode", ST_STRING | ST_INTEGER, "Mode of a mountpoint kiln creates and of a new filesystem's root: "
                                            "\"0750\" or YAML octal 0750 (default 0755)."),
        KEY("wait_seconds", ST_NUMBER,
            "How long to wait for a volume attached after boot (default 300, at most 3600)."),
        KEY("grow", ST_BOOLEAN, "Grow the filesystem online when the device is larger (default true)."),
        KEY("relabel", ST_BOOLEAN, "Relabel a filesystem of the wanted type that carries another label (default "
                                   "false: refuse and leave it untouched)."),
        KEY_LIST("required_by", &unit_name_item, "systemd units that must not start without this volume mounted: "
                                                  "a drop-in with RequiresMountsFor= and AssertPathIsMountPoint=."),
        {},
};

static const schema_key volume_item = { .types = ST_OBJECT, .props = volume_props };

static const schema_key volumes_keys[] = {
        KEY_LIST("volumes", &volume_item, "Data volumes to find, format when blank, label, mount, persist and grow "
                                          "(docs/volumes.md)."),
        {},
};

/* ---- parsing one entry ---- */

typedef struct entry_ctx {
        kiln_ctx *ctx;
        json_t *item;
        const char *origin; /* "volumes[0]" */
        json_t *spec;
} entry_ctx;

static const char *item_str(entry_ctx *e, const char *key) {
        return json_get_string(e->item, key, NULL);
}

/* ctx_input_error() at "<origin>.<key>". */
static int entry_error(entry_ctx *e, const char *key, const char *format, ...) _printf_(3, 4);
static int entry_error(entry_ctx *e, const char *key, const char *format, ...) {
        _cleanup_free_ char *path = keypath_key(e->origin, key), *msg = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        return ctx_input_error(e->ctx, path ? path : e->origin, "%s", msg ? msg : "invalid value");
}

static int set_str(json_t *spec, const char *key, const char *value) {
        if (!value)
                return 0;
        return json_object_set_new(spec, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

static int parse_ids(entry_ctx *e) {
        const char *fs = item_str(e, "filesystem");
        int r = 0;

        if (set_str(e->spec, "volume_id", item_str(e, "volume_id")) < 0 ||
            set_str(e->spec, "device", item_str(e, "device")) < 0 ||
            set_str(e->spec, "label", item_str(e, "label")) < 0 || set_str(e->spec, "filesystem", fs ? fs : "ext4") < 0)
                return log_oom();
        if (volume_check_query(e->ctx, e->origin, e->spec) < 0)
                r = -EINVAL;
        _cleanup_free_ char *lp = keypath_key(e->origin, "label"), *fp = keypath_key(e->origin, "filesystem");
        if (!lp || !fp)
                return log_oom();
        if (volume_check_want(e->ctx, lp, fp, e->spec) < 0)
                r = -EINVAL;
        return r;
}

/* "0750", "750", "2775" or an integer (YAML reads 0750 as 488). */
static int parse_mode(entry_ctx *e, json_t *v) {
        mode_t mode;
        if (mode_from_json(v, &mode) < 0)
                return entry_error(e, "mode", "a mode is an octal string like \"0750\" or YAML octal 0750 (at most "
                                   "07777)");
        return json_object_set_new(e->spec, "mode", json_integer(mode)) < 0 ? log_oom() : 0;
}

static int parse_owner(entry_ctx *e, const char *owner) {
        _cleanup_free_ char *msg = NULL;
        uid_t uid;
        gid_t gid;
        int r = accounts_resolve_owner(owner, &uid, &gid, &msg);

        if (r == -EINVAL)
                return entry_error(e, "owner", "%s", msg);
        if (r < 0)
                return entry_error(e, "owner", "cannot resolve '%s': %s", owner, strerror(-r));
        if (json_object_set_new(e->spec, "uid", json_integer(uid)) < 0 ||
            json_object_set_new(e->spec, "gid", json_integer(gid)) < 0)
                return log_oom();
        return 0;
}

static int parse_wait(entry_ctx *e) {
        json_t *v = json_object_get(e->item, "wait_seconds");
        if (!v)
                return 0;
        double s = json_number_value(v);
        if (!(s >= 0 && s <= VOLUME_WAIT_MAX_SEC))
                return entry_error(e, "wait_seconds", "must be between 0 and %d seconds", VOLUME_WAIT_MAX_SEC);
        return json_object_set_new(e->spec, "wait_usec", json_integer((json_int_t) (s * (double) USEC_PER_SEC))) < 0
                       ? log_oom()
                       : 0;
}

static bool unit_name_ok(const char *u) {
        static const char *const suffixes[] = { ".service", ".socket", ".timer", ".path", ".target", ".mount",
                                                ".automount", ".swap", ".slice", ".scope", NULL };
        size_t n = strlen(u);
        bool suffix = false;

        if (n == 0 || n > UNIT_NAME_MAX || u[0] == '.' || u[0] == '-')
                return false;
        if (strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.@-\\") != n)
                return false;
        for (const char *const *s = suffixes; *s; s++)
                suffix = suffix || (endswith(u, *s) && n > strlen(*s));
        return suffix;
}

static int parse_required_by(entry_ctx *e) {
        json_t *list = json_object_get(e->item, "required_by"), *u;
        size_t i;
        int r = 0;

        if (!list)
                return 0;
        json_array_foreach(list, i, u) {
                _cleanup_free_ char *base = keypath_key(e->origin, "required_by"), *p = keypath_index(base, i);
                if (!unit_name_ok(json_string_value(u)))
                        r = ctx_input_error(e->ctx, p ? p : e->origin, "'%s' is not a systemd unit name like "
                                            "cortex.service", json_string_value(u));
        }
        return json_object_set(e->spec, "required_by", list) < 0 ? log_oom() : r;
}

/* Keys that only mean something with a mountpoint. */
static int check_needs_mountpoint(entry_ctx *e) {
        static const char *const keys[] = { "mount_options", "owner", "mode", "required_by", NULL };
        int r = 0;

        if (item_str(e, "mountpoint"))
                return 0;
        for (const char *const *k = keys; *k; k++)
                if (json_object_get(e->item, *k))
                        r = entry_error(e, *k, "%s needs a mountpoint", *k);
        return r;
}

static int parse_mount(entry_ctx *e) {
        const char *mp = item_str(e, "mountpoint"), *opts = item_str(e, "mount_options");
        _cleanup_free_ char *norm = NULL, *mp_path = keypath_key(e->origin, "mountpoint"),
                            *opt_path = keypath_key(e->origin, "mount_options");
        int r = check_needs_mountpoint(e);

        if (!mp_path || !opt_path)
                return log_oom();
        if (!mp)
                return r;
        if (volume_check_mountpoint(e->ctx, mp_path, e->origin, mp, &norm) < 0)
                r = -EINVAL;
        else if (set_str(e->spec, "mountpoint", norm) < 0)
                return log_oom();
        if (opts && volume_check_options(e->ctx, opt_path, opts) < 0)
                r = -EINVAL;
        else if (set_str(e->spec, "options", opts) < 0)
                return log_oom();
        if (item_str(e, "owner") && parse_owner(e, item_str(e, "owner")) < 0)
                r = -EINVAL;
        if (json_object_get(e->item, "mode") && parse_mode(e, json_object_get(e->item, "mode")) < 0)
                r = -EINVAL;
        if (parse_required_by(e) < 0)
                r = -EINVAL;
        return r;
}

static int parse_entry(kiln_ctx *ctx, json_t *item, const char *origin, json_t **ret) {
        _cleanup_json_ json_t *spec = volume_spec_new(origin);
        entry_ctx e = { .ctx = ctx, .item = item, .origin = origin, .spec = spec };
        int r = 0;

        if (!spec)
                return log_oom();
        if (parse_ids(&e) < 0)
                r = -EINVAL;
        if (parse_mount(&e) < 0)
                r = -EINVAL;
        if (parse_wait(&e) < 0)
                r = -EINVAL;
        if (json_object_set_new(spec, "grow", json_boolean(json_get_bool(item, "grow", true))) < 0 ||
            json_object_set_new(spec, "relabel", json_boolean(json_get_bool(item, "relabel", false))) < 0)
                return log_oom();
        if (r < 0)
                return r;
        *ret = TAKE_PTR(spec);
        return 0;
}

/* ---- required_by drop-ins ---- */

/* '%' starts a specifier in unit files: "%%" is a literal one. */
static char *unit_escape(const char *s) {
        char *out = malloc(strlen(s) * 2 + 1), *w = out;
        if (!out)
                return NULL;
        for (; *s; s++) {
                if (*s == '%')
                        *w++ = '%';
                *w++ = *s;
        }
        *w = 0;
        return out;
}

static int add_dropin_lines(json_t *lines, const char *unit, const char *mountpoint) {
        _cleanup_free_ char *mp = unit_escape(mountpoint), *text = NULL;
        json_t *acc = json_object_get(lines, unit);

        if (!mp || asprintf(&text, "%sRequiresMountsFor=%s\nAssertPathIsMountPoint=%s\n",
                            acc ? json_string_value(acc) : "", mp, mp) < 0)
                return -ENOMEM;
        return json_object_set_new(lines, unit, json_string(text)) < 0 ? -ENOMEM : 0;
}

/* unit → its drop-in text, for every unit some volume is required by. */
static int wanted_dropins(json_t *specs, json_t **ret) {
        _cleanup_json_ json_t *lines = json_object(), *out = json_object();
        json_t *spec, *u;
        const char *unit;
        size_t i, k;

        if (!lines || !out)
                return -ENOMEM;
        json_array_foreach(specs, i, spec)
                json_array_foreach(json_object_get(spec, "required_by"), k, u)
                        if (add_dropin_lines(lines, json_string_value(u), json_get_string(spec, "mountpoint", "")) < 0)
                                return -ENOMEM;
        json_object_foreach(lines, unit, u) {
                _cleanup_free_ char *text = NULL;
                if (asprintf(&text, "# Written by kiln (volumes: required_by): %s starts only with its data "
                             "volume mounted.\n[Unit]\n%s", unit, json_string_value(u)) < 0 ||
                    json_object_set_new(out, unit, json_string(text)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* "/etc/systemd/system/<unit>.d/kiln-volumes.conf", as the booted system
 * names it (root_path() it to write). */
static char *dropin_path(const char *unit) {
        char *p = NULL;
        return asprintf(&p, SYSTEMD_UNIT_DIR "/%s.d/" DROPIN_NAME, unit) < 0 ? NULL : p;
}

/* Units that carry a kiln drop-in now. */
static int existing_dropins(json_t **ret) {
        _cleanup_free_ char *dir = root_path(SYSTEMD_UNIT_DIR);
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_json_ json_t *units = json_array();
        struct dirent *de;

        if (!dir || !units)
                return -ENOMEM;
        d = opendir(dir);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *unit = NULL, *p = NULL;
                size_t n = strlen(de->d_name);
                if (n < 3 || !endswith(de->d_name, ".d") || !(unit = strndup(de->d_name, n - 2)))
                        continue;
                p = dropin_path(unit);
                _cleanup_free_ char *real = p ? root_path(p) : NULL;
                if (real && access(real, F_OK) == 0 && json_array_append_new(units, json_string(unit)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(units);
        return 0;
}

static int plan_dropin_write(const char *unit, const char *text, json_t **plan) {
        _cleanup_free_ char *shown = dropin_path(unit), *real = shown ? root_path(shown) : NULL;
        if (!real)
                return -ENOMEM;
        if (file_content_equals(real, text, strlen(text)) > 0)
                return 0;
        json_t *item = plan_add(plan, "drop-in", shown, "%s must not start without its volume", unit);
        if (!item || json_object_set_new(item, "_unit", json_string(unit)) < 0 ||
            json_object_set_new(item, "_text", json_string(text)) < 0)
                return -ENOMEM;
        return 0;
}

static int plan_dropins(json_t *specs, json_t **plan) {
        _cleanup_json_ json_t *want = NULL, *have = NULL;
        const char *unit;
        json_t *v;
        size_t i;

        if (wanted_dropins(specs, &want) < 0 || existing_dropins(&have) < 0)
                return -ENOMEM;
        json_object_foreach(want, unit, v)
                if (plan_dropin_write(unit, json_string_value(v), plan) < 0)
                        return -ENOMEM;
        json_array_foreach(have, i, v) {
                _cleanup_free_ char *shown = NULL;
                if (json_object_get(want, json_string_value(v)))
                        continue;
                shown = dropin_path(json_string_value(v));
                json_t *item = shown ? plan_add(plan, "remove", shown, "%s is no longer in any required_by",
                                                json_string_value(v)) : NULL;
                if (!item || json_object_set(item, "_unit", v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Writes or removes one drop-in; 1 when done, negative (recorded) on failure. */
static int apply_dropin(kiln_ctx *ctx, json_t *item) {
        const char *unit = json_get_string(item, "_unit", NULL), *text = json_get_string(item, "_text", NULL);
        _cleanup_free_ char *shown = dropin_path(unit), *real = shown ? root_path(shown) : NULL, *dir = NULL;
        write_opts o = WRITE_OPTS_DEFAULT;
        int r;

        if (!real || !(dir = strndup(real, (size_t) (strrchr(real, '/') - real))))
                return log_oom();
        if (!text) {
                if (unlink(real) < 0 && errno != ENOENT) {
                        r = negative_errno();
                        return ctx_error(ctx, r, "failed to remove %s: %s", shown, strerror(-r));
                }
                (void) rmdir(dir); /* only when empty: other drop-ins are not ours */
                return ctx_change(ctx, "removed", shown, "%s is no longer in any required_by", unit) < 0 ? -ENOMEM : 1;
        }
        o.mode = 0644;
        r = mkdir_p(dir, 0755);
        if (r >= 0)
                r = write_file_atomic(real, text, strlen(text), &o);
        if (r < 0)
                return ctx_error(ctx, r, "failed to write %s: %s", shown, strerror(-r));
        return ctx_change(ctx, "drop-in", shown, "%s starts only with its volume mounted", unit) < 0 ? -ENOMEM : 1;
}

/* ---- the module ---- */

static int volumes_plan(kiln_ctx *ctx, json_t **ret_plan) {
        _cleanup_json_ json_t *specs = NULL;
        int r = volume_plan_list(ctx, "volumes", parse_entry, ret_plan, &specs);
        if (r < 0)
                return r;
        return plan_dropins(specs, ret_plan) < 0 ? log_oom() : 0;
}

/* Drop-ins first: should the wait for a volume outlast the unit's start
 * timeout, the role's services are protected already. */
static int volumes_apply(kiln_ctx *ctx, json_t *plan) {
        bool changed = false;
        json_t *item;
        size_t i;
        int failed = 0;

        json_array_foreach(plan, i, item) {
                if (!json_object_get(item, "_unit"))
                        continue;
                int r = apply_dropin(ctx, item);
                if (r == -ENOMEM)
                        return r;
                failed += r < 0;
                changed = changed || r > 0;
        }
        int r = volume_apply(ctx, plan, changed);
        return failed ? -EIO : r;
}

const kiln_module module_volumes = {
        .name = "volumes",
        .stage = STAGE_NETWORK,
        .frequency = FREQ_PER_BOOT,
        .description = "Find, format when blank, label, mount, persist and grow the data volumes.",
        .keys = volumes_keys,
        .plan = volumes_plan,
        .apply = volumes_apply,
};
