/* slm pull NAME: download a model into the store, with a progress bar on a terminal and plain log
 * lines otherwise. Ctrl-C stops it and keeps the partial download for the next pull. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"

static volatile int g_pull_cancel;
static void on_sigint(int sig) { g_pull_cancel = 1; }

typedef struct pull_view {
    bool tty;
    bool quiet;
    int last_decile; /* log mode: last 10% step printed */
    bool bar_open;   /* a \r-line is on screen */
} pull_view;

static void human_bytes(double b, char *out, size_t cap) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) b /= 1000, i++;
    snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void on_progress(void *user, const slm_pull_progress *p) {
    pull_view *v = user;
    if (v->quiet) return;
    char done[32], total[32], speed[32];
    human_bytes((double)p->done, done, sizeof done);
    human_bytes((double)p->total, total, sizeof total);
    human_bytes(p->bytes_per_s, speed, sizeof speed);
    switch (p->phase) {
    case SLM_PULL_RESOLVING: fprintf(stderr, "resolving %s\n", p->file); break;
    case SLM_PULL_WAITING: fprintf(stderr, "waiting: %s\n", p->message); break;
    case SLM_PULL_RETRYING:
        if (v->bar_open) fputc('\n', stderr), v->bar_open = false;
        fprintf(stderr, "retrying %s: %s\n", p->file, p->message);
        break;
    case SLM_PULL_VERIFYING:
        if (v->bar_open) fputc('\n', stderr), v->bar_open = false;
        fprintf(stderr, "verifying sha256 of %s\n", p->file);
        break;
    case SLM_PULL_DONE:
        if (v->bar_open) fputc('\n', stderr), v->bar_open = false;
        if (p->message) fprintf(stderr, "%s: %s\n", p->file, p->message);
        break;
    case SLM_PULL_DOWNLOADING: {
        double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 0;
        if (v->tty) {
            char eta[32] = "--:--";
            if (p->bytes_per_s > 0 && p->total > p->done) {
                long s = (long)((double)(p->total - p->done) / p->bytes_per_s);
                snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
            }
            int width = 30, fill = (int)(pct * width / 100);
            char bar[64];
            for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
            bar[width] = 0;
            fprintf(stderr, "\rpulling %s [%s] %5.1f%% %s/%s %s/s ETA %s   ", p->file, bar, pct, done, total, speed,
                    eta);
            v->bar_open = true;
        } else {
            int decile = (int)(pct / 10);
            if (decile > v->last_decile) {
                v->last_decile = decile;
                fprintf(stderr, "pulling %s: %.0f%% (%s of %s, %s/s)\n", p->file, pct, done, total, speed);
            }
        }
        break;
    }
    }
}

int cmd_pull(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: slm pull [--quiet] NAME\n"
               "  NAME: a catalog name (qwen2.5:0.5b, qwen2.5:0.5b-q8_0, llama3.2:1b, ...),\n"
               "        hf.co/OWNER/REPO[:QUANT] (default quant Q4_K_M), or an https URL of a GGUF.\n"
               "Downloads into $SLM_HOME (default ~/.slm), verifying the Hub's sha256. Ctrl-C keeps a partial\n"
               "download that the next pull resumes. HF_ENDPOINT selects a mirror, HF_TOKEN is sent as a\n"
               "bearer token (gated repos).\ncatalog:");
        size_t n = 0;
        const slm_catalog_entry *e = slm_catalog_entries(&n);
        for (size_t i = 0; i < n; i++) printf("%s%s", i % 6 ? " " : "\n  ", e[i].name);
        printf("\n");
        return CLI_EXIT_OK;
    }
    const char *name = NULL;
    pull_view v = {.tty = isatty(2), .last_decile = -1};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) v.quiet = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("pull", "unknown option %s", argv[i]);
        else if (name) return cli_usage_error("pull", "one model at a time");
        else name = argv[i];
    }
    if (!name) return cli_usage_error("pull", "missing model name");
    const char *ms = getenv("SLM_PULL_RETRY_MS"); /* tests: short backoff */
    slm_pull_options opt = {.progress = on_progress, .user = &v, .cancel = &g_pull_cancel};
    if (ms && *ms) opt.backoff_ms = atoi(ms) > 0 ? atoi(ms) : -1;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    char stored[SLM_STORE_NAME_MAX + 1];
    slm_error err = {0};
    slm_status st = slm_store_pull(name, &opt, stored, sizeof stored, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (v.bar_open) fputc('\n', stderr);
    if (st == SLM_E_CANCELLED) {
        fprintf(stderr, "slm pull: interrupted; run it again to resume\n");
        return 130;
    }
    if (st) return cli_fail("pull", &err);
    if (!v.quiet) fprintf(stderr, "pulled %s\n", stored);
    return CLI_EXIT_OK;
}
