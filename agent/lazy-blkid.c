/* lazy-blkid.c — libblkid, loaded when kiln first probes a block device
 * (the volume modules).  Why and how: dlib.h.  Failures look like
 * libblkid's own: NULL, or -1 with errno ELIBACC. */
#include <blkid/blkid.h>
#include <errno.h>
#include <stddef.h>

#include "dlib.h"

static dlib blkid = DLIB_INIT("libblkid.so.1", "block device probing: volumes");

#define FAIL_M1 (errno = ELIBACC, -1)

DLIB_FORWARD(blkid, blkid_probe, blkid_new_probe, (void), (), NULL)
DLIB_FORWARD_FREE(blkid, void, blkid_free_probe, (blkid_probe pr), (pr), )
DLIB_FORWARD(blkid, int, blkid_probe_set_device, (blkid_probe pr, int fd, blkid_loff_t off, blkid_loff_t size),
             (pr, fd, off, size), FAIL_M1)
DLIB_FORWARD(blkid, blkid_loff_t, blkid_probe_get_size, (blkid_probe pr), (pr), FAIL_M1)
DLIB_FORWARD(blkid, int, blkid_probe_enable_superblocks, (blkid_probe pr, int enable), (pr, enable), FAIL_M1)
DLIB_FORWARD(blkid, int, blkid_probe_set_superblocks_flags, (blkid_probe pr, int flags), (pr, flags), FAIL_M1)
DLIB_FORWARD(blkid, int, blkid_probe_enable_partitions, (blkid_probe pr, int enable), (pr, enable), FAIL_M1)
DLIB_FORWARD(blkid, int, blkid_do_safeprobe, (blkid_probe pr), (pr), FAIL_M1)
DLIB_FORWARD(blkid, int, blkid_probe_lookup_value, (blkid_probe pr, const char *name, const char **data, size_t *len),
             (pr, name, data, len), FAIL_M1)
