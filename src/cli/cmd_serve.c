/* slm serve [MODEL ...]: an Ollama-compatible HTTP server (src/server/) on 127.0.0.1. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "cli/cli.h"
#include "server/server.h"
#include "store/store.h"

static const char k_help[] =
    "usage: slm serve [MODEL ...] [options]\n\n"
    "Serve models over HTTP with Ollama's API: /api/generate, /api/chat (NDJSON streaming or one\n"
    "JSON object), /api/tags, /api/show, /api/pull, /api/delete, /api/copy, /api/ps, /api/version,\n"
    "/health. MODEL is a store name (pulled first when missing), a .gguf file or a Hugging Face\n"
    "folder; each is loaded and validated at start and addressed in requests by its name (the file\n"
    "name without .gguf for paths). Other store models are loaded on first use.\n\n"
    "options:\n"
    "  --host ADDR       address to listen on (default 127.0.0.1; 0.0.0.0 exposes the server to\n"
    "                    the network: use --api-key)\n"
    "  --port N          port (default 11434; 0 = any free port, printed at start)\n"
    "  --api-key KEY     require 'Authorization: Bearer KEY' on every request (default: $SLM_API_KEY)\n"
    "  --ctx N           context size of each model (default: min(training context, 4096))\n"
    "  -t, --threads N   threads per generation (default: physical cores)\n"
    "  --quiet           no request log on stderr\n\n"
    "Requests must name this machine in their Host header (localhost, 127.0.0.1, ::1 or the --host\n"
    "address) unless --host binds a non-loopback address: this blocks DNS-rebinding attacks from web\n"
    "pages. Bodies are limited to 8 MiB. One generation runs per model at a time; others wait. A\n"
    "client that disconnects stops its generation. SIGINT / SIGTERM stop the server (exit 0).\n";

static void log_line(void *user, const char *line) {
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    fprintf(stderr, "[%s] %s\n", when, line);
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* The request name of a model given as a path: its file name without .gguf (folders: their name). */
static void stem_of(const char *path, char *out, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t len = n - b;
    if (len > 5 && !strncmp(path + n - 5, ".gguf", 5)) len -= 5;
    if (len >= cap) len = cap - 1;
    memcpy(out, path + b, len);
    out[len] = 0;
}

int cmd_serve(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    slm_server_config cfg = {.host = "127.0.0.1", .port = 11434, .log = log_line};
    const char *models[64];
    int n_models = 0;
    long v;
    cfg.api_key = getenv("SLM_API_KEY");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(a, "--host") || !strcmp(a, "--port") || !strcmp(a, "--api-key") || !strcmp(a, "--ctx") ||
                     !strcmp(a, "-t") || !strcmp(a, "--threads");
        if (takes && !val) return cli_usage_error("serve", "%s needs a value", a);
        if (!strcmp(a, "--host")) {
            cfg.host = val, cfg.host_given = true, i++;
        } else if (!strcmp(a, "--port")) {
            if (!parse_int(val, 0, 65535, &v)) return cli_usage_error("serve", "bad --port '%s'", val);
            cfg.port = (int)v, i++;
        } else if (!strcmp(a, "--api-key")) {
            cfg.api_key = val, i++;
        } else if (!strcmp(a, "--ctx")) {
            if (!parse_int(val, 16, 1L << 24, &v)) return cli_usage_error("serve", "bad --ctx '%s'", val);
            cfg.n_ctx = (int32_t)v, i++;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!parse_int(val, 1, 256, &v)) return cli_usage_error("serve", "bad %s '%s'", a, val);
            cfg.n_threads = (int32_t)v, i++;
        } else if (!strcmp(a, "--quiet")) {
            cfg.log = NULL;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("serve", "unknown option '%s'", a);
        } else {
            if (n_models == 64) return cli_usage_error("serve", "at most 64 models");
            models[n_models++] = a;
        }
    }

    slm_server *srv = NULL;
    slm_error err = {0};
    if (slm_server_new(&cfg, &srv, &err)) return cli_fail("serve", &err);
    for (int i = 0; i < n_models; i++) {
        int rc;
        const char *path = cli_model_path(models[i], true, &rc); /* pulls a missing store name */
        if (!path) {
            slm_server_free(srv);
            return rc;
        }
        char pathbuf[4096], name[256];
        snprintf(pathbuf, sizeof pathbuf, "%s", path);
        cJSON *man = NULL;
        bool stored = slm_store_manifest_read(models[i], &man, NULL) == SLM_OK;
        cJSON_Delete(man);
        if (stored) snprintf(name, sizeof name, "%s", models[i]);
        else stem_of(models[i], name, sizeof name);
        if (slm_server_add_model(srv, name, pathbuf, stored ? models[i] : NULL, &err)) {
            slm_server_free(srv);
            return cli_fail(models[i], &err);
        }
        if (cfg.log) fprintf(stderr, "loaded %s as '%s'\n", pathbuf, name);
    }

    /* Signals are taken by sigwait in this thread only: block them before the server's threads
     * start so that they inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (slm_server_start(srv, &err)) {
        slm_server_free(srv);
        return cli_fail("serve", &err);
    }
    const char *h = cfg.host;
    bool v6 = strchr(h, ':') != NULL;
    printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", h, v6 ? "]" : "", slm_server_port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    if (cfg.log) fprintf(stderr, "%s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    slm_server_free(srv);
    return CLI_EXIT_OK;
}
