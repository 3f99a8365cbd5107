/* blockdev-wait.c — waiting for a volume attached after boot.
 *
 * Terraform's aws_volume_attachment runs after the instance exists, so the
 * data volume can appear seconds to minutes into the boot.  kiln looks
 * again whenever something may have changed, and at least every 500 ms:
 *
 *   - inotify on /dev (and /dev/disk/by-id when present): devtmpfs creates
 *     the node of a new disk, udev adds its links;
 *   - a kernel uevent socket (NETLINK_KOBJECT_UEVENT, kernel group) when
 *     looking at the live /sys: it needs no udev daemon, unlike sd-device's
 *     monitor, which listens to udev's re-broadcast and hears nothing in an
 *     early boot without udevd;
 *   - the poll timeout, which also covers what no event announces: the EBS
 *     name in the NVMe identify data filling in after attach, a loop
 *     device's backing file being attached to an existing node.
 *
 * Either event source may be unavailable (no permission, a fake tree); the
 * poll alone is enough for correctness, the events only make it prompt.
 */
#include <linux/netlink.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "blockdev-internal.h"
#include "log.h"
#include "macro.h"

#define POLL_INTERVAL (500 * USEC_PER_MSEC)
#define PROGRESS_INTERVAL (10 * USEC_PER_SEC)

static int open_inotify(const char *dev) {
        _cleanup_free_ char *by_id = path_join(dev, "disk/by-id");
        _cleanup_close_ int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        const uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_ATTRIB;

        if (fd < 0)
                return negative_errno();
        if (inotify_add_watch(fd, dev, mask) < 0)
                return negative_errno();
        if (by_id)
                (void) inotify_add_watch(fd, by_id, mask);
        return TAKE_FD(fd);
}

static int open_uevents(void) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 /* kernel */ };
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);

        if (fd < 0)
                return negative_errno();
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

static void drain(int fd) {
        char buf[8192];
        while (fd >= 0 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
                ;
}

static void drain_inotify(int fd) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (fd >= 0 && read(fd, buf, sizeof buf) > 0)
                ;
}

/* Sleeps until an event or timeout (whichever is first), then drains. */
static void wait_event(int ino, int uev, usec_t timeout) {
        struct pollfd p[2] = { { .fd = ino, .events = POLLIN }, { .fd = uev, .events = POLLIN } };
        int ms = (int) ((timeout + 999) / 1000);

        if (poll(p, 2, ms) > 0) {
                /* Let a burst of events (node, then udev links) settle. */
                (void) poll(NULL, 0, 50);
                drain_inotify(ino);
                drain(uev);
        }
}

static void log_timeout(const blockdev_query *q, const char *what, usec_t waited) {
        _cleanup_free_ char *seen = blockdev_ebs_summary(q->sys_dir, q->dev_dir);
        bool nitro = seen && !streq(seen, "none");
        const char *hint = "";

        if (q->volume_id && !nitro && !q->device)
                hint = "; volume ids are only visible on Nitro (NVMe) instances: give the device name too";
        if (waited == 0)
                log_error("Not waiting (the wait time is 0): %s is not attached. EBS volumes present: %s%s.", what,
                          seen ? seen : "?", hint);
        else
                log_error("Gave up waiting for %s after %.1f s. EBS volumes present: %s%s.", what,
                          (double) waited / USEC_PER_SEC, seen ? seen : "?", hint);
}

int blockdev_wait(const blockdev_query *q, usec_t timeout, char **ret_path, char **ret_how) {
        _cleanup_free_ char *what = blockdev_query_describe(q);
        usec_t start = now_mono_usec(), deadline = start + timeout, next_progress = start + PROGRESS_INTERVAL;
        int r;

        if (!what)
                return log_oom();
        r = blockdev_find(q, ret_path, ret_how);
        if (r != -ENOENT)
                return r;
        if (timeout == 0) {
                log_timeout(q, what, 0);
                return -ENOENT;
        }
        log_info("Waiting up to %g s for %s to appear.", (double) timeout / USEC_PER_SEC, what);

        _cleanup_close_ int ino = open_inotify(blockdev_dev_dir(q));
        _cleanup_close_ int uev = q->sys_dir ? -EBADF : open_uevents();
        if (ino < 0)
                log_debug_errno(ino, "No inotify on %s, polling only: %m", blockdev_dev_dir(q));

        for (;;) {
                usec_t now = now_mono_usec();
                if (now >= deadline)
                        break;
                if (now >= next_progress) {
                        log_info("Still waiting for %s (%.0f s left).", what, (double) (deadline - now) / USEC_PER_SEC);
                        next_progress += PROGRESS_INTERVAL;
                }
                wait_event(ino, uev, MIN(deadline - now, (usec_t) POLL_INTERVAL));
                r = blockdev_find(q, ret_path, ret_how);
                if (r == 0)
                        log_info("Found %s after %.1f s: %s (%s).", what,
                                 (double) (now_mono_usec() - start) / USEC_PER_SEC, *ret_path, *ret_how);
                if (r != -ENOENT)
                        return r;
        }
        log_timeout(q, what, now_mono_usec() - start);
        return -ETIMEDOUT;
}
