/* userdata.h — from the raw user-data bytes to one config layer and a list
 * of scripts.  Decoding (base64, gzip, MIME) yields typed parts;
 * `## template: jinja` parts are rendered against instance-data first;
 * cloud-config parts are parsed with positions, checked against the schema,
 * and merged in order by each part's merge policy (merge.h); shell-script
 * parts are kept for the final stage.  Any error: nothing is returned, the
 * diagnostics say what and where.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "srcmap.h"

#define USERDATA_SCRIPT_NAME_MAX 200

/* A script part's name is used as a file name: no '/', no leading '.', no
 * control characters, at most USERDATA_SCRIPT_NAME_MAX bytes. */
bool userdata_script_name_is_safe(const char *name);

/* instance_data may be NULL (`kiln validate` off the instance): jinja
 * parts are then checked for syntax only, with a warning. */
int userdata_process(const char *raw, size_t len, json_t *instance_data, json_t **ret_config, srcmap *ret_map,
                     json_t **ret_scripts, diags *d);
