/* blockdev-xfs.c — the size of a mounted xfs filesystem, asked of xfs.
 *
 * xfs updates its superblock through its own buffer cache; after an online
 * xfs_growfs the on-disk copy stays old until unmount, so only the
 * filesystem itself can say how large it is now: XFS_IOC_FSGEOMETRY_V1,
 * the oldest and most widely supported form of that ioctl.
 *
 * A file of its own because xfsprogs' headers (xfslibs-dev) pull in
 * <sys/param.h>, whose MIN/MAX clash with agent/macro.h's: this file and
 * its header stay clear of macro.h, so the descriptor is closed by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <xfs/xfs.h>

#include "blockdev-xfs.h"

int blockdev_xfs_size_mounted(const char *mountpoint, uint64_t *ret_bytes) {
        struct xfs_fsop_geom_v1 g = {};
        int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (fd < 0)
                return errno > 0 ? -errno : -EIO;
        if (ioctl(fd, XFS_IOC_FSGEOMETRY_V1, &g) < 0)
                r = errno > 0 ? -errno : -EIO;
        close(fd);
        if (r < 0)
                return r;
        *ret_bytes = (uint64_t) g.datablocks * g.blocksize;
        return 0;
}
