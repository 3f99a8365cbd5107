/* ds-seed.c — the local seed datasource: a directory holding `meta-data`
 * (YAML or JSON, IMDS names, like cloud-init's NoCloud seed) and an
 * optional `user-data` file.  For manual runs on non-EC2 hosts, the demo
 * and tests.  `datasource: {name: seed, seed: {dir: PATH}}`; PATH is under
 * --root; default /var/lib/kiln/seed. */
#include "datasource.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "state.h"
#include "yaml-json.h"

#define SEED_MAX (1024 * 1024)

static const schema_key seed_keys[] = {
        KEY("dir", ST_STRING, "Directory holding meta-data and user-data (under --root)."),
        {},
};

static int read_meta_data(const char *dir, json_t **ret) {
        _cleanup_free_ char *p = path_join(dir, "meta-data"), *text = NULL;
        _cleanup_diags_ diags d = DIAGS_INIT;
        size_t len;
        json_t *md = NULL;
        int r;

        if (!p)
                return log_oom();
        r = read_full_file(p, SEED_MAX, &text, &len);
        if (r < 0)
                return log_error_errno(r, "Failed to read seed meta-data %s: %m", p);
        r = yaml_to_json(text, len, p, NULL, &md, NULL, &d);
        if (r < 0) {
                diags_log(&d);
                return r;
        }
        if (!json_is_object(md)) {
                json_decref(md);
                return log_error_errno(-EINVAL, "%s: meta-data must be a mapping of IMDS names.", p);
        }
        *ret = md;
        return 0;
}

static int fetch_seed(json_t *cfg, ds_result *ret) {
        const char *dir_cfg = json_get_string(cfg, "dir", STATE_DIR "/seed");
        _cleanup_free_ char *dir = root_path(dir_cfg), *ud_path = NULL, *desc = NULL;
        _cleanup_ds_result_ ds_result res = { 0 };
        int r;

        if (!dir || asprintf(&desc, "seed (%s)", dir_cfg) < 0)
                return log_oom();
        r = read_meta_data(dir, &res.meta_data);
        if (r < 0)
                return r;
        ud_path = path_join(dir, "user-data");
        if (!ud_path)
                return log_oom();
        r = read_full_file(ud_path, SEED_MAX, &res.user_data, &res.user_data_len);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read seed user-data %s: %m", ud_path);
        json_t *doc = json_object_get(res.meta_data, "instance-identity-document");
        if (doc) {
                res.dynamic = json_pack("{s:{s:O}}", "instance-identity", "document", doc);
                json_object_del(res.meta_data, "instance-identity-document");
        }
        res.description = TAKE_PTR(desc);
        *ret = res;
        res = (ds_result){ 0 };
        return 0;
}

const datasource datasource_seed = {
        .name = "seed",
        .needs_network = false,
        .keys = seed_keys,
        .fetch = fetch_seed,
};
