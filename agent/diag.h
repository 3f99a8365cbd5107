/* diag.h — diagnostics about bad *input* (config, user-data, templates).
 *
 * Parsers and validators don't log: they append positioned entries to a
 * `diags` list and return -EINVAL (or -EBADMSG for undecodable data).  The
 * caller decides: `kiln validate` prints them all, a run logs them and
 * changes nothing.  Rendered as "FILE:LINE:COL: error: message", falling back
 * to "FILE: error: message (at key a.b[2].c)" when there is no position.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef enum diag_level {
        DIAG_ERROR,
        DIAG_WARNING,
} diag_level;

typedef struct diag_entry {
        diag_level level;
        char *file;     /* may be NULL */
        unsigned line;  /* 1-based; 0 when unknown */
        unsigned column; /* 1-based; 0 when unknown */
        char *key;      /* dotted key path ("consul.services[0].name") or NULL */
        char *message;
} diag_entry;

typedef struct diags {
        diag_entry *v;
        size_t n;
        size_t n_errors;
} diags;

#define DIAGS_INIT ((diags){ 0 })

void diags_add(diags *d, diag_level level, const char *file, unsigned line, unsigned column, const char *key,
               const char *format, ...) _printf_(7, 8);
#define diag_error(d, file, line, col, ...) diags_add((d), DIAG_ERROR, (file), (line), (col), NULL, __VA_ARGS__)
#define diag_warning(d, file, line, col, ...) diags_add((d), DIAG_WARNING, (file), (line), (col), NULL, __VA_ARGS__)

/* Moves every entry of src to the end of dst. */
void diags_append(diags *dst, diags *src);
void diags_clear(diags *d);
static inline bool diags_has_errors(const diags *d) {
        return d->n_errors > 0;
}
/* "file:line:col: error: message" (malloc'd). */
char *diag_format(const diag_entry *e);
/* Logs every entry (errors at LOG_ERR, warnings at LOG_WARNING). */
void diags_log(const diags *d);
/* Prints every entry to f, one per line. */
void diags_print(const diags *d, FILE *f);

static inline void diags_clearp(diags *d) {
        diags_clear(d);
}
#define _cleanup_diags_ _cleanup_(diags_clearp)
