/* instance-data.c — see instance-data.h. */
#include <sys/utsname.h>

#include "fileio.h"
#include "instance-data.h"
#include "json-util.h"
#include "log.h"
#include "state.h"

/* Paths redacted in the world-readable copy (cloud-init's sensitive keys,
 * in their underscored form). */
static const char *const sensitive_paths[] = {
        "ds.meta_data.iam.security_credentials",
        "ds.meta_data.identity_credentials",
        "secret_vars",
        NULL,
};

/* Copy with '-' in every object key turned into '_'. */
static json_t *underscored(json_t *v) {
        if (json_is_array(v)) {
                json_t *a = json_array(), *it;
                size_t i;
                json_array_foreach(v, i, it)
                        json_array_append_new(a, underscored(it));
                return a;
        }
        if (!json_is_object(v))
                return json_deep_copy(v);
        json_t *o = json_object(), *it;
        const char *k;
        json_object_foreach(v, k, it) {
                _cleanup_free_ char *nk = strdup(k);
                if (!nk)
                        continue;
                for (char *c = nk; *c; c++)
                        if (*c == '-')
                                *c = '_';
                json_object_set_new(o, nk, underscored(it));
        }
        return o;
}

/* public-keys as a list of strings, or IMDS-shaped {"0": {"openssh-key": "…"}}. */
static json_t *public_keys(json_t *md) {
        json_t *pk = json_object_get(md, "public-keys"), *out = json_array(), *v;
        const char *k;
        size_t i;

        if (json_is_string(pk))
                json_array_append(out, pk);
        else if (json_is_array(pk))
                json_array_foreach(pk, i, v) {
                        if (json_is_string(v))
                                json_array_append(out, v);
                }
        else if (json_is_object(pk))
                json_object_foreach(pk, k, v) {
                        json_t *key = json_is_object(v) ? json_object_get(v, "openssh-key") : v;
                        if (json_is_string(key))
                                json_array_append(out, key);
                }
        return out;
}

static json_t *tags_of(json_t *md) {
        json_t *t = json_object_get(md, "tags");
        json_t *inst = json_object_get(t, "instance");
        if (json_is_object(inst))
                return json_deep_copy(inst);
        return json_is_object(t) ? json_deep_copy(t) : json_object();
}

static const char *region_of(json_t *md, json_t *doc, char *buf, size_t n) {
        const char *r = json_get_string(json_object_get(md, "placement"), "region", NULL);
        if (!r)
                r = json_get_string(doc, "region", NULL);
        if (r)
                return r;
        const char *az = json_get_string(json_object_get(md, "placement"), "availability-zone", NULL);
        if (!az || strlen(az) < 2 || strlen(az) >= n)
                return NULL;
        snprintf(buf, n, "%.*s", (int) strlen(az) - 1, az); /* us-east-1a → us-east-1 */
        return buf;
}

static json_t *build_v1(const datasource *ds, const ds_result *res) {
        json_t *md = res->meta_data;
        json_t *doc = json_get_path(res->dynamic, "instance-identity.document");
        json_t *placement = json_object_get(md, "placement");
        struct utsname u;
        char rbuf[64];
        bool ec2 = streq(ds->name, "ec2");

        uname(&u);
        return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:s, s:s, s:s?}",
                         "instance_id", json_get_string(md, "instance-id", NULL),
                         "instance_type", json_get_string(md, "instance-type", NULL),
                         "region", region_of(md, doc, rbuf, sizeof rbuf),
                         "availability_zone", json_get_string(placement, "availability-zone", NULL),
                         "availability_zone_id", json_get_string(placement, "availability-zone-id", NULL),
                         "local_hostname", json_get_string(md, "local-hostname", NULL),
                         "local_ipv4", json_get_string(md, "local-ipv4", NULL),
                         "cloud_name", ec2 ? "aws" : json_get_string(md, "cloud-name", "seed"),
                         "platform", ec2 ? "ec2" : ds->name,
                         "public_ssh_keys", public_keys(md),
                         "machine", u.machine,
                         "kernel_release", u.release,
                         "subplatform", res->description);
}

int instance_data_build(const datasource *ds, const ds_result *res, const char *boot_id, json_t **ret) {
        _cleanup_json_ json_t *id = NULL, *ds_obj = NULL;
        json_t *v1;

        if (!json_is_string(json_object_get(res->meta_data, "instance-id")))
                return log_error_errno(-EINVAL, "The datasource's metadata has no instance-id.");
        v1 = build_v1(ds, res);
        ds_obj = json_pack("{s:o, s:o}", "meta_data", underscored(res->meta_data), "dynamic",
                           res->dynamic ? underscored(res->dynamic) : json_object());
        if (!v1 || !ds_obj)
                return log_oom();
        id = json_pack("{s:o, s:O, s:o, s:{}, s:{s:s, s:s, s:s}}", "v1", v1, "ds", ds_obj, "tags",
                       tags_of(res->meta_data), "vars", "kiln", "boot_id", boot_id, "datasource", ds->name,
                       "version", KILN_VERSION);
        if (!id)
                return log_oom();
        *ret = TAKE_PTR(id);
        return 0;
}

int instance_data_add_vars(json_t *idata, json_t *config) {
        json_t *vars = json_object_get(config, "vars"), *secret = json_object_get(config, "secret_vars");
        if (json_object_set_new(idata, "vars", vars ? json_deep_copy(vars) : json_object()) < 0)
                return -ENOMEM;
        if (secret && json_object_set_new(idata, "secret_vars", json_deep_copy(secret)) < 0)
                return -ENOMEM;
        return 0;
}

int instance_data_redact(json_t *idata, json_t **ret) {
        json_t *copy = json_deep_copy(idata), *keys = json_array();
        if (!copy || !keys) {
                json_decref(copy);
                json_decref(keys);
                return -ENOMEM;
        }
        for (const char *const *p = sensitive_paths; *p; p++) {
                json_array_append_new(keys, json_string(*p));
                if (json_get_path(copy, *p))
                        json_set_path_new(copy, *p, json_string(REDACTED));
        }
        json_object_set_new(copy, "sensitive_keys", keys);
        *ret = copy;
        return 0;
}

int instance_data_write(json_t *idata) {
        _cleanup_json_ json_t *pub = NULL;
        _cleanup_free_ char *p = run_path("instance-data.json"), *ps = run_path("instance-data-sensitive.json");
        int r;

        if (!p || !ps)
                return -ENOMEM;
        if ((r = run_dir_ensure()) < 0 || (r = instance_data_redact(idata, &pub)) < 0)
                return r;
        /* /run is gone after a crash: no fsync (fileio.h, no_sync).  The sensitive file is what a later
         * stage of this boot reuses (runner.c, load_cached), so it is written last: a run killed in
         * between leaves no sensitive file, and the next run fetches again and writes both, instead of
         * reusing it with the public copy missing. */
        r = json_write_file_no_sync(p, pub, 0644);
        if (r < 0)
                return r;
        return json_write_file_no_sync(ps, idata, 0600);
}

int instance_data_read(bool sensitive, json_t **ret) {
        _cleanup_free_ char *p = run_path(sensitive ? "instance-data-sensitive.json" : "instance-data.json");
        if (!p)
                return -ENOMEM;
        return json_read_file(p, ret);
}
