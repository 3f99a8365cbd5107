/* blockdev-fs.c — changing a device: mkfs, relabel, online grow, and
 * carrying out a plan.
 *
 * Every change is guarded by a fresh probe taken immediately before it,
 * not by the probe the plan was made from: minutes may pass between plan
 * and apply (the wait for a late volume, other modules), and a device may
 * have been written to or swapped meanwhile.  mkfs is never given a force
 * flag (-F / -f), so the tools' own checks stay as a last line of defence.
 *
 * The tools are found in the system directories (never through $PATH: kiln
 * runs as root at boot) and run through exec_run() with a deadline; their
 * output is captured and logged only when they fail.  Discard is disabled
 * for mkfs (-E nodiscard / -K): the device was just verified blank, and
 * discarding a multi-TiB EBS volume would only add boot time.
 *
 * Filesystem size, which decides whether to grow, must be the live one.
 * Unmounted: the primary superblock at the start of the device, read with
 * O_DIRECT so a stale cached page can't answer.  Mounted ext*: the same
 * superblock read *through* the page cache, because ext4 keeps its
 * superblock buffer there and updates it in place long before the journal
 * checkpoints it to disk.  Mounted xfs: XFS_IOC_FSGEOMETRY, since xfs
 * writes its superblock through its own buffer cache and the on-disk copy
 * stays old until unmount (measured: unchanged after xfs_growfs + syncfs).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "blockdev-internal.h"
#include "blockdev-xfs.h"
#include "exec.h"
#include "log.h"
#include "macro.h"

#define MKFS_TIMEOUT (10 * 60 * USEC_PER_SEC)
#define TOOL_TIMEOUT (5 * 60 * USEC_PER_SEC)
#define GROW_MIN_BYTES (1024 * 1024)
#define SB_READ_SIZE 4096

static const char *const tool_dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

static char *tool_path(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(tool_dirs); i++) {
                char *p = path_join(tool_dirs[i], name);
                if (!p || access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

/* Runs a tool (argv[0] is a bare name); logs its output when it fails. */
static int run_tool(char **argv, usec_t timeout) {
        _cleanup_free_ char *path = tool_path(argv[0]), *cmdline = NULL, *out = NULL;
        exec_opts o = EXEC_OPTS_DEFAULT;
        int status = 0, r;

        if (!path)
                return log_error_errno(-ENOENT, "%s not found in /usr/sbin, /sbin, /usr/bin or /bin.", argv[0]);
        const char *name = argv[0];
        argv[0] = path;
        cmdline = exec_argv_to_string(argv);
        o.timeout = timeout;
        o.capture = &out;
        r = exec_run(argv, &o, &status);
        argv[0] = (char *) name;
        if (!cmdline)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Failed to run %s: %m", cmdline);
        if (status != 0) {
                log_error("%s failed with status %d: %s", cmdline, status, out ? strstrip(out) : "");
                return -EIO;
        }
        log_info("Ran %s.", cmdline);
        return 0;
}

static bool fstype_supported(const char *fstype) {
        return fstype && (streq(fstype, "ext4") || streq(fstype, "xfs"));
}

int blockdev_mkfs(const char *device, const char *fstype, const char *label) {
        _cleanup_blockdev_probe_ blockdev_probe p = {};
        int r;

        if (!fstype_supported(fstype))
                return log_error_errno(-EOPNOTSUPP, "Cannot create a '%s' filesystem: ext4 or xfs only.",
                                       fstype ? fstype : "");
        r = blockdev_probe_device(device, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to probe %s before mkfs: %m", device);
        if (p.content != BLOCKDEV_BLANK)
                return log_error_errno(-EEXIST, "Not formatting %s: it carries %s.", device, p.summary);

        bool ext4 = streq(fstype, "ext4");
        char *argv[9];
        size_t n = 0;
        argv[n++] = ext4 ? "mkfs.ext4" : "mkfs.xfs";
        argv[n++] = "-q";
        argv[n++] = ext4 ? "-E" : "-K";
        if (ext4)
                argv[n++] = "nodiscard";
        if (label) {
                argv[n++] = "-L";
                argv[n++] = (char *) label;
        }
        argv[n++] = (char *) device;
        argv[n] = NULL;
        return run_tool(argv, MKFS_TIMEOUT);
}

static int relabel_xfs(const char *device, const char *label) {
        _cleanup_free_ char *mnt = NULL, *cmd = NULL;
        int r = blockdev_find_mountpoint(device, &mnt);

        if (r == -ENOENT) {
                char *argv[] = { "xfs_admin", "-L", (char *) label, (char *) device, NULL };
                return run_tool(argv, TOOL_TIMEOUT);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to find out whether %s is mounted: %m", device);
        /* Mounted: xfs_admin refuses, the online label ioctl works. */
        if (asprintf(&cmd, "label -s %s", label) < 0)
                return log_oom();
        char *argv[] = { "xfs_io", "-c", cmd, mnt, NULL };
        return run_tool(argv, TOOL_TIMEOUT);
}

int blockdev_relabel(const char *device, const char *fstype, const char *label) {
        _cleanup_blockdev_probe_ blockdev_probe p = {};
        int r;

        if (!fstype_supported(fstype) || isempty(label))
                return log_error_errno(-EINVAL, "Cannot relabel %s as %s '%s'.", device, fstype ? fstype : "",
                                       label ? label : "");
        r = blockdev_probe_device(device, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to probe %s before relabelling: %m", device);
        if (p.content != BLOCKDEV_FILESYSTEM || !streq(p.type, fstype))
                return log_error_errno(-EEXIST, "Not relabelling %s: it carries %s, not an %s filesystem.", device,
                                       p.summary, fstype);
        if (streq(fstype, "xfs"))
                return relabel_xfs(device, label);
        char *argv[] = { "e2label", (char *) device, (char *) label, NULL };
        return run_tool(argv, TOOL_TIMEOUT);
}

int blockdev_device_size(const char *device, uint64_t *ret_bytes) {
        struct stat st;
        uint64_t size;

        _cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISREG(st.st_mode))
                size = (uint64_t) st.st_size;
        else if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        else if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                return negative_errno();
        *ret_bytes = size;
        return 0;
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

/* ext2/3/4 superblock at byte 1024: magic 0xEF53 at 0x38, blocks count (lo
 * 0x04, hi 0x150 with the 64bit incompat feature 0x80 at 0x60), block size
 * 1024 << s_log_block_size (0x18). */
static int ext_size(const uint8_t *buf, uint64_t *ret) {
        const uint8_t *sb = buf + 1024;
        if (sb[0x38] != 0x53 || sb[0x39] != 0xef)
                return -EBADMSG;
        uint32_t log_bs = le32(sb + 0x18);
        if (log_bs > 6)
                return -EBADMSG;
        uint64_t blocks = le32(sb + 0x04);
        if (le32(sb + 0x60) & 0x80)
                blocks |= (uint64_t) le32(sb + 0x150) << 32;
        *ret = blocks * (1024ULL << log_bs);
        return 0;
}

/* XFS superblock at byte 0, big endian: "XFSB", sb_blocksize, sb_dblocks. */
static int xfs_size(const uint8_t *sb, uint64_t *ret) {
        if (memcmp(sb, "XFSB", 4) != 0)
                return -EBADMSG;
        uint32_t bs = be32(sb + 4);
        uint64_t dblocks = (uint64_t) be32(sb + 8) << 32 | be32(sb + 12);
        if (bs < 512 || bs > 65536)
                return -EBADMSG;
        *ret = dblocks * bs;
        return 0;
}

/* direct: bypass the page cache (see blockdev_fs_size()). */
static int read_superblock_area(const char *device, bool direct, uint8_t *buf) {
        _cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY | (direct ? O_DIRECT : 0));
        if (fd < 0 && errno == EINVAL && direct) /* no O_DIRECT here (an image file in tmpfs) */
                fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        ssize_t k = pread(fd, buf, SB_READ_SIZE, 0);
        if (k < 0)
                return negative_errno();
        return k == SB_READ_SIZE ? 0 : -EIO;
}

int blockdev_fs_size(const char *device, const char *fstype, uint64_t *ret_bytes) {
        _cleanup_free_ char *mnt = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        int r;

        if (!fstype || (!streq(fstype, "xfs") && !startswith(fstype, "ext")))
                return -EOPNOTSUPP;
        bool mounted = blockdev_find_mountpoint(device, &mnt) == 0;
        if (mounted && streq(fstype, "xfs"))
                return blockdev_xfs_size_mounted(mnt, ret_bytes);
        if (posix_memalign((void **) &buf, SB_READ_SIZE, SB_READ_SIZE) != 0)
                return -ENOMEM;
        r = read_superblock_area(device, !mounted, buf);
        if (r < 0)
                return r;
        return streq(fstype, "xfs") ? xfs_size(buf, ret_bytes) : ext_size(buf, ret_bytes);
}

/* The kernel lets ext4 grow online only with CAP_SYS_RESOURCE (xfs needs
 * CAP_SYS_ADMIN, which mounting needed anyway); say so plainly instead of
 * relaying resize2fs's "Permission denied". */
static bool have_cap_sys_resource(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return true; /* can't tell: let the tool try */
        return d[CAP_SYS_RESOURCE / 32].effective & (1U << (CAP_SYS_RESOURCE % 32));
}

static int grow_tool(const char *device, const char *fstype, const char *mountpoint) {
        if (!streq(fstype, "xfs") && !have_cap_sys_resource())
                return log_error_errno(-EPERM, "Cannot grow the %s filesystem on %s online: the kernel requires "
                                       "CAP_SYS_RESOURCE, which kiln is running without.", fstype, device);
        if (streq(fstype, "xfs")) {
                char *argv[] = { "xfs_growfs", "-d", (char *) mountpoint, NULL };
                return run_tool(argv, TOOL_TIMEOUT);
        }
        char *argv[] = { "resize2fs", (char *) device, NULL };
        return run_tool(argv, TOOL_TIMEOUT);
}

int blockdev_grow(const char *device, const char *fstype, const char *mountpoint, uint64_t *ret_old,
                  uint64_t *ret_new) {
        uint64_t dev_size, old_size, new_size;
        int r;

        r = blockdev_device_size(device, &dev_size);
        if (r < 0)
                return log_error_errno(r, "Failed to get the size of %s: %m", device);
        r = blockdev_fs_size(device, fstype, &old_size);
        if (r < 0)
                return log_error_errno(r, "Failed to read the %s superblock of %s: %m", fstype, device);
        new_size = old_size;
        if (dev_size >= old_size + GROW_MIN_BYTES) {
                log_info("%s is %" PRIu64 " bytes, its %s filesystem %" PRIu64 ": growing it online.", device,
                         dev_size, fstype, old_size);
                r = grow_tool(device, fstype, mountpoint);
                if (r < 0)
                        return r;
                r = blockdev_fs_size(device, fstype, &new_size);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the %s superblock of %s: %m", fstype, device);
        }
        if (ret_old)
                *ret_old = old_size;
        if (ret_new)
                *ret_new = new_size;
        return new_size > old_size;
}

static bool decision_matches(const blockdev_decision *plan, blockdev_action now, const blockdev_probe *p) {
        if (plan->action != now)
                return false;
        /* "use" and "relabel" are about one particular filesystem. */
        if (now == BLOCKDEV_ACTION_USE || now == BLOCKDEV_ACTION_RELABEL)
                return plan->probe.uuid && p->uuid && streq(plan->probe.uuid, p->uuid);
        return true;
}

static int verify_result(const char *device, const blockdev_want *w, blockdev_probe *after) {
        int r = blockdev_probe_device(device, after);
        if (r < 0)
                return log_error_errno(r, "Failed to probe %s after preparing it: %m", device);
        bool label_ok = !w->label || (after->label && streq(after->label, w->label));
        if (after->content != BLOCKDEV_FILESYSTEM || !streq(after->type, w->fstype) || !label_ok)
                return log_error_errno(-EIO, "%s does not hold the expected %s filesystem afterwards: %s.", device,
                                       w->fstype, after->summary);
        return 0;
}

int blockdev_apply(const char *device, const blockdev_want *w, const blockdev_decision *plan,
                   blockdev_probe *ret_after) {
        _cleanup_blockdev_probe_ blockdev_probe now = {}, after = {};
        _cleanup_free_ char *why = NULL;
        blockdev_action a;
        int r;

        if (plan->action == BLOCKDEV_ACTION_REFUSE)
                return log_error_errno(-EEXIST, "Refusing to prepare %s", plan->reason);
        r = blockdev_probe_device(device, &now);
        if (r < 0)
                return log_error_errno(r, "Failed to probe %s: %m", device);
        r = blockdev_decide(&now, w, &a, &why);
        if (r < 0)
                return log_oom();
        if (!decision_matches(plan, a, &now))
                return log_error_errno(-ESTALE, "%s changed since it was planned (%s; now: %s): not touching it.",
                                       device, plan->reason, why);
        if (a == BLOCKDEV_ACTION_MKFS)
                r = blockdev_mkfs(device, w->fstype, w->label);
        else if (a == BLOCKDEV_ACTION_RELABEL)
                r = blockdev_relabel(device, w->fstype, w->label);
        if (r < 0)
                return r;
        r = verify_result(device, w, &after);
        if (r < 0)
                return r;
        log_info("%s: %s: %s", device, blockdev_action_to_string(a), after.summary);
        if (ret_after) {
                *ret_after = after;
                after = (blockdev_probe){};
        }
        return 0;
}
