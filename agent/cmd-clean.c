/* cmd-clean.c — `kiln clean` (before capturing an image, so instances made
 * from it run their per-instance work) and `kiln version`. */
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmds.h"
#include "commands.h"
#include "fileio.h"
#include "log.h"
#include "state.h"

/* Everything under /var/lib/kiln except seed/ (unless asked). */
static int clean_state(bool seed) {
        _cleanup_free_ char *dir = root_path(STATE_DIR);
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = 0;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || (!seed && streq(de->d_name, "seed")))
                        continue;
                _cleanup_free_ char *p = path_join(dir, de->d_name);
                int k = p ? rm_rf(p) : -ENOMEM;
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

/* systemd regenerates an "uninitialized" machine-id at the next boot. */
static int clean_machine_id(void) {
        _cleanup_free_ char *p = root_path("/etc/machine-id"), *dbus = root_path("/var/lib/dbus/machine-id");
        struct stat st;
        int r;
        if (!p || !dbus)
                return -ENOMEM;
        r = write_file_atomic(p, "uninitialized\n", 14, &(write_opts){ .mode = 0444, .uid = (uid_t) -1,
                                                                           .gid = (gid_t) -1 });
        if (r < 0)
                return r;
        if (lstat(dbus, &st) == 0 && S_ISREG(st.st_mode) && unlink(dbus) < 0)
                return negative_errno();
        return 0;
}

int cmd_clean(int argc, char **argv) {
        static const struct option opts[] = {
                { "logs", no_argument, NULL, 'l' },
                { "seed", no_argument, NULL, 's' },
                { "machine-id", no_argument, NULL, 'm' },
                {},
        };
        bool logs = false, seed = false, machine_id = false;
        int c, r;

        if (cli_wants_help(argc, argv, "clean [--logs] [--seed] [--machine-id]"))
                return 0;
        while ((c = getopt_long(argc, argv, "lsm", opts, NULL)) >= 0) {
                switch (c) {
                case 'l': logs = true; break;
                case 's': seed = true; break;
                case 'm': machine_id = true; break;
                default: return cli_usage_error("clean: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return cli_usage_error("clean: unexpected argument '%s'", argv[optind]);

        _cleanup_free_ char *run = root_path(RUN_DIR), *log = root_path(OUTPUT_LOG);
        if (!run || !log)
                return log_oom(), 1;
        r = clean_state(seed);
        if (r < 0)
                return log_error_errno(r, "Failed to clean " STATE_DIR ": %m"), 1;
        r = rm_rf(run);
        if (r < 0)
                return log_error_errno(r, "Failed to clean " RUN_DIR ": %m"), 1;
        if (logs && unlink(log) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "Failed to remove " OUTPUT_LOG ": %m"), 1;
        if (machine_id && (r = clean_machine_id()) < 0)
                return log_error_errno(r, "Failed to reset /etc/machine-id: %m"), 1;
        log_info("Cleaned kiln's state%s%s%s: the next boot is a first boot.", seed ? ", seed" : "",
                 logs ? ", logs" : "", machine_id ? ", machine-id" : "");
        return 0;
}

int cmd_version(int argc, char **argv) {
        (void) argc, (void) argv;
        printf("kiln %s\n", KILN_VERSION);
        return 0;
}

