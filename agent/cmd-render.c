/* cmd-render.c — `kiln render TEMPLATE [--data FILE] [--include-dir DIR]`,
 * the template author's helper: renders a template exactly as the templates
 * module would, against this boot's instance-data (root sees secret values,
 * others the redacted tree) or a given JSON/YAML file, and prints the bytes
 * unchanged.  Includes resolve as in the module: a template inside the
 * image's /etc/kiln/templates includes from there ("partials/header.j2"),
 * any other from its own directory; --include-dir overrides.  Paths given
 * on the command line are used as given (not under --root). */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>

#include "cli.h"
#include "cmds.h"
#include "fileio.h"
#include "instance-data.h"
#include "log.h"
#include "state.h"
#include "template.h"
#include "util.h"
#include "yaml-json.h"

/* JSON is YAML: one loader for both, with positioned errors. */
static int load_data(const char *file, json_t **ret, diags *d) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = read_full_file(file, TMPL_MAX_SOURCE, &text, &len);
        if (r < 0) {
                diag_error(d, file, 0, 0, "cannot read: %s", strerror(-r));
                return r;
        }
        return yaml_to_json(text, len, file, NULL, ret, NULL, d);
}

/* This boot's instance-data for templates: the sensitive tree for root. */
int instance_data_for_templates(json_t **ret) {
        int r = instance_data_read(geteuid() == 0, ret);
        if (r == -ENOENT)
                fprintf(stderr, "kiln: no instance-data yet: has kiln's network stage run on this boot? "
                                "(or give --data FILE)\n");
        else if (r < 0)
                log_error_errno(r, "Failed to read instance-data under " RUN_DIR ": %m");
        return r;
}

/* The include directory the templates module would use for file. */
static char *include_dir_for(const char *file, const char *given) {
        _cleanup_free_ char *rooted = root_path(TEMPLATE_DIR), *image = NULL, *real = realpath(file, NULL),
                            *copy = NULL;
        if (given)
                return strdup(given);
        image = rooted ? realpath(rooted, NULL) : NULL;
        if (image && real && startswith(real, image) && real[strlen(image)] == '/')
                return TAKE_PTR(image);
        copy = strdup(file);
        return copy ? strdup(dirname(copy)) : NULL;
}

int cmd_render(int argc, char **argv) {
        static const struct option opts[] = {
                { "data", required_argument, NULL, 'd' },
                { "include-dir", required_argument, NULL, 'I' },
                {},
        };
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_json_ json_t *data = NULL;
        _cleanup_free_ char *text = NULL, *out = NULL, *dir = NULL;
        const char *data_file = NULL, *include_dir = NULL;
        size_t len, out_len;
        int c, r;

        if (cli_wants_help(argc, argv, "render TEMPLATE [--data FILE] [--include-dir DIR]   (prints the rendered bytes)"))
                return 0;
        while ((c = getopt_long(argc, argv, "d:I:", opts, NULL)) >= 0) {
                if (c == 'd')
                        data_file = optarg;
                else if (c == 'I')
                        include_dir = optarg;
                else
                        return cli_usage_error("render: unknown option '%s'", argv[optind - 1]);
        }
        if (optind != argc - 1)
                return cli_usage_error("render: needs exactly one TEMPLATE");
        const char *file = argv[optind];

        r = read_full_file(file, TMPL_MAX_SOURCE, &text, &len);
        if (r < 0) {
                fprintf(stderr, "%s: error: cannot read: %s\n", file, strerror(-r));
                return 1;
        }
        r = data_file ? load_data(data_file, &data, &d) : instance_data_for_templates(&data);
        if (r >= 0 && !(dir = include_dir_for(file, include_dir)))
                r = log_oom();
        if (r >= 0) {
                /* as the templates module: a config file keeps its final newline */
                tmpl_options o = { .name = file, .include_dir = dir, .keep_trailing_newline = true };
                r = tmpl_render_string(text, len, &o, data, &out, &out_len, &d);
        }
        diags_print(&d, stderr);
        if (r < 0)
                return 1;
        fwrite(out, 1, out_len, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
}
