/* Unit tests for unit-control.c: the decisions (unit names, which route a
 * job takes, merging a reload with a restart) and the sd-bus call itself,
 * against a fake org.freedesktop.systemd1 on a private dbus-daemon.  The
 * fake runs in a child process, records every call it gets and answers with
 * a job path at once, like systemd queuing a job; it never emits JobRemoved,
 * so a caller that waited for the job would hang.  No systemd is needed (nor
 * touched: the bus address is explicit).  Skipped without dbus-daemon. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>

#include "fileio.h"
#include "macro.h"
#include "unit-control.h"
#include "util.h"

#define DBUS_DAEMON "/usr/bin/dbus-daemon"

/* ---- decisions ---- */

static void check_name(const char *in, const char *want) {
        _cleanup_free_ char *out = NULL;
        int r = unit_name_normalize(in, &out);
        if (!want) {
                assert_int_equal(r, -EINVAL);
                assert_null(out);
                return;
        }
        assert_int_equal(r, 0);
        assert_string_equal(out, want);
}

static void test_unit_names(void **state) {
        (void) state;
        check_name("consul", "consul.service");
        check_name("consul.service", "consul.service");
        check_name("prometheus-node-exporter", "prometheus-node-exporter.service");
        check_name("nginx.socket", "nginx.socket");
        check_name("getty@tty1.service", "getty@tty1.service");
        check_name("getty@tty1", "getty@tty1.service");
        check_name("foo.bar", "foo.bar.service"); /* not a unit type: systemctl's rule */
        check_name("a\\x2db.mount", "a\\x2db.mount");
        check_name("-.mount", "-.mount");
        check_name(NULL, NULL);
        check_name("", NULL);
        check_name(".service", NULL);
        check_name("getty@.service", NULL); /* a template, not a unit */
        check_name("@x.service", NULL);
        check_name("a@b@c.service", NULL);
        check_name("bad name", NULL);
        check_name("x;reboot", NULL);
        check_name("../../x.service", NULL);
        check_name("consul.service\n", NULL);

        char longname[300];
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        check_name(longname, NULL);
        longname[UNIT_NAME_MAX - strlen(".service")] = 0; /* exactly 255 with the suffix */
        _cleanup_free_ char *out = NULL;
        assert_int_equal(unit_name_normalize(longname, &out), 0);
        assert_int_equal(strlen(out), UNIT_NAME_MAX);
}

static void test_routes(void **state) {
        (void) state;
        /* under --root the live system is never asked, systemd or not */
        assert_int_equal(unit_route_for(false, true), UNIT_ROUTE_UNDER_ROOT);
        assert_int_equal(unit_route_for(false, false), UNIT_ROUTE_UNDER_ROOT);
        assert_int_equal(unit_route_for(true, false), UNIT_ROUTE_NO_SYSTEMD);
        assert_int_equal(unit_route_for(true, true), UNIT_ROUTE_QUEUE);
}

static void test_jobs(void **state) {
        (void) state;
        assert_string_equal(unit_job_to_string(UNIT_JOB_RELOAD), "reload");
        assert_string_equal(unit_job_to_string(UNIT_JOB_RESTART), "restart");
        assert_null(unit_job_to_string(UNIT_JOB_NONE));
        /* only the try- methods: an inactive unit is never started */
        assert_string_equal(unit_job_method(UNIT_JOB_RELOAD), "ReloadOrTryRestartUnit");
        assert_string_equal(unit_job_method(UNIT_JOB_RESTART), "TryRestartUnit");
        assert_null(unit_job_method(UNIT_JOB_NONE));
        assert_int_equal(unit_job_merge(UNIT_JOB_RELOAD, UNIT_JOB_RESTART), UNIT_JOB_RESTART);
        assert_int_equal(unit_job_merge(UNIT_JOB_RESTART, UNIT_JOB_RELOAD), UNIT_JOB_RESTART);
        assert_int_equal(unit_job_merge(UNIT_JOB_NONE, UNIT_JOB_RELOAD), UNIT_JOB_RELOAD);
        assert_int_equal(unit_queue_job(UNIT_JOB_NONE, "x.service", "unix:path=/nonexistent", NULL, NULL), -EINVAL);
}

/* ---- the bus ---- */

typedef struct fixture {
        char dir[64];
        char address[128];
        pid_t daemon;
        pid_t fake;
} fixture;

static const char bus_conf[] =
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig><type>session</type><listen>unix:path=%s/bus</listen><auth>EXTERNAL</auth>\n"
        "<policy context=\"default\"><allow send_destination=\"*\"/><allow receive_sender=\"*\"/><allow own=\"*\"/></policy></busconfig>\n";

static int fake_job(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *unit, *mode;
        int fd = *(int *) userdata;
        int r = sd_bus_message_read(m, "ss", &unit, &mode);
        if (r < 0)
                return r;
        dprintf(fd, "%s %s %s\n", sd_bus_message_get_member(m), unit, mode);
        if (streq(unit, "missing.service"))
                return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit", "Unit %s not found.", unit);
        return sd_bus_reply_method_return(m, "o", "/org/freedesktop/systemd1/job/42");
}

static const sd_bus_vtable fake_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("TryRestartUnit", "ss", "o", fake_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ReloadOrTryRestartUnit", "ss", "o", fake_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("RestartUnit", "ss", "o", fake_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("ReloadUnit", "ss", "o", fake_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* The child: owns org.freedesktop.systemd1, records calls to <dir>/calls, says "ready" on ready_fd. */
static _noreturn_ void run_fake(const fixture *f, int ready_fd) {
        sd_bus *bus = NULL;
        char calls[128];
        snprintf(calls, sizeof calls, "%s/calls", f->dir);
        int fd = open(calls, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0 || sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, f->address) < 0 ||
            sd_bus_set_bus_client(bus, true) < 0 || sd_bus_start(bus) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                     fake_vtable, &fd) < 0 ||
            sd_bus_request_name(bus, "org.freedesktop.systemd1", 0) < 0)
                _exit(2);
        (void) !write(ready_fd, "R", 1);
        close(ready_fd);
        for (;;) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        _exit(3);
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        _exit(4);
        }
}

static pid_t spawn_daemon(fixture *f) {
        char conf[128], print_fd[16];
        int p[2];
        snprintf(conf, sizeof conf, "%s/bus.conf", f->dir);
        _cleanup_fclose_ FILE *c = fopen(conf, "we");
        if (!c || fprintf(c, bus_conf, f->dir) < 0 || fflush(c) != 0 || pipe(p) < 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                close(p[0]);
                snprintf(print_fd, sizeof print_fd, "%d", p[1]);
                char cfg_arg[160];
                snprintf(cfg_arg, sizeof cfg_arg, "--config-file=%s", conf);
                execl(DBUS_DAEMON, DBUS_DAEMON, cfg_arg, "--nofork", "--nopidfile", "--print-address", print_fd,
                      (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        /* the address line means the daemon listens */
        char buf[256];
        ssize_t n = read(p[0], buf, sizeof buf - 1);
        close(p[0]);
        if (n <= 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return -1;
        }
        snprintf(f->address, sizeof f->address, "unix:path=%s/bus", f->dir);
        return pid;
}

static int setup_bus(void **state) {
        fixture *f = calloc(1, sizeof *f);
        int p[2];
        if (!f)
                return -1;
        *state = f;
        if (access(DBUS_DAEMON, X_OK) < 0)
                return 0; /* the tests skip */
        strcpy(f->dir, "/tmp/kiln-unitctl-XXXXXX");
        if (!mkdtemp(f->dir) || (f->daemon = spawn_daemon(f)) <= 0 || pipe(p) < 0)
                return -1;
        f->fake = fork();
        if (f->fake == 0) {
                close(p[0]);
                run_fake(f, p[1]);
        }
        close(p[1]);
        char c;
        ssize_t n = read(p[0], &c, 1);
        close(p[0]);
        return n == 1 ? 0 : -1;
}

static int teardown_bus(void **state) {
        fixture *f = *state;
        if (f->fake > 0) {
                kill(f->fake, SIGTERM);
                waitpid(f->fake, NULL, 0);
        }
        if (f->daemon > 0) {
                kill(f->daemon, SIGTERM);
                waitpid(f->daemon, NULL, 0);
        }
        if (f->dir[0])
                rm_rf(f->dir);
        free(f);
        return 0;
}

static char *calls(const fixture *f) {
        char path[128];
        char *text = NULL;
        snprintf(path, sizeof path, "%s/calls", f->dir);
        if (read_full_file(path, 65536, &text, NULL) == -ENOENT)
                text = strdup("");
        return text;
}

static void test_queue_jobs(void **state) {
        fixture *f = *state;
        if (f->daemon <= 0)
                skip();
        _cleanup_free_ char *job = NULL, *job2 = NULL, *error = NULL, *log = NULL;
        usec_t start = now_mono_usec();

        assert_int_equal(unit_queue_job(UNIT_JOB_RELOAD, "consul.service", f->address, &job, &error), 0);
        assert_string_equal(job, "/org/freedesktop/systemd1/job/42");
        assert_null(error);
        assert_int_equal(unit_queue_job(UNIT_JOB_RESTART, "cortex.service", f->address, &job2, NULL), 0);
        /* queued, not waited for: the fake never finishes a job */
        assert_true(now_mono_usec() - start < 5 * USEC_PER_SEC);

        log = calls(f);
        assert_string_equal(log, "ReloadOrTryRestartUnit consul.service replace\n"
                                 "TryRestartUnit cortex.service replace\n");
}

static void test_queue_errors(void **state) {
        fixture *f = *state;
        if (f->daemon <= 0)
                skip();
        _cleanup_free_ char *job = NULL, *error = NULL;
        char nobus[160];

        assert_true(unit_queue_job(UNIT_JOB_RESTART, "missing.service", f->address, &job, &error) < 0);
        assert_null(job);
        assert_non_null(error);
        assert_string_equal(error, "Unit missing.service not found.");

        /* nobody listening: an error, not a hang */
        snprintf(nobus, sizeof nobus, "unix:path=%s/nobus", f->dir);
        assert_true(unit_queue_job(UNIT_JOB_RELOAD, "consul.service", nobus, NULL, NULL) < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unit_names),
                cmocka_unit_test(test_routes),
                cmocka_unit_test(test_jobs),
                cmocka_unit_test(test_queue_jobs),
                cmocka_unit_test(test_queue_errors),
        };
        return cmocka_run_group_tests(tests, setup_bus, teardown_bus);
}
