/* runcmd.c — cloud-init's runcmd: commands run once per instance in the
 * final stage, after the services are up.  A failing command is a
 * recoverable error (`kiln status` exits 2) and does not stop the others or
 * make the module run again next boot, as in cloud-init. */
#include "commands.h"
#include "module.h"

static const schema_key runcmd_keys[] = {
        KEY_LIST("runcmd", &commands_item_schema,
                 "Commands to run once per instance in the final stage: a string runs with /bin/sh -c, a list as an argv."),
        {},
};

static int runcmd_plan(kiln_ctx *ctx, json_t **ret_plan) {
        return commands_plan(ctx, ctx_config_get(ctx, "runcmd"), "runcmd", ret_plan);
}

const kiln_module module_runcmd = {
        .name = "runcmd",
        .stage = STAGE_FINAL,
        .frequency = FREQ_PER_INSTANCE,
        .description = "Run runcmd commands once per instance.",
        .keys = runcmd_keys,
        .plan = runcmd_plan,
        .apply = commands_apply,
};
