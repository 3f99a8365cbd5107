/* bootcmd.c — cloud-init's bootcmd: commands run early on every boot, in
 * the network stage, before config files are rendered.  Per boot (keyed by
 * the kernel's boot id), so a manual `kiln run` later in the same boot does
 * not repeat them. */
#include "commands.h"
#include "module.h"

static const schema_key bootcmd_keys[] = {
        KEY_LIST("bootcmd", &commands_item_schema,
                 "Commands to run early on every boot: a string runs with /bin/sh -c, a list as an argv."),
        {},
};

static int bootcmd_plan(kiln_ctx *ctx, json_t **ret_plan) {
        return commands_plan(ctx, ctx_config_get(ctx, "bootcmd"), "bootcmd", ret_plan);
}

const kiln_module module_bootcmd = {
        .name = "bootcmd",
        .stage = STAGE_NETWORK,
        .frequency = FREQ_PER_BOOT,
        .description = "Run bootcmd commands on every boot.",
        .keys = bootcmd_keys,
        .plan = bootcmd_plan,
        .apply = commands_apply,
};
