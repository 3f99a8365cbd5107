/* userdata.c — see userdata.h. */
#include <stdio.h>

#include "config.h"
#include "json-util.h"
#include "log.h"
#include "merge.h"
#include "template.h"
#include "userdata-decode.h"
#include "userdata.h"
#include "util.h"

typedef struct merge_state {
        json_t *instance_data; /* what jinja parts render against; NULL: syntax check only */
        json_t *config;
        srcmap map;
        json_t *scripts;
        const char *origin;
        diags *d;
} merge_state;

static void note_replaced(void *userdata, const char *path) {
        merge_state *m = userdata;
        if (strchr(path, '.') || strchr(path, '['))
                return; /* one warning per top-level key is enough */
        diags_add(m->d, DIAG_WARNING, m->origin, 0, 0, path,
                  "replaces '%s' from an earlier part (cloud-init's default merge); to combine them give this part "
                  "X-Merge-Type: list(append)+dict(recurse_array)+str()",
                  path);
}

static int policy_of(json_t *doc, const ud_part *p, const char *origin, merge_policy *ret, diags *d) {
        json_t *how = json_object_get(doc, "merge_how");
        if (!how)
                how = json_object_get(doc, "merge_type");
        if (how)
                return merge_policy_parse_json(how, ret, d, origin);
        if (p->merge_type)
                return merge_policy_parse_string(p->merge_type, ret, d, origin);
        *ret = merge_policy_cloud_default;
        return 0;
}

static int add_cloud_config(merge_state *m, const ud_part *p) {
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        merge_policy pol;
        int r;

        r = config_parse_document(p->data, p->len, m->origin, &doc, &map, m->d);
        if (r < 0)
                return r;
        r = policy_of(doc, p, m->origin, &pol, m->d);
        if (r < 0)
                return r;
        json_object_del(doc, "merge_how");
        json_object_del(doc, "merge_type");
        if (!m->config) {
                m->config = TAKE_PTR(doc);
                m->map = map;
                map = SRCMAP_INIT;
                return 0;
        }
        merge_note note = { .replaced = note_replaced, .userdata = m };
        return merge_into(m->config, &m->map, doc, &map, &pol, &note);
}

bool userdata_script_name_is_safe(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > USERDATA_SCRIPT_NAME_MAX || name[0] == '.')
                return false;
        for (const char *c = name; *c; c++)
                if (*c == '/' || (unsigned char) *c < ' ' || *c == 0x7f)
                        return false;
        return true;
}

static bool script_name_taken(json_t *scripts, const char *name) {
        json_t *s;
        size_t i;
        json_array_foreach(scripts, i, s)
                if (streq(json_get_string(s, "name", ""), name))
                        return true;
        return false;
}

/* Scripts are saved under their MIME filename (untrusted): it must be a
 * plain, unique file name, checked here so `kiln validate` and the first
 * stage catch it, not the final stage after others already ran. */
static int add_script(merge_state *m, const ud_part *p, size_t index) {
        _cleanup_free_ char *name = NULL, *quoted = NULL;
        if (p->filename)
                name = strdup(p->filename);
        else if (asprintf(&name, "part-%03zu", index) < 0)
                name = NULL;
        if (!name)
                return -ENOMEM;
        json_t *tmp = json_string(name);
        quoted = tmp ? json_dumps(tmp, JSON_ENCODE_ANY) : NULL; /* control characters escaped */
        json_decref(tmp);
        if (!userdata_script_name_is_safe(name)) {
                diag_error(m->d, m->origin, 0, 0,
                           "the script filename %s can't be used as a file name (no '/', no leading '.', "
                           "no control characters, at most %d bytes)",
                           quoted ? quoted : "?", USERDATA_SCRIPT_NAME_MAX);
                return -EINVAL;
        }
        if (script_name_taken(m->scripts, name)) {
                diag_error(m->d, m->origin, 0, 0,
                           "another script part is also named %s; give each part its own filename",
                           quoted ? quoted : "?");
                return -EINVAL;
        }
        json_t *s = json_pack("{s:s, s:s%}", "name", name, "content", p->data, p->len);
        if (!s) {
                diag_error(m->d, m->origin, 0, 0, "script is not valid UTF-8 text");
                return -EINVAL;
        }
        return json_array_append_new(m->scripts, s) < 0 ? -ENOMEM : 0;
}

static int add_part(merge_state *m, const ud_part *p, size_t index);

/* `## template: jinja`: the body is rendered against instance-data (an
 * undefined variable is an error naming the part's line and column, where
 * cloud-init would write CI_MISSING_JINJA_VAR/... into the config), then
 * the result is typed by its first line and handled as that part.  The
 * header line is blanked rather than cut, so template line numbers and the
 * rendered YAML's line numbers are those of the part. */
static int add_jinja(merge_state *m, const ud_part *p, size_t index) {
        _cleanup_free_ char *body = strndup(p->data, p->len), *out = NULL;
        _cleanup_tmpl_ tmpl *t = NULL;
        tmpl_options o = { .name = p->origin };
        size_t out_len;
        int r;

        if (!body)
                return -ENOMEM;
        for (char *c = body; *c && *c != '\n'; c++)
                *c = ' ';
        if (!m->instance_data) {
                r = tmpl_parse(body, p->len, &o, &t, m->d);
                if (r >= 0)
                        diag_warning(m->d, p->origin, 0, 0,
                                     "jinja template checked for syntax only: no instance-data to render it with "
                                     "(give --data FILE)");
                return r;
        }
        r = tmpl_render_string(body, p->len, &o, m->instance_data, &out, &out_len, m->d);
        if (r < 0)
                return r;
        const char *type = userdata_classify(out, out_len);
        if (!type || streq(type, UD_TYPE_JINJA2) ||
            (!streq(type, UD_TYPE_CLOUD_CONFIG) && !streq(type, UD_TYPE_SHELLSCRIPT))) {
                diag_error(m->d, p->origin, 0, 0,
                           "the rendered jinja template must start with #cloud-config or #! (a script)");
                return -EINVAL;
        }
        ud_part rendered = *p;
        rendered.content_type = (char *) type;
        rendered.data = out;
        rendered.len = out_len;
        return add_part(m, &rendered, index);
}

static int add_part(merge_state *m, const ud_part *p, size_t index) {
        m->origin = p->origin;
        if (streq(p->content_type, UD_TYPE_CLOUD_CONFIG))
                return add_cloud_config(m, p);
        if (streq(p->content_type, UD_TYPE_SHELLSCRIPT))
                return add_script(m, p, index);
        if (streq(p->content_type, UD_TYPE_JINJA2))
                return add_jinja(m, p, index);
        diag_error(m->d, m->origin, 0, 0, "unsupported part type %s", p->content_type);
        return -EINVAL;
}

int userdata_process(const char *raw, size_t len, json_t *instance_data, json_t **ret_config, srcmap *ret_map,
                     json_t **ret_scripts, diags *d) {
        _cleanup_ud_parts_ ud_parts parts = { 0 };
        merge_state m = { .instance_data = instance_data, .scripts = json_array(), .origin = "user-data", .d = d };
        int r;

        if (!m.scripts)
                return -ENOMEM;
        r = userdata_decode(raw, len, "user-data", NULL, &parts, d);
        for (size_t i = 0; r >= 0 && i < parts.n; i++)
                r = add_part(&m, &parts.v[i], i + 1);
        if (r < 0) {
                json_decref(m.config);
                json_decref(m.scripts);
                srcmap_clear(&m.map);
                return r;
        }
        *ret_config = m.config ? m.config : json_object();
        srcmap_clear(ret_map);
        *ret_map = m.map;
        *ret_scripts = m.scripts;
        return 0;
}
