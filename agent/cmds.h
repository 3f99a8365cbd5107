/* cmds.h — the commands, one cmd-*.c file per family.  Each gets argv
 * starting at the command name and returns the process exit code. */
#pragma once

#include <jansson.h>

int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_rerun(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_render(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* This boot's instance-data for templates (render, query --format): the
 * sensitive tree for root, the redacted one otherwise; explains -ENOENT. */
int instance_data_for_templates(json_t **ret);
