/* blockdev-internal.h — helpers shared by the blockdev-*.c files only.
 *
 * Kept out of blockdev.h so the module sees one small, stable API and these
 * can change with the implementation.
 */
#pragma once

#include "blockdev.h"
#include "macro.h"

#define BLOCKDEV_SYS_DEFAULT "/sys"
#define BLOCKDEV_DEV_DEFAULT "/dev"

static inline const char *blockdev_sys_dir(const blockdev_query *q) {
        return q && q->sys_dir ? q->sys_dir : BLOCKDEV_SYS_DEFAULT;
}
static inline const char *blockdev_dev_dir(const blockdev_query *q) {
        return q && q->dev_dir ? q->dev_dir : BLOCKDEV_DEV_DEFAULT;
}

/* Light probe (superblocks only, no zero check): the filesystem label and
 * UUID, each NULL when absent.  For scanning many devices by label and for
 * re-checking a UUID before mounting. */
int blockdev_probe_ids(const char *device, char **ret_label, char **ret_uuid);

/* Ensures the probe's strings are freed on scope exit. */
static inline void blockdev_probe_donep(blockdev_probe *p) {
        blockdev_probe_done(p);
}
#define _cleanup_blockdev_probe_ _cleanup_(blockdev_probe_donep)
