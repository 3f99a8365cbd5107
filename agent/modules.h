/* modules.h — the module table: every module kiln has, in run order
 * within each stage, and the schema they add up to. */
#pragma once

#include "module.h"
#include "schema.h"

/* NULL-terminated, in run order. */
const kiln_module *const *modules_all(void);
const kiln_module *modules_find(const char *name);
/* Every top-level key: kiln's own (datasource, kiln, vars, secret_vars,
 * merge_how, merge_type) and each module's. */
const schema_key *modules_schema(void);
/* Is this module switched off by config kiln.disable_modules? */
bool modules_disabled_by_config(json_t *config, const char *name);
