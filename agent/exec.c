/* exec.c — see exec.h.
 *
 * fork + execve with a CLOEXEC error pipe, so "command not found" is an
 * errno from exec_run() and not an exit code to guess at.  The child gets
 * its own process group so a timeout kills everything it started.  The
 * parent polls the output pipe and a pidfd together: it stops when the
 * child exits, even if a grandchild still holds the pipe open, so a
 * backgrounded daemon can't stall a boot stage.  Where pidfd_open() is
 * missing (ENOSYS: kernels before 5.3, and valgrind 3.19, which the tests
 * run under) the loop falls back to a 10 ms tick and waitid(WNOWAIT).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "exec.h"
#include "macro.h"

extern char **environ;

#define CAPTURE_MAX_DEFAULT (1024 * 1024)

static char **env_merge(char *const *extra) {
        size_t n = 0, m = 0, k = 0;
        for (char **e = environ; e && *e; e++)
                n++;
        for (char *const *e = extra; e && *e; e++)
                m++;
        char **env = calloc(n + m + 1, sizeof(char *));
        if (!env)
                return NULL;
        for (char *const *e = extra; e && *e; e++)
                env[k++] = *e;
        for (char **e = environ; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                size_t kl = eq ? (size_t) (eq - *e) + 1 : strlen(*e);
                bool overridden = false;
                for (char *const *x = extra; x && *x; x++)
                        if (strncmp(*x, *e, kl) == 0)
                                overridden = true;
                if (!overridden)
                        env[k++] = *e;
        }
        return env;
}

_noreturn_ static void child(char *const argv[], char **env, const exec_opts *o, int in_fd, int out_fd, int err_fd) {
        sigset_t ss;
        int e;

        sigemptyset(&ss);
        sigprocmask(SIG_SETMASK, &ss, NULL);
        signal(SIGPIPE, SIG_DFL);
        setpgid(0, 0);

        if (in_fd < 0)
                in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (out_fd < 0)
                out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (in_fd < 0 || out_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0)
                goto fail;
        /* Captured stdout keeps stderr on the caller's output_fd if given. */
        if (dup2(o->capture && o->output_fd >= 0 ? o->output_fd : out_fd, 2) < 0)
                goto fail;
        if (o->search_path)
                execvpe(argv[0], argv, env);
        else
                execve(argv[0], argv, env);
fail:
        e = errno;
        (void) !write(err_fd, &e, sizeof e);
        _exit(127);
}

#define NO_PIDFD_TICK_MS 10

/* Without a pidfd: has the child exited?  WNOWAIT leaves it for reap(). */
static bool child_exited(pid_t pid) {
        siginfo_t si = {};
        return waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static int feed_and_drain(pid_t pid, int pidfd, int *in_fd, const char *input, size_t *in_off, int *out_fd,
                          const exec_opts *o, char **buf, size_t *len, size_t *cap, usec_t deadline) {
        size_t max = o->capture_max ? o->capture_max : CAPTURE_MAX_DEFAULT;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = pidfd, .events = POLLIN },
                        { .fd = *out_fd, .events = POLLIN },
                        { .fd = *in_fd, .events = POLLOUT },
                };
                int timeout = -1;
                if (deadline) {
                        usec_t now = now_mono_usec();
                        if (now >= deadline)
                                return -ETIME;
                        timeout = (int) ((deadline - now + 999) / 1000);
                }
                if (pidfd < 0 && (timeout < 0 || timeout > NO_PIDFD_TICK_MS))
                        timeout = NO_PIDFD_TICK_MS;
                if (poll(p, 3, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (p[2].revents) {
                        size_t left = strlen(input) - *in_off;
                        ssize_t k = left ? write(*in_fd, input + *in_off, left) : 0;
                        if (k > 0)
                                *in_off += (size_t) k;
                        if (k <= 0 || *in_off >= strlen(input)) {
                                close(*in_fd);
                                *in_fd = -EBADF;
                        }
                }
                if (p[1].revents) {
                        if (*len + 4096 > *cap) {
                                char *n = realloc(*buf, *cap + 65536);
                                if (!n)
                                        return -ENOMEM;
                                *buf = n;
                                *cap += 65536;
                        }
                        ssize_t k = read(*out_fd, *buf + *len, 4096);
                        if (k > 0 && *len + (size_t) k <= max)
                                *len += (size_t) k;
                        /* Past max the bytes are read and dropped so the child never blocks. */
                        if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
                                close(*out_fd);
                                *out_fd = -EBADF;
                        }
                }
                if (p[0].revents || (pidfd < 0 && child_exited(pid)))
                        return 0;
        }
}

static void drain_rest(int out_fd, char **buf, size_t *len, size_t *cap, size_t max) {
        fcntl(out_fd, F_SETFL, O_NONBLOCK);
        for (;;) {
                if (*len + 4096 > *cap) {
                        char *n = realloc(*buf, *cap + 65536);
                        if (!n)
                                return;
                        *buf = n;
                        *cap += 65536;
                }
                ssize_t k = read(out_fd, *buf + *len, 4096);
                if (k <= 0)
                        return;
                if (*len + (size_t) k <= max)
                        *len += (size_t) k;
        }
}

static int reap(pid_t pid, int *ret_status) {
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return negative_errno();
        *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return 0;
}

static void kill_and_reap(pid_t pid, int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int st;

        kill(-pid, SIGTERM);
        if (pidfd < 0) {
                for (int i = 0; i < 2000 / NO_PIDFD_TICK_MS && !child_exited(pid); i++)
                        (void) poll(NULL, 0, NO_PIDFD_TICK_MS);
                if (!child_exited(pid))
                        kill(-pid, SIGKILL);
        } else if (poll(&p, 1, 2000) <= 0)
                kill(-pid, SIGKILL);
        (void) reap(pid, &st);
}

int exec_run(char *const argv[], const exec_opts *opts, int *ret_status) {
        exec_opts o = opts ? *opts : EXEC_OPTS_DEFAULT;
        _cleanup_free_ char **env = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF, out_r = -EBADF, out_w = -EBADF, err_r = -EBADF,
                            err_w = -EBADF, pidfd = -EBADF;
        size_t len = 0, cap = 0, in_off = 0;
        int p[2], e = 0, status = 0, r;

        if (!argv || !argv[0])
                return -EINVAL;
        env = env_merge(o.extra_env);
        if (!env)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) < 0)
                return negative_errno();
        err_r = p[0], err_w = p[1];
        if (o.input) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return negative_errno();
                in_r = p[0], in_w = p[1];
        }
        if (o.capture) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return negative_errno();
                out_r = p[0], out_w = p[1];
        }

        pid_t pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0)
                child(argv, env, &o, in_r, o.capture ? out_w : o.output_fd, err_w);

        closep(&err_w), err_w = -EBADF;
        closep(&in_r), in_r = -EBADF;
        closep(&out_w), out_w = -EBADF;

        if (read(err_r, &e, sizeof e) == (ssize_t) sizeof e) {
                (void) reap(pid, &status);
                return -e;
        }

        pidfd = pidfd_open(pid, 0);
        if (pidfd < 0 && errno != ENOSYS) {
                r = negative_errno();
                kill(-pid, SIGKILL);
                (void) reap(pid, &status);
                return r;
        }
        if (in_w >= 0)
                fcntl(in_w, F_SETFL, O_NONBLOCK);

        r = feed_and_drain(pid, pidfd, &in_w, o.input ? o.input : "", &in_off, &out_r, &o, &buf, &len, &cap,
                           o.timeout ? deadline_in(o.timeout) : 0);
        if (r < 0) {
                kill_and_reap(pid, pidfd);
                return r;
        }
        if (out_r >= 0)
                drain_rest(out_r, &buf, &len, &cap, o.capture_max ? o.capture_max : CAPTURE_MAX_DEFAULT);
        r = reap(pid, &status);
        if (r < 0)
                return r;

        if (o.capture) {
                char *n = realloc(buf, len + 1);
                if (!n)
                        return -ENOMEM;
                n[len] = 0;
                buf = NULL;
                *o.capture = n;
        }
        if (ret_status)
                *ret_status = status;
        return 0;
}

char *exec_argv_to_string(char *const argv[]) {
        size_t n = 1;
        for (char *const *a = argv; *a; a++)
                n += strlen(*a) * 4 + 3;
        char *s = malloc(n), *w = s;
        if (!s)
                return NULL;
        for (char *const *a = argv; *a; a++) {
                bool plain = **a != 0 && strspn(*a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                  "-_./=:,+@%") == strlen(*a);
                if (a != argv)
                        *w++ = ' ';
                if (plain) {
                        w = stpcpy(w, *a);
                        continue;
                }
                *w++ = '\'';
                for (const char *c = *a; *c; c++) {
                        if (*c == '\'')
                                w = stpcpy(w, "'\\''");
                        else
                                *w++ = *c;
                }
                *w++ = '\'';
        }
        *w = 0;
        return s;
}
