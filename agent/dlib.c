/* dlib.c — see dlib.h. */
#include <dlfcn.h>

#include "dlib.h"
#include "log.h"

int dlib_open(dlib *l) {
        if (l->state != 0)
                return l->state > 0 ? 0 : l->state;
        /* RTLD_LAZY: functions are bound when first called, not all at load;
         * RTLD_LOCAL: the library's symbols serve only lookups through dlsym. */
        l->handle = dlopen(l->soname, RTLD_LAZY | RTLD_LOCAL);
        if (!l->handle) {
                /* Set before logging: logging may itself need a lazy library
                 * (the journal), which then fails at once instead of recursing. */
                l->state = -ELIBACC;
                const char *err = dlerror();
                log_error("Failed to load %s (%s): %s", l->soname, l->used_for, err ? err : "unknown error");
                return l->state;
        }
        l->state = 1;
        return 0;
}

bool dlib_loaded(const dlib *l) {
        return l->state > 0;
}

void *dlib_sym(dlib *l, const char *name) {
        if (dlib_open(l) < 0) {
                errno = ELIBACC;
                return NULL;
        }
        void *p = dlsym(l->handle, name);
        if (!p) {
                log_error("%s has no symbol %s.", l->soname, name);
                errno = ELIBACC;
        }
        return p;
}
