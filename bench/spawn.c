/* spawn.c — runs one command and reports what it cost: the bench's stopwatch.
 *
 *   spawn STDOUT-FILE STDERR-FILE PROGRAM [ARG...]
 *   prints: wall_ns user_us sys_us maxrss_kb exit_status
 *
 * Why a C helper rather than Python's posix_spawn + wait4: ru_maxrss of a
 * child counts the memory its address space had before execve, and a child
 * of a Python interpreter starts as a copy (fork) or a borrower (vfork) of
 * the interpreter's ~20 MB, which would then be reported as kiln's peak.
 * This program is a few hundred KiB, so the peak wait4 reports is kiln's own
 * (or that of a child kiln waited for, e.g. a runcmd's shell).  The clock is
 * read right around vfork/execve and wait4, so the interpreter's own
 * overhead is not in the wall time either.
 *
 * Not part of kiln: built by bench/run.sh next to the release binary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int open_out(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                fprintf(stderr, "spawn: %s: %s\n", path, strerror(errno));
        return fd;
}

int main(int argc, char **argv) {
        struct rusage ru;
        int status, out, err, in;
        pid_t pid;

        if (argc < 4) {
                fprintf(stderr, "usage: spawn STDOUT-FILE STDERR-FILE PROGRAM [ARG...]\n");
                return 64;
        }
        out = open_out(argv[1]);
        err = open_out(argv[2]);
        in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (out < 0 || err < 0 || in < 0)
                return 71;

        long long t0 = now_ns();
        pid = vfork();
        if (pid == 0) {
                if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                        _exit(127);
                execv(argv[3], argv + 3);
                _exit(127);
        }
        if (pid < 0) {
                fprintf(stderr, "spawn: vfork: %s\n", strerror(errno));
                return 71;
        }
        while (wait4(pid, &status, 0, &ru) < 0)
                if (errno != EINTR) {
                        fprintf(stderr, "spawn: wait4: %s\n", strerror(errno));
                        return 71;
                }
        long long t1 = now_ns();

        printf("%lld %lld %lld %ld %d\n", t1 - t0, (long long) ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
               (long long) ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss, status);
        return 0;
}
