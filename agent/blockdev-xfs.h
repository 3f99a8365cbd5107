/* blockdev-xfs.h — see blockdev-xfs.c; deliberately free of macro.h. */
#pragma once

#include <stdint.h>

/* The data size of the xfs filesystem mounted at mountpoint, from
 * XFS_IOC_FSGEOMETRY_V1. */
int blockdev_xfs_size_mounted(const char *mountpoint, uint64_t *ret_bytes);
