/* template.h — kiln's template engine: a Jinja2-compatible subset over jansson values.
 *
 * Why our own engine: service configs are rendered at boot, before any
 * interpreter may be trusted to exist, and every value a template sees is the
 * one jansson tree kiln already holds (`kiln query` prints it).  Template
 * authors know Jinja2 (cloud-init, Ansible, consul-template users), so the
 * engine renders byte for byte what Jinja2 3.1 renders with
 *
 *     Environment(undefined=StrictUndefined, autoescape=False,
 *                 keep_trailing_newline=False, trim_blocks=False, lstrip_blocks=False)
 *
 * for the subset documented in docs/templates.md, and refuses the rest with
 * a positioned error instead of guessing.  tests/integration/test_jinja_diff.py
 * checks that claim against the real Jinja2.
 *
 * A template is parsed once into a tree (tmpl_parse) and can be rendered
 * many times (tmpl_render).  Every input error — syntax, undefined variable,
 * type error, include escaping its directory, a limit hit — is a diagnostic
 * "name:line:col: error: message" in `d` and -EINVAL; nothing partial is
 * returned.  Rendering is bounded (output size, work, include depth) so a
 * template can't exhaust the machine it boots.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "diag.h"
#include "macro.h"

#define TMPL_DEFAULT_MAX_INCLUDE_DEPTH 10U
/* Largest output, and largest single string value built while rendering. */
#define TMPL_DEFAULT_MAX_OUTPUT (16U * 1024U * 1024U)
/* Work budget: one unit per statement or expression evaluated, per loop
 * iteration, per element a filter walks, and per 64 bytes of string built.
 * Since every allocation costs work, it also caps memory (see docs). */
#define TMPL_DEFAULT_MAX_WORK (4U * 1000U * 1000U)
/* Largest template source accepted (also for included files). */
#define TMPL_MAX_SOURCE (4U * 1024U * 1024U)

typedef struct tmpl tmpl;

typedef struct tmpl_options {
        const char *name;           /* shown in diagnostics: "name:line:col"; NULL: "<template>" */
        const char *include_dir;    /* NULL: {% include %} is an error; used as given (callers apply root_path()) */
        unsigned max_include_depth; /* 0 means the default (10) */
        size_t max_output;          /* 0 means TMPL_DEFAULT_MAX_OUTPUT */
        uint64_t max_work;          /* 0 means TMPL_DEFAULT_MAX_WORK */
        bool keep_trailing_newline; /* Jinja's option of that name (default false, as Jinja): keep the
                                     * template's one trailing newline; included files follow the includer */
} tmpl_options;

/* Parses text (len bytes, UTF-8) into a template.  o may be NULL. */
int tmpl_parse(const char *text, size_t len, const tmpl_options *o, tmpl **ret, diags *d);
/* Renders with `vars` (a JSON object, or NULL for none) as the template's
 * variables; *ret is NUL-terminated and malloc'd, *ret_len (optional)
 * excludes the NUL.  vars is never modified. */
int tmpl_render(const tmpl *t, json_t *vars, char **ret, size_t *ret_len, diags *d);
void tmpl_free(tmpl *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(tmpl *, tmpl_free);
#define _cleanup_tmpl_ _cleanup_(tmpl_freep)

/* tmpl_parse + tmpl_render + tmpl_free. */
int tmpl_render_string(const char *text, size_t len, const tmpl_options *o, json_t *vars, char **ret,
                       size_t *ret_len, diags *d);
