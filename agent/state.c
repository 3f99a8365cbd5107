/* state.c — see state.h. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fileio.h"
#include "json-util.h"
#include "state.h"

static char *vprefixed(const char *base, const char *fmt, va_list ap) {
        _cleanup_free_ char *rel = NULL, *abs = NULL;
        if (vasprintf(&rel, fmt, ap) < 0)
                return NULL;
        abs = path_join(base, rel);
        return abs ? root_path(abs) : NULL;
}

char *state_path(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *p = vprefixed(STATE_DIR, fmt, ap);
        va_end(ap);
        return p;
}

char *run_path(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *p = vprefixed(RUN_DIR, fmt, ap);
        va_end(ap);
        return p;
}

int run_dir_ensure(void) {
        _cleanup_free_ char *dir = root_path(RUN_DIR);
        return dir ? mkdir_p(dir, 0755) : -ENOMEM;
}

int state_boot_id(char ret[static BOOT_ID_MAX]) {
        static const char live[] = "/proc/sys/kernel/random/boot_id";
        _cleanup_free_ char *rooted = root_is_live() ? NULL : root_path(live), *text = NULL;
        int r = -ENOENT;

        if (rooted)
                r = read_full_file(rooted, BOOT_ID_MAX - 1, &text, NULL);
        if (r == -ENOENT)
                r = read_full_file(live, BOOT_ID_MAX - 1, &text, NULL);
        if (r < 0)
                return r;
        snprintf(ret, BOOT_ID_MAX, "%s", strstrip(text));
        return isempty(ret) ? -EBADMSG : 0;
}

bool instance_id_is_valid(const char *iid) {
        size_t n = iid ? strlen(iid) : 0;
        if (n == 0 || n > 128 || streq(iid, ".") || streq(iid, ".."))
                return false;
        return strspn(iid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int state_read_instance_id(char **ret) {
        _cleanup_free_ char *p = state_path("data/instance-id"), *text = NULL;
        int r;
        if (!p)
                return -ENOMEM;
        r = read_full_file(p, 256, &text, NULL);
        if (r < 0)
                return r;
        char *s = strdup(strstrip(text));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int state_instance_is_new(const char *iid, bool *ret_new) {
        _cleanup_free_ char *cur = NULL;
        int r = state_read_instance_id(&cur);
        if (r < 0 && r != -ENOENT)
                return r;
        *ret_new = r == -ENOENT || !streq(cur, iid);
        return 0;
}

/* For the instance records: not fsync'd (fileio.h, no_sync).  Losing them
 * in a crash makes the next boot take the instance for a new one, and the
 * semaphores under instances/<id>/ still decide what runs again. */
static int write_line(const char *path, const char *value) {
        _cleanup_free_ char *line = NULL;
        write_opts o = WRITE_OPTS_DEFAULT;
        if (asprintf(&line, "%s\n", value) < 0)
                return -ENOMEM;
        o.no_sync = true;
        return write_file_atomic(path, line, strlen(line), &o);
}

/* Points the "instance" symlink at the instance's directory, unless it
 * already points there (every stage of every boot asks).  Not fsync'd: a
 * convenience link, re-made by the next run if a crash undid it. */
static int link_instance(const char *iid) {
        _cleanup_free_ char *link = state_path("instance"), *target = NULL;
        char cur[PATH_MAX];
        if (!link || asprintf(&target, "instances/%s", iid) < 0)
                return -ENOMEM;
        ssize_t n = readlink(link, cur, sizeof cur - 1);
        if (n >= 0 && (size_t) n == strlen(target) && memcmp(cur, target, (size_t) n) == 0)
                return 0;
        return symlink_atomic(target, link);
}

int state_switch_instance(const char *iid, bool *ret_new) {
        _cleanup_free_ char *cur = NULL, *sem = NULL, *data = NULL, *id_file = NULL, *prev_file = NULL;
        bool is_new;
        int r;

        if (!instance_id_is_valid(iid))
                return -EINVAL;
        r = state_read_instance_id(&cur);
        if (r < 0 && r != -ENOENT)
                return r;
        is_new = r == -ENOENT || !streq(cur, iid);

        sem = state_path("instances/%s/sem", iid);
        data = state_path("data/sem");
        id_file = state_path("data/instance-id");
        prev_file = state_path("data/previous-instance-id");
        if (!sem || !data || !id_file || !prev_file)
                return -ENOMEM;
        if ((r = mkdir_p(sem, 0755)) < 0 || (r = mkdir_p(data, 0755)) < 0)
                return r;
        if (is_new) {
                if (cur && (r = write_line(prev_file, cur)) < 0)
                        return r;
                if ((r = write_line(id_file, iid)) < 0)
                        return r;
        }
        r = link_instance(iid);
        if (r < 0)
                return r;
        *ret_new = is_new;
        return 0;
}

static char *sem_file(const char *iid, const char *module, kiln_freq f) {
        if (f == FREQ_ONCE)
                return state_path("data/sem/%s", module);
        return state_path("instances/%s/sem/%s", iid, module);
}

int state_sem_done(const char *iid, const char *module, kiln_freq f, bool *ret_done) {
        _cleanup_free_ char *p = NULL;
        _cleanup_json_ json_t *sem = NULL;
        char boot_id[BOOT_ID_MAX];
        int r;

        if (f == FREQ_ALWAYS) {
                *ret_done = false;
                return 0;
        }
        p = sem_file(iid, module, f);
        if (!p)
                return -ENOMEM;
        r = json_read_file(p, &sem);
        if (r == -ENOENT || r == -EBADMSG) { /* a torn or missing semaphore means "not done" */
                *ret_done = false;
                return 0;
        }
        if (r < 0)
                return r;
        if (f != FREQ_PER_BOOT) {
                *ret_done = true;
                return 0;
        }
        r = state_boot_id(boot_id);
        if (r < 0)
                return r;
        *ret_done = streq(json_get_string(sem, "boot_id", ""), boot_id);
        return 0;
}

int state_sem_mark(const char *iid, const char *module, kiln_freq f) {
        _cleanup_free_ char *p = NULL;
        _cleanup_json_ json_t *sem = NULL;
        char boot_id[BOOT_ID_MAX], ts[FORMAT_TIMESTAMP_MAX];
        int r;

        if (f == FREQ_ALWAYS)
                return 0;
        r = state_boot_id(boot_id);
        if (r < 0)
                return r;
        p = sem_file(iid, module, f);
        sem = json_pack("{s:s, s:s, s:s}", "frequency", freq_to_string(f), "boot_id", boot_id, "time",
                        format_timestamp(now_usec(), ts));
        if (!p || !sem)
                return -ENOMEM;
        /* not fsync'd: a semaphore lost or torn in a crash reads as "not done" (above) */
        return json_write_file_no_sync(p, sem, 0644);
}

int state_sem_clear(const char *iid, const char *module) {
        _cleanup_free_ char *a = state_path("instances/%s/sem/%s", iid, module), *b = state_path("data/sem/%s", module);
        if (!a || !b)
                return -ENOMEM;
        if (unlink(a) < 0 && errno != ENOENT)
                return negative_errno();
        if (unlink(b) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}
