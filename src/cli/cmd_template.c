/* slm template MODEL_OR_JINJA_FILE [--now ISO8601]: render a chat template for the JSON request
 * on stdin ({"messages": [...], "tools"?, "add_generation_prompt"?, other variables...}) and print
 * the prompt exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "chat/chat_template.h"
#include "cli/cli.h"

#define STDIN_MAX (64u << 20)

static void usage(FILE *f) {
    fprintf(f,
            "usage: slm template MODEL_OR_JINJA_FILE [--now ISO8601]\n\n"
            "Reads one JSON object on stdin: \"messages\" (OpenAI format), optional \"tools\",\n"
            "\"add_generation_prompt\" (default true) and any other template variables (bos_token,\n"
            "eos_token, ...; with a model they default to the model's own). Prints the rendered\n"
            "prompt exactly. MODEL is a GGUF file or a Hugging Face folder; any other file is\n"
            "read as the template itself.\n\n"
            "  --now ISO8601   freeze strftime_now() at this UTC instant (e.g. 2024-07-26T00:00:00)\n");
}

static char *read_stdin(size_t *len) {
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= STDIN_MAX) {
                free(buf);
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    *len = n;
    return buf;
}

int cmd_template(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    const char *path = NULL;
    int64_t now = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--now")) {
            if (i + 1 >= argc) return cli_usage_error("template", "--now needs a value");
            if (!jinja_parse_iso8601(argv[++i], &now))
                return cli_usage_error("template", "--now: '%s' is not an ISO 8601 date/time", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("template", "unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage_error("template", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!path) return cli_usage_error("template", "missing MODEL_OR_JINJA_FILE");
    int prc;
    if (!(path = cli_model_path(path, false, &prc))) return prc;

    slm_error err = {0};
    size_t in_len = 0;
    char *in = read_stdin(&in_len);
    if (!in) {
        slm_fail(&err, SLM_E_NOMEM, "cannot read stdin (limit %u bytes)", STDIN_MAX);
        return cli_fail("template", &err);
    }
    cJSON *req = cJSON_ParseWithLength(in, in_len);
    free(in);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        slm_fail(&err, SLM_E_FORMAT, "stdin must hold one JSON object");
        return cli_fail("template", &err);
    }
    chat_template_source src;
    slm_status st = chat_template_load(path, &src, &err);
    if (st) {
        cJSON_Delete(req);
        return cli_fail("template", &err);
    }
    char *out = NULL;
    size_t out_len = 0;
    st = chat_template_apply(&src, req, now, &out, &out_len, NULL, &err);
    chat_template_source_free(&src);
    cJSON_Delete(req);
    if (st) return cli_fail("template", &err);
    fwrite(out, 1, out_len, stdout);
    free(out);
    return fflush(stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
