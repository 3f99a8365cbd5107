/* tmpl-render — render one template with kiln's engine (test driver and benchmark).
 *
 *   tmpl-render TEMPLATE_FILE DATA_JSON_FILE [INCLUDE_DIR]
 *       prints the rendered bytes on stdout and exits 0, or prints the
 *       diagnostics on stderr and exits 1.  tests/integration/test_jinja_diff.py
 *       runs it next to the real Jinja2 and compares byte for byte.
 *   tmpl-render --bench RUNS TEMPLATE_FILE DATA_JSON_FILE [INCLUDE_DIR]
 *       parses once, renders RUNS times and prints the output size and the
 *       median, min and max render time (the "linear cost" benchmark, see
 *       docs/templates.md).
 *
 * Why a separate driver: the differential tests need the engine alone, with
 * exact bytes and a clean error/no-error signal, before `kiln render` exists.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fileio.h"
#include "template.h"
#include "util.h"

static int load(const char *tpath, const char *dpath, const char *incdir, tmpl **ret_t, json_t **ret_vars,
                diags *d) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        json_error_t err;
        int r;

        r = read_full_file(tpath, TMPL_MAX_SOURCE, &text, &len);
        if (r < 0) {
                fprintf(stderr, "%s: cannot read: %s\n", tpath, strerror(-r));
                return r;
        }
        json_t *vars = json_load_file(dpath, JSON_ALLOW_NUL, &err);
        if (!vars) {
                fprintf(stderr, "%s:%d:%d: %s\n", dpath, err.line, err.column, err.text);
                return -EINVAL;
        }
        tmpl_options o = { .name = tpath, .include_dir = incdir };
        r = tmpl_parse(text, len, &o, ret_t, d);
        if (r < 0) {
                json_decref(vars);
                return r;
        }
        *ret_vars = vars;
        return 0;
}

static int cmp_usec(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;
        return x < y ? -1 : x > y;
}

static int bench(tmpl *t, json_t *vars, int runs, diags *d) {
        _cleanup_free_ usec_t *times = calloc(runs, sizeof *times);
        size_t len = 0;

        if (!times)
                return -ENOMEM;
        for (int i = 0; i < runs; i++) {
                _cleanup_free_ char *out = NULL;
                usec_t start = now_mono_usec();
                int r = tmpl_render(t, vars, &out, &len, d);
                times[i] = now_mono_usec() - start;
                if (r < 0)
                        return r;
        }
        qsort(times, runs, sizeof *times, cmp_usec);
        printf("output %zu bytes, %d runs: median %.2f ms, min %.2f ms, max %.2f ms\n", len, runs,
               times[runs / 2] / 1000.0, times[0] / 1000.0, times[runs - 1] / 1000.0);
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_diags_ diags d = DIAGS_INIT;
        _cleanup_tmpl_ tmpl *t = NULL;
        _cleanup_json_ json_t *vars = NULL;
        _cleanup_free_ char *out = NULL;
        int runs = 0, r;
        size_t len;

        if (argc >= 3 && streq(argv[1], "--bench")) {
                runs = atoi(argv[2]);
                argv += 2;
                argc -= 2;
        }
        if (argc < 3 || argc > 4 || (runs < 0)) {
                fprintf(stderr, "usage: %s [--bench RUNS] TEMPLATE_FILE DATA_JSON_FILE [INCLUDE_DIR]\n", argv[0]);
                return 2;
        }
        r = load(argv[1], argv[2], argc == 4 ? argv[3] : NULL, &t, &vars, &d);
        if (r >= 0)
                r = runs > 0 ? bench(t, vars, runs, &d) : tmpl_render(t, vars, &out, &len, &d);
        if (r < 0) {
                diags_print(&d, stderr);
                if (d.n == 0)
                        fprintf(stderr, "error: %s\n", strerror(-r));
                return 1;
        }
        if (runs == 0 && fwrite(out, 1, len, stdout) != len)
                return 1;
        return 0;
}
