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

#include "macro.h"

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

/* Points the symlink path at target, atomically (a new link beside it under a temporary name, renamed over
 * it; the temporary links a killed writer left for it are removed).  Whatever path was, a symlink or a file,
 * it is replaced.  Not fsync'd: for convenience links a later run re-makes. */
int symlink_atomic(const char *target, const char *path);

/* Deferred directory syncs, for the runner: between fileio_defer_dir_sync(true)
 * and fileio_sync_deferred(), write_file_atomic() and write batches still sync
 * each file's content before its rename (so a crash leaves the old content or
 * the new, never an empty file), but the renames themselves reach the disk
 * with one syncfs() per filesystem in fileio_sync_deferred() instead of an
 * fsync of each directory.  Until then a crash may undo a rename (the old
 * content is back).  The runner syncs at the end of every stage, before the
 * stage is recorded as finished and before any unit ordered after it starts;
 * module semaphores are written after their module's files and journaling
 * filesystems commit metadata in order, so a semaphore that survived a crash
 * means its module's files did too. */
void fileio_defer_dir_sync(bool on);
int fileio_sync_deferred(void); /* syncs and forgets; 0 or the first error */

/* Many files, each with write_file_atomic()'s guarantees, for the price of a
 * few fsyncs instead of two per file.  Each fsync on the disk filesystem is
 * a journal commit (0.2 ms on a quiet disk, milliseconds on a busy one), so
 * a module writing a thousand files spent seconds in them.
 *
 *   write_batch_add()     checks the target and writes a temporary file
 *                         beside it, owner and mode set (not yet synced);
 *   write_batch_commit()  syncfs() once per filesystem (every staged content
 *                         is on disk), renames each over its target in the
 *                         order added, fsyncs each directory once.
 *
 * A crash at any point leaves every target with its old content or its new
 * one, never a mix or an empty file -- as with write_file_atomic() -- but
 * the files appear together at commit, not one by one: a caller that reads
 * back what it wrote, or appends to a file it wrote, commits first
 * (write_batch_add() refuses a path already in the batch with -EEXIST).
 * syncfs() also writes out whatever else is dirty on that filesystem; at
 * boot that is little.  Errors are per file (write_batch_result()); the
 * batch can be reused after a commit, and freeing it removes the
 * temporary files of an uncommitted one. */
typedef struct write_batch write_batch;
int write_batch_new(write_batch **ret);
write_batch *write_batch_free(write_batch *b);
int write_batch_add(write_batch *b, const char *path, const void *data, size_t len, const write_opts *opts);
int write_batch_contains(const write_batch *b, const char *path); /* 1, 0, or a negative errno */
size_t write_batch_size(const write_batch *b);
/* 0 when every file is in place; -EIO when some are not (see write_batch_result), or the
 * syncfs() error when none was renamed. */
int write_batch_commit(write_batch *b);
int write_batch_result(const write_batch *b, size_t i); /* 0 or the file's error, by order of add */
DEFINE_TRIVIAL_CLEANUP_FUNC(write_batch *, write_batch_free);
#define _cleanup_write_batch_ _cleanup_(write_batch_freep)

/* 1 when the file exists with exactly this content, 0 when it differs or is
 * missing, negative errno on other errors. */
int file_content_equals(const char *path, const void *data, size_t len);

int mkdir_p(const char *path, mode_t mode);
/* Remove a tree without following symlinks; a missing path is not an error. */
int rm_rf(const char *path);
/* fsync the directory containing path. */
int fsync_parent_dir(const char *path);
