/* slm cp SRC DST: another name for the same blob (no data is copied). */
#include <stdio.h>

#include "cli/cli.h"
#include "store/store.h"

int cmd_cp(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: slm cp SRC DST\nGives the stored model SRC a second name DST (with SRC's defaults).\n");
        return CLI_EXIT_OK;
    }
    if (argc != 3) return cli_usage_error("cp", "expected SRC and DST");
    slm_error err = {0};
    if (slm_store_copy(argv[1], argv[2], &err) != SLM_OK) return cli_fail("cp", &err);
    fprintf(stderr, "copied %s to %s\n", argv[1], argv[2]);
    return CLI_EXIT_OK;
}
