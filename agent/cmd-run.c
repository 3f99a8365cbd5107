/* cmd-run.c — `kiln run`, `kiln plan`, `kiln rerun`: thin option parsing
 * over runner.c. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "cmds.h"
#include "log.h"
#include "modules.h"
#include "runner.h"
#include "status.h"

static int parse_stage(const char *s, kiln_stage *ret) {
        if (streq(s, "all")) {
                *ret = _STAGE_INVALID;
                return 0;
        }
        kiln_stage st = stage_from_string(s);
        if (st == _STAGE_INVALID)
                return -EINVAL;
        *ret = st;
        return 0;
}

/* Shared by run and plan: [--stage S]. */
static int parse_stage_opts(int argc, char **argv, run_opts *o) {
        static const struct option opts[] = { { "stage", required_argument, NULL, 's' }, {} };
        int c;

        while ((c = getopt_long(argc, argv, "s:", opts, NULL)) >= 0) {
                if (c != 's')
                        return cli_usage_error("%s: unknown option '%s'", argv[0], argv[optind - 1]);
                if (parse_stage(optarg, &o->stage) < 0)
                        return cli_usage_error("%s: unknown stage '%s' (local, network, config, final, shutdown, all)",
                                               argv[0], optarg);
        }
        if (optind < argc)
                return cli_usage_error("%s: unexpected argument '%s'", argv[0], argv[optind]);
        return 0;
}

static int exit_of(int r) {
        return r < 0 ? 1 : r;
}

int cmd_run(int argc, char **argv) {
        run_opts o = { .stage = _STAGE_INVALID, .force_freq = _FREQ_INVALID, .config_file = cli_config_file() };
        const char *reason;
        int r;

        if (cli_wants_help(argc, argv, "run [--stage local|network|config|final|shutdown|all]"))
                return 0;
        r = parse_stage_opts(argc, argv, &o);
        if (r != 0)
                return r;
        if (kiln_is_disabled(&reason)) {
                log_info("kiln is disabled: %s.", reason);
                return 0;
        }
        return exit_of(runner_run(&o));
}

int cmd_plan(int argc, char **argv) {
        run_opts o = { .stage = _STAGE_INVALID, .force_freq = _FREQ_INVALID, .dry_run = true,
                       .config_file = cli_config_file(), .plan_out = stdout };
        int r;

        if (cli_wants_help(argc, argv, "plan [--stage local|network|config|final|shutdown|all]"))
                return 0;
        r = parse_stage_opts(argc, argv, &o);
        if (r != 0)
                return r;
        return exit_of(runner_run(&o));
}

int cmd_rerun(int argc, char **argv) {
        static const struct option opts[] = { { "frequency", required_argument, NULL, 'f' }, {} };
        run_opts o = { .stage = _STAGE_INVALID, .force_freq = _FREQ_INVALID, .config_file = cli_config_file() };
        int c;

        if (cli_wants_help(argc, argv, "rerun MODULE [--frequency always|per-boot|per-instance|once]"))
                return 0;
        while ((c = getopt_long(argc, argv, "f:", opts, NULL)) >= 0) {
                if (c != 'f')
                        return cli_usage_error("rerun: unknown option '%s'", argv[optind - 1]);
                o.force_freq = freq_from_string(optarg);
                if (o.force_freq == _FREQ_INVALID)
                        return cli_usage_error("rerun: unknown frequency '%s'", optarg);
        }
        if (optind != argc - 1)
                return cli_usage_error("rerun: needs exactly one MODULE");
        o.only_module = argv[optind];
        if (!modules_find(o.only_module))
                return cli_usage_error("rerun: unknown module '%s' (see 'kiln analyze' for the names)", o.only_module);
        return exit_of(runner_run(&o));
}
