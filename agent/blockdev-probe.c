/* blockdev-probe.c — what is on a device, and what kiln may do about it.
 *
 * Classification uses libblkid's *safe* probing with both the superblock
 * chain (filesystems, swap, RAID members, LUKS, LVM PVs, …) and the
 * partition-table chain enabled.  Safe probing reports a device carrying two
 * conflicting signatures as ambivalent instead of picking one, and kiln
 * treats that as data.  A filesystem is only a FILESYSTEM when blkid calls
 * its usage "filesystem", its checksum is good and no partition table sits
 * next to it; everything else found is FOREIGN.
 *
 * Belt and braces: "nothing found" is not enough to call a device blank.
 * libblkid only knows the signatures it knows; a volume holding a raw
 * database file, an image written with dd, or a filesystem newer than this
 * libblkid reads as "nothing".  So a device is BLANK only when, in addition,
 * its first and last MiB read as zeros — where nearly every on-disk format
 * keeps its headers (and GPT and md keep backups at the end).  Reading 2 MiB
 * costs milliseconds even on a lazily-restored EBS snapshot volume, unlike
 * reading the whole device.
 *
 * The decision table is a pure function of the probe so the module can show
 * it in `kiln plan` and unit tests can cover every row without devices.
 */
#include <blkid/blkid.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>

#include "blockdev-internal.h"
#include "log.h"
#include "macro.h"

#define ZERO_CHECK_BYTES (1024 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(blkid_probe, blkid_free_probe)
#define _cleanup_blkid_probe_ _cleanup_(blkid_free_probep)

void blockdev_probe_done(blockdev_probe *p) {
        if (!p)
                return;
        free(p->type);
        free(p->usage);
        free(p->label);
        free(p->uuid);
        free(p->summary);
        *p = (blockdev_probe){};
}

const char *blockdev_content_to_string(blockdev_content c) {
        switch (c) {
        case BLOCKDEV_BLANK:
                return "blank";
        case BLOCKDEV_FILESYSTEM:
                return "filesystem";
        case BLOCKDEV_FOREIGN:
                return "foreign";
        }
        return "?";
}

const char *blockdev_action_to_string(blockdev_action a) {
        switch (a) {
        case BLOCKDEV_ACTION_USE:
                return "use";
        case BLOCKDEV_ACTION_MKFS:
                return "mkfs";
        case BLOCKDEV_ACTION_RELABEL:
                return "relabel";
        case BLOCKDEV_ACTION_REFUSE:
                return "refuse";
        }
        return "?";
}

static int open_probe(const char *device, int *ret_fd, blkid_probe *ret_pr) {
        _cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        _cleanup_blkid_probe_ blkid_probe pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, 0, 0) != 0)
                return -EIO;
        *ret_fd = TAKE_FD(fd);
        *ret_pr = TAKE_PTR(pr);
        return 0;
}

/* The value of a probe result, duplicated; NULL when absent (or OOM, which
 * the caller can't tell apart and doesn't need to: absent is the safe
 * reading only for label/uuid, and type/usage are checked for NULL). */
static char *probe_value(blkid_probe pr, const char *name) {
        const char *v = NULL;
        if (blkid_probe_lookup_value(pr, name, &v, NULL) != 0 || !v)
                return NULL;
        return strdup(v);
}

int blockdev_probe_ids(const char *device, char **ret_label, char **ret_uuid) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_blkid_probe_ blkid_probe pr = NULL;
        int r = open_probe(device, &fd, &pr);
        if (r < 0)
                return r;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
        blkid_probe_enable_partitions(pr, 0);
        r = blkid_do_safeprobe(pr);
        if (r == -1)
                return -EIO;
        *ret_label = r == 0 ? probe_value(pr, "LABEL") : NULL;
        *ret_uuid = r == 0 ? probe_value(pr, "UUID") : NULL;
        return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off) {
        size_t got = 0;
        while (got < len) {
                ssize_t k = pread(fd, (char *) buf + got, len - got, (off_t) (off + got));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        return -EIO;
                got += (size_t) k;
        }
        return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/* 1 when the first and last MiB (all of a smaller device) are zeros, 0 when
 * not (*ret_where says which end), negative errno on read errors. */
static int ends_are_zero(int fd, uint64_t size, const char **ret_where) {
        _cleanup_free_ uint8_t *buf = malloc(ZERO_CHECK_BYTES);
        size_t head = (size_t) MIN(size, (uint64_t) ZERO_CHECK_BYTES);
        uint64_t tail_off = size > ZERO_CHECK_BYTES ? size - ZERO_CHECK_BYTES : 0;
        int r;

        if (!buf)
                return -ENOMEM;
        r = pread_full(fd, buf, head, 0);
        if (r < 0)
                return r;
        if (!all_zero(buf, head)) {
                *ret_where = "first MiB";
                return 0;
        }
        if (tail_off < head)
                return 1; /* the device is at most 1 MiB: done */
        r = pread_full(fd, buf, (size_t) (size - tail_off), tail_off);
        if (r < 0)
                return r;
        if (!all_zero(buf, (size_t) (size - tail_off))) {
                *ret_where = "last MiB";
                return 0;
        }
        return 1;
}

static int set_summary(blockdev_probe *p, const char *fmt, ...) _printf_(2, 3);
static int set_summary(blockdev_probe *p, const char *fmt, ...) {
        va_list ap;
        char *s;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        free(p->summary);
        p->summary = s;
        return 0;
}

static int classify_nothing_found(int fd, blockdev_probe *p) {
        const char *where = NULL;
        int r = ends_are_zero(fd, p->size, &where);
        if (r < 0)
                return r;
        if (r > 0) {
                p->content = BLOCKDEV_BLANK;
                return set_summary(p, "blank (no signature; first and last MiB are zeros)");
        }
        p->content = BLOCKDEV_FOREIGN;
        p->type = strdup("unknown");
        if (!p->type)
                return -ENOMEM;
        return set_summary(p, "non-zero data without a known signature (in the %s)", where);
}

static int classify_found(blkid_probe pr, blockdev_probe *p) {
        _cleanup_free_ char *pttype = probe_value(pr, "PTTYPE"), *badcsum = probe_value(pr, "SBBADCSUM");

        p->type = probe_value(pr, "TYPE");
        p->usage = probe_value(pr, "USAGE");
        p->label = probe_value(pr, "LABEL");
        p->uuid = probe_value(pr, "UUID");
        if (pttype) {
                p->content = BLOCKDEV_FOREIGN;
                free(p->type);
                free(p->usage);
                p->type = TAKE_PTR(pttype);
                p->usage = strdup("partition table");
                if (!p->usage)
                        return -ENOMEM;
                return set_summary(p, "partition table (%s)", p->type);
        }
        if (!p->type)
                return -EIO; /* found, but nothing we can name: treat as a probe failure */
        if (p->usage && streq(p->usage, "filesystem") && !badcsum) {
                p->content = BLOCKDEV_FILESYSTEM;
                return set_summary(p, "%s filesystem, label '%s', UUID %s", p->type, p->label ? p->label : "",
                                   p->uuid ? p->uuid : "");
        }
        p->content = BLOCKDEV_FOREIGN;
        return set_summary(p, "%s signature (usage %s%s)", p->type, p->usage ? p->usage : "unknown",
                           badcsum ? ", bad superblock checksum" : "");
}

int blockdev_probe_device(const char *device, blockdev_probe *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_blkid_probe_ blkid_probe pr = NULL;
        _cleanup_blockdev_probe_ blockdev_probe p = {};
        int r = open_probe(device, &fd, &pr);
        if (r < 0)
                return r;

        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE |
                                                      BLKID_SUBLKS_USAGE | BLKID_SUBLKS_BADCSUM);
        blkid_probe_enable_partitions(pr, 1);
        p.size = (uint64_t) MAX(blkid_probe_get_size(pr), 0);

        r = blkid_do_safeprobe(pr);
        if (r == -1)
                return -EIO;
        if (r == -2) {
                p.content = BLOCKDEV_FOREIGN;
                p.type = strdup("ambivalent");
                if (!p.type)
                        return -ENOMEM;
                r = set_summary(&p, "several conflicting signatures (blkid: ambivalent result)");
        } else if (r == 1)
                r = classify_nothing_found(fd, &p);
        else
                r = classify_found(pr, &p);
        if (r < 0)
                return r;
        *ret = p;
        p = (blockdev_probe){};
        return 0;
}

/* Label rules per filesystem: the tools' length limits, and a character
 * set that needs no quoting in fstab, udev links or logs. */
static size_t label_max(const char *fstype) {
        return streq(fstype, "xfs") ? 12 : 16;
}

static bool label_chars_ok(const char *label) {
        for (const char *c = label; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("._-", *c))
                        return false;
        return true;
}

int blockdev_want_check(const blockdev_want *w, char **ret_error) {
        char *msg = NULL;

        if (!w->fstype || (!streq(w->fstype, "ext4") && !streq(w->fstype, "xfs"))) {
                if (asprintf(&msg, "filesystem type '%s' is not supported (ext4 or xfs)", w->fstype ? w->fstype : "") <
                    0)
                        return -ENOMEM;
        } else if (w->label && (isempty(w->label) || strlen(w->label) > label_max(w->fstype))) {
                if (asprintf(&msg, "label '%s' must be 1 to %zu characters for %s", w->label,
                             label_max(w->fstype), w->fstype) < 0)
                        return -ENOMEM;
        } else if (w->label && !label_chars_ok(w->label)) {
                if (asprintf(&msg, "label '%s' may only contain letters, digits, '.', '_' and '-'", w->label) < 0)
                        return -ENOMEM;
        } else
                return 0;
        *ret_error = msg;
        return -EINVAL;
}

static int decide_filesystem(const blockdev_probe *p, const blockdev_want *w, blockdev_action *ret_action,
                             char **ret_reason) {
        const char *have = p->label ? p->label : "";
        char *s = NULL;
        blockdev_action a;
        int r;

        if (!streq(p->type, w->fstype)) {
                a = BLOCKDEV_ACTION_REFUSE;
                r = asprintf(&s, "holds a filesystem of type %s (label '%s'), not %s: device left untouched", p->type,
                             have, w->fstype);
        } else if (!w->label || streq(have, w->label)) {
                a = BLOCKDEV_ACTION_USE;
                r = asprintf(&s, "%s filesystem labelled '%s' already there: use it", p->type, have);
        } else if (w->relabel) {
                a = BLOCKDEV_ACTION_RELABEL;
                r = asprintf(&s, "%s filesystem labelled '%s': relabel to '%s' (relabel: true)", p->type, have,
                             w->label);
        } else {
                a = BLOCKDEV_ACTION_REFUSE;
                r = asprintf(&s, "%s filesystem labelled '%s', not '%s'; set relabel: true to relabel it: "
                             "device left untouched", p->type, have, w->label);
        }
        if (r < 0)
                return -ENOMEM;
        *ret_action = a;
        *ret_reason = s;
        return 0;
}

int blockdev_decide(const blockdev_probe *p, const blockdev_want *w, blockdev_action *ret_action, char **ret_reason) {
        char *s = NULL;
        blockdev_action a;
        int r;

        switch (p->content) {
        case BLOCKDEV_FILESYSTEM:
                return decide_filesystem(p, w, ret_action, ret_reason);
        case BLOCKDEV_BLANK:
                a = BLOCKDEV_ACTION_MKFS;
                if (w->label)
                        r = asprintf(&s, "%s: create %s labelled '%s'", p->summary, w->fstype, w->label);
                else
                        r = asprintf(&s, "%s: create %s", p->summary, w->fstype);
                break;
        default:
                a = BLOCKDEV_ACTION_REFUSE;
                r = asprintf(&s, "carries %s; kiln never formats a device with data on it: device left untouched",
                             p->summary);
                break;
        }
        if (r < 0)
                return -ENOMEM;
        *ret_action = a;
        *ret_reason = s;
        return 0;
}

void blockdev_decision_done(blockdev_decision *d) {
        if (!d)
                return;
        free(d->reason);
        blockdev_probe_done(&d->probe);
        *d = (blockdev_decision){};
}

int blockdev_plan(const char *device, const blockdev_want *w, blockdev_decision *ret) {
        _cleanup_blockdev_probe_ blockdev_probe p = {};
        _cleanup_free_ char *why = NULL, *reason = NULL;
        blockdev_action a;
        int r;

        r = blockdev_probe_device(device, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to probe %s: %m", device);
        r = blockdev_decide(&p, w, &a, &why);
        if (r < 0)
                return log_oom();
        if (asprintf(&reason, "%s: %s", device, why) < 0)
                return log_oom();
        log_debug("Plan for %s: %s (%s).", device, blockdev_action_to_string(a), reason);
        *ret = (blockdev_decision){ .action = a, .reason = TAKE_PTR(reason), .probe = p };
        p = (blockdev_probe){};
        return 0;
}
