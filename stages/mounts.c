/* mounts.c — cloud-init's `mounts` key: fstab-like entries
 * [device, mountpoint, type, options, dump, pass], mounted now and
 * persisted, through the same engine as `volumes` (agent/volume.h).
 *
 * As in cloud-init, mounts never creates a filesystem: a blank device is
 * an error (fs_setup or volumes create them), a device holding anything
 * but a filesystem (of the given type, unless "auto") is refused and left
 * untouched.  What kiln does differently, and why:
 *
 *   - the device is waited for like a volume (a Terraform attachment can
 *     come minutes after boot), found by its attach-time name (sdb ≡ xvdb ≡
 *     /dev/xvdb, also on Nitro through the EBS NVMe identify data) or by
 *     LABEL=;
 *   - the fstab line names the filesystem by UUID (NVMe names change
 *     between boots), with nofail and a device timeout added; dump is 0,
 *     pass is kiln's (2 for ext*, else 0): the entry's 5th and 6th fields
 *     are accepted and not used;
 *   - refused (an error of this module, other entries go on): UUID= specs,
 *     cloud-init's aliases (ephemeral0, swap), swap entries, and entries
 *     without a mountpoint (cloud-init's "remove this entry"): kiln adds and
 *     repairs its lines, it does not delete fstab lines it cannot tell are
 *     its own.
 *
 * Per boot, like `volumes`.  No grow, no owner or mode: those are the
 * `volumes` key's.
 */
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "srcmap.h"
#include "volume.h"

#define FIELDS_MAX 6

static const schema_key mounts_field = { .types = ST_STRING | ST_INTEGER | ST_NULL };
static const schema_key mounts_item = { .types = ST_ARRAY, .items = &mounts_field };

static const schema_key mounts_keys[] = {
        KEY_LIST("mounts", &mounts_item, "cloud-init's fstab-like entries [device, mountpoint, type, options, dump, "
                                         "pass]: existing filesystems mounted by UUID and persisted, never formatted."),
        {},
};

static bool is_none(json_t *v) {
        const char *s = json_string_value(v);
        return json_is_null(v) || (s && (streq(s, "none") || streq(s, "None")));
}

static int input_error(kiln_ctx *ctx, const char *origin, size_t field, const char *msg) {
        _cleanup_free_ char *p = keypath_index(origin, field);
        return ctx_input_error(ctx, p ? p : origin, "%s", msg);
}

/* [0]: "sdb", "/dev/xvdb", "LABEL=data"; refused: UUID=, aliases. */
static int parse_spec(kiln_ctx *ctx, json_t *entry, const char *origin, json_t *spec) {
        const char *s = json_string_value(json_array_get(entry, 0));
        _cleanup_free_ char *p = keypath_index(origin, 0);
        int r;

        if (!p)
                return log_oom();
        if (isempty(s))
                return input_error(ctx, origin, 0, "the first field is the device: sdb, /dev/xvdb or LABEL=name");
        if (startswith(s, "UUID=") || startswith(s, "PARTUUID=") || volume_is_cloud_init_alias(s))
                r = volume_spec_refuse(spec, "'%s': kiln finds volumes by device name or LABEL= (not by UUID= or "
                                       "cloud-init's aliases)", s);
        else if (startswith(s, "LABEL="))
                r = json_object_set_new(spec, "label", json_string(s + 6));
        else
                r = json_object_set_new(spec, "device", json_string(s));
        if (r < 0)
                return log_oom();
        return json_object_get(spec, "refused") ? 0 : volume_check_query(ctx, p, spec);
}

/* [1] mountpoint, [2] type, [3] options. */
static int parse_mount(kiln_ctx *ctx, json_t *entry, const char *origin, json_t *spec) {
        json_t *mp = json_array_get(entry, 1), *type = json_array_get(entry, 2), *opts = json_array_get(entry, 3);
        _cleanup_free_ char *norm = NULL, *mp_path = keypath_index(origin, 1), *opt_path = keypath_index(origin, 3);
        const char *t = json_string_value(type);
        int r = 0;

        if (!mp_path || !opt_path)
                return log_oom();
        if (is_none(mp) || (t && streq(t, "swap")))
                return volume_spec_refuse(spec, "swap entries and entries without a mountpoint are not supported: "
                                          "kiln adds fstab lines, it does not remove them") < 0 ? log_oom() : 0;
        if (!json_is_string(mp))
                return input_error(ctx, origin, 1, "the second field is the mountpoint (an absolute path)");
        if (volume_check_mountpoint(ctx, mp_path, origin, json_string_value(mp), &norm) < 0)
                r = -EINVAL;
        else if (json_object_set_new(spec, "mountpoint", json_string(norm)) < 0)
                return log_oom();
        if (type && !json_is_null(type) && (!t || strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789.") != strlen(t) ||
                                              !*t))
                r = input_error(ctx, origin, 2, "the third field is the filesystem type (auto, ext4, xfs …)");
        else if (t && !streq(t, "auto") && json_object_set_new(spec, "filesystem", json_string(t)) < 0)
                return log_oom();
        if (opts && !json_is_null(opts) && !json_is_string(opts))
                r = input_error(ctx, origin, 3, "the fourth field is the mount options (a string)");
        else if (json_is_string(opts) && volume_check_options(ctx, opt_path, json_string_value(opts)) < 0)
                r = -EINVAL;
        else if (json_is_string(opts) && json_object_set(spec, "options", opts) < 0)
                return log_oom();
        return r;
}

static int parse_entry(kiln_ctx *ctx, json_t *entry, const char *origin, json_t **ret) {
        _cleanup_json_ json_t *spec = volume_spec_new(origin);
        size_t n = json_array_size(entry);
        int r = 0;

        if (!spec)
                return log_oom();
        if (n < 2 || n > FIELDS_MAX)
                return ctx_input_error(ctx, origin, "a mounts entry is [device, mountpoint, type, options, dump, "
                                       "pass] (2 to 6 fields)");
        if (json_object_set_new(spec, "format", json_false()) < 0 ||
            json_object_set_new(spec, "grow", json_false()) < 0)
                return log_oom();
        if (parse_spec(ctx, entry, origin, spec) < 0)
                r = -EINVAL;
        if (!json_object_get(spec, "refused") && parse_mount(ctx, entry, origin, spec) < 0)
                r = -EINVAL;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(spec);
        return 0;
}

static int mounts_plan(kiln_ctx *ctx, json_t **ret_plan) {
        return volume_plan_list(ctx, "mounts", parse_entry, ret_plan, NULL);
}

static int mounts_apply(kiln_ctx *ctx, json_t *plan) {
        return volume_apply(ctx, plan, false);
}

const kiln_module module_mounts = {
        .name = "mounts",
        .stage = STAGE_NETWORK,
        .frequency = FREQ_PER_BOOT,
        .description = "cloud-init's mounts: mount existing filesystems by UUID and persist them in fstab.",
        .keys = mounts_keys,
        .plan = mounts_plan,
        .apply = mounts_apply,
};
