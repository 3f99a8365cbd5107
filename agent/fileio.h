/* fileio.h — reading and writing files the way kiln promises to.
 *
 * Every file kiln writes goes through write_file_atomic(): a temporary file
 * in the destination directory created with a narrow mode, owner and final
 * mode set on the open descriptor, content written and fsync'd, rename(2)
 * over the target, then the directory fsync'd.  A reader therefore sees the
 * old file or the new one, never a mix, and a secret file is never visible
 * with wider permissions than asked for.  A target that is a symlink is
 * refused (-ELOOP) so a planted link can't redirect a root write.
 *
 * no_sync skips both fsyncs: readers still see the old file or the new one,
 * but after a crash the file may be the old one or empty.  Each fsync of the
 * disk filesystem costs a journal commit (0.2 ms to several ms), so no_sync
 * is for files whose loss is harmless, and only those: what lives under
 * /run (gone at the next boot anyway), caches re-made every boot, and module
 * semaphores (a torn or missing one means "not done": the module runs
 * again, never the reverse).  Files kiln writes for the system (configs,
 * fstab, keys) are always synced.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Read at most max bytes (a larger file fails with -EFBIG).  The result is
 * NUL-terminated; ret_len (optional) excludes the NUL. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);

typedef struct write_opts {
        mode_t mode;  /* final mode; 0 means 0644 */
        uid_t uid;    /* (uid_t) -1: keep the existing file's, or the writer's */
        gid_t gid;    /* (gid_t) -1: likewise */
        bool keep_existing_mode; /* consul-template style: an existing file keeps its mode/owner
                                  * unless mode/uid/gid are given explicitly */
        bool no_sync;            /* atomic but not durable: see above for who may use it */
} write_opts;

#define WRITE_OPTS_DEFAULT ((write_opts){ .mode = 0, .uid = (uid_t) -1, .gid = (gid_t) -1 })

int write_file_atomic(const char *path, const void *data, size_t len, const write_opts *opts);

/* 1 when the file exists with exactly this content, 0 when it differs or is
 * missing, negative errno on other errors. */
int file_content_equals(const char *path, const void *data, size_t len);

int mkdir_p(const char *path, mode_t mode);
/* Remove a tree without following symlinks; a missing path is not an error. */
int rm_rf(const char *path);
/* fsync the directory containing path. */
int fsync_parent_dir(const char *path);
