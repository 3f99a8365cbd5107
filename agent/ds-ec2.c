/* ds-ec2.c — the EC2 datasource: a targeted IMDSv2 fetch, not a crawl.
 *
 * cloud-init walks the whole meta-data tree (one GET per listing and per
 * leaf: ~50 requests for a small instance).  kiln asks for what its
 * instance-data promises and nothing else, in two waves on one client
 * (agent/imds.c: one token, bounded retries, one deadline):
 *
 *   token     PUT  api/token
 *   wave 1    GET  dynamic/instance-identity/document   instance-id, instance-type, ami-id,
 *                                                        local-ipv4, availability-zone, region
 *                  meta-data/local-hostname, meta-data/hostname,
 *                  meta-data/placement/availability-zone-id,
 *                  meta-data/public-keys/0/openssh-key   (EC2 gives an instance at most one key pair)
 *                  user-data                              (404: none)
 *                  meta-data/tags/instance                (tags: true; 404: tags not enabled)
 *                  meta-data/mac                          (network: true)
 *                  meta-data/block-device-mapping/        (block_device_mapping: true)
 *   wave 2    GET  one per tag, per interface fact, per mapping entry, and the
 *                  meta-data leaf of any identity-document field that was missing
 *
 * The reference role (tests/emulators/data/cortex-node.json, 4 tags) takes
 * 12 requests with the defaults; the listings that grow with the instance
 * (tags, mapping entries) cost one request per entry, which is why the
 * interface facts and the block-device mapping are opt-in (their numbers in
 * docs/datasources.md).  IAM credentials are never fetched: kiln does not
 * need them, and not having them is the surest way not to leak them.
 *
 * Everything lands under IMDS's own names in ds_result.meta_data, as the seed
 * datasource's files are written, so instance-data.c makes the same tree of
 * both.
 */
#include <limits.h>

#include "datasource.h"
#include "imds.h"
#include "json-util.h"
#include "log.h"

#define WAVE_MAX 160U
#define LISTING_MAX 64U /* entries read from one listing (EC2 allows 50 tags) */
#define DOC_PATH "dynamic/instance-identity/document"
#define TAGS_PATH "meta-data/tags/instance"
#define BDM_PATH "meta-data/block-device-mapping"

static const schema_key url_item = KEY(NULL, ST_STRING, NULL);

static const schema_key ec2_keys[] = {
        KEY_LIST("metadata_urls", &url_item,
                 "IMDS base URLs (http://HOST[:PORT]) tried in order; the first that answers the token request is "
                 "used (default [http://169.254.169.254, http://[fd00:ec2::254]])."),
        KEY("token_ttl", ST_INTEGER,
            "Seconds the IMDSv2 session token lives, 1-21600 (default 21600); one token serves the whole run."),
        KEY("timeout", ST_NUMBER, "Seconds one IMDS request may take before it is retried (default 2)."),
        KEY("max_wait", ST_NUMBER,
            "Seconds the whole fetch may take, retries included (default 120); then the stage fails."),
        KEY("imdsv1_fallback", ST_BOOLEAN,
            "Read without a token when the endpoint has no token API (token PUT answers 404/405) (default false)."),
        KEY("tags", ST_BOOLEAN, "Fetch the instance tags, tags/instance (default true; 404 means none)."),
        KEY("network", ST_BOOLEAN,
            "Fetch mac and the primary interface's facts under network/interfaces/macs/MAC/ (default false)."),
        KEY("block_device_mapping", ST_BOOLEAN, "Fetch block-device-mapping/ and its entries (default false)."),
        {},
};

/* Identity-document fields and the meta-data leaves they stand for. */
static const struct {
        const char *doc_key, *md_path;
} doc_fields[] = {
        { "instanceId", "instance-id" },          { "instanceType", "instance-type" },
        { "imageId", "ami-id" },                  { "privateIp", "local-ipv4" },
        { "availabilityZone", "placement/availability-zone" }, { "region", "placement/region" },
};

/* The primary interface's facts (network: true). */
static const char *const interface_leaves[] = {
        "interface-id", "local-ipv4s", "subnet-id", "subnet-ipv4-cidr-block",
        "vpc-id", "vpc-ipv4-cidr-block", "security-group-ids",
};

/* Leaves that may hold several LF-separated values (a list when they do, as in cloud-init). */
static const char *const multi_value_leaves[] = { "local-ipv4s", "security-group-ids", NULL };

typedef struct wave {
        imds_request reqs[WAVE_MAX];
        size_t n;
        json_t *paths; /* [[URL path, IMDS name under meta-data/], …]: owns what reqs[].path points to */
} wave;

static void wave_clear(wave *w) {
        imds_requests_clear(w->reqs, w->n);
        json_decref(w->paths);
        w->paths = NULL;
        w->n = 0;
}

/* Adds a GET of prefix/name (name escaped as one path segment, may be
 * NULL); returns its index. */
static int wave_add(wave *w, const char *prefix, const char *name, size_t max, bool binary) {
        _cleanup_free_ char *seg = name ? imds_escape_segment(name) : NULL, *path = NULL, *md = NULL;

        if ((name && !seg) || asprintf(&path, "%s%s%s", prefix, name ? "/" : "", name ? seg : "") < 0 ||
            asprintf(&md, "%s%s%s", prefix, name ? "/" : "", name ? name : "") < 0)
                return log_oom();
        if (w->n >= WAVE_MAX)
                return log_error_errno(-E2BIG, "IMDS: more than %u requests in one wave.", WAVE_MAX);
        if (!w->paths && !(w->paths = json_array()))
                return log_oom();
        const char *rel = startswith(md, "meta-data/") ? md + strlen("meta-data/") : md;
        json_t *pair = json_pack("[s,s]", path, rel);
        if (!pair || json_array_append_new(w->paths, pair) < 0)
                return log_oom();
        w->reqs[w->n] = (imds_request){ .path = json_string_value(json_array_get(pair, 0)), .max = max,
                                        .binary = binary };
        return (int) w->n++;
}

/* The IMDS name (path under meta-data/, unescaped) of request i. */
static const char *wave_name(const wave *w, size_t i) {
        return json_string_value(json_array_get(json_array_get(w->paths, i), 1));
}

/* ---- turning answers into IMDS-named values ---- */

/* Sets root[a][b]… = v for "a/b/…" (IMDS path syntax: names may hold '.'
 * and ':', never '/').  Steals v. */
static int md_set(json_t *root, const char *path, json_t *v) {
        _cleanup_free_ char *p = strdup(path);
        char *save = NULL, *name, *next;
        json_t *o = root;

        if (!p || !v) {
                json_decref(v);
                return -ENOMEM;
        }
        for (name = strtok_r(p, "/", &save); (next = strtok_r(NULL, "/", &save)); name = next) {
                json_t *child = json_object_get(o, name);
                if (!json_is_object(child)) {
                        child = json_object();
                        if (json_object_set_new(o, name, child) < 0) {
                                json_decref(v);
                                return -ENOMEM;
                        }
                }
                o = child;
        }
        return json_object_set_new(o, name, v) < 0 ? -ENOMEM : 0;
}

/* A single value: trailing blanks and newlines dropped. */
static json_t *leaf_string(const imds_request *r) {
        size_t n = r->len;
        while (n > 0 && strchr(" \t\r\n", r->data[n - 1]))
                n--;
        return json_stringn(r->data, n);
}

/* cloud-init's reading of a leaf: several lines make a list. */
static json_t *leaf_value(const imds_request *r, const char *name) {
        _cleanup_json_ json_t *s = leaf_string(r);
        const char *t = json_string_value(s);
        bool multi = false;

        for (const char *const *m = multi_value_leaves; *m; m++)
                multi = multi || streq(*m, name);
        if (!t || !multi || !strchr(t, '\n'))
                return TAKE_PTR(s);
        json_t *a = json_array();
        for (const char *p = t; a && *p;) {
                size_t n = strcspn(p, "\n");
                if (n > 0)
                        json_array_append_new(a, json_stringn(p, n));
                p += n + (p[n] == '\n');
        }
        return a;
}

static int put_leaf(json_t *md, const char *path, const imds_request *r) {
        if (r->result < 0)
                return 0;
        const char *base = strrchr(path, '/');
        return md_set(md, path, leaf_value(r, base ? base + 1 : path));
}

static int parse_document(const imds_request *r, json_t **ret) {
        json_error_t err;
        json_t *doc;

        if (r->result < 0) {
                *ret = NULL;
                return 0;
        }
        doc = json_loadb(r->data, r->len, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(doc)) {
                json_decref(doc);
                return log_error_errno(-EBADMSG, "IMDS %s: not a JSON object (%d:%d: %s).", DOC_PATH, err.line,
                                       err.column, doc ? "expected an object" : err.text);
        }
        *ret = doc;
        return 0;
}

static int listing_of(const imds_request *r, json_t **ret) {
        _cleanup_json_ json_t *names = NULL;

        *ret = NULL;
        if (r->result < 0)
                return 0;
        if (imds_parse_listing(r->data, &names) < 0)
                return log_error_errno(-EBADMSG, "IMDS listing %s holds a name kiln can't use as a path.", r->path);
        if (json_array_size(names) > LISTING_MAX)
                return log_error_errno(-E2BIG, "IMDS listing %s has %zu entries; kiln reads at most %u.", r->path,
                                       json_array_size(names), LISTING_MAX);
        *ret = TAKE_PTR(names);
        return 0;
}

static bool mac_is_valid(const char *s) {
        if (!s || strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
                        return false;
        return true;
}

/* ---- the fetch ---- */

typedef struct ec2_fetch {
        imds_client *c;
        bool tags, network, bdm;
        wave w1, w2;
        int i_doc, i_lhost, i_host, i_azid, i_key, i_ud, i_tags, i_mac, i_bdm;
        json_t *doc;
        json_t *tag_names, *bdm_names;
        const char *mac;
        json_t *md;
} ec2_fetch;

static void ec2_fetch_clear(ec2_fetch *f) {
        wave_clear(&f->w1);
        wave_clear(&f->w2);
        json_decref(f->doc);
        json_decref(f->tag_names);
        json_decref(f->bdm_names);
        json_decref(f->md);
        imds_client_free(f->c);
}

static int first_wave(ec2_fetch *f) {
        wave *w = &f->w1;
        int r;

        if ((f->i_doc = wave_add(w, DOC_PATH, NULL, 0, false)) < 0 ||
            (f->i_lhost = wave_add(w, "meta-data/local-hostname", NULL, 0, false)) < 0 ||
            (f->i_host = wave_add(w, "meta-data/hostname", NULL, 0, false)) < 0 ||
            (f->i_azid = wave_add(w, "meta-data/placement/availability-zone-id", NULL, 0, false)) < 0 ||
            (f->i_key = wave_add(w, "meta-data/public-keys/0/openssh-key", NULL, 0, false)) < 0 ||
            (f->i_tags = f->tags ? wave_add(w, TAGS_PATH, NULL, 0, false) : INT_MAX) < 0 ||
            (f->i_mac = f->network ? wave_add(w, "meta-data/mac", NULL, 0, false) : INT_MAX) < 0 ||
            (f->i_bdm = f->bdm ? wave_add(w, BDM_PATH "/", NULL, 0, false) : INT_MAX) < 0 ||
            (f->i_ud = wave_add(w, "user-data", NULL, IMDS_USER_DATA_MAX, true)) < 0)
                return -ENOMEM;
        r = imds_fetch(f->c, w->reqs, w->n);
        if (r < 0)
                return r;
        r = parse_document(&w->reqs[f->i_doc], &f->doc);
        if (r >= 0 && f->tags)
                r = listing_of(&w->reqs[f->i_tags], &f->tag_names);
        if (r >= 0 && f->bdm)
                r = listing_of(&w->reqs[f->i_bdm], &f->bdm_names);
        if (r >= 0 && f->network && w->reqs[f->i_mac].result == 0) {
                f->mac = strstrip(w->reqs[f->i_mac].data);
                if (!mac_is_valid(f->mac))
                        return log_error_errno(-EBADMSG, "IMDS meta-data/mac: '%s' is not a MAC address.", f->mac);
        }
        return r;
}

/* Wave 2, in this order: missing document fields, tags, interface facts, mapping entries. */
static int second_wave_plan(ec2_fetch *f) {
        _cleanup_free_ char *ifpath = NULL;
        wave *w = &f->w2;
        json_t *name;
        size_t i;
        int r = 0;

        for (i = 0; i < ELEMENTSOF(doc_fields); i++)
                if (!json_is_string(json_object_get(f->doc, doc_fields[i].doc_key)) &&
                    (r = wave_add(w, "meta-data", doc_fields[i].md_path, 0, false)) < 0)
                        return r;
        json_array_foreach(f->tag_names, i, name)
                if ((r = wave_add(w, TAGS_PATH, json_string_value(name), 0, false)) < 0)
                        return r;
        if (f->mac) {
                if (asprintf(&ifpath, "meta-data/network/interfaces/macs/%s", f->mac) < 0)
                        return log_oom();
                for (i = 0; i < ELEMENTSOF(interface_leaves); i++)
                        if ((r = wave_add(w, ifpath, interface_leaves[i], 0, false)) < 0)
                                return r;
        }
        json_array_foreach(f->bdm_names, i, name)
                if ((r = wave_add(w, BDM_PATH, json_string_value(name), 0, false)) < 0)
                        return r;
        return 0;
}

/* The document's fields under their meta-data names (the leaves fetched in
 * wave 2 fill in what it lacked). */
static int put_document(ec2_fetch *f) {
        for (size_t i = 0; i < ELEMENTSOF(doc_fields); i++) {
                const char *v = json_get_string(f->doc, doc_fields[i].doc_key, NULL);
                if (v && md_set(f->md, doc_fields[i].md_path, json_string(v)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Wave-2 answers under their IMDS names; tag values as they are. */
static int put_second_wave(ec2_fetch *f) {
        for (size_t i = 0; i < f->w2.n; i++) {
                const imds_request *r = &f->w2.reqs[i];
                const char *name = wave_name(&f->w2, i);
                int k;
                if (r->result < 0)
                        continue;
                if (startswith(r->path, TAGS_PATH "/"))
                        k = md_set(f->md, name, json_stringn(r->data, r->len));
                else
                        k = put_leaf(f->md, name, r);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int put_first_wave(ec2_fetch *f) {
        imds_request *q = f->w1.reqs;
        const imds_request *key = &q[f->i_key];
        int r = 0;

        if ((r = put_leaf(f->md, "local-hostname", &q[f->i_lhost])) < 0 ||
            (r = put_leaf(f->md, "hostname", &q[f->i_host])) < 0 ||
            (r = put_leaf(f->md, "placement/availability-zone-id", &q[f->i_azid])) < 0)
                return r;
        if (f->mac && (r = md_set(f->md, "mac", json_string(f->mac))) < 0)
                return r;
        if (f->tag_names && (r = md_set(f->md, "tags/instance", json_object())) < 0)
                return r;
        if (f->bdm_names && (r = md_set(f->md, "block-device-mapping", json_object())) < 0)
                return r;
        if (f->mac && (r = md_set(f->md, "network/interfaces/macs", json_pack("{s:{}}", f->mac))) < 0)
                return r;
        return md_set(f->md, "public-keys", key->result < 0 ? json_array() : json_pack("[o]", leaf_string(key)));
}

static int assemble(ec2_fetch *f, ds_result *res) {
        imds_request *ud = &f->w1.reqs[f->i_ud];

        f->md = json_object();
        if (!f->md || put_document(f) < 0 || put_first_wave(f) < 0 || put_second_wave(f) < 0)
                return log_oom();
        if (!json_is_string(json_object_get(f->md, "instance-id")))
                return log_error_errno(-EBADMSG, "IMDS gave no instance-id (neither in %s nor in meta-data/).",
                                       DOC_PATH);
        if (f->doc && !(res->dynamic = json_pack("{s:{s:O}}", "instance-identity", "document", f->doc)))
                return log_oom();
        res->meta_data = TAKE_PTR(f->md);
        if (ud->result == 0) {
                res->user_data = TAKE_PTR(ud->data);
                res->user_data_len = ud->len;
        }
        return 0;
}

static int fetch_ec2(json_t *cfg, ds_result *ret) {
        _cleanup_(imds_config_clear) imds_config ic = { 0 };
        _cleanup_(ec2_fetch_clear) ec2_fetch f = { 0 };
        _cleanup_ds_result_ ds_result res = { 0 };
        int r;

        r = imds_config_from_json(cfg, &ic);
        if (r < 0)
                return r;
        f.tags = json_get_bool(cfg, "tags", true);
        f.network = json_get_bool(cfg, "network", false);
        f.bdm = json_get_bool(cfg, "block_device_mapping", false);
        r = imds_client_new(&ic, &f.c);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the IMDS client: %m");
        if ((r = imds_connect(f.c)) < 0 || (r = first_wave(&f)) < 0 || (r = second_wave_plan(&f)) < 0 ||
            (r = imds_fetch(f.c, f.w2.reqs, f.w2.n)) < 0 || (r = assemble(&f, &res)) < 0)
                return r;
        if (asprintf(&res.description, "ec2 (%s%s)", imds_endpoint(f.c), imds_is_v1(f.c) ? ", IMDSv1" : "") < 0 ||
            !(res.stats = imds_stats_json(f.c)))
                return log_oom();
        log_info("IMDS: %lld requests (%lld retried) in %.1f ms from %s.", json_get_int(res.stats, "requests", 0),
                 json_get_int(res.stats, "retries", 0), json_get_number(res.stats, "elapsed_ms", 0),
                 imds_endpoint(f.c));
        *ret = res;
        res = (ds_result){ 0 };
        return 0;
}

const datasource datasource_ec2 = {
        .name = "ec2",
        .needs_network = true,
        .keys = ec2_keys,
        .fetch = fetch_ec2,
};
