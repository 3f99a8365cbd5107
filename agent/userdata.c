/* userdata.c — see userdata.h. */
#include <stdio.h>

#include "config.h"
#include "json-util.h"
#include "log.h"
#include "merge.h"
#include "userdata.h"
#include "util.h"

typedef struct part {
        const char *type;
        const char *filename;
        const char *merge_type;
        const char *data;
        size_t len;
} part;

/* Until the full decoder lands, user-data is one part typed by its first line. */
static const char *classify(const char *data, size_t len) {
        if (len == 0)
                return NULL;
        if (startswith(data, "#cloud-config"))
                return "text/cloud-config";
        if (startswith(data, "#!"))
                return "text/x-shellscript";
        if (startswith(data, "## template: jinja"))
                return "text/jinja2";
        return "application/octet-stream";
}

typedef struct merge_state {
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

static int policy_of(json_t *doc, const part *p, const char *origin, merge_policy *ret, diags *d) {
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

static int add_cloud_config(merge_state *m, const part *p) {
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

static int add_script(merge_state *m, const part *p, size_t index) {
        _cleanup_free_ char *name = NULL;
        if (p->filename && !strchr(p->filename, '/'))
                name = strdup(p->filename);
        else if (asprintf(&name, "part-%03zu", index) < 0)
                name = NULL;
        if (!name)
                return -ENOMEM;
        json_t *s = json_pack("{s:s, s:s%}", "name", name, "content", p->data, p->len);
        if (!s) {
                diag_error(m->d, m->origin, 0, 0, "script is not valid UTF-8 text");
                return -EINVAL;
        }
        return json_array_append_new(m->scripts, s) < 0 ? -ENOMEM : 0;
}

static int add_part(merge_state *m, const part *p, size_t index) {
        if (streq(p->type, "text/cloud-config"))
                return add_cloud_config(m, p);
        if (streq(p->type, "text/x-shellscript"))
                return add_script(m, p, index);
        if (streq(p->type, "text/jinja2")) {
                diag_error(m->d, m->origin, 1, 1, "'## template: jinja' user-data needs the template engine, which this build does not have yet");
                return -EINVAL;
        }
        diag_error(m->d, m->origin, 1, 1,
                   "unrecognised user-data: expected '#cloud-config', '#!' (a script), '## template: jinja', or MIME multipart");
        return -EINVAL;
}

int userdata_process(const char *raw, size_t len, json_t *instance_data, json_t **ret_config, srcmap *ret_map,
                     json_t **ret_scripts, diags *d) {
        merge_state m = { .scripts = json_array(), .origin = "user-data", .d = d };
        part p = { .type = classify(raw, len), .data = raw, .len = len };
        int r = 0;

        (void) instance_data;
        if (!m.scripts)
                return -ENOMEM;
        if (len > USERDATA_EC2_LIMIT)
                diag_warning(d, "user-data", 0, 0, "%zu bytes: EC2 delivers at most 16384 bytes of user-data", len);
        if (p.type)
                r = add_part(&m, &p, 1);
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
