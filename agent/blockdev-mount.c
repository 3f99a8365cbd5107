/* blockdev-mount.c — mounting the prepared volume now and on every boot.
 *
 * Now: libmount mounts the device node kiln identified and probed, after
 * checking once more that it carries the expected UUID.  Going through the
 * node rather than letting libmount resolve "UUID=…" matters: without udev
 * the resolution scans every block device, and a cloned snapshot attached
 * twice has two devices with one UUID — the node we verified is the one we
 * mean.  libmount is told not to read any fstab (MNT_OMODE_NOTAB) so the
 * live /etc/fstab can't leak options into a mount under --root.
 *
 * Every later boot: an /etc/fstab line "UUID=… /data ext4
 * defaults,nofail,x-systemd.device-timeout=30s 0 2".  fstab rather than
 * generated .mount units because systemd's fstab generator turns it into
 * exactly such a unit anyway, while admins, `mount -a`, `findmnt --verify`
 * and cloud-init habits all read fstab, and nothing needs escaping into unit
 * names.  nofail keeps a missing volume from sending the boot to emergency
 * mode; the device timeout bounds how long local-fs waits for it (kiln's own
 * wait covers a late attach).  docs/volumes.md has the longer story.
 *
 * The fstab writer is keyed by mountpoint: the one line for it is appended
 * or replaced in place, every other byte of the file stays as it was, the
 * file is rewritten atomically and only when it changes.
 *
 * Owner and mode are applied to the mountpoint only when kiln creates it,
 * and to the root directory of a filesystem kiln has just made; existing
 * data is never chowned, and nothing is ever changed recursively.
 */
#include <fcntl.h>
#include <libgen.h>
#include <libmount/libmount.h>
#include <sys/stat.h>

#include "blockdev-internal.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

#define FSTAB_MAX (1024 * 1024)
#define DEVICE_TIMEOUT_DEFAULT 30

DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_table *, mnt_free_table)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_iter *, mnt_free_iter)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct libmnt_context *, mnt_free_context)

static int device_rdev(const char *device, dev_t *ret) {
        struct stat st;
        if (stat(device, &st) < 0)
                return negative_errno();
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        *ret = st.st_rdev;
        return 0;
}

static int mount_table(struct libmnt_table **ret) {
        struct libmnt_table *tb = mnt_new_table_from_file("/proc/self/mountinfo");
        if (!tb)
                return -EIO;
        *ret = tb;
        return 0;
}

int blockdev_find_mountpoint(const char *device, char **ret) {
        _cleanup_(mnt_free_tablep) struct libmnt_table *tb = NULL;
        _cleanup_(mnt_free_iterp) struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs;
        dev_t rdev;
        int r;

        if (!it)
                return -ENOMEM;
        r = device_rdev(device, &rdev);
        if (r < 0)
                return r;
        r = mount_table(&tb);
        if (r < 0)
                return r;
        while (mnt_table_next_fs(tb, it, &fs) == 0) {
                if (mnt_fs_get_devno(fs) != rdev || !mnt_fs_get_target(fs))
                        continue;
                char *t = strdup(mnt_fs_get_target(fs));
                if (!t)
                        return -ENOMEM;
                *ret = t;
                return 0;
        }
        return -ENOENT;
}

/* 1 when device is mounted at target, 0 when nothing is, -EBUSY when
 * something else is. */
static int target_state(const char *device, const char *target) {
        _cleanup_(mnt_free_tablep) struct libmnt_table *tb = NULL;
        dev_t rdev;
        int r = device_rdev(device, &rdev);

        if (r < 0)
                return r;
        r = mount_table(&tb);
        if (r < 0)
                return r;
        struct libmnt_fs *fs = mnt_table_find_target(tb, target, MNT_ITER_BACKWARD);
        if (!fs)
                return 0;
        return mnt_fs_get_devno(fs) == rdev ? 1 : -EBUSY;
}

static int apply_owner_mode(const char *dir, const blockdev_mount_opts *o) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if ((o->uid != (uid_t) -1 || o->gid != (gid_t) -1) && fchown(fd, o->uid, o->gid) < 0)
                return negative_errno();
        if (fchmod(fd, o->mode ? o->mode : 0755) < 0)
                return negative_errno();
        return 0;
}

/* Creates target (parents 0755) when missing, with the requested owner and
 * mode; leaves an existing directory alone.  A symlink is refused. */
static int ensure_mountpoint(const char *target, const blockdev_mount_opts *o) {
        _cleanup_free_ char *copy = strdup(target);
        struct stat st;
        int r;

        if (!copy)
                return -ENOMEM;
        if (lstat(target, &st) == 0) {
                if (S_ISLNK(st.st_mode))
                        return -ELOOP;
                return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        }
        if (errno != ENOENT)
                return negative_errno();
        r = mkdir_p(dirname(copy), 0755);
        if (r < 0)
                return r;
        if (mkdir(target, 0700) < 0)
                return negative_errno();
        r = apply_owner_mode(target, o);
        if (r < 0)
                return r;
        log_info("Created mountpoint %s (mode %04o).", target, (unsigned) (o->mode ? o->mode : 0755));
        return 0;
}

static int check_uuid(const char *device, const char *uuid) {
        _cleanup_free_ char *label = NULL, *found = NULL;
        int r = blockdev_probe_ids(device, &label, &found);
        if (r < 0)
                return log_error_errno(r, "Failed to probe %s before mounting: %m", device);
        if (!found || !streq(found, uuid))
                return log_error_errno(-ESTALE, "%s carries UUID %s, not %s: not mounting it.", device,
                                       found ? found : "(none)", uuid);
        return 0;
}

static int do_mount(const char *device, const char *target, const blockdev_mount_opts *o) {
        _cleanup_(mnt_free_contextp) struct libmnt_context *cxt = mnt_new_context();
        char msg[512] = "";
        int r;

        if (!cxt)
                return log_oom();
        if (mnt_context_set_optsmode(cxt, MNT_OMODE_NOTAB) < 0 || mnt_context_set_source(cxt, device) < 0 ||
            mnt_context_set_target(cxt, target) < 0 || mnt_context_set_fstype(cxt, o->fstype) < 0 ||
            mnt_context_set_options(cxt, o->options ? o->options : "defaults") < 0)
                return log_oom();
        r = mnt_context_mount(cxt);
        if (r == 0)
                return 0;
        int err = mnt_context_syscall_called(cxt) ? -mnt_context_get_syscall_errno(cxt) : -EIO;
        /* On a later boot systemd mounts the fstab line kiln wrote (nofail: not ordered before
         * local-fs.target) while kiln runs; if that mount won the race, the volume is where it belongs.
         * Its entry may show in the mount table a moment after the kernel refused ours: look for 2 s. */
        for (int i = 0; err == -EBUSY && i < 20; i++) {
                int state = target_state(device, target);
                if (state > 0)
                        return -EALREADY;
                if (state < 0)
                        break; /* another device is mounted there: nothing to wait for */
                (void) usleep(100 * 1000);
        }
        (void) mnt_context_get_excode(cxt, r, msg, sizeof msg);
        return log_error_errno(err < 0 ? err : -EIO, "Failed to mount %s on %s (%s, %s): %s", device, target,
                               o->fstype, o->options ? o->options : "defaults", msg[0] ? msg : "error");
}

int blockdev_mount(const char *device, const char *uuid, const char *target, const blockdev_mount_opts *o) {
        _cleanup_free_ char *real = NULL;
        int r;

        if (!o->fstype || isempty(uuid) || !path_is_safe_absolute(target))
                return log_error_errno(-EINVAL, "Cannot mount %s: fstype, UUID and an absolute mountpoint are "
                                       "needed.", device);
        r = ensure_mountpoint(target, o);
        if (r < 0)
                return log_error_errno(r, "Failed to prepare mountpoint %s: %m", target);
        real = realpath(target, NULL);
        if (!real)
                return log_error_errno(negative_errno(), "Failed to resolve %s: %m", target);
        r = target_state(device, real);
        if (r == -EBUSY)
                return log_error_errno(r, "Something other than %s is mounted on %s.", device, real);
        if (r < 0)
                return log_error_errno(r, "Failed to read the mount table for %s: %m", real);
        if (r > 0) {
                log_info("%s is already mounted on %s.", device, real);
                return 0;
        }
        r = check_uuid(device, uuid);
        if (r < 0)
                return r;
        r = do_mount(device, real, o);
        if (r == -EALREADY) {
                log_info("%s was mounted on %s meanwhile (by its fstab mount unit).", device, real);
                return 0;
        }
        if (r < 0)
                return r;
        log_info("Mounted %s (UUID %s) on %s.", device, uuid, real);
        if (o->fresh_fs) {
                r = apply_owner_mode(real, o);
                if (r < 0)
                        return log_error_errno(r, "Failed to set owner and mode of the new filesystem's root %s: %m",
                                               real);
        }
        return 1;
}

/* ---- fstab ---- */

static bool option_present(const char *options, const char *name, bool prefix) {
        size_t n = strlen(name);
        for (const char *o = options; o && *o;) {
                size_t len = strcspn(o, ",");
                if (prefix ? (len >= n && strneq(o, name, n)) : (len == n && strneq(o, name, n)))
                        return true;
                o += len + (o[len] == ',');
        }
        return false;
}

static bool field_ok(const char *s) {
        if (isempty(s))
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == '#' || (unsigned char) *c == 0x7f)
                        return false;
        return true;
}

/* fstab's octal escapes for the characters that would split a field. */
static char *fstab_escape(const char *s) {
        char *out = malloc(strlen(s) * 4 + 1), *w = out;
        if (!out)
                return NULL;
        for (; *s; s++) {
                if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\\')
                        w += sprintf(w, "\\%03o", (unsigned char) *s);
                else
                        *w++ = *s;
        }
        *w = 0;
        return out;
}

static int full_options(const char *opts, unsigned timeout, char **ret) {
        char *out;
        int r;

        if (option_present(opts, "x-systemd.device-timeout=", true))
                r = asprintf(&out, "%s%s", opts, option_present(opts, "nofail", false) ? "" : ",nofail");
        else
                r = asprintf(&out, "%s%s,x-systemd.device-timeout=%us", opts,
                             option_present(opts, "nofail", false) ? "" : ",nofail", timeout);
        if (r < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}

int blockdev_fstab_line(const blockdev_fstab_entry *e, char **ret) {
        const char *opts = e->options ? e->options : "defaults";
        _cleanup_free_ char *mp = NULL, *full = NULL;
        char *line;
        int r;

        if (!field_ok(e->uuid) || !field_ok(e->fstype) || !field_ok(opts) || !path_is_safe_absolute(e->mountpoint))
                return -EINVAL;
        mp = fstab_escape(e->mountpoint);
        if (!mp)
                return -ENOMEM;
        r = full_options(opts, e->device_timeout_sec ? e->device_timeout_sec : DEVICE_TIMEOUT_DEFAULT, &full);
        if (r < 0)
                return r;
        /* ext* get a boot-time fsck (pass 2); fsck.xfs is a no-op, so 0. */
        if (asprintf(&line, "UUID=%s %s %s %s 0 %d", e->uuid, mp, e->fstype, full,
                     startswith(e->fstype, "ext") ? 2 : 0) < 0)
                return -ENOMEM;
        *ret = line;
        return 0;
}

static bool is_octal_escape(const char *s, size_t left) {
        return left >= 4 && s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
               s[3] >= '0' && s[3] <= '7';
}

/* Field idx (0-based) of an fstab line, malloc'd, with fstab's \ooo
 * escapes decoded; NULL when the line has fewer fields. */
static char *fstab_field(const char *line, size_t len, unsigned idx) {
        size_t i = 0, start;

        for (unsigned f = 0;; f++) {
                i += strspn(line + i, " \t");
                if (i >= len)
                        return NULL;
                start = i;
                while (i < len && line[i] != ' ' && line[i] != '\t')
                        i++;
                if (f == idx)
                        break;
        }
        char *out = malloc(i - start + 1), *w = out;
        if (!out)
                return NULL;
        for (size_t k = start; k < i; k++) {
                if (is_octal_escape(line + k, i - k)) {
                        *w++ = (char) ((line[k + 1] - '0') * 64 + (line[k + 2] - '0') * 8 + (line[k + 3] - '0'));
                        k += 3;
                } else
                        *w++ = line[k];
        }
        *w = 0;
        return out;
}

typedef struct fstab_scan {
        size_t match_off, match_len; /* the matching line, without its newline */
        unsigned n_matches;
        unsigned lines[8];           /* line numbers of the first matches, for the error */
        unsigned same_uuid_line;     /* a line mounting the same UUID elsewhere (0: none) */
} fstab_scan;

static void scan_line(const char *line, size_t l, size_t off, unsigned lineno, const blockdev_fstab_entry *e,
                      fstab_scan *s) {
        _cleanup_free_ char *spec = fstab_field(line, l, 0), *mp = fstab_field(line, l, 1);

        if (!spec || !mp)
                return;
        if (!streq(mp, e->mountpoint)) {
                if (!s->same_uuid_line && startswith(spec, "UUID=") && streq(spec + 5, e->uuid))
                        s->same_uuid_line = lineno;
                return;
        }
        if (s->n_matches == 0) {
                s->match_off = off;
                s->match_len = l;
        }
        if (s->n_matches < ELEMENTSOF(s->lines))
                s->lines[s->n_matches] = lineno;
        s->n_matches++;
}

static void scan_fstab(const char *data, size_t len, const blockdev_fstab_entry *e, fstab_scan *s) {
        unsigned lineno = 0;
        for (size_t off = 0; off < len;) {
                const char *nl = memchr(data + off, '\n', len - off);
                size_t l = nl ? (size_t) (nl - (data + off)) : len - off;
                const char *line = data + off;
                size_t lead = strspn(line, " \t");
                lineno++;
                if (lead < l && line[lead] != '#')
                        scan_line(line, l, off, lineno, e, s);
                off += l + (nl ? 1 : 0);
        }
}

static char *lines_list(const fstab_scan *s) {
        char *out = strdup(""), *n;
        for (unsigned i = 0; out && i < MIN(s->n_matches, (unsigned) ELEMENTSOF(s->lines)); i++) {
                if (asprintf(&n, "%s%s%u", out, i ? ", " : "", s->lines[i]) < 0)
                        n = NULL;
                free(out);
                out = n;
        }
        return out;
}

/* old with [off, off+len) replaced by line; or line appended when
 * there's no match (adding a missing final newline first). */
static char *fstab_splice(const char *old, size_t old_len, const fstab_scan *s, const char *line, size_t *ret_len) {
        size_t ll = strlen(line);
        char *out = malloc(old_len + ll + 3);
        size_t w = 0;

        if (!out)
                return NULL;
        if (s->n_matches > 0) {
                memcpy(out, old, s->match_off);
                w = s->match_off;
                memcpy(out + w, line, ll);
                w += ll;
                size_t rest = s->match_off + s->match_len;
                memcpy(out + w, old + rest, old_len - rest);
                w += old_len - rest;
                if (rest == old_len) /* the matched line was the last one, without newline */
                        out[w++] = '\n';
        } else {
                memcpy(out, old, old_len);
                w = old_len;
                if (w > 0 && out[w - 1] != '\n')
                        out[w++] = '\n';
                memcpy(out + w, line, ll);
                w += ll;
                out[w++] = '\n';
        }
        out[w] = 0;
        *ret_len = w;
        return out;
}

int blockdev_fstab_ensure(const char *fstab_path, const blockdev_fstab_entry *e) {
        _cleanup_free_ char *old = NULL, *line = NULL, *new = NULL;
        size_t old_len = 0, new_len;
        fstab_scan s = {};
        int r;

        r = blockdev_fstab_line(e, &line);
        if (r < 0)
                return log_error_errno(r, "Cannot write an fstab entry for %s: %m", e->mountpoint);
        r = read_full_file(fstab_path, FSTAB_MAX, &old, &old_len);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read %s: %m", fstab_path);
        scan_fstab(old ? old : "", old_len, e, &s);
        if (s.n_matches > 1) {
                _cleanup_free_ char *where = lines_list(&s);
                return log_error_errno(-ENOTUNIQ, "%s has %u entries for %s (lines %s): not changing it.",
                                       fstab_path, s.n_matches, e->mountpoint, where ? where : "?");
        }
        /* Not ours to remove (kiln can't tell who wrote it), but the volume
         * would then be mounted twice at boot: say so. */
        if (s.same_uuid_line)
                log_warning("%s line %u also mounts UUID=%s, elsewhere than %s; leaving that line alone.", fstab_path,
                            s.same_uuid_line, e->uuid, e->mountpoint);
        new = fstab_splice(old ? old : "", old_len, &s, line, &new_len);
        if (!new)
                return log_oom();
        if (new_len == old_len && memcmp(new, old ? old : "", old_len) == 0)
                return 0;
        write_opts o = WRITE_OPTS_DEFAULT;
        o.keep_existing_mode = true;
        r = write_file_atomic(fstab_path, new, new_len, &o);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", fstab_path);
        log_info("%s %s: %s", s.n_matches ? "Updated" : "Added to", fstab_path, line);
        return 1;
}
