/* unit-control.h — asking systemd to reload or restart a unit after kiln
 * changed its configuration, without ever waiting for it.
 *
 * kiln's config stage runs before the roles' services (consul, cortex,
 * nginx …), which are ordered after kiln-config.service.  Waiting for a job
 * on such a unit from inside kiln-config would deadlock the boot, and
 * starting it early would start it before its files are complete.  So:
 *
 *   - only the "try" methods are used: ReloadOrTryRestartUnit and
 *     TryRestartUnit act on a unit that is active and do nothing to one
 *     that is not (at first boot the service starts later anyway and reads
 *     the new file); a pending start job is not replaced (systemd turns a
 *     try-job on an inactive unit into a no-op job);
 *   - the call returns once the job is queued (mode "replace"); kiln never
 *     subscribes to the job's completion;
 *   - only on the live system with systemd as PID 1 (sd_booted()).  Under
 *     --root the live machine is never touched, and without systemd (an
 *     image build, a container) there is nobody to ask: the module records
 *     what it would have done.
 *
 * As root the connection goes to systemd's private socket
 * (/run/systemd/private, as systemctl does), so dbus-daemon need not be
 * running yet; otherwise to the system bus.  Tests pass the address of a
 * private bus daemon instead.
 */
#pragma once

#include <stdbool.h>

/* Ordered: merging two requests for one unit keeps the larger (a restart
 * includes a reload). */
typedef enum unit_job {
        UNIT_JOB_NONE,
        UNIT_JOB_RELOAD,  /* ReloadOrTryRestartUnit: reload if it can, else restart; only if active */
        UNIT_JOB_RESTART, /* TryRestartUnit: only if active */
        _UNIT_JOB_MAX,
} unit_job;

typedef enum unit_route {
        UNIT_ROUTE_QUEUE,      /* live system under systemd: queue the job */
        UNIT_ROUTE_UNDER_ROOT, /* --root: record the intent, touch nothing live */
        UNIT_ROUTE_NO_SYSTEMD, /* live, but systemd is not running: record what would be done */
} unit_route;

#define UNIT_NAME_MAX 255U
#define UNIT_BUS_TIMEOUT_USEC (25ULL * 1000000ULL) /* for the reply saying the job is queued, not for the job */

/* "reload", "restart". */
const char *unit_job_to_string(unit_job j);
/* The org.freedesktop.systemd1.Manager method for j. */
const char *unit_job_method(unit_job j);
static inline unit_job unit_job_merge(unit_job a, unit_job b) {
        return a > b ? a : b;
}

unit_route unit_route_for(bool live, bool systemd_running);
/* sd_booted(): /run/systemd/system exists on the live system. */
bool unit_systemd_running(void);

/* A unit name as systemctl takes it: a name without a unit-type suffix gets
 * ".service" ("consul" → "consul.service").  Refused (-EINVAL): empty,
 * longer than UNIT_NAME_MAX, a leading '.', characters outside [A-Za-z0-9:_.\@-], a
 * template without its instance ("getty@.service"), more than one '@'. */
int unit_name_normalize(const char *name, char **ret);

/* Queues job j for unit with mode "replace" and returns at once.
 * bus_address: NULL for systemd itself (its private socket as root, else the
 * system bus), or the address of a bus daemon (tests).  On success
 * *ret_job_path (optional) is the job's object path.  On failure a negative
 * errno, and *ret_error (optional) gets the bus error message when there is
 * one (e.g. "Unit nope.service not found."). */
int unit_queue_job(unit_job j, const char *unit, const char *bus_address, char **ret_job_path, char **ret_error);
