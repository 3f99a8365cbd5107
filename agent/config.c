/* config.c — see config.h. */
#include <dirent.h>

#include "config.h"
#include "fileio.h"
#include "log.h"
#include "merge.h"
#include "modules.h"
#include "schema.h"
#include "util.h"
#include "yaml-json.h"

int config_parse_document(const char *text, size_t len, const char *display, json_t **ret, srcmap *ret_map,
                          diags *d) {
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        int r;

        r = yaml_to_json(text, len, display, NULL, &doc, &map, d);
        if (r < 0)
                return r;
        if (json_is_null(doc)) {
                json_decref(doc);
                doc = json_object();
                if (!doc)
                        return -ENOMEM;
        }
        r = schema_validate(modules_schema(), doc, &map, display, d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(doc);
        if (ret_map) {
                srcmap_clear(ret_map);
                *ret_map = map;
                map = SRCMAP_INIT;
        }
        return 0;
}

static int load_file(const char *path, const char *display, json_t **ret, srcmap *ret_map, diags *d) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = read_full_file(path, CONFIG_MAX, &text, &len);
        if (r == -EFBIG) {
                diag_error(d, display, 0, 0, "file larger than %d bytes", CONFIG_MAX);
                return -EINVAL;
        }
        if (r < 0)
                return r;
        return config_parse_document(text, len, display, ret, ret_map, d);
}

static int layer(json_t *base, srcmap *base_map, const char *path, const char *display, diags *d) {
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        int r = load_file(path, display, &doc, &map, d);
        if (r == -ENOENT)
                return 0;
        if (r < 0 && r != -EINVAL)
                diag_error(d, display, 0, 0, "cannot read: %s", strerror(-r));
        if (r < 0)
                return r;
        return merge_into(base, base_map, doc, &map, &merge_policy_deep, NULL);
}

static int dropin_names(const char *dir, char ***ret, size_t *ret_n) {
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort);
        size_t k = 0;
        char **names;

        if (n < 0)
                return errno == ENOENT ? (*ret = NULL, *ret_n = 0, 0) : negative_errno();
        names = calloc((size_t) n + 1, sizeof(char *));
        for (int i = 0; i < n; i++) {
                if (names && endswith(list[i]->d_name, ".yaml") && list[i]->d_name[0] != '.')
                        names[k++] = strdup(list[i]->d_name);
                free(list[i]);
        }
        free(list);
        if (!names)
                return -ENOMEM;
        *ret = names;
        *ret_n = k;
        return 0;
}

int config_load_image(const char *override, json_t **ret, srcmap *ret_map, diags *d) {
        _cleanup_json_ json_t *cfg = json_object();
        _cleanup_srcmap_ srcmap map = SRCMAP_INIT;
        _cleanup_free_ char *main_path = NULL, *dropin = NULL;
        char **names = NULL;
        size_t n = 0;
        int r;

        if (!cfg)
                return -ENOMEM;
        if (override) {
                json_decref(TAKE_PTR(cfg));
                r = load_file(override, override, &cfg, &map, d);
                if (r == -ENOENT)
                        diag_error(d, override, 0, 0, "no such file");
                if (r < 0)
                        return r == -ENOENT ? -EINVAL : r;
                goto done;
        }
        main_path = root_path(CONFIG_FILE);
        dropin = root_path(CONFIG_DROPIN_DIR);
        if (!main_path || !dropin)
                return -ENOMEM;
        r = layer(cfg, &map, main_path, CONFIG_FILE, d);
        if (r < 0)
                return r;
        r = dropin_names(dropin, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *p = path_join(dropin, names[i]), *disp = path_join(CONFIG_DROPIN_DIR, names[i]);
                r = p && disp ? layer(cfg, &map, p, disp, d) : -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (r < 0)
                return r;
done:
        *ret = TAKE_PTR(cfg);
        if (ret_map) {
                srcmap_clear(ret_map);
                *ret_map = map;
                map = SRCMAP_INIT;
        }
        return 0;
}
