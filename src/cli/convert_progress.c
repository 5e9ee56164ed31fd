#define _POSIX_C_SOURCE 200809L
#include "cli/convert_progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "base/dtype.h"
#include "cli/cli.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, bool quiet) {
    p->tty = isatty(2);
    p->quiet = quiet;
    p->t0 = now_s();
}

void cli_progress_cb(void *user, const slm_convert_progress *p) {
    cli_progress *c = user;
    if (c->quiet) return;
    const char *tn = slm_dtype_name(p->type);
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1.0;
    double el = now_s() - c->t0;
    if (c->tty) {
        int width = 30, fill = (int)(frac * width);
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        double eta = frac > 0 ? el / frac - el : 0;
        fprintf(stderr, "\r[%s] %5.1f%%  %lld/%lld  %.0f MiB  %.0fs elapsed, ~%.0fs left  %-28.28s", bar, 100 * frac,
                (long long)p->tensor + 1, (long long)p->n_tensors, (double)p->bytes_done / 1048576.0, el, eta,
                p->name);
        if (p->tensor + 1 == p->n_tensors) fputc('\n', stderr);
    } else {
        fprintf(stderr, "[%lld/%lld] %-40s %-7s %.1f%%\n", (long long)p->tensor + 1, (long long)p->n_tensors, p->name,
                tn ? tn : "?", 100 * frac);
    }
}

int cli_convert_main(const char *cmd, const char *in, const char *out, const char *type, int n_threads, bool quiet) {
    slm_convert_opts opts = {.n_threads = n_threads};
    if (!slm_ftype_from_name(type, &opts.ftype))
        return cli_usage_error(cmd, "unknown type '%s' (one of: %s)", type, slm_ftype_list());
    cli_progress prog;
    cli_progress_init(&prog, quiet);
    opts.progress = cli_progress_cb;
    opts.progress_user = &prog;
    slm_error err = {0};
    if (slm_convert(in, out, &opts, &err)) return cli_fail(in, &err);
    if (!quiet) fprintf(stderr, "wrote %s (%s) in %.1fs\n", out, slm_ftype_name(opts.ftype), now_s() - prog.t0);
    return CLI_EXIT_OK;
}
