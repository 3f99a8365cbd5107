/* lazy-mount.c — libmount, loaded when kiln first reads the mount table or
 * mounts (the volume modules).  Why and how: dlib.h.  Failures look like
 * libmount's own: NULL, or -ELIBACC. */
#include <errno.h>
#include <stddef.h>
#include <libmount/libmount.h>

#include "dlib.h"

static dlib mnt = DLIB_INIT("libmount.so.1", "mounting: volumes and mounts");

DLIB_FORWARD(mnt, struct libmnt_iter *, mnt_new_iter, (int direction), (direction), NULL)
DLIB_FORWARD_FREE(mnt, void, mnt_free_iter, (struct libmnt_iter *it), (it), )
DLIB_FORWARD(mnt, const char *, mnt_fs_get_target, (struct libmnt_fs *fs), (fs), NULL)
DLIB_FORWARD(mnt, dev_t, mnt_fs_get_devno, (struct libmnt_fs *fs), (fs), 0)
DLIB_FORWARD(mnt, struct libmnt_table *, mnt_new_table_from_file, (const char *filename), (filename), NULL)
DLIB_FORWARD_FREE(mnt, void, mnt_free_table, (struct libmnt_table *tb), (tb), )
DLIB_FORWARD(mnt, int, mnt_table_next_fs, (struct libmnt_table *tb, struct libmnt_iter *it, struct libmnt_fs **fs),
             (tb, it, fs), -ELIBACC)
DLIB_FORWARD(mnt, struct libmnt_fs *, mnt_table_find_target, (struct libmnt_table *tb, const char *path, int direction),
             (tb, path, direction), NULL)
DLIB_FORWARD(mnt, struct libmnt_context *, mnt_new_context, (void), (), NULL)
DLIB_FORWARD_FREE(mnt, void, mnt_free_context, (struct libmnt_context *cxt), (cxt), )
DLIB_FORWARD(mnt, int, mnt_context_set_optsmode, (struct libmnt_context *cxt, int mode), (cxt, mode), -ELIBACC)
DLIB_FORWARD(mnt, int, mnt_context_set_source, (struct libmnt_context *cxt, const char *s), (cxt, s), -ELIBACC)
DLIB_FORWARD(mnt, int, mnt_context_set_target, (struct libmnt_context *cxt, const char *t), (cxt, t), -ELIBACC)
DLIB_FORWARD(mnt, int, mnt_context_set_fstype, (struct libmnt_context *cxt, const char *t), (cxt, t), -ELIBACC)
DLIB_FORWARD(mnt, int, mnt_context_set_options, (struct libmnt_context *cxt, const char *o), (cxt, o), -ELIBACC)
DLIB_FORWARD(mnt, int, mnt_context_mount, (struct libmnt_context *cxt), (cxt), -ELIBACC)
DLIB_FORWARD(mnt, int, mnt_context_syscall_called, (struct libmnt_context *cxt), (cxt), 0)
DLIB_FORWARD(mnt, int, mnt_context_get_syscall_errno, (struct libmnt_context *cxt), (cxt), ELIBACC)
DLIB_FORWARD(mnt, int, mnt_context_get_excode, (struct libmnt_context *cxt, int rc, char *buf, size_t bufsz),
             (cxt, rc, buf, bufsz), -ELIBACC)
