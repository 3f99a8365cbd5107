/* cmd-query.c — `kiln query`: the instance-data tree templates see.  Root
 * reads the sensitive file; anyone else the redacted one, so secrets never
 * reach a non-root caller. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "cmds.h"
#include "instance-data.h"
#include "json-util.h"
#include "log.h"
#include "state.h"
#include "template.h"

static void print_value(json_t *v) {
        if (json_is_string(v)) {
                printf("%s\n", json_string_value(v));
                return;
        }
        _cleanup_free_ char *s = json_dump_pretty(v);
        fputs(s ? s : "null\n", stdout);
}

/* --format: a template string rendered against instance-data, then a newline. */
static int print_format(const char *format, json_t *id) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_free_ char *out = NULL;
        size_t len;
        tmpl_options o = { .name = "--format" };
        int r = tmpl_render_string(format, strlen(format), &o, id, &out, &len, &d);
        diags_print(&d, stderr);
        if (r < 0)
                return 1;
        fwrite(out, 1, len, stdout);
        putchar('\n');
        return 0;
}

static int list_keys(json_t *v, const char *key) {
        const char *k;
        json_t *child;
        if (!json_is_object(v)) {
                fprintf(stderr, "kiln: query: %s is not a mapping\n", key ? key : "(top level)");
                return 1;
        }
        json_object_foreach(v, k, child)
                printf("%s\n", k);
        return 0;
}

int cmd_query(int argc, char **argv) {
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },
                { "list-keys", no_argument, NULL, 'l' },
                { "format", required_argument, NULL, 'f' },
                {},
        };
        _cleanup_json_ json_t *id = NULL;
        bool all = false, keys = false;
        const char *format = NULL;
        int c, r;

        if (cli_wants_help(argc, argv, "query [KEY | --all | --list-keys [KEY] | --format TEMPLATE]"))
                return 0;
        while ((c = getopt_long(argc, argv, "alf:", opts, NULL)) >= 0) {
                switch (c) {
                case 'a': all = true; break;
                case 'l': keys = true; break;
                case 'f': format = optarg; break;
                default: return cli_usage_error("query: unknown option '%s'", argv[optind - 1]);
                }
        }
        const char *key = optind < argc ? argv[optind] : NULL;
        if (optind + 1 < argc)
                return cli_usage_error("query: unexpected argument '%s'", argv[optind + 1]);
        if (!key && !all && !keys && !format)
                return cli_usage_error("query: give a KEY, --all, --list-keys or --format");
        if (format && (key || all || keys))
                return cli_usage_error("query: --format takes no KEY, --all or --list-keys");
        r = instance_data_for_templates(&id);
        if (r < 0)
                return 1;
        if (format)
                return print_format(format, id);
        json_t *v = key ? json_get_path(id, key) : id;
        if (!v) {
                fprintf(stderr, "kiln: query: no key '%s' in instance-data (try --list-keys)\n", key);
                return 1;
        }
        if (keys)
                return list_keys(v, key);
        print_value(v);
        return 0;
}
