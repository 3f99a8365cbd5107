/* macro.h — the project's one cleanup idiom and a few small macros.
 *
 * Every resource kiln owns is released by a cleanup attribute on the variable
 * that holds it, so every early `return r;` is leak-free without goto chains:
 *
 *     _cleanup_free_ char *p = NULL;
 *     _cleanup_close_ int fd = -EBADF;
 *     _cleanup_fclose_ FILE *f = NULL;
 *     _cleanup_json_ json_t *v = NULL;
 *
 * Ownership is handed out with TAKE_PTR()/TAKE_FD(), which also disarms the
 * cleanup.  Error convention (see docs/ARCHITECTURE.md): functions return 0
 * (or a non-negative count) on success and a negative errno on failure;
 * out-parameters are named ret_* and are written only on success.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <jansson.h>

#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define isempty(s) (!(s) || !(s)[0])

/* Move ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _tp_ = (p);    \
                (p) = NULL;                  \
                _tp_;                        \
        })
#define TAKE_FD(fd)                          \
        ({                                   \
                int _tf_ = (fd);             \
                (fd) = -EBADF;               \
                _tf_;                        \
        })

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
/* jansson (>= 2.14) provides json_decrefp(). */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Define a pointer cleanup for a type with a free function: the free function
 * must accept NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)   \
        static inline void func##p(type *p) {     \
                if (*p)                           \
                        func(*p);                 \
        }

/* Negative errno from a libc call that sets errno; never returns 0 so a
 * caller's `return -errno_or_eio();` can't be mistaken for success. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* Allocation failure is handled like any error: log_oom() in log.h. */
