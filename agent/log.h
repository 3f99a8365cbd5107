/* log.h — one logging API for the whole agent.
 *
 * Under systemd (stderr connected to the journal, detected through
 * $JOURNAL_STREAM) messages go to the journal with structured fields
 * (PRIORITY, KILN_STAGE, KILN_MODULE, CODE_FILE/CODE_LINE/CODE_FUNC,
 * ERRNO); otherwise to stderr as "kiln[stage/module]: message".
 *
 * The *_errno variants take a negative errno, append its text when useful,
 * and return that same negative errno, so the project's idiom is
 *
 *     if (r < 0)
 *             return log_error_errno(r, "Failed to read %s: %m", path);
 *
 * where %m renders the errno passed in (not the global errno).  Callers log
 * once, with context, at the place that knows the context; helpers below
 * them return the errno silently.  Secrets must never be passed to these
 * functions (see docs/security.md).
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Forces stderr output even under the journal (tests); "auto" by default. */
void log_set_target_stderr(bool force);
/* Context fields attached to every message until changed (NULL clears). */
void log_set_stage(const char *stage);
void log_set_module(const char *module);
const char *log_get_module(void);

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)

#define log_oom() log_full_errno(LOG_ERR, -ENOMEM, "Out of memory.")
