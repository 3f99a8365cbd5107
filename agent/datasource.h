/* datasource.h — where instance metadata and user-data come from.
 *
 * A datasource returns metadata under IMDS's own names ("instance-id",
 * "placement": {"availability-zone"…}, "public-keys": [...], "tags":
 * {"instance": {…}}), the dynamic identity document and the raw user-data
 * bytes; instance-data.c turns that into the one instance-data tree.  The
 * seed datasource (a local directory, as cloud-init's NoCloud) works in
 * every stage; ec2 needs the network and so is fetched from the network
 * stage on.  Configured by the image (kiln.yaml `datasource:`), never by
 * user-data, which it delivers.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "schema.h"

typedef struct ds_result {
        json_t *meta_data;   /* IMDS names */
        json_t *dynamic;     /* {"instance-identity": {"document": {...}}} or NULL */
        char *user_data;     /* raw bytes (NUL-terminated for convenience), NULL when none */
        size_t user_data_len;
        json_t *stats;       /* e.g. {"requests": 9, "bytes": 4242, "retries": 0} or NULL */
        char *description;   /* "ec2 (http://169.254.169.254)", "seed (/var/lib/kiln/seed)" */
} ds_result;

void ds_result_clear(ds_result *r);
static inline void ds_result_clearp(ds_result *r) {
        ds_result_clear(r);
}
#define _cleanup_ds_result_ _cleanup_(ds_result_clearp)

typedef struct datasource {
        const char *name;
        bool needs_network;
        const schema_key *keys; /* the keys of datasource.<name> */
        /* cfg is the image config's datasource.<name> object (may be NULL). */
        int (*fetch)(json_t *cfg, ds_result *ret);
} datasource;

/* The datasource the image config selects (datasource.name, default "ec2"). */
const datasource *datasource_find(const char *name);
const datasource *datasource_from_config(json_t *config);
/* The datasource: key's schema (name + each datasource's own keys). */
const schema_key *datasource_schema(void);

extern const datasource datasource_ec2;
extern const datasource datasource_seed;
