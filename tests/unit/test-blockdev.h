/* test-blockdev.h — helpers shared by the tests/unit/test-blockdev-*.c
 * executables: a scratch directory fixture, image files, commands, and
 * capturing what kiln logs to stderr.
 *
 * Header-only (static inline) because every test-*.c is its own executable
 * and the test CMake glob compiles nothing else; inline also keeps
 * -Wunused-function quiet in a test that needs only some of them.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>

#include "exec.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "util.h"

/* Tools live in sbin; kiln finds them itself, the tests through PATH. */
static inline void bdt_init(void) {
        setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
        log_set_target_stderr(true);
}

/* cmocka fixture: *state is a fresh /tmp/kiln-bdtest-XXXXXX, removed after. */
static inline int bdt_tmpdir_setup(void **state) {
        char *d = strdup("/tmp/kiln-bdtest-XXXXXX");
        if (!d || !mkdtemp(d)) {
                free(d);
                return -1;
        }
        *state = d;
        return 0;
}

static inline int bdt_tmpdir_teardown(void **state) {
        (void) rm_rf(*state);
        free(*state);
        return 0;
}

/* A sparse file of the given size (all zeros). */
static inline char *bdt_image(const char *dir, const char *name, uint64_t size) {
        char *p = path_join(dir, name);
        _cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        return p;
}

/* Writes len non-zero bytes at off (a file or a device) and syncs. */
static inline void bdt_pattern(const char *path, uint64_t off, size_t len) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = malloc(len);
        assert_true(fd >= 0);
        assert_non_null(buf);
        for (size_t i = 0; i < len; i++)
                buf[i] = (char) (i * 31 + 7);
        assert_int_equal(pwrite(fd, buf, len, (off_t) off), (ssize_t) len);
        assert_int_equal(fsync(fd), 0);
}

/* Runs argv (found through PATH) with optional stdin; 0 when it exited 0,
 * its stdout+stderr in *ret_out (optional).  Failures are printed. */
static inline int bdt_run(char **argv, const char *input, char **ret_out) {
        exec_opts o = EXEC_OPTS_DEFAULT;
        _cleanup_free_ char *out = NULL;
        int status = -1;

        o.search_path = true;
        o.capture = &out;
        o.input = input;
        o.timeout = 60 * USEC_PER_SEC;
        int r = exec_run(argv, &o, &status);
        if (r < 0)
                return r;
        if (status != 0) {
                _cleanup_free_ char *cmd = exec_argv_to_string(argv);
                fprintf(stderr, "test: %s exited %d: %s\n", cmd, status, out ? out : "");
                return -EIO;
        }
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

static inline void bdt_run_ok(char **argv) {
        assert_int_equal(bdt_run(argv, NULL, NULL), 0);
}

/* stderr goes to a temporary file until bdt_stderr_end(), which returns
 * what was written (and echoes it, so the test output keeps it). */
static inline char *bdt_stderr_begin(int *saved) {
        char *path = strdup("/tmp/kiln-bdtest-log-XXXXXX");
        assert_non_null(path);
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        fflush(stderr);
        *saved = dup(2);
        assert_true(dup2(fd, 2) == 2);
        close(fd);
        return path;
}

static inline char *bdt_stderr_end(char *path, int saved) {
        char *data = NULL;
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        assert_int_equal(read_full_file(path, 1 << 20, &data, NULL), 0);
        unlink(path);
        free(path);
        fputs(data, stderr);
        return data;
}
