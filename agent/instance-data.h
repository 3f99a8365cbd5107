/* instance-data.h — the one tree templates, `kiln query` and modules read.
 *
 *   v1.*            cloud-init's standardized keys (instance_id, region,
 *                   availability_zone, local_hostname, cloud_name, platform,
 *                   public_ssh_keys, instance_type, local_ipv4 …)
 *   ds.meta_data.*  the datasource's metadata, '-' in names turned into '_'
 *   ds.dynamic.instance_identity.document
 *   tags.*          instance tags (EC2 tags/instance, or the seed's tags)
 *   vars.*          the config's `vars` (public); secret_vars.* (root only)
 *   kiln.*          boot_id, datasource, version
 *
 * Two files: /run/kiln/instance-data.json (0644) with every sensitive key
 * replaced by "redacted for non-root user", and
 * /run/kiln/instance-data-sensitive.json (0600) with everything.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "datasource.h"

#define REDACTED "redacted for non-root user"

int instance_data_build(const datasource *ds, const ds_result *res, const char *boot_id, json_t **ret);
/* Puts config.vars and config.secret_vars into the tree. */
int instance_data_add_vars(json_t *idata, json_t *config);
/* A deep copy with every sensitive key redacted. */
int instance_data_redact(json_t *idata, json_t **ret);
int instance_data_write(json_t *idata);
/* Reads the sensitive file (root) or the redacted one. */
int instance_data_read(bool sensitive, json_t **ret);
