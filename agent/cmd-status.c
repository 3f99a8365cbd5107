/* cmd-status.c — `kiln status` and `kiln analyze`, both readers of
 * /run/kiln/status.json.  `status --wait` polls (10 Hz) rather than using
 * inotify: /run/kiln may not exist yet when it starts, the file is replaced
 * by rename on every update, and 10 wake-ups a second cost nothing. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "cmds.h"
#include "json-util.h"
#include "log.h"
#include "module.h"
#include "state.h"
#include "status.h"

static const char *state_name(status_state st, int exit_code) {
        switch (st) {
        case STATUS_NOT_STARTED:
                return "not started";
        case STATUS_RUNNING:
                return "running";
        case STATUS_DISABLED:
                return "disabled";
        case STATUS_DONE:
        default:
                return exit_code == STATUS_EXIT_ERROR ? "error" : exit_code == STATUS_EXIT_RECOVERABLE ? "degraded done" : "done";
        }
}

static void print_list(const char *title, json_t *list) {
        size_t i;
        json_t *v;
        if (json_array_size(list) == 0)
                return;
        printf("%s:\n", title);
        json_array_foreach(list, i, v)
                printf("  - %s\n", json_string_value(v));
}

static void print_long(json_t *st) {
        json_t *v1 = json_object_get(st, "v1");
        _cleanup_json_ json_t *errors = json_array(), *rec = json_array();

        printf("instance: %s\n", json_get_string(v1, "instance_id", "-"));
        printf("datasource: %s\n", json_get_string(v1, "datasource", "-"));
        json_t *ds = json_object_get(v1, "datasource_stats");
        if (json_is_object(ds))
                printf("datasource requests: %lld (%lld token, %lld retried, %lld connections, %.1f ms)\n",
                       json_get_int(ds, "requests", 0), json_get_int(ds, "token_requests", 0),
                       json_get_int(ds, "retries", 0), json_get_int(ds, "connections", 0),
                       json_get_number(ds, "elapsed_ms", 0));
        printf("stage: %s\n", json_get_string(v1, "stage", "-"));
        for (int s = 0; s < _STAGE_BOOT_MAX; s++) {
                json_t *o = json_object_get(v1, stage_to_string((kiln_stage) s));
                json_t *start = json_object_get(o, "start"), *fin = json_object_get(o, "finished");
                if (json_is_number(start) && json_is_number(fin))
                        printf("%s: finished in %.1f ms\n", stage_to_string((kiln_stage) s),
                               (json_number_value(fin) - json_number_value(start)) * 1000.0);
                else
                        printf("%s: %s\n", stage_to_string((kiln_stage) s), json_is_number(start) ? "running" : "not run");
                json_array_extend(errors, json_object_get(o, "errors"));
                json_array_extend(rec, json_object_get(json_object_get(o, "recoverable_errors"), "WARNING"));
        }
        print_list("errors", errors);
        print_list("recoverable errors", rec);
}

static int wait_for_done(usec_t timeout, json_t **ret, status_state *ret_state, int *ret_exit) {
        usec_t deadline = timeout ? deadline_in(timeout) : 0;
        for (;;) {
                _cleanup_json_ json_t *st = NULL;
                const char *reason;
                int r = status_load(&st);
                if (r < 0)
                        return r;
                *ret_state = status_evaluate(st, ret_exit);
                if (*ret_state != STATUS_DONE && kiln_is_disabled(&reason))
                        *ret_state = STATUS_DISABLED;
                if (*ret_state == STATUS_DONE || *ret_state == STATUS_DISABLED) {
                        *ret = TAKE_PTR(st);
                        return 0;
                }
                if (deadline && deadline_passed(deadline))
                        return -ETIME;
                nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
}

int cmd_status(int argc, char **argv) {
        static const struct option opts[] = {
                { "wait", no_argument, NULL, 'w' }, { "json", no_argument, NULL, 'j' },
                { "long", no_argument, NULL, 'l' }, { "timeout", required_argument, NULL, 't' }, {},
        };
        bool wait = false, as_json = false, as_long = false;
        double timeout = 0;
        _cleanup_json_ json_t *st = NULL;
        status_state state;
        int c, code, r;

        if (cli_wants_help(argc, argv, "status [--wait [--timeout SEC]] [--json] [--long]"))
                return 0;
        while ((c = getopt_long(argc, argv, "wjlt:", opts, NULL)) >= 0) {
                switch (c) {
                case 'w': wait = true; break;
                case 'j': as_json = true; break;
                case 'l': as_long = true; break;
                case 't':
                        timeout = strtod(optarg, NULL);
                        if (timeout <= 0 || !isfinite(timeout))
                                return cli_usage_error("status: --timeout needs a positive number of seconds");
                        break;
                default:
                        return cli_usage_error("status: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return cli_usage_error("status: unexpected argument '%s'", argv[optind]);
        if (wait) {
                r = wait_for_done((usec_t) (timeout * (double) USEC_PER_SEC), &st, &state, &code);
                if (r == -ETIME) {
                        fprintf(stderr, "kiln: timed out after %g s waiting for the final stage\n", timeout);
                        return STATUS_EXIT_ERROR;
                }
        } else {
                const char *reason;
                r = status_load(&st);
                if (r >= 0) {
                        state = status_evaluate(st, &code);
                        if (state != STATUS_DONE && kiln_is_disabled(&reason))
                                state = STATUS_DISABLED;
                }
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read " RUN_DIR "/status.json: %m"), STATUS_EXIT_ERROR;
        if (state == STATUS_DISABLED)
                code = STATUS_EXIT_OK;
        if (as_json) {
                _cleanup_free_ char *s = json_dump_pretty(st);
                fputs(s ? s : "{}\n", stdout);
                return code;
        }
        printf("status: %s\n", state_name(state, code));
        if (as_long)
                print_long(st);
        return code;
}

/* ---- analyze ---- */

typedef struct timing {
        const char *stage, *module, *result;
        double ms;
} timing;

static int by_duration(const void *a, const void *b) {
        double x = ((const timing *) a)->ms, y = ((const timing *) b)->ms;
        return x < y ? 1 : x > y ? -1 : 0;
}

int cmd_analyze(int argc, char **argv) {
        _cleanup_json_ json_t *st = NULL;
        timing t[256];
        size_t n = 0;
        double t0 = 0;
        int r;

        if (cli_wants_help(argc, argv, "analyze   (timings of this boot; status --json has the raw data)"))
                return 0;
        if (argc > 1)
                return cli_usage_error("analyze: unexpected argument '%s'", argv[1]);
        r = status_load(&st);
        if (r < 0)
                return log_error_errno(r, "Failed to read " RUN_DIR "/status.json: %m"), 1;
        json_t *v1 = json_object_get(st, "v1");
        printf("%-9s %10s %12s\n", "stage", "start", "duration");
        for (int s = 0; s < _STAGE_MAX; s++) {
                const char *name = stage_to_string((kiln_stage) s);
                json_t *o = json_object_get(v1, name), *m;
                json_t *start = json_object_get(o, "start"), *fin = json_object_get(o, "finished");
                const char *mod;
                if (!json_is_number(start))
                        continue;
                if (t0 == 0)
                        t0 = json_number_value(start);
                if (json_is_number(fin))
                        printf("%-9s %+9.3fs %9.3f ms\n", name, json_number_value(start) - t0,
                               (json_number_value(fin) - json_number_value(start)) * 1000.0);
                else
                        printf("%-9s %+9.3fs %12s\n", name, json_number_value(start) - t0, "unfinished");
                json_object_foreach(json_object_get(o, "modules"), mod, m)
                        if (n < ELEMENTSOF(t))
                                t[n++] = (timing){ name, mod, json_get_string(m, "result", "?"),
                                                   json_get_number(m, "duration_ms", 0) };
        }
        if (n == 0) {
                printf("no stage has run on this boot\n");
                return 0;
        }
        qsort(t, n, sizeof t[0], by_duration);
        printf("\nmodules, slowest first:\n");
        for (size_t i = 0; i < n; i++)
                printf("%10.3f ms  %s/%s (%s)\n", t[i].ms, t[i].stage, t[i].module, t[i].result);
        return 0;
}
