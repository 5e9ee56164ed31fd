/* slm rm NAME...: forget stored models; a blob goes when no name refers to it any more. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

int cmd_rm(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: slm rm NAME...\nRemoves models from the store ($SLM_HOME, default ~/.slm).\n");
        return CLI_EXIT_OK;
    }
    if (argc < 2) return cli_usage_error("rm", "missing model name");
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        slm_error err = {0};
        if (slm_store_remove(argv[i], &err) != SLM_OK) rc = cli_fail("rm", &err);
        else fprintf(stderr, "deleted %s\n", argv[i]);
    }
    return rc;
}
