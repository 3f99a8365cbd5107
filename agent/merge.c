/* merge.c — see merge.h.  The semantics follow cloud-init's mergers
 * (cloudinit/mergers/m_dict.py, m_list.py, m_str.py) so that user-data
 * written for cloud-init merges the same way under kiln. */
#include <stdio.h>

#include "merge.h"
#include "util.h"

const merge_policy merge_policy_deep = { .dict = MERGE_DICT_DEEP, .list = MERGE_LIST_REPLACE };
const merge_policy merge_policy_cloud_default = { .dict = MERGE_DICT_REPLACE, .list = MERGE_LIST_REPLACE };

typedef struct mctx {
        srcmap *base_map;
        const srcmap *overlay_map;
        const merge_policy *p;
        const merge_note *note;
} mctx;

static int set_from_overlay(mctx *c, json_t *obj, const char *key, json_t *v, const char *path) {
        /* A copy: a later layer appending to this list must not change the overlay. */
        if (json_object_set_new(obj, key, json_deep_copy(v)) < 0)
                return -ENOMEM;
        if (c->base_map && c->overlay_map)
                return srcmap_copy_prefix(c->base_map, c->overlay_map, path, path);
        return 0;
}

static int merge_list(mctx *c, json_t *obj, const char *key, json_t *old, json_t *new, const char *path) {
        size_t n_old = json_array_size(old);
        size_t i;
        json_t *v;

        if (!json_is_array(old) || c->p->list == MERGE_LIST_REPLACE) {
                if (c->note && c->note->replaced)
                        c->note->replaced(c->note->userdata, path);
                return set_from_overlay(c, obj, key, new, path);
        }
        if (c->p->list == MERGE_LIST_NO_REPLACE)
                return 0;
        if (c->p->list == MERGE_LIST_PREPEND) {
                /* Rare; positions of the earlier items are left as they were. */
                _cleanup_json_ json_t *joined = json_copy(new);
                if (!joined || json_array_extend(joined, old) < 0)
                        return -ENOMEM;
                return json_object_set(obj, key, joined) < 0 ? -ENOMEM : 0;
        }
        json_array_foreach(new, i, v) {
                if (json_array_append(old, v) < 0)
                        return -ENOMEM;
                if (c->base_map && c->overlay_map) {
                        _cleanup_free_ char *from = keypath_index(path, i), *to = keypath_index(path, n_old + i);
                        if (!from || !to || srcmap_copy_prefix(c->base_map, c->overlay_map, from, to) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int merge_str(mctx *c, json_t *obj, const char *key, json_t *old, json_t *new, const char *path) {
        _cleanup_free_ char *joined = NULL;
        if (!c->p->str_append || !json_is_string(old))
                return set_from_overlay(c, obj, key, new, path);
        if (asprintf(&joined, "%s%s", json_string_value(old), json_string_value(new)) < 0)
                return -ENOMEM;
        return json_object_set_new(obj, key, json_string(joined)) < 0 ? -ENOMEM : 0;
}

static int merge_object(mctx *c, json_t *base, json_t *overlay, const char *path);

static int merge_key(mctx *c, json_t *base, const char *key, json_t *old, json_t *new, const char *path) {
        const merge_policy *p = c->p;

        if (json_is_null(new) && p->allow_delete)
                return json_object_del(base, key), 0;
        if (p->dict == MERGE_DICT_DEEP) {
                if (json_is_object(old) && json_is_object(new))
                        return merge_object(c, old, new, path);
                return set_from_overlay(c, base, key, new, path);
        }
        if (p->dict == MERGE_DICT_REPLACE) {
                if (c->note && c->note->replaced && !json_equal(old, new))
                        c->note->replaced(c->note->userdata, path);
                return set_from_overlay(c, base, key, new, path);
        }
        /* no_replace: only the recursions the policy asks for change anything */
        if (json_is_array(new) && p->recurse_array)
                return merge_list(c, base, key, old, new, path);
        if (json_is_string(new) && p->recurse_str)
                return merge_str(c, base, key, old, new, path);
        if (json_is_object(new) && json_is_object(old))
                return merge_object(c, old, new, path);
        return 0;
}

static int merge_object(mctx *c, json_t *base, json_t *overlay, const char *path) {
        const char *key;
        json_t *v;

        json_object_foreach(overlay, key, v) {
                _cleanup_free_ char *cp = keypath_key(path, key);
                json_t *old = json_object_get(base, key);
                int r;

                if (!cp)
                        return -ENOMEM;
                if (!old)
                        r = (json_is_null(v) && c->p->allow_delete) ? 0 : set_from_overlay(c, base, key, v, cp);
                else
                        r = merge_key(c, base, key, old, v, cp);
                if (r < 0)
                        return r;
        }
        return 0;
}

int merge_into(json_t *base, srcmap *base_map, json_t *overlay, const srcmap *overlay_map, const merge_policy *p,
               const merge_note *note) {
        mctx c = { .base_map = base_map, .overlay_map = overlay_map, .p = p, .note = note };
        if (!json_is_object(base) || !json_is_object(overlay))
                return -EINVAL;
        return merge_object(&c, base, overlay, "");
}

/* ---- parsing policies ---- */

static int apply_setting(merge_policy *p, const char *merger, const char *setting, diags *d, const char *where) {
        if (streq(merger, "dict")) {
                if (streq(setting, "replace"))
                        p->dict = MERGE_DICT_REPLACE;
                else if (streq(setting, "no_replace"))
                        p->dict = MERGE_DICT_NO_REPLACE;
                else if (streq(setting, "recurse_array") || streq(setting, "recurse_list"))
                        p->recurse_array = true;
                else if (streq(setting, "recurse_str"))
                        p->recurse_str = true;
                else if (streq(setting, "allow_delete"))
                        p->allow_delete = true;
                else if (!streq(setting, "recurse_dict"))
                        goto bad;
                return 0;
        }
        if (streq(merger, "list")) {
                if (streq(setting, "append"))
                        p->list = MERGE_LIST_APPEND;
                else if (streq(setting, "prepend"))
                        p->list = MERGE_LIST_PREPEND;
                else if (streq(setting, "no_replace"))
                        p->list = MERGE_LIST_NO_REPLACE;
                else if (!streq(setting, "replace") && !startswith(setting, "recurse_"))
                        goto bad;
                return 0;
        }
        if (streq(merger, "str")) {
                if (streq(setting, "append"))
                        p->str_append = true;
                else
                        goto bad;
                return 0;
        }
bad:
        diag_error(d, where, 0, 0, "unknown merge setting '%s' for merger '%s'", setting, merger);
        return -EINVAL;
}

/* A named merger with no settings still selects cloud-init's defaults for it. */
static int start_merger(merge_policy *p, const char *merger, diags *d, const char *where) {
        if (streq(merger, "dict")) {
                p->dict = MERGE_DICT_NO_REPLACE;
                p->recurse_array = p->recurse_str = p->allow_delete = false;
        } else if (streq(merger, "list"))
                p->list = MERGE_LIST_REPLACE;
        else if (streq(merger, "str"))
                p->str_append = false;
        else {
                diag_error(d, where, 0, 0, "unknown merger '%s' (kiln knows dict, list and str)", merger);
                return -EINVAL;
        }
        return 0;
}

int merge_policy_parse_string(const char *s, merge_policy *ret, diags *d, const char *where) {
        merge_policy p = merge_policy_cloud_default;
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *tok = strtok_r(copy, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
                char *name = strstrip(tok), *open = strchr(name, '('), *args = NULL;
                if (open) {
                        char *close = strrchr(open, ')');
                        if (!close || close[1]) {
                                diag_error(d, where, 0, 0, "malformed merge type '%s'", s);
                                return -EINVAL;
                        }
                        *open = 0, *close = 0;
                        args = open + 1;
                }
                name = strstrip(name);
                int r = start_merger(&p, name, d, where);
                if (r < 0)
                        return r;
                char *save2 = NULL;
                for (char *a = args ? strtok_r(args, ",", &save2) : NULL; a; a = strtok_r(NULL, ",", &save2)) {
                        a = strstrip(a);
                        if (*a && (r = apply_setting(&p, name, a, d, where)) < 0)
                                return r;
                }
        }
        *ret = p;
        return 0;
}

int merge_policy_parse_json(json_t *how, merge_policy *ret, diags *d, const char *where) {
        merge_policy p = merge_policy_cloud_default;
        size_t i, j;
        json_t *m, *s;

        if (json_is_string(how))
                return merge_policy_parse_string(json_string_value(how), ret, d, where);
        if (!json_is_array(how)) {
                diag_error(d, where, 0, 0, "merge_how must be a string or a list of {name, settings}");
                return -EINVAL;
        }
        json_array_foreach(how, i, m) {
                const char *name = json_string_value(json_object_get(m, "name"));
                json_t *settings = json_object_get(m, "settings");
                if (!name || (settings && !json_is_array(settings))) {
                        diag_error(d, where, 0, 0, "merge_how entry %zu needs a name and a list of settings", i);
                        return -EINVAL;
                }
                int r = start_merger(&p, name, d, where);
                if (r < 0)
                        return r;
                json_array_foreach(settings, j, s) {
                        if (!json_is_string(s)) {
                                diag_error(d, where, 0, 0, "merge_how settings must be strings");
                                return -EINVAL;
                        }
                        r = apply_setting(&p, name, json_string_value(s), d, where);
                        if (r < 0)
                                return r;
                }
        }
        *ret = p;
        return 0;
}
