/* blockdev-find.c — which block device is the volume the user meant.
 *
 * Sources, most authoritative first (docs/volumes.md):
 *
 *   volume id   /sys/block/X/device/serial: an EBS NVMe volume's serial
 *               is its id without the dash.  This works through both the
 *               controller and the multipath subsystem link, and without
 *               udev; the by-id link udev makes
 *               (nvme-Amazon_Elastic_Block_Store_vol…) is a second source.
 *               On an NVMe disk the serial alone decides, whatever the
 *               model says: a "vol…" serial is specific enough, and emulators (QEMU's
 *               NVMe disk with serial=vol…, the end-to-end test) carry
 *               their own model.  The device-name path below does need
 *               the EBS model: the vendor-specific identify bytes mean a
 *               device name only on EBS.
 *   device      the attach-time name in each EBS controller's identify data
 *               (ioctl, retried briefly while empty); then /dev/sdX or
 *               /dev/xvdX as a link (amazon-ec2-utils' udev rule) or a real
 *               node (Xen, where sdf shows up as xvdf).
 *   label       a libblkid probe of every disk and partition in /sys/block.
 *
 * A volume id is decisive on Nitro: if EBS NVMe devices are visible but
 * none has the id, the volume is not attached (yet) — falling back to the
 * device name could pick another volume attached under the same name.
 * Only where ids are invisible (Xen) does the device name take over.  The
 * label identifies only when it is the only key: otherwise it's the label
 * the volume should carry, not a way to find it.
 *
 * sysfs and /dev come from the query's sys_dir/dev_dir so unit tests run
 * against a fake tree; in such a tree device nodes are regular files (the
 * NVMe controller node holds a captured identify page).
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "blockdev-internal.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "nvme.h"

#define ATTR_MAX 4096
#define NVME_NAME_WAIT (500 * USEC_PER_MSEC)
#define BY_ID_PREFIX "disk/by-id/nvme-Amazon_Elastic_Block_Store_"

typedef struct candidates {
        char *paths[8];
        char *how[8];
        size_t n;
} candidates;

static void candidates_done(candidates *c) {
        for (size_t i = 0; i < c->n; i++) {
                free(c->paths[i]);
                free(c->how[i]);
        }
        c->n = 0;
}
#define _cleanup_candidates_ _cleanup_(candidates_done)

/* Adds path, taking ownership of both strings, unless it is already there
 * (two sources naming one device) or the list is full (two are enough to
 * refuse).  Returns 0 so callers can tail-call it. */
static int candidates_add(candidates *c, char *path, char *how) {
        bool keep = c->n < ELEMENTSOF(c->paths);
        for (size_t i = 0; keep && i < c->n; i++)
                keep = !streq(c->paths[i], path);
        if (!keep) {
                free(path);
                free(how);
                return 0;
        }
        c->paths[c->n] = path;
        c->how[c->n++] = how;
        return 0;
}

/* The one match, or -ENOENT / -ENOTUNIQ (logged: it names the devices). */
static int candidates_take(candidates *c, const char *what, char **ret_path, char **ret_how) {
        if (c->n == 0)
                return -ENOENT;
        if (c->n > 1) {
                log_error("%s matches several devices: %s, %s%s; refusing to guess.", what, c->paths[0], c->paths[1],
                          c->n > 2 ? ", …" : "");
                return -ENOTUNIQ;
        }
        *ret_path = TAKE_PTR(c->paths[0]);
        *ret_how = TAKE_PTR(c->how[0]);
        c->n = 0;
        return 0;
}

/* A sysfs attribute, trimmed; NULL when missing (or OOM). */
static char *read_attr(const char *sys, const char *name, const char *attr) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        if (asprintf(&path, "%s/block/%s/%s", sys, name, attr) < 0)
                return NULL;
        if (read_full_file(path, ATTR_MAX, &data, NULL) < 0)
                return NULL;
        const char *t = strstrip(data);
        return strdup(t);
}

static int filter_entry(const struct dirent *de) {
        return de->d_name[0] != '.';
}

/* Names in sys/block, sorted (callers skip hidden multipath paths). */
static int list_disks(const char *sys, struct dirent ***ret, int *ret_n) {
        _cleanup_free_ char *dir = path_join(sys, "block");
        if (!dir)
                return -ENOMEM;
        int n = scandir(dir, ret, filter_entry, alphasort);
        if (n < 0)
                return negative_errno();
        *ret_n = n;
        return 0;
}

static void free_dirents(struct dirent **v, int n) {
        for (int i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static bool disk_hidden(const char *sys, const char *name) {
        _cleanup_free_ char *h = read_attr(sys, name, "hidden");
        return h && streq(h, "1");
}

static bool disk_is_ebs_nvme(const char *sys, const char *name) {
        _cleanup_free_ char *model = read_attr(sys, name, "device/model");
        return startswith(name, "nvme") && model && streq(model, EBS_NVME_MODEL);
}

static int add_by_serial(const char *sys, const char *dev, const char *name, const char *serial, candidates *c) {
        _cleanup_free_ char *s = read_attr(sys, name, "device/serial");
        char *how = NULL, *path;

        if (!s || !streq(s, serial))
                return 0;
        path = path_join(dev, name);
        if (!path || asprintf(&how, "NVMe serial %s of %s", serial, name) < 0) {
                free(path);
                return -ENOMEM;
        }
        return candidates_add(c, path, how);
}

/* A block device node whose size is 0 has nothing attached yet: a loop
 * device without a backing file (their nodes outlive losetup -d), an empty
 * drive.  It is not the volume, however its name matches. */
static bool node_is_empty_blockdev(const char *node, const struct stat *st) {
        uint64_t size;
        return S_ISBLK(st->st_mode) && blockdev_device_size(node, &size) >= 0 && size == 0;
}

/* A /dev entry (a link or a node) resolved to the device node it names, if
 * it exists and is a non-empty block device (or, in a fake tree, a regular
 * file). */
static char *resolve_node(const char *dev, const char *rel) {
        _cleanup_free_ char *p = path_join(dev, rel);
        struct stat st;
        if (!p)
                return NULL;
        char *real = realpath(p, NULL);
        if (!real)
                return NULL;
        if (stat(real, &st) < 0 || (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) ||
            node_is_empty_blockdev(real, &st)) {
                free(real);
                return NULL;
        }
        return real;
}

static int add_by_link(const char *dev, const char *rel, const char *what, candidates *c) {
        char *path = resolve_node(dev, rel), *how = NULL;
        if (!path)
                return 0;
        if (asprintf(&how, "%s %s/%s", what, dev, rel) < 0) {
                free(path);
                return -ENOMEM;
        }
        return candidates_add(c, path, how);
}

/* r: 0/-ENOENT/error; *observable: some EBS NVMe device was seen, so
 * volume ids can be matched on this instance. */
static int find_by_volume_id(const blockdev_query *q, const char *vol, bool *observable, char **ret_path,
                             char **ret_how) {
        const char *sys = blockdev_sys_dir(q), *dev = blockdev_dev_dir(q);
        _cleanup_candidates_ candidates c = {};
        _cleanup_free_ char *serial = NULL, *link = NULL;
        struct dirent **v = NULL;
        int n = 0, r;

        if (ebs_volume_id_to_serial(vol, &serial) < 0)
                return -EINVAL;
        r = list_disks(sys, &v, &n);
        for (int i = 0; r >= 0 && i < n; i++) {
                const char *name = v[i]->d_name;
                if (disk_hidden(sys, name))
                        continue;
                /* Ids are "observable" only where EBS volumes are: there a
                 * missing id means "not attached yet" (see the top). */
                if (disk_is_ebs_nvme(sys, name))
                        *observable = true;
                if (startswith(name, "nvme"))
                        r = add_by_serial(sys, dev, name, serial, &c);
        }
        free_dirents(v, n);
        if (r < 0 && r != -ENOENT)
                return r;
        if (asprintf(&link, BY_ID_PREFIX "%s", serial) < 0)
                return -ENOMEM;
        r = add_by_link(dev, link, "udev link", &c);
        if (r < 0)
                return r;
        if (c.n > 0)
                *observable = true;
        return candidates_take(&c, vol, ret_path, ret_how);
}

/* The node to send the identify ioctl to: the controller's character device
 * (/dev/nvme1, named by the device link in sysfs) when it exists, else the
 * namespace's block device, which accepts the admin ioctl too. */
static char *identify_node(const char *sys, const char *dev, const char *name) {
        _cleanup_free_ char *link = NULL, *target = NULL;
        if (asprintf(&link, "%s/block/%s/device", sys, name) < 0)
                return NULL;
        target = realpath(link, NULL);
        if (target) {
                char *ctrl = path_join(dev, strrchr(target, '/') + 1);
                if (!ctrl || access(ctrl, F_OK) == 0)
                        return ctrl;
                free(ctrl);
        }
        return path_join(dev, name);
}

static int add_by_ebs_name(const char *sys, const char *dev, const char *name, const char *want, candidates *c) {
        _cleanup_free_ char *node = identify_node(sys, dev, name), *canon = NULL;
        nvme_ctrl_info info;
        char *how = NULL, *path;
        int r;

        if (!node)
                return -ENOMEM;
        r = nvme_read_ebs_info(node, NVME_NAME_WAIT, &info);
        if (r < 0) {
                log_debug_errno(r, "Cannot read the NVMe identify data of %s: %m", node);
                return 0;
        }
        if (ebs_device_name_normalize(info.device_name, &canon) < 0 || !streq(canon, want))
                return 0;
        path = path_join(dev, name);
        if (!path || asprintf(&how, "EBS device name '%s' in the NVMe identify data of %s", info.device_name,
                              name) < 0) {
                free(path);
                return -ENOMEM;
        }
        return candidates_add(c, path, how);
}

static int find_by_nvme_name(const blockdev_query *q, const char *want, candidates *c) {
        const char *sys = blockdev_sys_dir(q), *dev = blockdev_dev_dir(q);
        struct dirent **v = NULL;
        int n = 0, r = list_disks(sys, &v, &n);

        for (int i = 0; r >= 0 && i < n; i++) {
                const char *name = v[i]->d_name;
                if (disk_is_ebs_nvme(sys, name) && !disk_hidden(sys, name))
                        r = add_by_ebs_name(sys, dev, name, want, c);
        }
        free_dirents(v, n);
        return r == -ENOENT ? 0 : r;
}

/* /dev/sdf and /dev/xvdf: udev links on Nitro (amazon-ec2-utils), real
 * nodes on Xen.  want is the canonical "sd…" spelling. */
static int find_by_dev_names(const blockdev_query *q, const char *want, candidates *c) {
        const char *dev = blockdev_dev_dir(q);
        _cleanup_free_ char *xen = NULL;
        int r;

        r = add_by_link(dev, want, "device", c);
        if (r < 0)
                return r;
        if (!startswith(want, "sd"))
                return 0;
        if (asprintf(&xen, "xvd%s", want + 2) < 0)
                return -ENOMEM;
        return add_by_link(dev, xen, "Xen device", c);
}

static int find_by_device_name(const blockdev_query *q, char **ret_path, char **ret_how) {
        _cleanup_candidates_ candidates c = {};
        _cleanup_free_ char *want = NULL;
        int r;

        if (ebs_device_name_normalize(q->device, &want) < 0)
                return -EINVAL;
        r = find_by_nvme_name(q, want, &c);
        if (r < 0)
                return r;
        /* The identify data is authoritative; links only when it names
         * nothing (no NVMe, or no EBS volume attached under this name). */
        if (c.n == 0) {
                r = find_by_dev_names(q, want, &c);
                if (r < 0)
                        return r;
        }
        return candidates_take(&c, q->device, ret_path, ret_how);
}

static int add_by_label(const char *dev, const char *name, const char *label, candidates *c) {
        _cleanup_free_ char *node = path_join(dev, name), *l = NULL, *uuid = NULL;
        char *how = NULL;

        if (!node)
                return -ENOMEM;
        if (blockdev_probe_ids(node, &l, &uuid) < 0 || !l || !streq(l, label))
                return 0;
        if (asprintf(&how, "filesystem label '%s' on %s", label, name) < 0)
                return -ENOMEM;
        return candidates_add(c, TAKE_PTR(node), how);
}

/* Probes name and its partitions (sys/block/NAME/NAMEp1 …). */
static int label_scan_disk(const char *sys, const char *dev, const char *name, const char *label, candidates *c) {
        _cleanup_free_ char *dir = NULL, *size = read_attr(sys, name, "size");
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        if (!size || streq(size, "0"))
                return 0; /* an unattached loop device, an empty drive */
        r = add_by_label(dev, name, label, c);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/block/%s", sys, name) < 0)
                return -ENOMEM;
        d = opendir(dir);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *attr = NULL, *is_part = NULL;
                if (!startswith(de->d_name, name) || asprintf(&attr, "%s/partition", de->d_name) < 0)
                        continue;
                is_part = read_attr(sys, name, attr);
                if (!is_part)
                        continue;
                r = add_by_label(dev, de->d_name, label, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int find_by_label(const blockdev_query *q, char **ret_path, char **ret_how) {
        const char *sys = blockdev_sys_dir(q), *dev = blockdev_dev_dir(q);
        _cleanup_candidates_ candidates c = {};
        struct dirent **v = NULL;
        int n = 0, r = list_disks(sys, &v, &n);

        for (int i = 0; r >= 0 && i < n; i++)
                if (!disk_hidden(sys, v[i]->d_name))
                        r = label_scan_disk(sys, dev, v[i]->d_name, q->label, &c);
        free_dirents(v, n);
        if (r < 0 && r != -ENOENT)
                return r;
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "Label '%s'", q->label) < 0)
                return -ENOMEM;
        return candidates_take(&c, what, ret_path, ret_how);
}

int blockdev_query_check(const blockdev_query *q, char **ret_error) {
        _cleanup_free_ char *vol = NULL, *dev = NULL;
        char *msg = NULL;
        int r = 0;

        if (isempty(q->volume_id) && isempty(q->device) && isempty(q->label))
                r = asprintf(&msg, "a volume needs at least one of volume_id, device or label");
        else if (q->volume_id && ebs_volume_id_normalize(q->volume_id, &vol) < 0)
                r = asprintf(&msg, "volume_id '%s' is not an EBS volume id (vol- and 8 to 17 hex digits)",
                             q->volume_id);
        else if (q->device && ebs_device_name_normalize(q->device, &dev) < 0)
                r = asprintf(&msg, "device '%s' is not a device name like sdf, xvdf or /dev/sdf", q->device);
        else if (q->label && isempty(q->label))
                r = asprintf(&msg, "label must not be empty");
        else
                return 0;
        if (r < 0)
                return -ENOMEM;
        *ret_error = msg;
        return -EINVAL;
}

char *blockdev_query_describe(const blockdev_query *q) {
        char *s = NULL;
        int r;

        if (q->volume_id)
                r = asprintf(&s, "volume %s%s%s%s", q->volume_id, q->device ? " (device " : "",
                             q->device ? q->device : "", q->device ? ")" : "");
        else if (q->device)
                r = asprintf(&s, "volume attached as %s", q->device);
        else
                r = asprintf(&s, "volume labelled '%s'", q->label ? q->label : "");
        return r < 0 ? NULL : s;
}

/* Found by volume id: a different attach-time name is worth a warning (the
 * id wins, it is the stronger key), never a failure. */
static void cross_check_name(const blockdev_query *q, const char *path) {
        _cleanup_free_ char *canon = NULL, *node = NULL;
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        nvme_ctrl_info info;

        if (!q->device || ebs_device_name_normalize(q->device, &canon) < 0)
                return;
        node = identify_node(blockdev_sys_dir(q), blockdev_dev_dir(q), name);
        if (!node || nvme_read_ebs_info(node, NVME_NAME_WAIT, &info) < 0 || !nvme_info_is_ebs(&info) ||
            !info.device_name[0])
                return;
        if (!ebs_device_names_equal(info.device_name, canon))
                log_warning("Volume %s was attached as %s, not %s; using it (the volume id decides).", q->volume_id,
                            info.device_name, q->device);
}

int blockdev_find(const blockdev_query *q, char **ret_path, char **ret_how) {
        _cleanup_free_ char *err = NULL;
        bool observable = false;
        int r;

        if (blockdev_query_check(q, &err) < 0)
                return -EINVAL;
        if (q->volume_id) {
                r = find_by_volume_id(q, q->volume_id, &observable, ret_path, ret_how);
                if (r == 0)
                        cross_check_name(q, *ret_path);
                if (r != -ENOENT || observable)
                        return r;
        }
        if (q->device)
                return find_by_device_name(q, ret_path, ret_how);
        if (q->label && !q->volume_id)
                return find_by_label(q, ret_path, ret_how);
        return -ENOENT;
}

static int summary_add(const char *sys, const char *dev, const char *name, char **acc) {
        _cleanup_free_ char *serial = read_attr(sys, name, "device/serial"), *node = NULL, *vol = NULL;
        nvme_ctrl_info info = {};
        char *n = NULL;

        node = identify_node(sys, dev, name);
        if (node)
                (void) nvme_read_ebs_info(node, 0, &info);
        if (!serial || ebs_serial_to_volume_id(serial, &vol) < 0)
                vol = strdup("?");
        if (asprintf(&n, "%s%s%s=%s(%s)", *acc ? *acc : "", *acc ? ", " : "", name, vol ? vol : "?",
                     info.device_name[0] ? info.device_name : "name unknown") < 0)
                return -ENOMEM;
        free(*acc);
        *acc = n;
        return 0;
}

char *blockdev_ebs_summary(const char *sys_dir, const char *dev_dir) {
        const char *sys = sys_dir ? sys_dir : BLOCKDEV_SYS_DEFAULT, *dev = dev_dir ? dev_dir : BLOCKDEV_DEV_DEFAULT;
        struct dirent **v = NULL;
        char *acc = NULL;
        int n = 0, r = list_disks(sys, &v, &n);

        for (int i = 0; r >= 0 && i < n; i++)
                if (disk_is_ebs_nvme(sys, v[i]->d_name) && !disk_hidden(sys, v[i]->d_name))
                        r = summary_add(sys, dev, v[i]->d_name, &acc);
        free_dirents(v, n);
        if (r == -ENOMEM) {
                free(acc);
                return NULL;
        }
        return acc ? acc : strdup("none");
}
