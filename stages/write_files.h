/* write_files.h — shared by the write_files module (config stage) and
 * write_files_deferred (final stage, entries with `defer: true`). */
#pragma once

#include "module.h"

extern const schema_key write_files_keys[];
int write_files_plan_part(kiln_ctx *ctx, bool deferred, json_t **ret_plan);
int write_files_apply(kiln_ctx *ctx, json_t *plan);
