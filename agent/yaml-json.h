/* yaml-json.h — YAML (cloud-config, kiln.yaml) to JSON, with positions.
 *
 * Scalars are resolved with the rules of PyYAML's SafeLoader (YAML 1.1), which
 * is what cloud-init uses, so a cloud-config means the same thing to kiln as
 * to cloud-init: yes/no/on/off are booleans, 0644 is octal, 1:30 is
 * sexagesimal, only quoted scalars are always strings.  See docs/user-data.md
 * for the full list and the deliberate differences (duplicate keys and tabs
 * are errors; timestamps stay strings; integers must fit in 64 bits).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "diag.h"
#include "srcmap.h"

typedef struct yaml_limits {
        size_t max_nodes;   /* nodes after alias expansion (default 100000): alias bombs fail */
        unsigned max_depth; /* nesting depth (default 64) */
} yaml_limits;

/* Parses one YAML document.  An empty document yields JSON null.  On error
 * returns -EINVAL with diagnostics "file:line:col: error: …" in d.  ret_map
 * (optional) receives the position of every node by key path. */
int yaml_to_json(const char *text, size_t len, const char *file, const yaml_limits *limits, json_t **ret,
                 srcmap *ret_map, diags *d);

/* Resolves one plain scalar the way PyYAML's SafeLoader would. */
int yaml_resolve_plain(const char *value, size_t len, json_t **ret);
