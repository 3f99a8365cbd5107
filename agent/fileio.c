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
        /* Usually the directory is there already: one mkdir, not one per component. */
        if (mkdir(path, mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return negative_errno();
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
/* Makes a temporary name for base, ".#<base>.<16 hex>", and calls make(dfd, name, userdata) with it until
 * the name is free (make() fails with EEXIST for a taken one).  Returns what make() returned. */
static int with_tmp_name(int dfd, const char *base, int (*make)(int dfd, const char *name, void *userdata),
                         void *userdata, char **ret_name) {
        for (int attempt = 0; attempt < 16; attempt++) {
                unsigned long long rnd;
                char *name;

                if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                        rnd = (unsigned long long) now_usec() ^ ((unsigned long long) getpid() << 32);
                if (asprintf(&name, ".#%s.%016llx", base, rnd) < 0)
                        return -ENOMEM;
                int r = make(dfd, name, userdata);
                if (r >= 0) {
                        *ret_name = name;
                        return r;
                }
                free(name);
                if (r != -EEXIST)
                        return r;
        }
        return -EEXIST;
}

static int make_tmp_file(int dfd, const char *name, void *userdata) {
        (void) userdata;
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        return fd < 0 ? negative_errno() : fd;
}

static int open_tmp_in(int dfd, const char *base, char **ret_name) {
        return with_tmp_name(dfd, base, make_tmp_file, NULL, ret_name);
}

/* The length of <base> when name is a temporary file ".#<base>.<16 hex>" (open_tmp_in()), else 0. */
static size_t tmp_base_len(const char *name) {
        size_t n = strlen(name);
        if (!startswith(name, ".#") || n < 2 + 1 + 1 + 16 || name[n - 17] != '.')
                return 0;
        if (strspn(name + n - 16, "0123456789abcdef") != 16)
                return 0;
        return n - 2 - 17;
}

typedef bool (*stale_match_fn)(const char *base, void *userdata);

/* A writer killed between creating its temporary file and the rename leaves
 * ".#<base>.<16 hex>" behind: never the file itself, only litter (with the
 * final mode, perhaps a prefix of a secret).  Runs never overlap (the run
 * lock) and nothing else names files this way, so once base has been
 * replaced, its leftovers are removed; the directory fsync that follows
 * covers the unlinks.  match() says which bases were replaced.  Best effort:
 * a failure leaves litter, not an error. */
static void remove_stale_tmps(int dfd, stale_match_fn match, void *userdata) {
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
        while ((de = readdir(d))) {
                size_t n = tmp_base_len(de->d_name);
                if (n == 0 || (de->d_type != DT_REG && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN))
                        continue;
                _cleanup_free_ char *base = strndup(de->d_name + 2, n);
                if (base && match(base, userdata))
                        (void) unlinkat(dfd, de->d_name, 0);
        }
}

static bool match_base(const char *base, void *userdata) {
        return streq(base, userdata);
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

/* The target's directory and name; -EISDIR when the path names no file. */
static int split_target(const char *path, char **ret_dir, char **ret_base) {
        _cleanup_free_ char *dcopy = strdup(path), *bcopy = strdup(path);

        if (!dcopy || !bcopy)
                return -ENOMEM;
        const char *base = basename(bcopy);
        if (isempty(base) || streq(base, ".") || streq(base, ".."))
                return -EISDIR;
        char *d = strdup(dirname(dcopy)), *b = strdup(base);
        if (!d || !b) {
                free(d);
                free(b);
                return -ENOMEM;
        }
        *ret_dir = d;
        *ret_base = b;
        return 0;
}

/* Everything before the rename: checks the target (never a symlink, a
 * directory or a special file), writes the content into a new temporary
 * file beside it with owner and mode set.  Returns the open temp file. */
static int stage_file(int dfd, const char *base, const void *data, size_t len, const write_opts *o,
                      char **ret_tmp) {
        _cleanup_free_ char *tmp = NULL;
        struct stat st;
        bool have_old = false;
        int r;

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
        r = apply_owner_mode(fd, have_old ? &st : NULL, o);
        if (r >= 0)
                r = write_all(fd, data, len);
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        *ret_tmp = TAKE_PTR(tmp);
        return TAKE_FD(fd);
}

/* ---- deferred directory syncs ---- */

#define DEFERRED_MAX 8

static bool defer_dir_sync;
static struct {
        dev_t dev;
        int fd; /* a directory on that filesystem */
} deferred[DEFERRED_MAX];
static size_t n_deferred;

void fileio_defer_dir_sync(bool on) {
        defer_dir_sync = on;
}

/* A rename in directory dfd that must reach the disk: now, or with the next
 * fileio_sync_deferred() when deferring (one syncfs per filesystem). */
static int sync_dir(int dfd) {
        struct stat st;

        if (!defer_dir_sync)
                return fsync(dfd) < 0 ? negative_errno() : 0;
        if (fstat(dfd, &st) < 0)
                return negative_errno();
        for (size_t i = 0; i < n_deferred; i++)
                if (deferred[i].dev == st.st_dev)
                        return 0;
        int fd = n_deferred < DEFERRED_MAX ? fcntl(dfd, F_DUPFD_CLOEXEC, 3) : -1;
        if (fd < 0) /* no room (or no fd): sync this one now */
                return fsync(dfd) < 0 ? negative_errno() : 0;
        deferred[n_deferred].dev = st.st_dev;
        deferred[n_deferred++].fd = fd;
        return 0;
}

int fileio_sync_deferred(void) {
        int r = 0;
        for (size_t i = 0; i < n_deferred; i++) {
                if (syncfs(deferred[i].fd) < 0 && r == 0)
                        r = negative_errno();
                close(deferred[i].fd);
        }
        n_deferred = 0;
        return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, const write_opts *opts) {
        write_opts o = opts ? *opts : WRITE_OPTS_DEFAULT;
        _cleanup_free_ char *dir = NULL, *base = NULL, *tmp = NULL;
        int r;

        r = split_target(path, &dir, &base);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        _cleanup_close_ int fd = stage_file(dfd, base, data, len, &o, &tmp);
        if (fd < 0)
                return fd;
        r = 0;
        if (!o.no_sync && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(dfd, tmp, dfd, base) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        remove_stale_tmps(dfd, match_base, base);
        return o.no_sync ? 0 : sync_dir(dfd);
}

static int make_tmp_link(int dfd, const char *name, void *userdata) {
        return symlinkat(userdata, dfd, name) < 0 ? negative_errno() : 0;
}

int symlink_atomic(const char *target, const char *path) {
        _cleanup_free_ char *dir = NULL, *base = NULL, *tmp = NULL;
        int r = split_target(path, &dir, &base);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        r = with_tmp_name(dfd, base, make_tmp_link, (void *) target, &tmp);
        if (r < 0)
                return r;
        if (renameat(dfd, tmp, dfd, base) < 0) {
                r = negative_errno();
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        remove_stale_tmps(dfd, match_base, base);
        return 0;
}

/* ---- batches ---- */

typedef struct batch_dir {
        char *path;
        int fd;
        dev_t dev;
} batch_dir;

typedef struct batch_file {
        size_t dir; /* index into dirs */
        char *base, *tmp;
        uint32_t hash; /* of dir/base: finds a path already in the batch */
        int result;
} batch_file;

struct write_batch {
        batch_dir *dirs;
        size_t n_dirs;
        batch_file *files;
        size_t n_files;
        size_t *index; /* open addressing over files: file number + 1, 0 = free */
        size_t index_cap;
        bool committed;
};

int write_batch_new(write_batch **ret) {
        write_batch *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        *ret = b;
        return 0;
}

static void batch_reset(write_batch *b) {
        for (size_t i = 0; i < b->n_files; i++) {
                batch_file *f = &b->files[i];
                if (f->tmp && !b->committed)
                        (void) unlinkat(b->dirs[f->dir].fd, f->tmp, 0);
                free(f->base);
                free(f->tmp);
        }
        for (size_t i = 0; i < b->n_dirs; i++) {
                free(b->dirs[i].path);
                if (b->dirs[i].fd >= 0)
                        close(b->dirs[i].fd);
        }
        free(b->files);
        free(b->dirs);
        free(b->index);
        *b = (write_batch){ 0 };
}

write_batch *write_batch_free(write_batch *b) {
        if (b) {
                batch_reset(b);
                free(b);
        }
        return NULL;
}

size_t write_batch_size(const write_batch *b) {
        return b->n_files;
}

/* The index of dir in b->dirs, opened once per batch. */
static int batch_dir_index(write_batch *b, const char *dir, size_t *ret) {
        struct stat st;

        for (size_t i = 0; i < b->n_dirs; i++)
                if (streq(b->dirs[i].path, dir)) {
                        *ret = i;
                        return 0;
                }
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        batch_dir *v = realloc(b->dirs, (b->n_dirs + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        b->dirs = v;
        v[b->n_dirs] = (batch_dir){ .path = strdup(dir), .fd = -EBADF, .dev = st.st_dev };
        if (!v[b->n_dirs].path)
                return -ENOMEM;
        v[b->n_dirs].fd = TAKE_FD(fd);
        *ret = b->n_dirs++;
        return 0;
}

static uint32_t target_hash(const char *dir, const char *base) {
        uint32_t h = 2166136261u; /* FNV-1a over dir, '/', base */
        for (const char *p = dir; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        h = (h ^ '/') * 16777619u;
        for (const char *p = base; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        return h;
}

/* The index slot of dir/base: the file's, or the free one where it would go. */
static size_t *index_slot(const write_batch *b, const char *dir, const char *base, uint32_t h) {
        for (size_t i = h & (b->index_cap - 1);; i = (i + 1) & (b->index_cap - 1)) {
                size_t k = b->index[i];
                if (k == 0)
                        return &b->index[i];
                const batch_file *f = &b->files[k - 1];
                if (f->hash == h && streq(f->base, base) && streq(b->dirs[f->dir].path, dir))
                        return &b->index[i];
        }
}

static int index_add(write_batch *b, size_t file) {
        if ((b->n_files + 1) * 2 > b->index_cap) {
                size_t cap = b->index_cap ? b->index_cap * 2 : 64, *old = b->index, old_cap = b->index_cap;
                b->index = calloc(cap, sizeof *b->index);
                if (!b->index) {
                        b->index = old;
                        return -ENOMEM;
                }
                b->index_cap = cap;
                for (size_t i = 0; i < old_cap; i++)
                        if (old[i]) {
                                const batch_file *f = &b->files[old[i] - 1];
                                *index_slot(b, b->dirs[f->dir].path, f->base, f->hash) = old[i];
                        }
                free(old);
        }
        const batch_file *f = &b->files[file];
        *index_slot(b, b->dirs[f->dir].path, f->base, f->hash) = file + 1;
        return 0;
}

int write_batch_contains(const write_batch *b, const char *path) {
        _cleanup_free_ char *dir = NULL, *base = NULL;
        int r = split_target(path, &dir, &base);
        if (r < 0)
                return r;
        if (b->index_cap == 0 || b->committed)
                return 0;
        return *index_slot(b, dir, base, target_hash(dir, base)) != 0;
}

int write_batch_add(write_batch *b, const char *path, const void *data, size_t len, const write_opts *opts) {
        write_opts o = opts ? *opts : WRITE_OPTS_DEFAULT;
        _cleanup_free_ char *dir = NULL, *base = NULL, *tmp = NULL;
        size_t d;
        int r;

        if (b->committed)
                batch_reset(b);
        r = write_batch_contains(b, path);
        if (r != 0)
                return r < 0 ? r : -EEXIST;
        r = split_target(path, &dir, &base);
        if (r >= 0)
                r = batch_dir_index(b, dir, &d);
        if (r < 0)
                return r;
        batch_file *v = realloc(b->files, (b->n_files + 1) * sizeof *v);
        if (!v)
                return -ENOMEM;
        b->files = v;
        /* the content is written now; it reaches the disk with the whole batch at commit */
        int fd = stage_file(b->dirs[d].fd, base, data, len, &o, &tmp);
        if (fd < 0)
                return fd;
        close(fd);
        v[b->n_files] = (batch_file){ .dir = d, .hash = target_hash(dir, base), .base = base, .tmp = tmp };
        r = index_add(b, b->n_files);
        if (r < 0) {
                (void) unlinkat(b->dirs[d].fd, tmp, 0);
                return r;
        }
        base = tmp = NULL; /* owned by the batch now */
        b->n_files++;
        return 0;
}

typedef struct batch_dir_match {
        const write_batch *b;
        size_t dir;
} batch_dir_match;

/* Was base, in the directory of m, replaced by this batch's commit? */
static bool match_batch_file(const char *base, void *userdata) {
        const batch_dir_match *m = userdata;
        const char *dir = m->b->dirs[m->dir].path;
        size_t k = *index_slot(m->b, dir, base, target_hash(dir, base));
        return k != 0 && m->b->files[k - 1].result == 0;
}

int write_batch_commit(write_batch *b) {
        int failed = 0;

        if (b->committed)
                return 0;
        /* 1. every staged file's content on disk: one syncfs per filesystem */
        for (size_t i = 0; i < b->n_dirs; i++) {
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = b->dirs[j].dev == b->dirs[i].dev;
                if (!seen && syncfs(b->dirs[i].fd) < 0) {
                        int r = negative_errno();
                        for (size_t k = 0; k < b->n_files; k++)
                                b->files[k].result = r;
                        return r; /* nothing was renamed; the temp files go with the batch */
                }
        }
        /* 2. each in place, in the order they were added */
        for (size_t i = 0; i < b->n_files; i++) {
                batch_file *f = &b->files[i];
                int dfd = b->dirs[f->dir].fd;
                if (renameat(dfd, f->tmp, dfd, f->base) < 0) {
                        f->result = negative_errno();
                        (void) unlinkat(dfd, f->tmp, 0);
                        failed++;
                }
                free(f->tmp);
                f->tmp = NULL;
        }
        /* 3. what killed writers left for these files, then the renames on disk: each directory once
         * (with fileio_sync_deferred() when deferring) */
        for (size_t i = 0; i < b->n_dirs; i++) {
                remove_stale_tmps(b->dirs[i].fd, match_batch_file, &(batch_dir_match){ .b = b, .dir = i });
                if (sync_dir(b->dirs[i].fd) < 0) {
                        int r = negative_errno();
                        for (size_t k = 0; k < b->n_files; k++)
                                if (b->files[k].dir == i && b->files[k].result == 0) {
                                        b->files[k].result = r;
                                        failed++;
                                }
                }
        }
        b->committed = true;
        return failed ? -EIO : 0;
}

int write_batch_result(const write_batch *b, size_t i) {
        return i < b->n_files ? b->files[i].result : -ENOENT;
}
