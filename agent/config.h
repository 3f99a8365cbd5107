/* config.h — the merged config a run works from.
 *
 * Layers, lowest first: the image defaults /etc/kiln/kiln.yaml, then
 * /etc/kiln/kiln.d/NAME.yaml in lexical order (or the one --config FILE
 * instead of both), then the user-data's cloud-config parts.  Every layer is
 * parsed with positions and checked against the schema on its own, so an
 * error points at the file (or user-data part) that has it; see merge.h for
 * how layers add up.
 */
#pragma once

#include <jansson.h>

#include "diag.h"
#include "srcmap.h"

#define CONFIG_FILE "/etc/kiln/kiln.yaml"
#define CONFIG_DROPIN_DIR "/etc/kiln/kiln.d"
#define CONFIG_MAX (1024 * 1024)

/* Parses one YAML document and checks it against the schema.  `display`
 * names it in diagnostics. */
int config_parse_document(const char *text, size_t len, const char *display, json_t **ret, srcmap *ret_map,
                          diags *d);
/* Loads the image defaults (override: --config FILE, not re-rooted). */
int config_load_image(const char *override, json_t **ret, srcmap *ret_map, diags *d);
