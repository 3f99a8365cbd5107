/* volume.h — the engine under the `volumes`, `fs_setup` and `mounts`
 * modules: one description of a data volume (a "spec") → plan items →
 * apply, on top of the block-device layer (blockdev.h).
 *
 * Three modules, one engine: kiln's own `volumes` key and cloud-init's
 * `fs_setup` and `mounts` keys say the same things in different shapes
 * (which device, which filesystem and label, where to mount it), and the
 * safety rules must not depend on which shape the user picked.  Each
 * module only parses its key into specs; everything that touches a device
 * happens here, the same way for all three.
 *
 * A spec is a JSON object, because it travels inside the plan (a private
 * "_volume" field of its first plan item) from plan to apply:
 *
 *   origin        "volumes[0]", "fs_setup[1]", "mounts[2]" (for messages)
 *   volume_id, device, label      identification (blockdev_query); label is
 *                 also the label a new filesystem gets
 *   filesystem    "ext4"/"xfs" to create or expect; absent (mounts with
 *                 "auto"): any existing filesystem
 *   format        may mkfs a blank device (volumes, fs_setup; not mounts)
 *   relabel       same type, other label: relabel instead of refusing
 *   mountpoint, options           where and how to mount; absent: prepare only
 *   uid, gid, mode                for a mountpoint kiln creates (volumes)
 *   wait_usec     how long to wait for the device, from the module's start
 *   grow          grow the filesystem online when the device is larger
 *   refused       the entry asks for something kiln never does (a custom
 *                 mkfs command, a partition): nothing is done, an error
 *   ignored       [messages]: options not honoured (overwrite: true …);
 *                 the rest of the entry is, and each is a recoverable error
 *
 * Plan (touches nothing, never waits): whether the device is there now
 * and, if it is, the decision blockdev_plan() makes for it; otherwise what
 * will be decided once it appears.  Apply trusts none of that: it waits,
 * probes and decides again (blockdev_apply() re-probes once more right
 * before mkfs).  A volume that times out, is refused or fails is recorded
 * with ctx_error() and the next one is still processed; the module then
 * fails, so it runs again on the next boot.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "module.h"

#define VOLUME_WAIT_DEFAULT_SEC 300
#define VOLUME_WAIT_MAX_SEC 3600
#define VOLUME_FSTAB "/etc/fstab"

/* A spec with the defaults (format, no relabel, grow, the default wait);
 * NULL on OOM. */
json_t *volume_spec_new(const char *origin);

/* Marks spec refused (the first reason stays) / adds an ignored-option
 * message; -ENOMEM or 0. */
int volume_spec_refuse(json_t *spec, const char *format, ...) _printf_(2, 3);
int volume_spec_ignore(json_t *spec, const char *format, ...) _printf_(2, 3);
/* cloud-init's device aliases (ephemeral0, swap …) that name no device. */
bool volume_is_cloud_init_alias(const char *device);

/* Input checks shared by the modules' parsers.  Each reports a problem with
 * ctx_input_error() at key_path and returns -EINVAL. */
/* An absolute path, no whitespace or quotes, not "/" or a system
 * directory, and not also claimed by an earlier volumes/mounts entry;
 * *ret is normalised (no trailing '/'). */
int volume_check_mountpoint(kiln_ctx *ctx, const char *key_path, const char *origin, const char *mountpoint,
                            char **ret);
/* Mount options as in fstab: comma-separated, no whitespace or '#'. */
int volume_check_options(kiln_ctx *ctx, const char *key_path, const char *options);
/* The identification keys and the wanted filesystem/label of spec. */
int volume_check_query(kiln_ctx *ctx, const char *key_path, json_t *spec);
int volume_check_want(kiln_ctx *ctx, const char *label_path, const char *fs_path, json_t *spec);

/* Adds the plan items of one spec. */
int volume_plan(kiln_ctx *ctx, json_t *spec, json_t **plan);

/* Turns one entry of a module's list into a spec (input errors reported). */
typedef int (*volume_parse_fn)(kiln_ctx *ctx, json_t *item, const char *origin, json_t **ret_spec);
/* The plan step the volume modules share: parse every entry of the list at
 * key (all errors reported; any error fails the plan), then volume_plan()
 * each spec.  *ret_specs (optional) receives the parsed specs. */
int volume_plan_list(kiln_ctx *ctx, const char *key, volume_parse_fn parse, json_t **ret_plan, json_t **ret_specs);

/* Carries out every "_volume" item of plan, in order.  Each wait is
 * measured from the start of this call, so several missing volumes wait
 * together, not one after another.  Then, if fstab changed or
 * reload_anyway, volume_daemon_reload().  A volume that fails is recorded
 * with ctx_error() and the next one is still processed; returns -EIO when
 * any failed. */
int volume_apply(kiln_ctx *ctx, json_t *plan, bool reload_anyway);

/* On the live system with systemd running: `systemctl daemon-reload`, so
 * systemd sees a new fstab line or drop-in in this boot (the generated
 * .mount unit, RequiresMountsFor=).  A reload starts nothing and waits on
 * no unit.  Under --root, or without systemd, nothing. */
void volume_daemon_reload(kiln_ctx *ctx);
