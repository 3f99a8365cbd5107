/* write_files_deferred.c — the write_files entries with `defer: true`,
 * written in the final stage once the services have started (for files a
 * package or service would otherwise overwrite), as cloud-init does.  The
 * key and its checks belong to write_files.c. */
#include "module.h"
#include "write_files.h"

static int deferred_plan(kiln_ctx *ctx, json_t **ret_plan) {
        return write_files_plan_part(ctx, true, ret_plan);
}

const kiln_module module_write_files_deferred = {
        .name = "write_files_deferred",
        .stage = STAGE_FINAL,
        .frequency = FREQ_PER_INSTANCE,
        .description = "Write the write_files entries with defer: true.",
        .keys = NULL,
        .plan = deferred_plan,
        .apply = write_files_apply,
};
