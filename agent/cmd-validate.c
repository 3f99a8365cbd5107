/* cmd-validate.c — `kiln validate`: check user-data or image config the way
 * a run would (decoding, MIME, YAML, schema), for CI before `terraform
 * apply`.  Diagnostics go to stderr as FILE:LINE:COL: error: message; the
 * exit code is 0 (valid, maybe with warnings) or 1. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "cmds.h"
#include "config.h"
#include "fileio.h"
#include "instance-data.h"
#include "log.h"
#include "modules.h"
#include "schema.h"
#include "state.h"
#include "userdata.h"
#include "yaml-json.h"

static int read_input(const char *file, char **ret, size_t *ret_len) {
        if (streq(file, "-"))
                return read_full_fd(STDIN_FILENO, CONFIG_MAX, ret, ret_len);
        return read_full_file(file, CONFIG_MAX, ret, ret_len);
}

static const char *arg_data;

/* jinja user-data renders against --data FILE, else this machine's
 * instance-data when there is one, else it is checked for syntax only. */
static int validate_userdata(const char *text, size_t len, diags *d) {
        _cleanup_json_ json_t *cfg = NULL, *scripts = NULL, *id = NULL;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        _cleanup_free_ char *dtext = NULL;
        size_t dlen;
        int r;

        if (arg_data) {
                r = read_full_file(arg_data, CONFIG_MAX, &dtext, &dlen);
                if (r < 0) {
                        diag_error(d, arg_data, 0, 0, "cannot read: %s", strerror(-r));
                        return r;
                }
                r = yaml_to_json(dtext, dlen, arg_data, NULL, &id, NULL, d);
                if (r < 0)
                        return r;
        } else
                (void) instance_data_read(geteuid() == 0, &id);
        return userdata_process(text, len, id, &cfg, &map, &scripts, d);
}

static int validate_image(const char *file, const char *text, size_t len, diags *d) {
        _cleanup_json_ json_t *cfg = NULL;
        return config_parse_document(text, len, file, &cfg, NULL, d);
}

static int validate_machine(diags *d) {
        _cleanup_json_ json_t *cfg = NULL;
        _cleanup_free_ char *ud_path = state_path("instance/user-data.txt"), *ud = NULL;
        size_t len;
        int r = config_load_image(cli_config_file(), &cfg, NULL, d);
        if (r < 0)
                return r;
        if (!ud_path)
                return -ENOMEM;
        r = read_full_file(ud_path, CONFIG_MAX, &ud, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return validate_userdata(ud, len, d);
}

int cmd_validate(int argc, char **argv) {
        static const struct option opts[] = {
                { "image", no_argument, NULL, 'i' },
                { "schema-markdown", no_argument, NULL, 'm' },
                { "data", required_argument, NULL, 'd' },
                {},
        };
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_free_ char *text = NULL;
        bool image = false;
        size_t len;
        int c, r;

        if (cli_wants_help(argc, argv, "validate [FILE|-] [--image] [--data INSTANCE-DATA.json]   (no FILE: this machine's config and user-data)"))
                return 0;
        while ((c = getopt_long(argc, argv, "id:", opts, NULL)) >= 0) {
                switch (c) {
                case 'i': image = true; break;
                case 'd': arg_data = optarg; break;
                case 'm': schema_print_markdown(modules_schema(), stdout); return 0;
                default: return cli_usage_error("validate: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 < argc)
                return cli_usage_error("validate: unexpected argument '%s'", argv[optind + 1]);
        const char *file = optind < argc ? argv[optind] : NULL;

        if (!file)
                r = validate_machine(&d);
        else {
                r = read_input(file, &text, &len);
                if (r < 0) {
                        fprintf(stderr, "%s: error: cannot read: %s\n", file, strerror(-r));
                        return 1;
                }
                const char *shown = streq(file, "-") ? "<stdin>" : file;
                r = image ? validate_image(shown, text, len, &d) : validate_userdata(text, len, &d);
        }
        /* user-data diagnostics name "user-data"; point them at the file the user gave */
        for (size_t i = 0; file && !image && i < d.n; i++)
                if (d.v[i].file && startswith(d.v[i].file, "user-data")) {
                        char *nf = NULL;
                        if (asprintf(&nf, "%s%s", streq(file, "-") ? "<stdin>" : file, d.v[i].file + 9) >= 0) {
                                free(d.v[i].file);
                                d.v[i].file = nf;
                        }
                }
        diags_print(&d, stderr);
        if (r < 0 || diags_has_errors(&d)) {
                if (d.n_errors == 0)
                        fprintf(stderr, "%s: error: %s\n", file ? file : "config", strerror(-r));
                return 1;
        }
        size_t warnings = d.n - d.n_errors;
        printf("%s: valid%s", file ? (streq(file, "-") ? "<stdin>" : file) : "this machine's config and user-data",
               warnings ? " (" : "\n");
        if (warnings)
                printf("%zu warning%s)\n", warnings, warnings == 1 ? "" : "s");
        return 0;
}
