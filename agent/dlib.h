/* dlib.h — libraries loaded on first use (dlopen), behind their own API.
 *
 * Why: kiln starts four times per boot and most runs need neither HTTP nor
 * block devices nor the journal.  Linked normally, libcurl alone brings 35
 * shared objects (OpenSSL, GnuTLS, Kerberos, LDAP, ssh2, rtmp...) whose
 * loading, relocation and constructors cost ~5 ms of CPU and ~7 MB of RSS
 * in *every* kiln process, `kiln version` included (docs/performance.md).
 * So libcurl, libsystemd, libblkid and libmount are not linked: for each,
 * one lazy-*.c file defines the functions kiln calls under the library's own
 * names, and each such function loads the library the first time one of
 * them is called and then forwards to the real one.  The rest of the code
 * includes the library's header and calls it as usual: it does not know.
 *
 * If a library cannot be loaded, its functions fail the way the library
 * itself reports failure (NULL, a negative errno -ELIBACC, CURLE_FAILED_INIT
 * ...), so callers' existing error paths apply, and dlib logs once which
 * library and why.  Freeing functions called before the library was loaded
 * do nothing (no object of that library can exist yet), so a cleanup
 * handler never loads a library just to free NULL.
 *
 * kiln is single-threaded; the lazily filled function pointers are not
 * protected against concurrent first calls.
 */
#pragma once

#include <stdbool.h>

typedef struct dlib {
        const char *soname; /* e.g. "libcurl.so.4": the ABI the headers describe */
        const char *used_for;
        void *handle;
        int state; /* 0 not tried, 1 loaded, <0 failed (-ELIBACC) */
} dlib;

#define DLIB_INIT(so, why) { .soname = (so), .used_for = (why) }

/* Loads the library once; 0, or -ELIBACC (logged once) when it cannot be loaded. */
int dlib_open(dlib *l);
bool dlib_loaded(const dlib *l);
/* The library's symbol, loading the library first; NULL (errno ELIBACC) when unavailable. */
void *dlib_sym(dlib *l, const char *name);

/* Defines `ret name params` forwarding `args` to the library's own `name`,
 * or returning `fail` when the library or the symbol is unavailable.  The
 * pointer's type comes from the library's header declaration of `name`. */
#define DLIB_FORWARD(lib, ret, name, params, args, fail)                  \
        ret name params {                                                 \
                static __typeof__(name) *fn;                              \
                if (!fn)                                                  \
                        fn = (__typeof__(name) *) dlib_sym(&(lib), #name); \
                if (!fn)                                                  \
                        return fail;                                      \
                return fn args;                                           \
        }

/* A freeing function: a no-op while the library is not loaded. */
#define DLIB_FORWARD_FREE(lib, ret, name, params, args, none)             \
        ret name params {                                                 \
                static __typeof__(name) *fn;                              \
                if (!dlib_loaded(&(lib)))                                 \
                        return none;                                      \
                if (!fn)                                                  \
                        fn = (__typeof__(name) *) dlib_sym(&(lib), #name); \
                if (!fn)                                                  \
                        return none;                                      \
                return fn args;                                           \
        }
