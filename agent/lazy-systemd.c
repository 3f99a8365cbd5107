/* lazy-systemd.c — libsystemd, loaded when kiln first talks to systemd: the
 * journal (only when stderr is the journal), sd_notify (only with
 * $NOTIFY_SOCKET), D-Bus (hostnamed, unit reloads on a live system).  Why
 * and how: dlib.h.  Failures look like libsystemd's own: -ELIBACC, NULL.
 *
 * The variadic sd_notifyf, sd_bus_call_method and sd_bus_message_read
 * forward to their non-variadic forms (sd_notify, sd_bus_call_methodv,
 * sd_bus_message_readv), which libsystemd exports for this purpose. */
#define SD_JOURNAL_SUPPRESS_LOCATION /* the plain sd_journal_sendv(), as log.c calls it */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "dlib.h"
#include "macro.h"

static dlib sd = DLIB_INIT("libsystemd.so.0", "systemd: journal, notify, D-Bus");

DLIB_FORWARD(sd, int, sd_journal_sendv, (const struct iovec *iov, int n), (iov, n), -ELIBACC)
DLIB_FORWARD(sd, int, sd_notify, (int unset_environment, const char *state), (unset_environment, state), -ELIBACC)
DLIB_FORWARD(sd, int, sd_booted, (void), (), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_open_system, (sd_bus **ret), (ret), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_new, (sd_bus **ret), (ret), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_set_address, (sd_bus *bus, const char *address), (bus, address), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_set_bus_client, (sd_bus *bus, int b), (bus, b), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_start, (sd_bus *bus), (bus), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_set_method_call_timeout, (sd_bus *bus, uint64_t usec), (bus, usec), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_call_methodv,
             (sd_bus *bus, const char *destination, const char *path, const char *interface, const char *member,
              sd_bus_error *ret_error, sd_bus_message **reply, const char *types, va_list ap),
             (bus, destination, path, interface, member, ret_error, reply, types, ap), -ELIBACC)
DLIB_FORWARD(sd, int, sd_bus_message_readv, (sd_bus_message *m, const char *types, va_list ap), (m, types, ap),
             -ELIBACC)
DLIB_FORWARD_FREE(sd, sd_bus *, sd_bus_close_unref, (sd_bus *bus), (bus), NULL)
DLIB_FORWARD_FREE(sd, sd_bus *, sd_bus_flush_close_unref, (sd_bus *bus), (bus), NULL)
DLIB_FORWARD_FREE(sd, sd_bus_message *, sd_bus_message_unref, (sd_bus_message *m), (m), NULL)
DLIB_FORWARD_FREE(sd, void, sd_bus_error_free, (sd_bus_error *e), (e), )

int sd_notifyf(int unset_environment, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&msg, format, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                return -ENOMEM;
        }
        return sd_notify(unset_environment, msg);
}

int sd_bus_call_method(sd_bus *bus, const char *destination, const char *path, const char *interface,
                       const char *member, sd_bus_error *ret_error, sd_bus_message **reply, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_call_methodv(bus, destination, path, interface, member, ret_error, reply, types, ap);
        va_end(ap);
        return r;
}

int sd_bus_message_read(sd_bus_message *m, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_message_readv(m, types, ap);
        va_end(ap);
        return r;
}
