/* slm tokenize MODEL [--add-special] [--no-parse-special]: UTF-8 text on stdin -> JSON array of ids. */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cli/cli.h"
#include "tokenizer/tokenizer.h"

static const char k_help[] =
    "usage: slm tokenize MODEL [--add-special] [--no-parse-special]\n\n"
    "Read UTF-8 text from stdin and print its token ids as one JSON array on one line.\n"
    "MODEL is a .gguf file, a Hugging Face folder (with tokenizer.json) or a tokenizer.json.\n\n"
    "options:\n"
    "  --add-special        add BOS/EOS as the model's post-processor does\n"
    "                       (HF add_special_tokens=True; default: add nothing)\n"
    "  --no-parse-special   treat control-token text such as <|im_start|> as plain text\n"
    "                       (default: such text becomes the control token, like HF)\n"
    "  --jsonl              batch mode: each stdin line is one JSON string; print one JSON\n"
    "                       array per line (the tokenizer is loaded once)\n\n"
    "Invalid UTF-8 input is an error (exit status 1).\n";

/* Read all of stdin (at most SLM_TOKENIZE_MAX_BYTES) into a malloc'd buffer. */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= SLM_TOKENIZE_MAX_BYTES) { free(buf); return NULL; }
            char *p = realloc(buf, cap * 2);
            if (!p) { free(buf); return NULL; }
            buf = p;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        n += r;
        if (r == 0) break;
    }
    if (ferror(stdin)) { free(buf); return NULL; }
    *len = n;
    return buf;
}

static void print_ids(const slm_tokens *ids) {
    putchar('[');
    for (size_t i = 0; i < ids->n; i++) printf(i ? ", %d" : "%d", ids->ids[i]);
    puts("]");
}

/* --jsonl: one JSON string per input line -> one array per output line. cJSON strings end at
 * the first NUL, so "\u0000" inside a line is rejected rather than silently cut. */
static int tokenize_jsonl(const slm_tokenizer *tok, slm_tokenize_flags fl, char *text, size_t len) {
    slm_error err = {0};
    size_t line_no = 0;
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        line_no++;
        if (ll) {
            cJSON *s = cJSON_ParseWithLength(p, ll);
            if (!cJSON_IsString(s) || memmem(p, ll, "\\u0000", 6)) {
                cJSON_Delete(s);
                slm_fail(&err, SLM_E_FORMAT, "line %zu is not a JSON string (without \\u0000)", line_no);
                return cli_fail("tokenize", &err);
            }
            slm_tokens ids = {0};
            slm_status st = slm_tokenize(tok, s->valuestring, strlen(s->valuestring), fl, &ids, &err);
            cJSON_Delete(s);
            if (st) {
                slm_tokens_free(&ids);
                slm_error_prefix(&err, "line %zu", line_no);
                return cli_fail("tokenize", &err);
            }
            print_ids(&ids);
            slm_tokens_free(&ids);
        }
        p += ll + 1;
    }
    return CLI_EXIT_OK;
}

int cmd_tokenize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(k_help, stdout);
        return CLI_EXIT_OK;
    }
    const char *model = NULL;
    slm_tokenize_flags fl = {false, true};
    bool jsonl = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--add-special")) fl.add_special = true;
        else if (!strcmp(argv[i], "--no-parse-special")) fl.parse_special = false;
        else if (!strcmp(argv[i], "--jsonl")) jsonl = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
        else if (!model) model = argv[i];
        else return cli_usage_error("tokenize", "more than one MODEL given");
    }
    if (!model) return cli_usage_error("tokenize", "missing MODEL");
    int prc;
    if (!(model = cli_model_path(model, false, &prc))) return prc;
    slm_error err = {0};
    slm_tokenizer *tok;
    if (slm_tokenizer_load_path(model, &tok, &err)) return cli_fail("tokenize", &err);
    size_t len = 0;
    char *text = read_stdin(&len);
    if (!text) {
        slm_tokenizer_free(tok);
        slm_fail(&err, SLM_E_IO, "cannot read stdin (or it is larger than %zu bytes)", (size_t)SLM_TOKENIZE_MAX_BYTES);
        return cli_fail("tokenize", &err);
    }
    if (jsonl) {
        int rc = tokenize_jsonl(tok, fl, text, len);
        free(text);
        slm_tokenizer_free(tok);
        return rc;
    }
    slm_tokens ids = {0};
    slm_status st = slm_tokenize(tok, text, len, fl, &ids, &err);
    free(text);
    slm_tokenizer_free(tok);
    if (st) {
        slm_tokens_free(&ids);
        return cli_fail("tokenize", &err);
    }
    print_ids(&ids);
    slm_tokens_free(&ids);
    return CLI_EXIT_OK;
}
