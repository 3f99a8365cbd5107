/* diag.c — see diag.h. */
#include <stdarg.h>
#include <stdio.h>

#include "diag.h"
#include "log.h"
#include "util.h"

void diags_add(diags *d, diag_level level, const char *file, unsigned line, unsigned column, const char *key,
               const char *format, ...) {
        diag_entry e = { .level = level, .line = line, .column = column };
        diag_entry *n;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&e.message, format, ap) < 0)
                e.message = NULL;
        va_end(ap);
        e.file = strdup_or_null(file);
        e.key = strdup_or_null(key);
        n = realloc(d->v, (d->n + 1) * sizeof *n);
        if (!n || !e.message) {
                /* Out of memory: keep the count honest so a caller still fails. */
                free(e.message), free(e.file), free(e.key);
                if (n)
                        d->v = n;
                if (level == DIAG_ERROR)
                        d->n_errors++;
                return;
        }
        d->v = n;
        d->v[d->n++] = e;
        if (level == DIAG_ERROR)
                d->n_errors++;
}

void diags_append(diags *dst, diags *src) {
        diag_entry *n;

        if (src->n == 0) {
                dst->n_errors += src->n_errors;
                src->n_errors = 0;
                return;
        }
        n = realloc(dst->v, (dst->n + src->n) * sizeof *n);
        if (!n) {
                dst->n_errors += src->n_errors;
                diags_clear(src);
                return;
        }
        memcpy(n + dst->n, src->v, src->n * sizeof *n);
        dst->v = n;
        dst->n += src->n;
        dst->n_errors += src->n_errors;
        free(src->v);
        *src = DIAGS_INIT;
}

void diags_clear(diags *d) {
        for (size_t i = 0; i < d->n; i++) {
                free(d->v[i].file);
                free(d->v[i].key);
                free(d->v[i].message);
        }
        free(d->v);
        *d = DIAGS_INIT;
}

char *diag_format(const diag_entry *e) {
        const char *lvl = e->level == DIAG_ERROR ? "error" : "warning";
        const char *file = e->file ? e->file : "<input>";
        char *s = NULL;
        int r;

        if (e->line > 0 && e->column > 0)
                r = asprintf(&s, "%s:%u:%u: %s: %s", file, e->line, e->column, lvl, e->message);
        else if (e->line > 0)
                r = asprintf(&s, "%s:%u: %s: %s", file, e->line, lvl, e->message);
        else if (e->key)
                r = asprintf(&s, "%s: %s: %s (at key %s)", file, lvl, e->message, e->key);
        else
                r = asprintf(&s, "%s: %s: %s", file, lvl, e->message);
        return r < 0 ? NULL : s;
}

void diags_log(const diags *d) {
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *s = diag_format(&d->v[i]);
                if (d->v[i].level == DIAG_ERROR)
                        log_error("%s", s ? s : d->v[i].message);
                else
                        log_warning("%s", s ? s : d->v[i].message);
        }
}

void diags_print(const diags *d, FILE *f) {
        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *s = diag_format(&d->v[i]);
                fprintf(f, "%s\n", s ? s : d->v[i].message);
        }
}
