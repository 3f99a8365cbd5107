/* runner.h — running stages: what `kiln run`, `kiln plan` and `kiln rerun`
 * share.  See docs/ARCHITECTURE.md for the sequence. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "module.h"

typedef struct run_opts {
        kiln_stage stage;        /* _STAGE_INVALID: every boot stage in order */
        bool dry_run;            /* `kiln plan`: print plans, change nothing */
        const char *only_module; /* `kiln rerun MODULE` */
        kiln_freq force_freq;    /* rerun --frequency; _FREQ_INVALID: the module's own */
        const char *config_file; /* --config FILE */
        FILE *plan_out;          /* where plans are printed (dry_run) */
} run_opts;

/* Returns 0 when every stage run finished without errors, 1 when a stage
 * recorded errors, a negative errno when the run could not start. */
int runner_run(const run_opts *o);
