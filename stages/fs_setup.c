/* fs_setup.c — cloud-init's `fs_setup` key, with kiln's safe semantics.
 *
 * cloud-init's fs_setup runs mkfs with a force flag on a whole disk (and
 * whenever `overwrite: true`), so a data volume re-attached to a
 * replacement instance is wiped.  kiln maps each entry onto the same
 * engine as its own `volumes` key (agent/volume.h): the device is created
 * only when blank, used when it already holds the filesystem and label
 * asked for, and otherwise refused and left untouched.  kiln never forces:
 *
 *   honoured   device (waited for like a volume), filesystem (ext4, xfs),
 *              label, partition: none / auto (the whole device)
 *   ignored    overwrite: true, replace_fs, extra_opts — a recoverable
 *              error says so, and the rest of the entry is carried out
 *              safely
 *   refused    cmd (a custom mkfs command could format anything), any other
 *              partition (kiln never partitions), other filesystem types,
 *              cloud-init's device aliases (ephemeral0, swap): the entry is
 *              not carried out, an error of this module
 *
 * fs_setup only prepares filesystems; mounting is the `mounts` key's job,
 * as in cloud-init.  Per boot, like `volumes`: a late volume that timed out
 * is prepared on the next boot.
 */
#include <strings.h>

#include "json-util.h"
#include "log.h"
#include "module.h"
#include "srcmap.h"
#include "volume.h"

static const schema_key fs_setup_props[] = {
        { .name = "device", .types = ST_STRING, .required = true,
          .description = "Device to prepare: the attach-time name (/dev/xvdb ≡ sdb) or a device node; waited for "
                         "like a volume." },
        { .name = "filesystem", .types = ST_STRING, .required = true,
          .description = "ext4 or xfs (another type refuses the entry: kiln creates no other)." },
        KEY("label", ST_STRING, "Label for a new filesystem; an existing one must carry it."),
        KEY("partition", ST_STRING | ST_INTEGER, "none or auto: the whole device; anything else refuses the entry "
                                                 "(kiln never partitions)."),
        KEY("overwrite", ST_BOOLEAN, "Not honoured: kiln never formats a device that carries data (warning)."),
        KEY("replace_fs", ST_STRING, "Not honoured: kiln never formats over a filesystem (warning)."),
        KEY("extra_opts", ST_STRING | ST_ARRAY, "Not honoured: mkfs runs with kiln's options only (warning)."),
        KEY("cmd", ST_STRING | ST_ARRAY, "Refused: kiln never runs a custom mkfs command."),
        {},
};

static const schema_key fs_setup_item = { .types = ST_OBJECT, .props = fs_setup_props };

static const schema_key fs_setup_keys[] = {
        KEY_LIST("fs_setup", &fs_setup_item, "cloud-init's filesystem setup, with kiln's safe semantics: a device is "
                                             "formatted only when blank (docs/volumes.md)."),
        {},
};

static int parse_device(kiln_ctx *ctx, json_t *item, const char *origin, json_t *spec) {
        const char *dev = json_get_string(item, "device", "");
        _cleanup_free_ char *path = keypath_key(origin, "device");

        if (!path)
                return log_oom();
        if (volume_is_cloud_init_alias(dev))
                return volume_spec_refuse(spec, "device '%s' is a cloud-init alias; kiln needs the device's name "
                                          "(/dev/xvdb)", dev) < 0 ? log_oom() : 0;
        if (json_object_set_new(spec, "device", json_string(dev)) < 0)
                return log_oom();
        return volume_check_query(ctx, path, spec);
}

static int parse_filesystem(kiln_ctx *ctx, json_t *item, const char *origin, json_t *spec) {
        const char *fs = json_get_string(item, "filesystem", ""), *label = json_get_string(item, "label", NULL);
        _cleanup_free_ char *lp = keypath_key(origin, "label"), *fp = keypath_key(origin, "filesystem");

        if (!lp || !fp)
                return log_oom();
        if (!streq(fs, "ext4") && !streq(fs, "xfs"))
                return volume_spec_refuse(spec, "filesystem '%s': kiln creates only ext4 and xfs", fs) < 0 ? log_oom()
                                                                                                          : 0;
        if (json_object_set_new(spec, "filesystem", json_string(fs)) < 0 ||
            (label && json_object_set_new(spec, "label", json_string(label)) < 0))
                return log_oom();
        return volume_check_want(ctx, lp, fp, spec);
}

/* partition, cmd, overwrite, replace_fs, extra_opts: what kiln won't do. */
static int parse_unsafe(json_t *item, json_t *spec) {
        json_t *part = json_object_get(item, "partition");
        const char *ps = json_string_value(part);
        int r = 0;

        if (part && !(ps && (strcasecmp(ps, "none") == 0 || strcasecmp(ps, "auto") == 0))) {
                _cleanup_free_ char *shown = json_dumps(part, JSON_ENCODE_ANY);
                r = volume_spec_refuse(spec, "partition: %s: kiln formats whole devices only and never partitions; "
                                       "name the partition's device instead", shown ? shown : "?");
        }
        if (r >= 0 && json_object_get(item, "cmd"))
                r = volume_spec_refuse(spec, "cmd: kiln never runs a custom mkfs command (it could format a device "
                                       "that holds data)");
        if (r >= 0 && json_get_bool(item, "overwrite", false))
                r = volume_spec_ignore(spec, "overwrite: true is not honoured: kiln never formats a device that "
                                       "carries any signature");
        if (r >= 0 && json_object_get(item, "replace_fs"))
                r = volume_spec_ignore(spec, "replace_fs: %s is not honoured: kiln never formats over an existing "
                                       "filesystem", json_get_string(item, "replace_fs", ""));
        if (r >= 0 && json_object_get(item, "extra_opts"))
                r = volume_spec_ignore(spec, "extra_opts are not honoured: mkfs runs with kiln's own options");
        return r < 0 ? log_oom() : 0;
}

static int parse_entry(kiln_ctx *ctx, json_t *item, const char *origin, json_t **ret) {
        _cleanup_json_ json_t *spec = volume_spec_new(origin);
        int r = 0;

        if (!spec)
                return log_oom();
        if (parse_device(ctx, item, origin, spec) < 0)
                r = -EINVAL;
        if (parse_filesystem(ctx, item, origin, spec) < 0)
                r = -EINVAL;
        if (parse_unsafe(item, spec) < 0)
                r = -EINVAL;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(spec);
        return 0;
}

static int fs_setup_plan(kiln_ctx *ctx, json_t **ret_plan) {
        return volume_plan_list(ctx, "fs_setup", parse_entry, ret_plan, NULL);
}

static int fs_setup_apply(kiln_ctx *ctx, json_t *plan) {
        return volume_apply(ctx, plan, false);
}

const kiln_module module_fs_setup = {
        .name = "fs_setup",
        .stage = STAGE_NETWORK,
        .frequency = FREQ_PER_BOOT,
        .description = "cloud-init's fs_setup: create filesystems on blank devices only, never forcing.",
        .keys = fs_setup_keys,
        .plan = fs_setup_plan,
        .apply = fs_setup_apply,
};
