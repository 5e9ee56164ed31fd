#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "cli/cli.h"
#include "store/store.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

/* Order is the order of `slm --help`. */
static const command k_commands[] = {
    {"run", cmd_run, "generate text from a prompt, or chat in the terminal"},
    {"show", cmd_show, "describe a model: architecture, sizes, tensor types, RAM estimate"},
    {"tokenize", cmd_tokenize, "text on stdin -> token ids (JSON array)"},
    {"detokenize", cmd_detokenize, "token ids (JSON array) on stdin -> text"},
    {"logits", cmd_logits, "raw logits for given token ids (JSON; for testing)"},
    {"bench", cmd_bench, "measure prompt and generation speed (llama-bench style)"},
    {"convert", cmd_convert, "convert a Hugging Face folder to GGUF"},
    {"quantize", cmd_quantize, "quantize a GGUF or Hugging Face model to another type"},
    {"template", cmd_template, "render a chat template for messages given as JSON"},
    {"pull", cmd_pull, "download a model from the Hugging Face Hub into the local store"},
    {"list", cmd_list, "list the models in the local store"},
    {"rm", cmd_rm, "remove a model from the local store"},
    {"cp", cmd_cp, "copy a stored model under another name"},
    {"create", cmd_create, "make a named model with its own system prompt, template and parameters"},
    {"serve", cmd_serve, "serve models over HTTP (Ollama's API) on 127.0.0.1"},
};
#define N_COMMANDS (sizeof k_commands / sizeof k_commands[0])

int cli_fail(const char *what, const slm_error *err) {
    const char *msg = err && err->msg[0] ? err->msg : slm_status_name(err ? err->code : SLM_OK);
    /* Library messages often name the file already; don't say it twice. */
    if (what && *what && !strstr(msg, what)) fprintf(stderr, "slm: %s: %s\n", what, msg);
    else fprintf(stderr, "slm: %s\n", msg);
    return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "slm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nsee 'slm %s --help'\n", cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

const char *cli_model_path(const char *arg, bool pull_if_missing, int *exit_code) {
    static char path[4096];
    slm_error err = {0};
    slm_status st = slm_store_resolve(arg, path, sizeof path, &err);
    char quant[32];
    const slm_catalog_entry *entry;
    bool pullable = !strncmp(arg, "hf.co/", 6) || !strncmp(arg, "https://", 8) ||
                    slm_catalog_lookup(arg, &entry, quant, sizeof quant);
    if (st == SLM_E_NOT_FOUND && pull_if_missing && pullable && cmd_pull) {
        char *pull_argv[] = {"pull", (char *)arg, NULL};
        int rc = cmd_pull(2, pull_argv);
        if (rc != CLI_EXIT_OK) {
            *exit_code = rc;
            return NULL;
        }
        slm_error_clear(&err);
        st = slm_store_resolve(arg, path, sizeof path, &err);
    }
    if (st != SLM_OK) {
        *exit_code = cli_fail(arg, &err);
        return NULL;
    }
    return path;
}

bool cli_parse_activations(const char *s, slm_activations *out) {
    if (!strcmp(s, "auto")) *out = SLM_ACT_AUTO;
    else if (!strcmp(s, "16")) *out = SLM_ACT_16;
    else if (!strcmp(s, "8")) *out = SLM_ACT_8;
    else if (!strcmp(s, "8x2")) *out = SLM_ACT_8X2;
    else return false;
    return true;
}

bool cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return true;
    return false;
}

static void print_help(FILE *f) {
    fprintf(f,
            "slm %s - small language models on your own machine\n\n"
            "usage: slm COMMAND [options]\n\ncommands:\n",
            slm_version());
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (k_commands[i].fn) fprintf(f, "  %-12s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f, "\nrun 'slm COMMAND --help' for the options of a command; 'slm --version' for the version.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-v") || !strcmp(name, "version")) {
        printf("slm %s\n", slm_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (k_commands[i].fn && !strcmp(k_commands[i].name, name)) return k_commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "slm: unknown command '%s'\nrun 'slm --help' for the list of commands\n", name);
    return CLI_EXIT_USAGE;
}
