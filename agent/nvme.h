/* nvme.h — what an EBS volume says about itself through NVMe, and the names
 * EC2 gives it.
 *
 * On Nitro instances every EBS volume is an NVMe controller whose
 * identify-controller page carries three facts kiln needs: the PCI vendor id
 * and model (is this EBS at all?), the serial number (the volume id without
 * its dash) and, in the vendor-specific area at byte 3072, the block-device
 * name requested at attach time ("sdf", "/dev/xvdb", space padded).  The
 * enumeration order (nvme1n1, nvme2n1, …) is not stable across boots, so
 * these facts, not the kernel name, identify a volume.
 *
 * Parsing is a pure function of the 4096-byte page so it is unit-tested with
 * captured-style pages (tests/data/nvme/).  Reading the page is a separate
 * step: NVME_IOCTL_ADMIN_CMD (Identify, CNS=1) on an NVMe device node, or a
 * plain read() when the path is a regular file holding a captured page (a
 * debugging aid, and how the fake device trees of the unit tests work).
 * Right after attach the name field can read empty for a moment, hence
 * nvme_read_ebs_info() retries until it is filled in or a deadline passes.
 *
 * Name helpers: EC2 treats "sdf", "xvdf" and "/dev/sdf" as one name (Xen
 * guests see sdX as xvdX), so names are compared in one canonical form, the
 * "sd" spelling without "/dev/".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define NVME_IDENTIFY_SIZE 4096
#define EBS_PCI_VENDOR_ID 0x1d0fU
#define EBS_NVME_MODEL "Amazon Elastic Block Store"

typedef struct nvme_ctrl_info {
        uint16_t vendor_id;     /* PCI vendor id (identify bytes 0-1, little endian) */
        char serial[21];        /* bytes 4-23, trailing spaces and NULs removed */
        char model[41];         /* bytes 24-63, likewise */
        char device_name[33];   /* bytes 3072-3103 as stored (may carry "/dev/"), trimmed; "" when empty */
} nvme_ctrl_info;

/* Parses an identify-controller page.  Fails with -EBADMSG when a text field
 * holds bytes that are not printable ASCII. */
int nvme_parse_identify(const uint8_t page[static NVME_IDENTIFY_SIZE], nvme_ctrl_info *ret);

/* True for an EBS volume: Amazon's vendor id and the EBS model string (the
 * instance-store NVMe disks share the vendor id but not the model). */
bool nvme_info_is_ebs(const nvme_ctrl_info *info);

/* Reads the identify-controller page from path: the ioctl for a character or
 * block device node, read() for a regular file.  -ENOTTY when the device is
 * not NVMe. */
int nvme_read_identify(const char *path, uint8_t ret_page[static NVME_IDENTIFY_SIZE]);

/* Reads and parses the page, retrying every 100 ms while the device-name
 * field is empty, until timeout has passed.  Returns 0 with a filled-in name,
 * 0 with an empty name when the timeout ran out (the caller decides what an
 * unnamed volume means), or a negative errno when the page can't be read. */
int nvme_read_ebs_info(const char *path, usec_t timeout, nvme_ctrl_info *ret);

/* "vol-0123456789abcdef0", "vol0123456789abcdef0" or upper case → the
 * canonical "vol-0123456789abcdef0".  -EINVAL unless it is "vol", an
 * optional dash and 8 to 17 hex digits. */
int ebs_volume_id_normalize(const char *s, char **ret);
/* The NVMe serial of a volume: "vol-0123…" → "vol0123…". */
int ebs_volume_id_to_serial(const char *volume_id, char **ret);
/* The volume id of an EBS NVMe serial; -EINVAL when the serial isn't one. */
int ebs_serial_to_volume_id(const char *serial, char **ret);

/* Canonical device name: "/dev/xvdf" → "sdf", "xvdba" → "sdba",
 * "sdf" → "sdf", "/dev/sda1" → "sda1".  -EINVAL for empty names, other
 * directories than /dev/, and characters other than [a-z0-9]. */
int ebs_device_name_normalize(const char *name, char **ret);
/* sdf ≡ xvdf ≡ /dev/sdf; false when either name is invalid. */
bool ebs_device_names_equal(const char *a, const char *b);
