/* exec.h — running external commands: argv + execve, a deadline, output
 * captured or passed to a file descriptor.  The one place kiln forks.
 *
 * A shell is used only when the user wrote a shell string: build the argv
 * { "/bin/sh", "-c", string, NULL } explicitly at that call site.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct exec_opts {
        usec_t timeout;            /* 0: no timeout; on expiry SIGTERM, then SIGKILL after 2 s */
        int output_fd;             /* stdout+stderr go here when >= 0 (and capture is NULL) */
        char **capture;            /* if set: stdout captured into a NUL-terminated malloc'd buffer */
        size_t capture_max;        /* bound on captured bytes (default 1 MiB); the rest is discarded */
        char *const *extra_env;    /* "KEY=VALUE" entries added to the environment */
        const char *input;         /* written to the child's stdin, then closed (NULL: /dev/null) */
        bool search_path;          /* resolve argv[0] through $PATH (execvpe) */
} exec_opts;

#define EXEC_OPTS_DEFAULT ((exec_opts){ .output_fd = -1 })

/* Runs argv and waits.  Returns 0 when the command ran to completion; the
 * exit status is stored in *ret_status: the exit code, or 128+signal when it
 * was killed.  Returns -ETIME when the timeout expired (the child is
 * killed and reaped), -ENOENT/-EACCES when argv[0] can't be executed,
 * another negative errno on fork/pipe failures. */
int exec_run(char *const argv[], const exec_opts *opts, int *ret_status);

/* Formats argv for logs as a shell-like quoted string (malloc'd). */
char *exec_argv_to_string(char *const argv[]);
