/* Progress display shared by `slm convert` and `slm quantize`: a bar on a terminal, one line per
 * tensor otherwise (logs). */
#ifndef SLM_CLI_CONVERT_PROGRESS_H
#define SLM_CLI_CONVERT_PROGRESS_H

#include "convert/convert.h"

typedef struct cli_progress {
    bool tty;
    bool quiet;
    double t0;
} cli_progress;

void cli_progress_init(cli_progress *p, bool quiet);
void cli_progress_cb(void *user, const slm_convert_progress *p);
/* Shared main of both commands: parse [-t N] [-q] around the positional arguments. */
int cli_convert_main(const char *cmd, const char *in, const char *out, const char *type, int n_threads, bool quiet);

#endif
