/* log.c — see log.h.  The journal is chosen only when stderr really is the
 * journal stream systemd gave us ($JOURNAL_STREAM names stderr's device and
 * inode), which is systemd's documented way for a service to tell; a kiln
 * run by hand from a shell keeps plain stderr. */
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static int target = -1; /* -1 unknown, 0 stderr, 1 journal */
static bool force_stderr;
static char log_stage[32];
static char log_module[64];

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_target_stderr(bool force) {
        force_stderr = force;
        target = -1;
}

static void set_field(char *dst, size_t n, const char *v) {
        snprintf(dst, n, "%s", v ? v : "");
}

void log_set_stage(const char *stage) {
        set_field(log_stage, sizeof log_stage, stage);
}

void log_set_module(const char *module) {
        set_field(log_module, sizeof log_module, module);
}

const char *log_get_module(void) {
        return log_module[0] ? log_module : NULL;
}

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static int get_target(void) {
        if (target < 0)
                target = !force_stderr && stderr_is_journal();
        return target;
}

static void log_to_journal(int level, int error, const char *file, int line, const char *func, const char *msg) {
        char f_msg[4200], f_prio[32], f_file[256], f_line[32], f_func[128], f_stage[64], f_module[96], f_errno[32];
        struct iovec iov[9];
        size_t n = 0;

#define ADD(buf, ...)                                                   \
        do {                                                            \
                snprintf(buf, sizeof buf, __VA_ARGS__);                 \
                iov[n++] = (struct iovec){ .iov_base = buf, .iov_len = strlen(buf) }; \
        } while (0)

        ADD(f_msg, "MESSAGE=%s", msg);
        ADD(f_prio, "PRIORITY=%d", level);
        ADD(f_file, "CODE_FILE=%s", file);
        ADD(f_line, "CODE_LINE=%d", line);
        ADD(f_func, "CODE_FUNC=%s", func);
        if (log_stage[0])
                ADD(f_stage, "KILN_STAGE=%s", log_stage);
        if (log_module[0])
                ADD(f_module, "KILN_MODULE=%s", log_module);
        if (error != 0)
                ADD(f_errno, "ERRNO=%d", error < 0 ? -error : error);
#undef ADD
        iov[n++] = (struct iovec){ .iov_base = (char *) "SYSLOG_IDENTIFIER=kiln", .iov_len = 22 };
        if (sd_journal_sendv(iov, (int) n) < 0)
                fprintf(stderr, "kiln: %s\n", msg);
}

static void log_to_stderr(const char *msg) {
        if (log_stage[0] && log_module[0])
                fprintf(stderr, "kiln[%s/%s]: %s\n", log_stage, log_module, msg);
        else if (log_stage[0])
                fprintf(stderr, "kiln[%s]: %s\n", log_stage, msg);
        else
                fprintf(stderr, "kiln: %s\n", msg);
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        char msg[4096];
        va_list ap;
        int saved = errno;

        if (error > 0)
                error = -error;
        if (level > max_level)
                return error;

        /* %m in the format renders the errno we were given. */
        errno = error < 0 ? -error : 0;
        va_start(ap, format);
        vsnprintf(msg, sizeof msg, format, ap);
        va_end(ap);

        if (get_target() == 1)
                log_to_journal(level, error, file, line, func, msg);
        else
                log_to_stderr(msg);

        errno = saved;
        return error;
}
