/* cli.h — kiln's command line (see docs/kiln.1.md). */
#pragma once

#include <stdbool.h>

/* Exit codes. 64 is EX_USAGE from sysexits.h. */
#define EXIT_USAGE 64

int cli_main(int argc, char **argv);
/* Prints "kiln: <message> (try 'kiln --help')" and returns EXIT_USAGE. */
int cli_usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* Prints "Usage: kiln <usage>" and returns true when argv has --help/-h. */
bool cli_wants_help(int argc, char **argv, const char *usage);
/* The global --config FILE, or NULL. */
const char *cli_config_file(void);
