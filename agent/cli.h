/* cli.h — kiln's command line (see docs/kiln.1.md). */
#pragma once

/* Exit codes. 64 is EX_USAGE from sysexits.h. */
#define EXIT_USAGE 64

int cli_main(int argc, char **argv);
