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
    "Hugging Face folder (with tokenizer.json) or a tokenizer.json.\n\n"
    "options:\n"
    "  --jsonl   batch mode: each stdin line is one JSON array of ids; print one JSON string\n"
    "            per line (the tokenizer is loaded once)\n";

#define DETOK_MAX_INPUT ((size_t)256 << 20)

/* Parse a JSON array of token ids; *ids malloc'd. */
static slm_status parse_ids(const char *s, size_t n, int32_t **ids, size_t *count, slm_error *err) {
    *ids = NULL;
    *count = 0;
    cJSON *arr = cJSON_ParseWithLength(s, n);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return slm_fail(err, SLM_E_FORMAT, "input is not a JSON array of token ids");
    }
    size_t c = (size_t)cJSON_GetArraySize(arr), k = 0;
    int32_t *v = malloc((c + 1) * sizeof *v);
    if (!v) {
        cJSON_Delete(arr);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        double d = it->valuedouble;
        if (!cJSON_IsNumber(it) || d != floor(d) || d < 0 || d > 2147483647.0) {
            free(v);
            cJSON_Delete(arr);
            return slm_fail(err, SLM_E_FORMAT, "element %zu of the array is not a token id", k);
        }
        v[k++] = (int32_t)d;
    }
    cJSON_Delete(arr);
    *ids = v;
    *count = c;
    return SLM_OK;
}

/* Print s as a JSON string literal (s is valid UTF-8: only quotes, backslashes and controls
 * need escapes). */
static void print_json_string(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
    puts("\"");
}

static int detokenize_jsonl(const slm_tokenizer *tok, const char *text, size_t len) {
    slm_error err = {0};
    size_t line_no = 0;
    for (const char *p = text; p < text + len;) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        line_no++;
        if (ll) {
            int32_t *ids;
            size_t count;
            char *out;
            size_t ol;
            slm_status st = parse_ids(p, ll, &ids, &count, &err);
            if (!st) {
                st = slm_detokenize_alloc(tok, ids, count, &out, &ol, &err);
                free(ids);
            }
            if (st) {
                slm_error_prefix(&err, "line %zu", line_no);
                return cli_fail("detokenize", &err);
            }
            print_json_string(out, ol);
            free(out);
        }
        p += ll + 1;
    }
    return CLI_EXIT_OK;
}

int cmd_detokenize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *model = NULL;
    bool jsonl = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jsonl")) { jsonl = true; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("detokenize", "unknown option '%s'", argv[i]);
        if (model) return cli_usage_error("detokenize", "more than one MODEL given");
        model = argv[i];
    }
    if (!model) return cli_usage_error("detokenize", "missing MODEL");
    int prc;
    if (!(model = cli_model_path(model, false, &prc))) return prc;
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
    int32_t *ids = NULL;
    size_t count = 0;
    if (!jsonl && parse_ids(buf, n, &ids, &count, &err)) {
        free(buf);
        return cli_fail("detokenize", &err);
    }
    slm_tokenizer *tok;
    if (slm_tokenizer_load_path(model, &tok, &err)) {
        free(ids);
        free(buf);
        return cli_fail("detokenize", &err);
    }
    if (jsonl) {
        int rc = detokenize_jsonl(tok, buf, n);
        free(buf);
        slm_tokenizer_free(tok);
        return rc;
    }
    free(buf);
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
