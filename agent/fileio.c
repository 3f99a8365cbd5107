/* fileio.c — see fileio.h for the guarantees.  Temporary files are
 * ".#<name>.<16 hex>" beside the target: no config directory glob
 * (*.conf, *.service, *.list …) matches them, and a write that succeeds
 * removes the ones a killed writer left for the same name. */
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"
#include "util.h"

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                if (len + 1 >= cap) {
                        size_t ncap = cap ? cap * 2 : 4096;
                        char *n;
                        if (ncap > max + 2)
                                ncap = max + 2;
                        if (ncap <= len + 1)
                                return -EFBIG;
                        n = realloc(buf, ncap);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap = ncap;
                }
                ssize_t k = read(fd, buf + len, cap - len - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > max)
                        return -EFBIG;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        return read_full_fd(fd, max, ret, ret_len);
}

int file_content_equals(const char *path, const void *data, size_t len) {
        _cleanup_free_ char *old = NULL;
        size_t old_len;
        int r;

        r = read_full_file(path, len, &old, &old_len);
        if (r == -ENOENT || r == -EFBIG)
                return 0;
        if (r < 0)
                return r;
        return old_len == len && memcmp(old, data, len) == 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

static int rm_one(const char *path, const struct stat *st _unused_, int flag, struct FTW *ftw _unused_) {
        if (flag == FTW_DP)
                return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
        return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_rf(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? negative_errno() : 0;
        /* FTW_PHYS: never follow symlinks; FTW_MOUNT: never descend into a
         * mounted filesystem (a data volume mounted below state is not ours
         * to delete). */
        if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
                return negative_errno();
        return 0;
}

int fsync_parent_dir(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        _cleanup_close_ int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        if (fsync(dfd) < 0)
                return negative_errno();
        return 0;
}

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Creates "<dir>/.#<base>.<random>" with mode 0600 and returns its fd. */
static int open_tmp_in(int dfd, const char *base, char **ret_name) {
        for (int attempt = 0; attempt < 16; attempt++) {
                unsigned long long rnd;
                char *name;
                int fd;

                if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                        rnd = (unsigned long long) now_usec() ^ ((unsigned long long) getpid() << 32);
                if (asprintf(&name, ".#%s.%016llx", base, rnd) < 0)
                        return -ENOMEM;
                fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0) {
                        *ret_name = name;
                        return fd;
                }
                free(name);
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

/* Is name a temporary file of base, ".#<base>.<16 hex>" (open_tmp_in())? */
static bool is_tmp_of(const char *name, const char *base) {
        size_t n = strlen(base);
        if (!startswith(name, ".#") || strncmp(name + 2, base, n) != 0 || name[2 + n] != '.')
                return false;
        const char *h = name + 3 + n;
        return strlen(h) == 16 && strspn(h, "0123456789abcdef") == 16;
}

/* A writer killed between creating its temporary file and the rename leaves
 * ".#<base>.<16 hex>" behind: never the file itself, only litter (with the
 * final mode, perhaps a prefix of a secret).  Runs never overlap (the run
 * lock) and nothing else names files this way, so once base has been
 * replaced, its leftovers are removed; the directory fsync that follows
 * covers the unlinks.  Best effort: a failure leaves litter, not an error. */
static void remove_stale_tmps(int dfd, const char *base) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d)))
                if ((de->d_type == DT_REG || de->d_type == DT_UNKNOWN) && is_tmp_of(de->d_name, base))
                        (void) unlinkat(dfd, de->d_name, 0);
}

static int apply_owner_mode(int fd, const struct stat *old, const write_opts *o) {
        mode_t mode = o->mode;
        uid_t uid = o->uid;
        gid_t gid = o->gid;

        if (old && o->keep_existing_mode) {
                if (mode == 0)
                        mode = old->st_mode & 07777;
                if (uid == (uid_t) -1)
                        uid = old->st_uid;
                if (gid == (gid_t) -1)
                        gid = old->st_gid;
        }
        if (mode == 0)
                mode = 0644;
        /* Owner first: fchown may clear set-id bits, fchmod then sets the
         * final mode. The temp file was 0600, so no wider window exists. */
        if ((uid != (uid_t) -1 || gid != (gid_t) -1) && fchown(fd, uid, gid) < 0)
                return negative_errno();
        if (fchmod(fd, mode) < 0)
                return negative_errno();
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, const write_opts *opts) {
        write_opts o = opts ? *opts : WRITE_OPTS_DEFAULT;
        _cleanup_free_ char *dcopy = strdup(path), *bcopy = strdup(path), *tmp = NULL;
        struct stat st;
        bool have_old = false;
        int r;

        if (!dcopy || !bcopy)
                return -ENOMEM;
        const char *base = basename(bcopy);
        if (isempty(base) || streq(base, ".") || streq(base, ".."))
                return -EISDIR;

        _cleanup_close_ int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();

        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISLNK(st.st_mode))
                        return -ELOOP;
                if (!S_ISREG(st.st_mode))
                        return S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST;
                have_old = true;
        } else if (errno != ENOENT)
                return negative_errno();

        _cleanup_close_ int fd = open_tmp_in(dfd, base, &tmp);
        if (fd < 0)
                return fd;

        r = apply_owner_mode(fd, have_old ? &st : NULL, &o);
        if (r >= 0)
                r = write_all(fd, data, len);
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(dfd, tmp, dfd, base) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        remove_stale_tmps(dfd, base);
        if (fsync(dfd) < 0)
                return negative_errno();
        return 0;
}
