/* cli.c — global options and command dispatch.  Each command lives in a
 * cmd-*.c file and parses its own options; usage errors exit 64 (EX_USAGE)
 * with a one-line hint, as the rest of the system's tools do. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"
#include "cmds.h"
#include "log.h"
#include "util.h"

typedef struct command {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
} command;

static const command commands[] = {
        { "run", cmd_run, "run [--stage local|network|config|final|all]   run stages (what the units call)" },
        { "status", cmd_status, "status [--wait [--timeout SEC]] [--json] [--long]   0 done, 1 failed, 2 recoverable errors" },
        { "query", cmd_query, "query [KEY | --all | --list-keys | --format TEMPLATE]   print instance-data" },
        { "validate", cmd_validate, "validate [FILE|-] [--image] [--data FILE]   check user-data (or image config) like a run would" },
        { "plan", cmd_plan, "plan [--stage S]   print what a run would change; changes nothing" },
        { "rerun", cmd_rerun, "rerun MODULE [--frequency always]   run one module again on a live host" },
        { "render", cmd_render, "render TEMPLATE [--data FILE] [--include-dir DIR]   render a template against instance-data" },
        { "clean", cmd_clean, "clean [--logs] [--seed] [--machine-id]   make the next boot a first boot" },
        { "analyze", cmd_analyze, "analyze   per-stage and per-module timings of this boot" },
        { "version", cmd_version, "version   print the version" },
};

static void help(FILE *f) {
        fprintf(f, "kiln — boot-time configuration agent\n\n"
                   "Usage: kiln [--root DIR] [--config FILE] [-v|-q] COMMAND [ARGS]\n\n"
                   "Global options:\n"
                   "  --root DIR     re-root every path kiln reads or writes (tests, demos, image builds)\n"
                   "  --config FILE  read FILE instead of /etc/kiln/kiln.yaml and kiln.d/\n"
                   "  -v, -q         more (debug) or less (warnings only) logging\n\n"
                   "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %s\n", commands[i].summary);
        fprintf(f, "\nEach command takes --help.  Documentation: man kiln, docs/ in the source.\n");
}

int cli_usage_error(const char *format, ...) {
        va_list ap;
        fprintf(stderr, "kiln: ");
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fprintf(stderr, " (try 'kiln --help')\n");
        return EXIT_USAGE;
}

static const char *arg_config;

const char *cli_config_file(void) {
        return arg_config;
}

int cli_main(int argc, char **argv) {
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },   { "config", required_argument, NULL, 'c' },
                { "verbose", no_argument, NULL, 'v' },      { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },         { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        /* '+': stop at the command name; it parses its own options. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+r:c:vqh", opts, NULL)) >= 0) {
                switch (c) {
                case 'r':
                        if (root_set(optarg) < 0)
                                return cli_usage_error("--root needs an absolute path, got '%s'", optarg);
                        break;
                case 'c':
                        arg_config = optarg;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'q':
                        log_set_max_level(LOG_WARNING);
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                case 'V':
                        return cmd_version(0, NULL);
                default:
                        return cli_usage_error("unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return cli_usage_error("missing command");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(argv[optind], commands[i].name)) {
                        char **sub = argv + optind;
                        int subc = argc - optind;
                        optind = 0; /* reset getopt for the command's own parse */
                        return commands[i].run(subc, sub);
                }
        return cli_usage_error("unknown command '%s'", argv[optind]);
}

bool cli_wants_help(int argc, char **argv, const char *usage) {
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--"))
                        break;
                if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
                        printf("Usage: kiln %s\n", usage);
                        return true;
                }
        }
        return false;
}
