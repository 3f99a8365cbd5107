/* blockdev.h — finding the data volume and preparing it without ever
 * destroying data: the library layer under the `volumes` module.
 *
 * The module's life cycle maps onto four groups of calls:
 *
 *   1. identify   blockdev_wait() / blockdev_find(): a query {volume id,
 *                 requested device name, label} → a device node, waiting
 *                 for a volume attached after boot.  (blockdev-find.c,
 *                 blockdev-wait.c)
 *   2. decide     blockdev_plan(): probe the device with libblkid's safe
 *                 probing plus a zero check, and decide mkfs / use /
 *                 relabel / refuse.  Touches nothing, so `kiln plan` can
 *                 show it.  (blockdev-probe.c)
 *   3. prepare    blockdev_apply(): re-probe, confirm the plan still holds,
 *                 then mkfs or relabel; blockdev_grow() once mounted.
 *                 (blockdev-fs.c)
 *   4. mount      blockdev_mount() now, blockdev_fstab_ensure() for every
 *                 later boot.  (blockdev-mount.c)
 *
 * The safety rule that shapes all of it: a device is formatted only when
 * libblkid finds no signature of any kind (filesystem, swap, RAID, LUKS,
 * LVM, partition table; ambivalent counts as data) AND its first and last
 * MiB read as zeros.  mkfs is never run with a force flag, and the blank
 * check is repeated immediately before mkfs.  docs/volumes.md explains why.
 *
 * Paths: sysfs and /dev are prefixes in the query (sys_dir, dev_dir) so unit
 * tests can point them at a fake tree; they are not re-rooted by --root.
 * Device nodes are named explicitly.  Mountpoints and fstab paths given to
 * blockdev_mount()/blockdev_fstab_ensure() are real paths: the caller passes
 * them through root_path(), while the fstab *entry* names the mountpoint as
 * the booted system will see it.
 *
 * Errors follow the project convention (negative errno, ret_* written only
 * on success).  Functions that know the context (which device, which tool
 * said what) log their errors; pure helpers (blockdev_decide, the query and
 * name helpers) don't.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* ---- 1. identify ------------------------------------------------------ */

typedef struct blockdev_query {
        const char *volume_id; /* "vol-0123…" or "vol0123…": matched against EBS NVMe serials */
        const char *device;    /* name requested at attach time: "sdf" ≡ "xvdf" ≡ "/dev/sdf" */
        const char *label;     /* filesystem label; identifies only when neither key above is given */
        const char *sys_dir;   /* NULL: "/sys" */
        const char *dev_dir;   /* NULL: "/dev" */
} blockdev_query;

/* Checks the keys' syntax; -EINVAL with a message for the user in
 * *ret_error (malloc'd) when a key is malformed or none is given. */
int blockdev_query_check(const blockdev_query *q, char **ret_error);
/* "volume vol-0123… (device sdf)" for logs; NULL only on OOM. */
char *blockdev_query_describe(const blockdev_query *q);

/* One look, no waiting.  Order: volume id (sysfs serials, then the udev
 * by-id link), then device name (EBS NVMe identify data, then /dev links
 * such as amazon-ec2-utils' /dev/sdf, then Xen's xvdX), then label.  When a
 * volume id is given and EBS NVMe devices are visible (a Nitro instance),
 * the volume id alone decides: the device name is cross-checked, never a
 * fallback, so a different volume that happens to hold the name can't be
 * taken.  Returns 0 with the device path (under dev_dir) and a one-line
 * account of how it was identified, -ENOENT when nothing matches yet,
 * -ENOTUNIQ (logged) when several devices match, -EINVAL for a bad query. */
int blockdev_find(const blockdev_query *q, char **ret_path, char **ret_how);

/* blockdev_find() until it succeeds or timeout passes, woken by /dev
 * changes (inotify), kernel uevents and a 500 ms poll.  Logs what it waits
 * for, and on timeout an error naming the volume and the EBS devices it did
 * see; returns -ETIMEDOUT then (-ENOENT when timeout is 0). */
int blockdev_wait(const blockdev_query *q, usec_t timeout, char **ret_path, char **ret_how);

/* "nvme0n1=vol-0aaa…(xvda), nvme1n1=vol-0bbb…(sdf)" — the EBS NVMe volumes
 * visible now, or "none" (for error messages); NULL only on OOM. */
char *blockdev_ebs_summary(const char *sys_dir, const char *dev_dir);

/* ---- 2. decide -------------------------------------------------------- */

typedef enum blockdev_content {
        BLOCKDEV_BLANK,      /* no signature, first and last MiB zero */
        BLOCKDEV_FILESYSTEM, /* exactly one filesystem and nothing else */
        BLOCKDEV_FOREIGN,    /* anything else that means "data lives here" */
} blockdev_content;

typedef struct blockdev_probe {
        blockdev_content content;
        char *type;    /* blkid TYPE ("ext4", "swap", "LVM2_member", "crypto_LUKS"), PTTYPE ("gpt", "dos"),
                        * "ambivalent" or "unknown"; NULL when blank */
        char *usage;   /* blkid USAGE ("filesystem", "raid", "crypto", "other", "partition table"); may be NULL */
        char *label;   /* NULL when none */
        char *uuid;    /* NULL when none */
        uint64_t size; /* device size in bytes */
        char *summary; /* one line for logs and the run record */
} blockdev_probe;

void blockdev_probe_done(blockdev_probe *p);
const char *blockdev_content_to_string(blockdev_content c);

/* Classifies a device (or an image file) read-only. */
int blockdev_probe_device(const char *device, blockdev_probe *ret);

typedef struct blockdev_want {
        const char *fstype; /* "ext4" or "xfs" */
        const char *label;  /* NULL: no label wanted (any existing label is accepted) */
        bool relabel;       /* same type, other label: relabel (true) or refuse (false) */
} blockdev_want;

/* Checks fstype and label (length and characters for that filesystem);
 * -EINVAL with a message for the user in *ret_error. */
int blockdev_want_check(const blockdev_want *w, char **ret_error);

typedef enum blockdev_action {
        BLOCKDEV_ACTION_USE,     /* the wanted filesystem is there */
        BLOCKDEV_ACTION_MKFS,    /* blank: create it */
        BLOCKDEV_ACTION_RELABEL, /* same type, other label, relabel allowed */
        BLOCKDEV_ACTION_REFUSE,  /* anything else: leave the device alone, report an error */
} blockdev_action;

const char *blockdev_action_to_string(blockdev_action a);

/* The decision table (pure):
 *   blank                          → MKFS
 *   wanted type, wanted/any label  → USE
 *   wanted type, other label       → RELABEL when w->relabel, else REFUSE
 *   other filesystem type          → REFUSE
 *   foreign signature / data       → REFUSE
 * *ret_reason says why, for the record. */
int blockdev_decide(const blockdev_probe *p, const blockdev_want *w, blockdev_action *ret_action, char **ret_reason);

typedef struct blockdev_decision {
        blockdev_action action;
        char *reason;        /* "/dev/nvme1n1: blank (…): create ext4 labelled 'data'" */
        blockdev_probe probe; /* what was found */
} blockdev_decision;

void blockdev_decision_done(blockdev_decision *d);

/* Probe + decide; changes nothing.  A REFUSE decision is a successful
 * plan (returns 0): the caller records it and blockdev_apply() fails. */
int blockdev_plan(const char *device, const blockdev_want *w, blockdev_decision *ret);

/* ---- 3. prepare ------------------------------------------------------- */

/* Carries out a plan: probes again and fails with -ESTALE when the decision
 * would now differ (the device changed since planning); REFUSE fails with
 * -EEXIST, logging the reason; MKFS and RELABEL run the tool and verify the
 * result.  *ret_after (optional) is the device's content afterwards, with
 * the UUID to mount and persist. */
int blockdev_apply(const char *device, const blockdev_want *w, const blockdev_decision *plan,
                   blockdev_probe *ret_after);

/* mkfs.<fstype> [-L label] without any force flag, after checking once
 * more that the device is blank (-EEXIST, logged, otherwise). */
int blockdev_mkfs(const char *device, const char *fstype, const char *label);
/* Sets the label of an existing filesystem of type fstype (e2label, or
 * xfs_admin / xfs_io when mounted); -EEXIST when the device holds
 * something else. */
int blockdev_relabel(const char *device, const char *fstype, const char *label);

int blockdev_device_size(const char *device, uint64_t *ret_bytes);
/* Size of the ext2/3/4 or xfs filesystem, as the kernel sees it when it is
 * mounted, else from its primary superblock. */
int blockdev_fs_size(const char *device, const char *fstype, uint64_t *ret_bytes);
/* Grows the filesystem mounted at mountpoint to fill the device when the
 * device is at least 1 MiB larger (resize2fs / xfs_growfs, online).
 * Returns 1 when grown, 0 when there was nothing to do; the sizes before
 * and after go to ret_old/ret_new (each optional). */
int blockdev_grow(const char *device, const char *fstype, const char *mountpoint, uint64_t *ret_old,
                  uint64_t *ret_new);

/* ---- 4. mount --------------------------------------------------------- */

typedef struct blockdev_mount_opts {
        const char *fstype;
        const char *options; /* mount options as in fstab; NULL: "defaults" */
        mode_t mode;         /* 0: 0755.  Applied to a mountpoint kiln creates and to the root */
        uid_t uid;           /* directory of a filesystem kiln has just created (fresh_fs);    */
        gid_t gid;           /* never to existing data, never recursively.  -1: root.           */
        bool fresh_fs;
} blockdev_mount_opts;

#define BLOCKDEV_MOUNT_OPTS_DEFAULT ((blockdev_mount_opts){ .uid = (uid_t) -1, .gid = (gid_t) -1 })

/* Mounts device (whose UUID must be uuid: checked right before) on target
 * through libmount.  Returns 1 when mounted now, 0 when it already was;
 * -EBUSY when something else is mounted there. */
int blockdev_mount(const char *device, const char *uuid, const char *target, const blockdev_mount_opts *o);

/* Where device is mounted (first entry in /proc/self/mountinfo); -ENOENT
 * when it isn't. */
int blockdev_find_mountpoint(const char *device, char **ret);

typedef struct blockdev_fstab_entry {
        const char *uuid;
        const char *mountpoint;        /* as the booted system sees it: "/data" */
        const char *fstype;
        const char *options;           /* NULL: "defaults"; nofail and the device timeout are added */
        unsigned device_timeout_sec;   /* 0: 30 */
} blockdev_fstab_entry;

/* The line kiln writes for e (without newline). */
int blockdev_fstab_line(const blockdev_fstab_entry *e, char **ret);
/* Makes fstab_path hold exactly one line for e->mountpoint, the one
 * blockdev_fstab_line() gives: appended when missing, replaced in place
 * when different, every other line kept byte for byte, written atomically.
 * Returns 1 when the file changed, 0 when it already was right, -ENOTUNIQ
 * (logged) when several lines claim the mountpoint. */
int blockdev_fstab_ensure(const char *fstab_path, const blockdev_fstab_entry *e);
