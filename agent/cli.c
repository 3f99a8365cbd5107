/* cli.c — placeholder until the foundation's CLI lands. */
#include <stdio.h>
#include "cli.h"
#include "macro.h"

int cli_main(int argc, char **argv) {
        if (argc > 1 && streq(argv[1], "version")) {
                printf("kiln %s\n", KILN_VERSION);
                return 0;
        }
        fprintf(stderr, "kiln: usage: kiln COMMAND\n");
        return EXIT_USAGE;
}
