/* unit-control.c — see unit-control.h for why only "try" jobs, queued and
 * never waited for. */
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "macro.h"
#include "unit-control.h"
#include "util.h"

#define SYSTEMD_PRIVATE_SOCKET "/run/systemd/private"

static const char *const unit_types[] = {
        "service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope", NULL,
};

const char *unit_job_to_string(unit_job j) {
        return j == UNIT_JOB_RELOAD ? "reload" : j == UNIT_JOB_RESTART ? "restart" : NULL;
}

const char *unit_job_method(unit_job j) {
        return j == UNIT_JOB_RELOAD ? "ReloadOrTryRestartUnit" : j == UNIT_JOB_RESTART ? "TryRestartUnit" : NULL;
}

unit_route unit_route_for(bool live, bool systemd_running) {
        if (!live)
                return UNIT_ROUTE_UNDER_ROOT;
        return systemd_running ? UNIT_ROUTE_QUEUE : UNIT_ROUTE_NO_SYSTEMD;
}

bool unit_systemd_running(void) {
        return sd_booted() > 0;
}

static bool has_unit_type_suffix(const char *name) {
        const char *dot = strrchr(name, '.');
        if (!dot || dot == name)
                return false;
        for (const char *const *t = unit_types; *t; t++)
                if (streq(dot + 1, *t))
                        return true;
        return false;
}

/* name has a unit-type suffix; checks its characters and the template/instance shape. */
static bool unit_name_is_valid(const char *name) {
        size_t n = strlen(name);
        const char *dot = strrchr(name, '.'), *at = strchr(name, '@');

        if (n == 0 || n > UNIT_NAME_MAX || !dot || name[0] == '.')
                return false;
        if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.\\@-") != n)
                return false;
        if (!at)
                return true;
        /* prefix@instance.type: both parts non-empty, one '@' */
        return at != name && strchr(at + 1, '@') == NULL && at + 1 < dot;
}

int unit_name_normalize(const char *name, char **ret) {
        _cleanup_free_ char *full = NULL;

        if (isempty(name))
                return -EINVAL;
        if (has_unit_type_suffix(name))
                full = strdup(name);
        else if (asprintf(&full, "%s.service", name) < 0)
                full = NULL;
        if (!full)
                return -ENOMEM;
        if (!unit_name_is_valid(full))
                return -EINVAL;
        *ret = TAKE_PTR(full);
        return 0;
}

/* systemd itself: its private socket as root (no dbus-daemon needed, as
 * systemctl does), else the system bus. */
static int connect_systemd(sd_bus **ret) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        struct stat st;
        int r;

        if (geteuid() != 0 || stat(SYSTEMD_PRIVATE_SOCKET, &st) < 0 || !S_ISSOCK(st.st_mode))
                return sd_bus_open_system(ret);
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, "unix:path=" SYSTEMD_PRIVATE_SOCKET);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return sd_bus_open_system(ret); /* e.g. an old systemd without it */
        *ret = TAKE_PTR(bus);
        return 0;
}

static int connect_bus_daemon(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int unit_queue_job(unit_job j, const char *unit, const char *bus_address, char **ret_job_path, char **ret_error) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error err = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *method = unit_job_method(j), *job = NULL;
        int r;

        if (!method || isempty(unit))
                return -EINVAL;
        r = bus_address ? connect_bus_daemon(bus_address, &bus) : connect_systemd(&bus);
        if (r < 0)
                return r;
        (void) sd_bus_set_method_call_timeout(bus, UNIT_BUS_TIMEOUT_USEC);
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", method, &err, &reply, "ss", unit, "replace");
        if (r < 0) {
                if (ret_error && err.message)
                        *ret_error = strdup(err.message);
                return r;
        }
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return r;
        if (ret_job_path && !(*ret_job_path = strdup(job)))
                return -ENOMEM;
        return 0;
}
