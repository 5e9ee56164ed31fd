/* slm detokenize MODEL: JSON array of ids on stdin -> the decoded text on stdout. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cli/cli.h"
#include "tokenizer/tokenizer.h"

static const char k_help[] =
    "usage: slm detokenize MODEL\n\n"
    "Read a JSON array of token ids from stdin and print the decoded text (exactly, with no\n"
    "newline added). Special tokens are printed as their text. MODEL is a .gguf file, a\n"
    "Hugging Face folder (with tokenizer.json) or a tokenizer.json.\n";

#define DETOK_MAX_INPUT ((size_t)256 << 20)

int cmd_detokenize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("detokenize", "unknown option '%s'", argv[i]);
        if (model) return cli_usage_error("detokenize", "more than one MODEL given");
        model = argv[i];
    }
    if (!model) return cli_usage_error("detokenize", "missing MODEL");
    slm_error err = {0};
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t r = 1; buf && r > 0;) {
        if (n == cap) {
            char *p = cap < DETOK_MAX_INPUT ? realloc(buf, cap * 2 + 1) : NULL;
            if (!p) { free(buf); buf = NULL; break; }
            buf = p;
            cap *= 2;
        }
        r = fread(buf + n, 1, cap - n, stdin);
        n += r;
    }
    if (!buf) {
        slm_fail(&err, SLM_E_IO, "cannot read stdin (or it is larger than %zu bytes)", DETOK_MAX_INPUT);
        return cli_fail("detokenize", &err);
    }
    cJSON *arr = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        slm_fail(&err, SLM_E_FORMAT, "stdin is not a JSON array of token ids");
        return cli_fail("detokenize", &err);
    }
    size_t count = (size_t)cJSON_GetArraySize(arr), k = 0;
    int32_t *ids = malloc((count + 1) * sizeof *ids);
    if (!ids) {
        cJSON_Delete(arr);
        slm_fail(&err, SLM_E_NOMEM, "out of memory");
        return cli_fail("detokenize", &err);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        double d = it->valuedouble;
        if (!cJSON_IsNumber(it) || d != floor(d) || d < 0 || d > 2147483647.0) {
            free(ids);
            cJSON_Delete(arr);
            slm_fail(&err, SLM_E_FORMAT, "element %zu of the array is not a token id", k);
            return cli_fail("detokenize", &err);
        }
        ids[k++] = (int32_t)d;
    }
    cJSON_Delete(arr);
    slm_tokenizer *tok;
    if (slm_tokenizer_load_path(model, &tok, &err)) {
        free(ids);
        return cli_fail("detokenize", &err);
    }
    char *text;
    size_t len;
    slm_status st = slm_detokenize_alloc(tok, ids, count, &text, &len, &err);
    free(ids);
    slm_tokenizer_free(tok);
    if (st) return cli_fail("detokenize", &err);
    fwrite(text, 1, len, stdout);
    free(text);
    return CLI_EXIT_OK;
}
